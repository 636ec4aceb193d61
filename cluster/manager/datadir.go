package manager

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/swarmops/swarmops/cluster/ca"
)

// identityFile is the node's identity in its data directory: written once at
// init or join, read at every start.
const identityFile = "node.json"

// Identity is what a node knows about itself across restarts.
type Identity struct {
	NodeID    string  `json:"node_id"`
	Role      ca.Role `json:"role"`
	Advertise string  `json:"advertise_addr"`
	// Listen is the address the node binds; empty means Advertise.
	Listen string `json:"listen_addr,omitempty"`
	// Hostname is the node's name in `docker node ls`.
	Hostname string `json:"hostname"`
	// Managers are manager addresses this node last knew, where a worker
	// reaches the cluster.
	Managers []string `json:"managers,omitempty"`
}

// ErrNotInitialised means a data directory holds no node: run init or join.
var ErrNotInitialised = errors.New("data directory holds no swarmops node")

// ErrInitialised means a data directory already holds a node.
var ErrInitialised = errors.New("data directory already holds a swarmops node")

// DataDir names the files of a node's data directory.
type DataDir struct {
	Dir string
}

// Certs names the certificate files.
func (d DataDir) Certs() ca.Layout { return ca.NewLayout(d.Dir) }

// IdentityFile is DIR/node.json.
func (d DataDir) IdentityFile() string { return filepath.Join(d.Dir, identityFile) }

// ClusterKeyFile is the key secret data is sealed under (managers only).
func (d DataDir) ClusterKeyFile() string { return filepath.Join(d.Dir, "certs", "cluster.key") }

// LoadIdentity reads the node's identity; ErrNotInitialised when there is
// none.
func (d DataDir) LoadIdentity() (Identity, error) {
	data, err := os.ReadFile(d.IdentityFile())
	if errors.Is(err, os.ErrNotExist) {
		return Identity{}, fmt.Errorf("%s: %w: run `swarmops init` or `swarmops join` first", d.Dir, ErrNotInitialised)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("read node identity: %w", err)
	}
	var id Identity
	if err := json.Unmarshal(data, &id); err != nil {
		return Identity{}, fmt.Errorf("read node identity %s: %w", d.IdentityFile(), err)
	}
	if id.NodeID == "" || id.Advertise == "" {
		return Identity{}, fmt.Errorf("read node identity %s: node ID or advertise address missing", d.IdentityFile())
	}
	return id, nil
}

// SaveIdentity writes the node's identity atomically.
func (d DataDir) SaveIdentity(id Identity) error {
	data, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return fmt.Errorf("save node identity: %w", err)
	}
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return fmt.Errorf("save node identity: %w", err)
	}
	tmp := d.IdentityFile() + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save node identity: %w", err)
	}
	if err := os.Rename(tmp, d.IdentityFile()); err != nil {
		return fmt.Errorf("save node identity: %w", err)
	}
	return nil
}

// checkFresh refuses a data directory that already holds a node, so init
// or join never overwrites a cluster member's keys.
func (d DataDir) checkFresh() error {
	if _, err := os.Stat(d.IdentityFile()); err == nil {
		return fmt.Errorf("%s: %w: start it with `swarmops daemon --data-dir %s`, or choose an empty directory", d.Dir, ErrInitialised, d.Dir)
	}
	return nil
}
