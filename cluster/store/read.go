package store

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/hashicorp/go-memdb"

	"github.com/swarmops/swarmops/api"
)

// ReadTx reads one consistent snapshot of the state. Lists are in ID
// order. Getters return ErrNotFound (wrapped, naming the object) when
// there is no such object. Returned objects are shared: Clone one before
// changing it.
type ReadTx struct {
	txn   *memdb.Txn
	index uint64
}

// Index is the log index the snapshot reflects.
func (tx ReadTx) Index() uint64 { return tx.index }

// Meta is the versioning of any object, by table and ID. Docker's types
// carry it too, but network.Inspect has no version and api.Stack no times:
// for those this is where they show.
func (tx ReadTx) Meta(t Table, id string) (swarm.Meta, error) {
	rec, err := tx.record(t, id)
	if err != nil {
		return swarm.Meta{}, err
	}
	return swarm.Meta{Version: swarm.Version{Index: rec.version}, CreatedAt: rec.created, UpdatedAt: rec.updated}, nil
}

func (tx ReadTx) record(t Table, id string) (*record, error) {
	if _, err := lookupTable(t); err != nil {
		return nil, err
	}
	rec, err := getRecord(tx.txn, t, id)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind(t), id, err)
	}
	if rec == nil {
		return nil, fmt.Errorf("%s %s: %w", kind(t), id, ErrNotFound)
	}
	return rec, nil
}

func get[T any](tx ReadTx, t Table, id string) (*T, error) {
	rec, err := tx.record(t, id)
	if err != nil {
		return nil, err
	}
	return rec.obj.(*T), nil
}

func list[T any](tx ReadTx, t Table, index string, args ...any) ([]*T, error) {
	it, err := tx.txn.Get(string(t), index, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s by %s: %w", t, index, err)
	}
	var out []*T
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*record).obj.(*T))
	}
	return out, nil
}

// byName returns the object of a table with unique names.
func byName[T any](tx ReadTx, t Table, name string) (*T, error) {
	raw, err := tx.txn.First(string(t), idxName, name)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", kind(t), name, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("%s %q: %w", kind(t), name, ErrNotFound)
	}
	return raw.(*record).obj.(*T), nil
}

// Cluster returns the cluster record (ErrNotFound before init stores it).
func (tx ReadTx) Cluster() (*api.Cluster, error) {
	raw, err := tx.txn.First(string(TableCluster), idxID)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if raw == nil {
		return nil, fmt.Errorf("cluster: %w", ErrNotFound)
	}
	return raw.(*record).obj.(*api.Cluster), nil
}

// Node returns the node with the ID.
func (tx ReadTx) Node(id string) (*swarm.Node, error) { return get[swarm.Node](tx, TableNodes, id) }

// Nodes lists every node.
func (tx ReadTx) Nodes() ([]*swarm.Node, error) { return list[swarm.Node](tx, TableNodes, idxID) }

// NodesByHostname lists the nodes with the hostname (compared
// case-insensitively); hostnames need not be unique.
func (tx ReadTx) NodesByHostname(hostname string) ([]*swarm.Node, error) {
	return list[swarm.Node](tx, TableNodes, idxName, hostname)
}

// Service returns the service with the ID.
func (tx ReadTx) Service(id string) (*swarm.Service, error) {
	return get[swarm.Service](tx, TableServices, id)
}

// ServiceByName returns the service with the name (case-insensitive).
func (tx ReadTx) ServiceByName(name string) (*swarm.Service, error) {
	return byName[swarm.Service](tx, TableServices, name)
}

// Services lists every service.
func (tx ReadTx) Services() ([]*swarm.Service, error) {
	return list[swarm.Service](tx, TableServices, idxID)
}

// ServicesByStack lists the services labelled with the stack namespace.
func (tx ReadTx) ServicesByStack(namespace string) ([]*swarm.Service, error) {
	return list[swarm.Service](tx, TableServices, idxStack, namespace)
}

// ServicesUsingSecret lists the services whose spec refers to the secret.
func (tx ReadTx) ServicesUsingSecret(secretID string) ([]*swarm.Service, error) {
	return list[swarm.Service](tx, TableServices, idxSecret, secretID)
}

// ServicesUsingConfig lists the services whose spec refers to the config.
func (tx ReadTx) ServicesUsingConfig(configID string) ([]*swarm.Service, error) {
	return list[swarm.Service](tx, TableServices, idxConfig, configID)
}

// ServicesUsingNetwork lists the services attached to the network, named
// as their specs name it (an ID or a name): pass each to cover both.
func (tx ReadTx) ServicesUsingNetwork(target string) ([]*swarm.Service, error) {
	return list[swarm.Service](tx, TableServices, idxNetwork, target)
}

// Task returns the task with the ID.
func (tx ReadTx) Task(id string) (*swarm.Task, error) { return get[swarm.Task](tx, TableTasks, id) }

// Tasks lists every task.
func (tx ReadTx) Tasks() ([]*swarm.Task, error) { return list[swarm.Task](tx, TableTasks, idxID) }

// TasksByService lists the tasks of a service.
func (tx ReadTx) TasksByService(serviceID string) ([]*swarm.Task, error) {
	return list[swarm.Task](tx, TableTasks, idxService, serviceID)
}

// TasksByNode lists the tasks assigned to a node.
func (tx ReadTx) TasksByNode(nodeID string) ([]*swarm.Task, error) {
	return list[swarm.Task](tx, TableTasks, idxNode, nodeID)
}

// TasksByDesiredState lists the tasks with the desired state.
func (tx ReadTx) TasksByDesiredState(state swarm.TaskState) ([]*swarm.Task, error) {
	return list[swarm.Task](tx, TableTasks, idxDesired, string(state))
}

// TasksBySlot lists the tasks of one slot of a replicated service: the
// current one and its dead predecessors.
func (tx ReadTx) TasksBySlot(serviceID string, slot int) ([]*swarm.Task, error) {
	return list[swarm.Task](tx, TableTasks, idxSlot, serviceID, slot)
}

// TasksByServiceNode lists the tasks of a service on one node, the global
// services' equivalent of a slot.
func (tx ReadTx) TasksByServiceNode(serviceID, nodeID string) ([]*swarm.Task, error) {
	return list[swarm.Task](tx, TableTasks, idxSvcNode, serviceID, nodeID)
}

// Secret returns the secret with the ID.
func (tx ReadTx) Secret(id string) (*swarm.Secret, error) {
	return get[swarm.Secret](tx, TableSecrets, id)
}

// SecretByName returns the secret with the name (case-insensitive).
func (tx ReadTx) SecretByName(name string) (*swarm.Secret, error) {
	return byName[swarm.Secret](tx, TableSecrets, name)
}

// Secrets lists every secret.
func (tx ReadTx) Secrets() ([]*swarm.Secret, error) {
	return list[swarm.Secret](tx, TableSecrets, idxID)
}

// SecretsByStack lists the secrets labelled with the stack namespace.
func (tx ReadTx) SecretsByStack(namespace string) ([]*swarm.Secret, error) {
	return list[swarm.Secret](tx, TableSecrets, idxStack, namespace)
}

// Config returns the config with the ID.
func (tx ReadTx) Config(id string) (*swarm.Config, error) {
	return get[swarm.Config](tx, TableConfigs, id)
}

// ConfigByName returns the config with the name (case-insensitive).
func (tx ReadTx) ConfigByName(name string) (*swarm.Config, error) {
	return byName[swarm.Config](tx, TableConfigs, name)
}

// Configs lists every config.
func (tx ReadTx) Configs() ([]*swarm.Config, error) {
	return list[swarm.Config](tx, TableConfigs, idxID)
}

// ConfigsByStack lists the configs labelled with the stack namespace.
func (tx ReadTx) ConfigsByStack(namespace string) ([]*swarm.Config, error) {
	return list[swarm.Config](tx, TableConfigs, idxStack, namespace)
}

// Network returns the network with the ID.
func (tx ReadTx) Network(id string) (*network.Inspect, error) {
	return get[network.Inspect](tx, TableNetworks, id)
}

// NetworkByName returns the network with the name (case-insensitive).
func (tx ReadTx) NetworkByName(name string) (*network.Inspect, error) {
	return byName[network.Inspect](tx, TableNetworks, name)
}

// Networks lists every network.
func (tx ReadTx) Networks() ([]*network.Inspect, error) {
	return list[network.Inspect](tx, TableNetworks, idxID)
}

// NetworksByStack lists the networks labelled with the stack namespace.
func (tx ReadTx) NetworksByStack(namespace string) ([]*network.Inspect, error) {
	return list[network.Inspect](tx, TableNetworks, idxStack, namespace)
}

// Stack returns the stack with the ID.
func (tx ReadTx) Stack(id string) (*api.Stack, error) { return get[api.Stack](tx, TableStacks, id) }

// StackByName returns the stack with the name (case-insensitive).
func (tx ReadTx) StackByName(name string) (*api.Stack, error) {
	return byName[api.Stack](tx, TableStacks, name)
}

// Stacks lists every stack.
func (tx ReadTx) Stacks() ([]*api.Stack, error) { return list[api.Stack](tx, TableStacks, idxID) }

// Resolve finds the ID of the object a user's reference means, the way the
// Docker daemon resolves the argument of `docker service inspect REF`: a
// full ID first, then a name (a node's hostname), then a unique ID prefix.
// It returns ErrNotFound when nothing matches and ErrAmbiguous when a
// prefix or a hostname matches several objects.
func (tx ReadTx) Resolve(t Table, ref string) (string, error) {
	tb, err := lookupTable(t)
	if err != nil {
		return "", err
	}
	if ref == "" {
		return "", fmt.Errorf("%s %q: %w", kind(t), ref, ErrNotFound)
	}
	if rec, err := getRecord(tx.txn, t, ref); err != nil {
		return "", err
	} else if rec != nil {
		return rec.id, nil
	}
	if tb.hasNameIndex() {
		ids, err := tx.ids(t, idxName, ref)
		if err != nil {
			return "", err
		}
		switch {
		case len(ids) == 1:
			return ids[0], nil
		case len(ids) > 1:
			return "", fmt.Errorf("%s %q: %w: %d objects have that name", kind(t), ref, ErrAmbiguous, len(ids))
		}
	}
	ids, err := tx.ids(t, idxID+"_prefix", ref)
	if err != nil {
		return "", err
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("%s %q: %w", kind(t), ref, ErrNotFound)
	case 1:
		return ids[0], nil
	default:
		return "", fmt.Errorf("%s %q: %w: %d IDs start with it (%s)", kind(t), ref, ErrAmbiguous, len(ids), strings.Join(ids, ", "))
	}
}

func (tx ReadTx) ids(t Table, index string, arg string) ([]string, error) {
	it, err := tx.txn.Get(string(t), index, arg)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", kind(t), err)
	}
	var ids []string
	for raw := it.Next(); raw != nil; raw = it.Next() {
		ids = append(ids, raw.(*record).id)
	}
	return ids, nil
}

// hasNameIndex reports whether the table is indexed by name (or, for
// nodes, hostname).
func (t *table) hasNameIndex() bool {
	for _, ix := range t.indexes {
		if ix.Name == idxName {
			return true
		}
	}
	return false
}

// Clone returns a deep copy of an object read from the store, to change
// and propose. Store objects are plain JSON data, so a JSON round trip is a
// faithful copy.
func Clone[T any](v *T) (*T, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("clone %T: %w", v, err)
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("clone %T: %w", v, err)
	}
	return out, nil
}
