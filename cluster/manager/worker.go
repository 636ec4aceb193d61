package manager

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/apiserver"
	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/seal"
	"github.com/swarmops/swarmops/cluster/store"
)

// promotePath is where a promoted worker takes its manager certificate.
const promotePath = "/swarmops/v1/node/promote"

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

// WorkerConfig says how a worker runs: its Config's Agent is the whole of
// it.
type WorkerConfig struct {
	Config
}

// RunWorker runs a worker node until ctx ends: its agent, which holds the
// node's session with the leader, and the node's listener, where the
// agent serves managers (task logs) and the docker CLI learns that a
// worker is no manager. When the cluster promotes the node (`docker node
// promote`), the agent says so; the worker then takes a manager
// certificate and the managers' keys, starts as a manager and joins Raft —
// RunWorker returns that manager, which the caller runs, and whose own
// agent adopts the tasks this one ran. It returns nil, nil when ctx ends.
func RunWorker(ctx context.Context, cfg WorkerConfig) (*Manager, error) {
	if cfg.Agent == nil {
		return nil, errors.New("worker: Config.Agent is nil: a worker node is its agent")
	}
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
	var routes agentRoutes
	stopServing, err := serveWorkerAPI(id, root, creds, &routes)
	if err != nil {
		return nil, err
	}
	defer stopServing()

	actx, stopAgent := context.WithCancel(ctx)
	defer stopAgent()
	promoted := make(chan struct{})
	var once sync.Once
	env := AgentEnv{
		NodeID:   id.NodeID,
		Hostname: id.Hostname,
		Addr:     id.Advertise,
		Managers: id.Managers,
		TLS:      tlsConf,
		Role:     swarm.NodeRoleWorker,
		OnRole: func(r swarm.NodeRole) {
			if r == swarm.NodeRoleManager {
				once.Do(func() { close(promoted); stopAgent() })
			}
		},
		Handle: routes.handle,
	}
	agentErr := cfg.Agent(actx, env)
	select {
	case <-promoted:
	default:
		if ctx.Err() != nil {
			return nil, nil
		}
		if agentErr == nil {
			agentErr = errors.New("it returned")
		}
		return nil, fmt.Errorf("worker: the agent stopped: %w", agentErr)
	}
	cfg.logger().With("component", "worker").Info("promoted to manager")
	stopServing() // the manager listens on the same address
	return promoteSelf(ctx, cfg.Config, dir, id, tlsConf)
}

// promoteSelf turns this worker into a manager: a new key and manager
// certificate, the managers' keys, then Raft.
func promoteSelf(ctx context.Context, cfg Config, dir DataDir, id Identity, tlsConf *tls.Config) (*Manager, error) {
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
	remote, err := postAny(ctx, tlsConf, id.Managers, promotePath, promoteRequest{CSR: string(csr), Advertise: id.Advertise}, &reply)
	if err != nil {
		return nil, fmt.Errorf("promote: %w", err)
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
// nodes only (their own certificates, never the CLI's): the agents'
// dispatcher sessions, a worker's promotion, and a new manager's request
// to become a voter. All are POST.
func NodeRoutes() []string {
	return []string{api.SessionPath, api.AssignmentsPath, api.StatusPath, promotePath, membersPath}
}

// serveWorkerAPI answers on the worker's address as a worker's daemon does
// (apiserver.WorkerHandler), so the docker CLI pointed at a worker prints
// Swarm's "not a swarm manager" rather than failing to connect. The
// returned stop is idempotent.
func serveWorkerAPI(id Identity, root *ca.RootCA, creds *ca.Credentials, agent *agentRoutes) (func(), error) {
	addr := id.Listen
	if addr == "" {
		addr = id.Advertise
	}
	ln, err := tls.Listen("tcp", addr, root.ServerConfig(creds))
	if err != nil {
		return nil, fmt.Errorf("worker: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(api.NodeLogsPath, agent.serve(api.NodeLogsPath))
	mux.Handle("/", apiserver.WorkerHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout}
	go srv.Serve(ln)
	var once sync.Once
	return func() { once.Do(func() { srv.Close() }) }, nil
}
