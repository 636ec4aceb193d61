package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/hashicorp/go-memdb"

	"github.com/swarmops/swarmops/api"
)

// Table names a table of the store.
type Table string

// The tables.
const (
	TableCluster  Table = "cluster"
	TableNodes    Table = "nodes"
	TableNetworks Table = "networks"
	TableSecrets  Table = "secrets"
	TableConfigs  Table = "configs"
	TableServices Table = "services"
	TableTasks    Table = "tasks"
	TableStacks   Table = "stacks"
)

// tableOrder lists every table in Save order.
var tableOrder = []Table{TableCluster, TableNodes, TableNetworks, TableSecrets, TableConfigs, TableServices, TableTasks, TableStacks}

// Index names.
const (
	idxID       = "id"
	idxName     = "name"
	idxStack    = "stack"
	idxSecret   = "secret"
	idxConfig   = "config"
	idxNetwork  = "network"
	idxService  = "service"
	idxNode     = "node"
	idxDesired  = "desired"
	idxSlot     = "slot"
	idxSvcNode  = "service_node"
	maxIDLength = 128
)

// record is what memdb holds: the object and the versioning the store
// keeps for it. Network objects have no Meta of their own, so the version
// lives here for every table alike; the typed objects get a copy stamped in.
type record struct {
	id      string
	version uint64
	created time.Time
	updated time.Time
	obj     any
	// writer is who last changed the object on someone's behalf.
	writer Writer
}

// table describes one table: how to decode, identify, name and stamp its
// objects, and its indexes beyond "id".
type table struct {
	name Table
	// decode reads a JSON object into a new *T.
	decode func(raw []byte) (any, error)
	// accepts reports whether v is a T or *T, and returns it as *T.
	accepts func(v any) (any, bool)
	id      func(obj any) string
	setID   func(obj any, id string)
	// objName is the name that must be unique in the table; nil for tables
	// whose objects have none (tasks, nodes, the cluster).
	objName func(obj any) string
	// stamp writes the record's versioning into the object.
	stamp   func(obj any, version uint64, created, updated time.Time)
	indexes []*memdb.IndexSchema
}

// tableOf builds a table for objects of type T.
func tableOf[T any](name Table, id func(*T) *string, objName func(*T) string, stamp func(*T, uint64, time.Time, time.Time), idx ...*memdb.IndexSchema) *table {
	t := &table{
		name: name,
		decode: func(raw []byte) (any, error) {
			v := new(T)
			if err := json.Unmarshal(raw, v); err != nil {
				return nil, err
			}
			return v, nil
		},
		accepts: func(v any) (any, bool) {
			switch o := v.(type) {
			case *T:
				return o, o != nil
			case T:
				return &o, true
			}
			return nil, false
		},
		id:      func(obj any) string { return *id(obj.(*T)) },
		setID:   func(obj any, v string) { *id(obj.(*T)) = v },
		stamp:   func(obj any, v uint64, c, u time.Time) { stamp(obj.(*T), v, c, u) },
		indexes: idx,
	}
	if objName != nil {
		t.objName = func(obj any) string { return objName(obj.(*T)) }
	}
	return t
}

func stampMeta(m *swarm.Meta, version uint64, created, updated time.Time) {
	m.Version.Index = version
	m.CreatedAt = created
	m.UpdatedAt = updated
}

// stackOf is the stack an object belongs to, by Docker's label.
func stackOf(labels map[string]string) string {
	return labels[api.LabelNamespace]
}

var tables = map[Table]*table{
	TableCluster: tableOf(TableCluster,
		func(c *api.Cluster) *string { return &c.ID }, nil,
		func(c *api.Cluster, v uint64, cr, up time.Time) {
			c.Version.Index, c.CreatedAt, c.UpdatedAt = v, cr, up
		}),
	TableNodes: tableOf(TableNodes,
		func(n *swarm.Node) *string { return &n.ID }, nil,
		func(n *swarm.Node, v uint64, c, u time.Time) { stampMeta(&n.Meta, v, c, u) },
		index(idxName, foldedString(func(n *swarm.Node) string { return n.Description.Hostname }))),
	TableNetworks: tableOf(TableNetworks,
		func(n *network.Inspect) *string { return &n.ID },
		func(n *network.Inspect) string { return n.Name },
		func(n *network.Inspect, _ uint64, c, _ time.Time) { n.Created = c },
		index(idxName, foldedString(func(n *network.Inspect) string { return n.Name })),
		index(idxStack, exactString(func(n *network.Inspect) string { return stackOf(n.Labels) }))),
	TableSecrets: tableOf(TableSecrets,
		func(s *swarm.Secret) *string { return &s.ID },
		func(s *swarm.Secret) string { return s.Spec.Name },
		func(s *swarm.Secret, v uint64, c, u time.Time) { stampMeta(&s.Meta, v, c, u) },
		index(idxName, foldedString(func(s *swarm.Secret) string { return s.Spec.Name })),
		index(idxStack, exactString(func(s *swarm.Secret) string { return stackOf(s.Spec.Labels) }))),
	TableConfigs: tableOf(TableConfigs,
		func(c *swarm.Config) *string { return &c.ID },
		func(c *swarm.Config) string { return c.Spec.Name },
		func(c *swarm.Config, v uint64, cr, u time.Time) { stampMeta(&c.Meta, v, cr, u) },
		index(idxName, foldedString(func(c *swarm.Config) string { return c.Spec.Name })),
		index(idxStack, exactString(func(c *swarm.Config) string { return stackOf(c.Spec.Labels) }))),
	TableServices: tableOf(TableServices,
		func(s *swarm.Service) *string { return &s.ID },
		func(s *swarm.Service) string { return s.Spec.Name },
		func(s *swarm.Service, v uint64, c, u time.Time) { stampMeta(&s.Meta, v, c, u) },
		index(idxName, foldedString(func(s *swarm.Service) string { return s.Spec.Name })),
		index(idxStack, exactString(func(s *swarm.Service) string { return stackOf(s.Spec.Labels) })),
		index(idxSecret, exactStrings(serviceSecretIDs)),
		index(idxConfig, exactStrings(serviceConfigIDs)),
		index(idxNetwork, exactStrings(serviceNetworkTargets))),
	TableTasks: tableOf(TableTasks,
		func(t *swarm.Task) *string { return &t.ID }, nil,
		func(t *swarm.Task, v uint64, c, u time.Time) { stampMeta(&t.Meta, v, c, u) },
		index(idxService, exactString(taskServiceID)),
		index(idxNode, exactString(taskNodeID)),
		index(idxDesired, exactString(func(t *swarm.Task) string { return string(t.DesiredState) })),
		index(idxSlot, &memdb.CompoundIndex{Indexes: []memdb.Indexer{
			exactString(taskServiceID),
			integer(func(t *swarm.Task) int { return t.Slot }),
		}}),
		index(idxSvcNode, &memdb.CompoundIndex{Indexes: []memdb.Indexer{
			exactString(taskServiceID),
			exactString(taskNodeID),
		}})),
	TableStacks: tableOf(TableStacks,
		func(s *api.Stack) *string { return &s.ID },
		func(s *api.Stack) string { return s.Name },
		func(s *api.Stack, v uint64, _, _ time.Time) { s.Version.Index = v },
		index(idxName, foldedString(func(s *api.Stack) string { return s.Name }))),
}

func taskServiceID(t *swarm.Task) string { return t.ServiceID }
func taskNodeID(t *swarm.Task) string    { return t.NodeID }

func serviceSecretIDs(s *swarm.Service) []string {
	cs := s.Spec.TaskTemplate.ContainerSpec
	if cs == nil {
		return nil
	}
	var ids []string
	for _, ref := range cs.Secrets {
		if ref != nil {
			ids = append(ids, ref.SecretID)
		}
	}
	return ids
}

func serviceConfigIDs(s *swarm.Service) []string {
	cs := s.Spec.TaskTemplate.ContainerSpec
	if cs == nil {
		return nil
	}
	var ids []string
	for _, ref := range cs.Configs {
		if ref != nil {
			ids = append(ids, ref.ConfigID)
		}
	}
	return ids
}

// serviceNetworkTargets are the networks a service attaches to, as its spec
// names them: an ID or a name, in the task template or in the deprecated
// service-level list older clients still send.
func serviceNetworkTargets(s *swarm.Service) []string {
	var targets []string
	for _, n := range s.Spec.TaskTemplate.Networks {
		targets = append(targets, n.Target)
	}
	//lint:ignore SA1019 older API versions put networks here; they still count as uses
	for _, n := range s.Spec.Networks {
		targets = append(targets, n.Target)
	}
	return targets
}

// schema is the memdb schema of every table. Indexes other than "id" are
// never Unique: memdb does not enforce uniqueness, it would silently let a
// second object replace the first in the index, so Apply checks names
// itself and the index keeps every object.
func schema() *memdb.DBSchema {
	s := &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{}}
	for _, t := range tables {
		ts := &memdb.TableSchema{Name: string(t.name), Indexes: map[string]*memdb.IndexSchema{
			idxID: {Name: idxID, Unique: true, Indexer: recordID{}},
		}}
		for _, ix := range t.indexes {
			ts.Indexes[ix.Name] = ix
		}
		s.Tables[string(t.name)] = ts
	}
	return s
}

func index(name string, ix memdb.Indexer) *memdb.IndexSchema {
	return &memdb.IndexSchema{Name: name, AllowMissing: true, Indexer: ix}
}

// lookupTable returns the table named t.
func lookupTable(t Table) (*table, error) {
	tb, ok := tables[t]
	if !ok {
		return nil, fmt.Errorf("%w: unknown table %q", ErrInvalid, t)
	}
	return tb, nil
}

// tableFor returns the table whose objects have v's type.
func tableFor(v any) (*table, any, bool) {
	for _, t := range tableOrder {
		if obj, ok := tables[t].accepts(v); ok {
			return tables[t], obj, true
		}
	}
	return nil, nil, false
}
