package manager

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/apiserver"
	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/seal"
	"github.com/swarmops/swarmops/cluster/store"
)

// Paths of a worker's session with the managers.
const (
	sessionPath = "/swarmops/v1/node/session"
	promotePath = "/swarmops/v1/node/promote"
)

// sessionReply tells a worker what the cluster wants of it.
type sessionReply struct {
	Role swarm.NodeRole `json:"role"`
}

// promoteRequest carries a promoted worker's CSR for its manager
// certificate; promoteReply answers with it and the managers' keys.
type promoteRequest struct {
	CSR string `json:"csr"`
	// Advertise is where the new manager will listen: the address the
	// worker joined with.
	Advertise string `json:"advertise"`
}

type promoteReply struct {
	Certificate string `json:"certificate"`
	Manager     []byte `json:"manager"`
}

// WorkerConfig says how a worker keeps in touch.
type WorkerConfig struct {
	Config
	// Period is how often the worker checks in; zero means 5s, Swarm's
	// heartbeat period.
	Period time.Duration
}

// RunWorker keeps a worker in touch with the managers until ctx ends: the
// first contact marks it ready, and when the cluster promotes it (`docker
// node promote`), it takes a manager certificate and the managers' keys,
// starts as a manager and joins Raft — RunWorker then returns that
// manager, which the caller runs. It returns nil, nil when ctx ends.
//
// Until the task agent lands, this check-in is the whole of a worker's
// session; it writes to Raft only when the node's status changes, never per
// check-in.
func RunWorker(ctx context.Context, cfg WorkerConfig) (*Manager, error) {
	dir := DataDir{Dir: cfg.DataDir}
	id, err := dir.LoadIdentity()
	if err != nil {
		return nil, err
	}
	if id.Role != ca.RoleWorker {
		return nil, fmt.Errorf("%s holds a %s node, not a worker", cfg.DataDir, id.Role)
	}
	if len(id.Managers) == 0 {
		return nil, fmt.Errorf("%s: the node knows no manager to reach: join again", cfg.DataDir)
	}
	root, err := dir.Certs().LoadRootCA()
	if err != nil {
		return nil, err
	}
	cert, err := dir.Certs().LoadNode(root)
	if err != nil {
		return nil, err
	}
	creds := ca.NewCredentials(cert)
	tlsConf := root.ClientConfig(creds)
	stopServing, err := serveWorkerAPI(id, root, creds)
	if err != nil {
		return nil, err
	}
	defer stopServing()
	period := cfg.Period
	if period <= 0 {
		period = 5 * time.Second
	}
	log := cfg.logger().With("component", "worker")
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		var reply sessionReply
		remote, err := postAny(ctx, tlsConf, id.Managers, sessionPath, struct{}{}, &reply)
		switch {
		case err != nil:
			log.Warn("no manager answered", "managers", id.Managers, "err", err)
		case reply.Role == swarm.NodeRoleManager:
			log.Info("promoted to manager")
			stopServing() // the manager listens on the same address
			return promoteSelf(ctx, cfg.Config, dir, id, tlsConf, remote)
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-tick.C:
		}
	}
}

// promoteSelf turns this worker into a manager: a new key and manager
// certificate, the managers' keys, then Raft.
func promoteSelf(ctx context.Context, cfg Config, dir DataDir, id Identity, tlsConf *tls.Config, remote string) (*Manager, error) {
	host, err := advertiseHost(id.Advertise)
	if err != nil {
		return nil, err
	}
	key, err := ca.NewKey()
	if err != nil {
		return nil, fmt.Errorf("promote: %w", err)
	}
	dns, ips := certNames(host, id.Hostname)
	csr, err := ca.NewCSR(key, dns, ips)
	if err != nil {
		return nil, fmt.Errorf("promote: %w", err)
	}
	var reply promoteReply
	if err := postJSON(ctx, tlsConf, remote, promotePath, promoteRequest{CSR: string(csr), Advertise: id.Advertise}, &reply); err != nil {
		return nil, fmt.Errorf("promote through %s: %w", remote, err)
	}
	var mat managerMaterial
	if err := json.Unmarshal(reply.Manager, &mat); err != nil {
		return nil, fmt.Errorf("promote: manager keys: %w", err)
	}
	root, err := dir.Certs().LoadRootCA()
	if err != nil {
		return nil, err
	}
	if root, err = ca.ParseRootCA(root.CertPEM(), mat.CAKey); err != nil {
		return nil, fmt.Errorf("promote: the CA key: %w", err)
	}
	var ck seal.Key
	if len(mat.ClusterKey) != len(ck) {
		return nil, errors.New("promote: the manager sent no cluster key")
	}
	copy(ck[:], mat.ClusterKey)
	keyPEM, err := ca.EncodeKey(key)
	if err != nil {
		return nil, err
	}
	layout := dir.Certs()
	if err := seal.WriteKeyFile(dir.ClusterKeyFile(), ck); err != nil {
		return nil, err
	}
	if err := layout.SaveRootCA(root); err != nil {
		return nil, err
	}
	if err := layout.SaveNode([]byte(reply.Certificate), keyPEM); err != nil {
		return nil, err
	}
	id.Role = ca.RoleManager
	if err := dir.SaveIdentity(id); err != nil {
		return nil, err
	}
	m, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	if err := m.JoinRaft(ctx, remote); err != nil {
		m.Shutdown(context.Background())
		return nil, err
	}
	return m, nil
}

// postAny posts to the first of managers that answers, and says which.
func postAny(ctx context.Context, tlsConf *tls.Config, managers []string, path string, body, out any) (string, error) {
	var errs []error
	for _, addr := range managers {
		target := addr
		err := postJSON(ctx, tlsConf, target, path, body, out)
		var nl *notLeaderError
		if errors.As(err, &nl) && nl.leader != "" {
			target = nl.leader
			err = postJSON(ctx, tlsConf, target, path, body, out)
		}
		if err == nil {
			return target, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return "", errors.Join(errs...)
}

// nodeHandler serves a node's own session routes on the leader: the caller
// is the node its certificate names.
func (m *Manager) nodeHandler(serve func(w http.ResponseWriter, r *http.Request, node *swarm.Node, role ca.Role)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			replyJSON(w, http.StatusMethodNotAllowed, "use POST")
			return
		}
		if r.TLS == nil {
			replyJSON(w, http.StatusUnauthorized, "a node certificate is required")
			return
		}
		nodeID, role, err := ca.PeerIdentity(*r.TLS)
		if err != nil || (role != ca.RoleWorker && role != ca.RoleManager) {
			replyJSON(w, http.StatusForbidden, "a node certificate is required")
			return
		}
		if !m.raft.IsLeader() {
			_, addr := m.raft.Leader()
			w.Header().Set("X-Swarmops-Leader", addr)
			replyJSON(w, http.StatusServiceUnavailable, "not the leader; ask "+addr)
			return
		}
		var node *swarm.Node
		if err := m.store.View(func(tx store.ReadTx) error {
			n, err := tx.Node(nodeID)
			if err == nil {
				node, err = store.Clone(n)
			}
			return err
		}); err != nil {
			replyJSON(w, http.StatusForbidden, fmt.Sprintf("node %s is not a member of this cluster", nodeID))
			return
		}
		serve(w, r, node, role)
	}
}

// session marks a worker ready on its first contact and tells it its role.
func (m *Manager) session(w http.ResponseWriter, r *http.Request, node *swarm.Node, _ ca.Role) {
	if node.Status.State != swarm.NodeStateReady {
		if err := m.markReady(r.Context(), node.ID); err != nil {
			replyJSON(w, http.StatusServiceUnavailable, err.Error())
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(sessionReply{Role: node.Spec.Role})
}

// promote gives a worker the cluster made a manager its manager
// certificate and the managers' keys, and records where its manager
// listens; it becomes a voter by asking on membersPath once it does.
func (m *Manager) promote(w http.ResponseWriter, r *http.Request, node *swarm.Node, _ ca.Role) {
	if node.Spec.Role != swarm.NodeRoleManager {
		replyJSON(w, http.StatusForbidden, fmt.Sprintf("node %s is not promoted", node.ID))
		return
	}
	var req promoteRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		replyJSON(w, http.StatusBadRequest, fmt.Sprintf("promote: %v", err))
		return
	}
	certPEM, err := m.root.SignCSR([]byte(req.CSR), node.ID, ca.RoleManager, m.cfg.now())
	if err != nil {
		replyJSON(w, http.StatusBadRequest, fmt.Sprintf("promote: %v", err))
		return
	}
	material, err := m.material()
	if err != nil {
		replyJSON(w, http.StatusInternalServerError, err.Error())
		return
	}
	if hostOf(req.Advertise) != node.Status.Addr {
		replyJSON(w, http.StatusBadRequest, fmt.Sprintf("promote: advertise address %q is not the node's address %s", req.Advertise, node.Status.Addr))
		return
	}
	version := node.Version.Index
	node.ManagerStatus = &swarm.ManagerStatus{Addr: req.Advertise}
	data, err := store.EncodeBatch(store.Update(node, version))
	if err == nil {
		_, err = m.raft.Propose(r.Context(), data)
	}
	if err != nil {
		replyJSON(w, http.StatusServiceUnavailable, fmt.Sprintf("promote: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(promoteReply{Certificate: string(certPEM), Manager: material})
}

func replyJSON(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// NodeRoutes are the routes a manager serves beside the Engine API, for
// nodes only (their own certificates, never the CLI's): a worker's session
// and promotion, and a new manager's request to become a voter. All are
// POST.
func NodeRoutes() []string { return []string{sessionPath, promotePath, membersPath} }

// serveWorkerAPI answers on the worker's address as a worker's daemon does
// (apiserver.WorkerHandler), so the docker CLI pointed at a worker prints
// Swarm's "not a swarm manager" rather than failing to connect. The
// returned stop is idempotent.
func serveWorkerAPI(id Identity, root *ca.RootCA, creds *ca.Credentials) (func(), error) {
	addr := id.Listen
	if addr == "" {
		addr = id.Advertise
	}
	ln, err := tls.Listen("tcp", addr, root.ServerConfig(creds))
	if err != nil {
		return nil, fmt.Errorf("worker: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: apiserver.WorkerHandler(), ReadHeaderTimeout: readHeaderTimeout}
	go srv.Serve(ln)
	var once sync.Once
	return func() { once.Do(func() { srv.Close() }) }, nil
}
