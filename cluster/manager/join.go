package manager

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/apiserver"
	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/seal"
	"github.com/swarmops/swarmops/cluster/store"
)

// managerMaterial is what a new manager receives beyond its certificate:
// the keys every manager holds. It travels only over the TLS connection
// pinned by the manager token's CA digest, to a node that presented that
// token.
type managerMaterial struct {
	CAKey      []byte `json:"ca_key"`
	ClusterKey []byte `json:"cluster_key"`
}

// membersPath is where a new manager, once its Raft listener is up, asks
// the leader to add it as a voter.
const membersPath = "/swarmops/v1/raft/members"

// Join admits a node presenting a join token (apiserver.Joiner): the token
// decides the role, the CSR is signed for a fresh node ID, and the node is
// recorded. A manager is not a Raft voter yet: it asks for that once it
// listens (AddMember), so that a new manager that never starts cannot cost
// the cluster its quorum.
func (m *Manager) Join(ctx context.Context, req apiserver.JoinRequest) (apiserver.JoinResponse, error) {
	c, err := m.Cluster()
	if err != nil {
		return apiserver.JoinResponse{}, err
	}
	tokens := ca.JoinTokens{Worker: c.JoinTokens.Worker, Manager: c.JoinTokens.Manager}
	role, err := tokens.Match(req.Token)
	if err != nil {
		return apiserver.JoinResponse{}, err
	}
	if _, err := advertiseHost(req.Advertise); err != nil {
		return apiserver.JoinResponse{}, apiserver.NewError(http.StatusBadRequest, err.Error())
	}
	nodeID := store.NewID()
	certPEM, err := m.root.SignCSR([]byte(req.CSR), nodeID, role, m.cfg.now())
	if err != nil {
		return apiserver.JoinResponse{}, apiserver.NewError(http.StatusBadRequest, fmt.Sprintf("join: %v", err))
	}
	node := &swarm.Node{
		ID:   nodeID,
		Spec: swarm.NodeSpec{Role: swarm.NodeRoleWorker, Availability: swarm.NodeAvailabilityActive},
		Description: swarm.NodeDescription{
			Hostname:  req.Hostname,
			Platform:  req.Platform,
			Resources: req.Resources,
			Engine:    swarm.EngineDescription{EngineVersion: req.EngineVersion},
			TLSInfo:   tlsInfo(m.root),
		},
		// A node is ready once it shows it runs: a manager when it joins
		// Raft, a worker when its agent first reports.
		Status: swarm.NodeStatus{State: swarm.NodeStateUnknown, Message: "joined; waiting for the node to start", Addr: hostOf(req.Advertise)},
	}
	resp := apiserver.JoinResponse{NodeID: nodeID, Role: swarm.NodeRoleWorker, Certificate: string(certPEM), CACert: string(m.root.CertPEM())}
	if role == ca.RoleManager {
		node.Spec.Role = swarm.NodeRoleManager
		node.ManagerStatus = &swarm.ManagerStatus{Addr: req.Advertise}
		resp.Role = swarm.NodeRoleManager
		if resp.Manager, err = m.material(); err != nil {
			return apiserver.JoinResponse{}, err
		}
	}
	data, err := store.EncodeBatch(store.Create(node))
	if err != nil {
		return apiserver.JoinResponse{}, err
	}
	if _, err := m.raft.Propose(ctx, data); err != nil {
		return apiserver.JoinResponse{}, fmt.Errorf("join: record node: %w", err)
	}
	return resp, nil
}

func (m *Manager) material() ([]byte, error) {
	caKey, err := m.root.KeyPEM()
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	key, err := seal.ReadKeyFile(m.dir.ClusterKeyFile())
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	return json.Marshal(managerMaterial{CAKey: caKey, ClusterKey: key[:]})
}

// addMember serves membersPath on the leader: a manager whose certificate
// names it asks to become a voter at its advertise address.
func (m *Manager) addMember(w http.ResponseWriter, r *http.Request, node *swarm.Node, role ca.Role) {
	if role != ca.RoleManager || node.Spec.Role != swarm.NodeRoleManager || node.ManagerStatus == nil {
		replyJSON(w, http.StatusForbidden, fmt.Sprintf("node %s is not a manager", node.ID))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := m.raft.AddVoter(ctx, node.ID, node.ManagerStatus.Addr); err != nil {
		replyJSON(w, http.StatusServiceUnavailable, fmt.Sprintf("add voter: %v", err))
		return
	}
	if err := m.markReady(ctx, node.ID); err != nil {
		replyJSON(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	replyJSON(w, http.StatusOK, "added")
}

// markReady records that a node runs.
func (m *Manager) markReady(ctx context.Context, nodeID string) error {
	var node *swarm.Node
	var version uint64
	if err := m.store.View(func(tx store.ReadTx) error {
		n, err := tx.Node(nodeID)
		if err != nil {
			return err
		}
		node, err = store.Clone(n)
		version = n.Version.Index
		return err
	}); err != nil {
		return fmt.Errorf("mark node ready: %w", err)
	}
	if node.Status.State == swarm.NodeStateReady {
		return nil
	}
	node.Status.State = swarm.NodeStateReady
	node.Status.Message = ""
	data, err := store.EncodeBatch(store.Update(node, version))
	if err != nil {
		return err
	}
	if _, err := m.raft.Propose(ctx, data); err != nil {
		return fmt.Errorf("mark node ready: %w", err)
	}
	return nil
}

// JoinConfig says how to join a cluster.
type JoinConfig struct {
	Config
	// Remote is a manager of the cluster, host:port.
	Remote string
	Token  string
	// Advertise is the host:port this node is reached at; Listen, when set,
	// what it binds.
	Advertise string
	Listen    string
	Hostname  string
}

// JoinCluster asks the manager at cfg.Remote to admit this node, trusting
// it only if its CA matches the token's digest, and writes the node's
// identity and certificates into an empty data directory. It returns the
// identity; a manager is then started with Open and joined to Raft with
// JoinRaft.
func JoinCluster(ctx context.Context, cfg JoinConfig) (Identity, error) {
	dir := DataDir{Dir: cfg.DataDir}
	if err := dir.checkFresh(); err != nil {
		return Identity{}, err
	}
	tok, err := ca.ParseToken(cfg.Token)
	if err != nil {
		return Identity{}, fmt.Errorf("join: %w", err)
	}
	host, err := advertiseHost(cfg.Advertise)
	if err != nil {
		return Identity{}, err
	}
	hostname := cfg.Hostname
	if hostname == "" {
		if hostname, err = os.Hostname(); err != nil {
			return Identity{}, fmt.Errorf("join: hostname: %w", err)
		}
	}
	key, err := ca.NewKey()
	if err != nil {
		return Identity{}, fmt.Errorf("join: %w", err)
	}
	dns, ips := certNames(host, hostname)
	csr, err := ca.NewCSR(key, dns, ips)
	if err != nil {
		return Identity{}, fmt.Errorf("join: %w", err)
	}
	pinned, err := ca.PinnedByDigest(tok.CADigest)
	if err != nil {
		return Identity{}, fmt.Errorf("join: %w", err)
	}
	pinned.NextProtos = []string{ca.JoinALPN}
	req := apiserver.JoinRequest{
		Token:         cfg.Token,
		CSR:           string(csr),
		Advertise:     cfg.Advertise,
		Hostname:      hostname,
		Platform:      swarm.Platform{Architecture: goarchToDocker(runtime.GOARCH), OS: runtime.GOOS},
		Resources:     swarm.Resources{NanoCPUs: int64(runtime.NumCPU()) * 1e9, MemoryBytes: MemoryBytes()},
		EngineVersion: Version,
	}
	var resp apiserver.JoinResponse
	if err := postJSON(ctx, pinned, cfg.Remote, "/swarmops/v1/join", req, &resp); err != nil {
		return Identity{}, fmt.Errorf("join %s: %w", cfg.Remote, err)
	}

	root, err := ca.ParseRootCA([]byte(resp.CACert), nil)
	if err != nil {
		return Identity{}, fmt.Errorf("join: the manager's CA: %w", err)
	}
	if root.Digest() != tok.CADigest {
		return Identity{}, fmt.Errorf("join: %w", ca.ErrCAMismatch)
	}
	role := ca.RoleWorker
	if resp.Role == swarm.NodeRoleManager {
		role = ca.RoleManager
		var mat managerMaterial
		if err := json.Unmarshal(resp.Manager, &mat); err != nil {
			return Identity{}, fmt.Errorf("join: manager keys: %w", err)
		}
		if root, err = ca.ParseRootCA([]byte(resp.CACert), mat.CAKey); err != nil {
			return Identity{}, fmt.Errorf("join: the CA key: %w", err)
		}
		var ck seal.Key
		if len(mat.ClusterKey) != len(ck) {
			return Identity{}, errors.New("join: the manager sent no cluster key")
		}
		copy(ck[:], mat.ClusterKey)
		if err := seal.WriteKeyFile(dir.ClusterKeyFile(), ck); err != nil {
			return Identity{}, fmt.Errorf("join: %w", err)
		}
	}
	layout := dir.Certs()
	if err := layout.SaveRootCA(root); err != nil {
		return Identity{}, fmt.Errorf("join: %w", err)
	}
	keyPEM, err := ca.EncodeKey(key)
	if err != nil {
		return Identity{}, fmt.Errorf("join: %w", err)
	}
	if err := layout.SaveNode([]byte(resp.Certificate), keyPEM); err != nil {
		return Identity{}, fmt.Errorf("join: %w", err)
	}
	id := Identity{NodeID: resp.NodeID, Role: role, Advertise: cfg.Advertise, Listen: cfg.Listen, Hostname: hostname, Managers: []string{cfg.Remote}}
	if err := dir.SaveIdentity(id); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// JoinRaft asks the leader, through the manager at remote, to add this
// manager as a Raft voter, following a redirect to the leader once, and
// waits until this manager knows the leader.
func (m *Manager) JoinRaft(ctx context.Context, remote string) error {
	target := remote
	for attempt := 0; attempt < 3; attempt++ {
		err := postJSON(ctx, m.PeerTLS(), target, membersPath, struct{}{}, nil)
		var nl *notLeaderError
		if errors.As(err, &nl) && nl.leader != "" && nl.leader != target {
			target = nl.leader
			continue
		}
		if err != nil {
			return fmt.Errorf("join raft through %s: %w", target, err)
		}
		return m.WaitLeader(ctx)
	}
	return fmt.Errorf("join raft through %s: no leader answered", remote)
}

type notLeaderError struct{ leader, msg string }

func (e *notLeaderError) Error() string { return e.msg }

// postJSON posts body to https://addr/path and decodes the answer into out
// (when not nil). A Docker-style {"message"} error becomes the error.
func postJSON(ctx context.Context, tlsConf *tls.Config, addr, path string, body, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	tr := &http.Transport{
		TLSClientConfig:   tlsConf,
		DialContext:       (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		ForceAttemptHTTP2: false,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := (&http.Client{Transport: tr, Timeout: time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	payload, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		var e struct {
			Message string `json:"message"`
		}
		msg := string(bytes.TrimSpace(payload))
		if json.Unmarshal(payload, &e) == nil && e.Message != "" {
			msg = e.Message
		}
		if leader := res.Header.Get("X-Swarmops-Leader"); leader != "" || res.StatusCode == http.StatusServiceUnavailable {
			return &notLeaderError{leader: leader, msg: fmt.Sprintf("%s (%d)", msg, res.StatusCode)}
		}
		return fmt.Errorf("%s (%d)", msg, res.StatusCode)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(payload, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}
