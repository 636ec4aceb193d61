package manager

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/ca"
	"github.com/swarmops/swarmops/cluster/seal"
	"github.com/swarmops/swarmops/cluster/store"
)

// InitConfig says how to create a cluster.
type InitConfig struct {
	Config
	// Advertise is the host:port other nodes and clients reach this manager
	// at; Listen, when set, is what it binds (e.g. 0.0.0.0:4243).
	Advertise string
	Listen    string
	// Hostname names the node; empty means the machine's hostname.
	Hostname string
}

// Init creates a cluster in an empty data directory — a root CA, the
// cluster key, this node's certificate, a client certificate for the CLI,
// the join tokens — and starts its first manager, which bootstraps Raft and
// leads. The returned manager runs until Shutdown.
func Init(ctx context.Context, cfg InitConfig) (*Manager, error) {
	dir := DataDir{Dir: cfg.DataDir}
	if err := dir.checkFresh(); err != nil {
		return nil, err
	}
	host, err := advertiseHost(cfg.Advertise)
	if err != nil {
		return nil, err
	}
	hostname := cfg.Hostname
	if hostname == "" {
		if hostname, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("init: hostname: %w", err)
		}
	}
	now := cfg.now()

	root, err := ca.NewRootCA(now)
	if err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	layout := dir.Certs()
	if err := layout.SaveRootCA(root); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	id := Identity{NodeID: store.NewID(), Role: ca.RoleManager, Advertise: cfg.Advertise, Listen: cfg.Listen, Hostname: hostname}
	dns, ips := certNames(host, hostname)
	certPEM, keyPEM, err := root.IssueKeyPair(id.NodeID, ca.RoleManager, dns, ips, now)
	if err != nil {
		return nil, fmt.Errorf("init: node certificate: %w", err)
	}
	if err := layout.SaveNode(certPEM, keyPEM); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	clientPEM, clientKey, err := root.IssueKeyPair("client-"+store.NewID(), ca.RoleClient, nil, nil, now)
	if err != nil {
		return nil, fmt.Errorf("init: client certificate: %w", err)
	}
	if err := layout.SaveClient(root, clientPEM, clientKey); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	key, err := seal.NewKey()
	if err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	if err := seal.WriteKeyFile(dir.ClusterKeyFile(), key); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	// The identity goes last: a directory without it is not a node, so an
	// init that fails half way can simply be run again.
	if err := dir.SaveIdentity(id); err != nil {
		return nil, err
	}

	m, err := start(cfg.Config, dir, id)
	if err != nil {
		return nil, err
	}
	if err := m.bootstrap(ctx); err != nil {
		m.Shutdown(context.Background())
		return nil, err
	}
	return m, nil
}

// bootstrap makes this node the only voter, waits to lead, and writes the
// cluster record and this node.
func (m *Manager) bootstrap(ctx context.Context) error {
	if err := m.raft.BootstrapSelf(); err != nil {
		return fmt.Errorf("init: bootstrap raft: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.waitLeadership(ctx); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	tokens, err := ca.NewJoinTokens(m.root.Digest())
	if err != nil {
		return fmt.Errorf("init: join tokens: %w", err)
	}
	cluster := &api.Cluster{
		ID:         store.NewID(),
		Spec:       defaultClusterSpec(),
		JoinTokens: swarm.JoinTokens{Worker: tokens.Worker, Manager: tokens.Manager},
		CACert:     string(m.root.CertPEM()),
		CADigest:   m.root.Digest(),
	}
	data, err := store.EncodeBatch(store.Create(cluster), store.Create(m.selfNode()), store.Create(ingressNetwork()))
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if _, err := m.raft.Propose(ctx, data); err != nil {
		return fmt.Errorf("init: write the cluster record: %w", err)
	}
	return nil
}

// selfNode is this manager as a node object.
func (m *Manager) selfNode() *swarm.Node {
	role := swarm.NodeRoleWorker
	if m.identity.Role == ca.RoleManager {
		role = swarm.NodeRoleManager
	}
	n := &swarm.Node{
		ID: m.identity.NodeID,
		Spec: swarm.NodeSpec{
			Role:         role,
			Availability: swarm.NodeAvailabilityActive,
		},
		Description: swarm.NodeDescription{
			Hostname: m.identity.Hostname,
			Platform: swarm.Platform{Architecture: goarchToDocker(runtime.GOARCH), OS: runtime.GOOS},
			Resources: swarm.Resources{
				NanoCPUs:    int64(runtime.NumCPU()) * 1e9,
				MemoryBytes: MemoryBytes(),
			},
			Engine:  swarm.EngineDescription{EngineVersion: Version},
			TLSInfo: tlsInfo(m.root),
		},
		Status: swarm.NodeStatus{State: swarm.NodeStateReady, Addr: hostOf(m.identity.Advertise)},
	}
	if role == swarm.NodeRoleManager {
		n.ManagerStatus = &swarm.ManagerStatus{Addr: m.identity.Advertise}
	}
	return n
}

// ingressNetwork is the overlay Swarm creates at init for published ports
// in ingress mode, with Swarm's default subnet.
func ingressNetwork() *network.Inspect {
	return &network.Inspect{
		ID:      store.NewID(),
		Name:    "ingress",
		Scope:   "swarm",
		Driver:  "overlay",
		Ingress: true,
		IPAM: network.IPAM{
			Driver: "default",
			Config: []network.IPAMConfig{{Subnet: "10.0.0.0/24", Gateway: "10.0.0.1"}},
		},
		Options: map[string]string{"com.docker.network.driver.overlay.vxlanid_list": "4096"},
		Labels:  map[string]string{},
	}
}

// tlsInfo describes the cluster's root as `docker node inspect` shows it
// under "TLS Info".
func tlsInfo(root *ca.RootCA) swarm.TLSInfo {
	cert := root.Cert()
	return swarm.TLSInfo{
		TrustRoot:           string(root.CertPEM()),
		CertIssuerSubject:   cert.RawSubject,
		CertIssuerPublicKey: cert.RawSubjectPublicKeyInfo,
	}
}

// defaultClusterSpec is Swarm's cluster spec as `docker swarm init` leaves
// it.
func defaultClusterSpec() swarm.Spec {
	var spec swarm.Spec
	spec.Name = "default"
	retention := int64(5)
	spec.Orchestration.TaskHistoryRetentionLimit = &retention
	keep := uint64(0)
	spec.Raft.SnapshotInterval = 10000
	spec.Raft.KeepOldSnapshots = &keep
	spec.Raft.LogEntriesForSlowFollowers = 500
	spec.Raft.ElectionTick = 10
	spec.Raft.HeartbeatTick = 1
	spec.Dispatcher.HeartbeatPeriod = 5 * time.Second
	spec.CAConfig.NodeCertExpiry = ca.CertValidity
	return spec
}

func advertiseHost(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return "", fmt.Errorf("advertise address %q: want HOST:PORT, e.g. 10.0.0.5:4243", addr)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return "", fmt.Errorf("advertise address %q: other nodes cannot dial %s; name this machine's address", addr, host)
	}
	return host, nil
}

func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// certNames are the names a manager certificate carries: its advertise
// host (an IP or a DNS name), its hostname and loopback, so the CLI on the
// machine itself can reach it too.
func certNames(host, hostname string) (dns []string, ips []net.IP) {
	if ip := net.ParseIP(host); ip != nil {
		ips = append(ips, ip)
	} else {
		dns = append(dns, host)
	}
	if hostname != "" && hostname != host {
		dns = append(dns, hostname)
	}
	dns = append(dns, "localhost")
	ips = append(ips, net.IPv4(127, 0, 0, 1), net.IPv6loopback)
	return dns, ips
}

func goarchToDocker(arch string) string {
	if arch == "amd64" {
		return "x86_64"
	}
	if arch == "arm64" {
		return "aarch64"
	}
	return arch
}
