package store

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
	"github.com/swarmops/swarmops/api"
)

// The property test drives stores with random batches and checks them
// against a model that knows only the rules: IDs, case-insensitive names,
// versions, references. After every batch the store must have failed
// exactly when the model says (with the same error) and hold what the
// model holds; and stores fed the same entries, directly or from a
// snapshot taken midway, must save the same bytes.

type modelObj struct {
	name    string
	version uint64
	refs    []string // secret and config IDs a service uses
	// A task's node and observed status.
	node   string
	state  swarm.TaskState
	msg    string
	status time.Time
	// Who last wrote it on someone's behalf, and at which index.
	writer        string
	writerVersion uint64
}

type model map[Table]map[string]modelObj

// statusOutcomes counts the status reports the model applied and ignored
// (on tasks of the reporting node), to check the generator makes both.
var statusOutcomes = map[string]int{}

func (m model) clone() model {
	c := model{}
	for t, objs := range m {
		c[t] = maps.Clone(objs)
	}
	return c
}

// apply runs a batch on a copy of the model and returns the new model or
// the error the store must return, checking in the store's order.
func (m model) apply(index uint64, muts []Mutation) (model, error) {
	next := m.clone()
	for _, mu := range muts {
		if next[mu.Table] == nil {
			next[mu.Table] = map[string]modelObj{}
		}
		objs := next[mu.Table]
		old, exists := objs[mu.ID]
		switch mu.Op {
		case OpSetTaskStatus:
			rep := mu.Object.(*TaskStatusReport)
			if !exists || old.node != rep.NodeID {
				continue
			}
			oldRank, _ := api.TaskStateRank(old.state)
			newRank, _ := api.TaskStateRank(rep.Status.State)
			same := old.state == rep.Status.State && old.msg == rep.Status.Message && old.status.Equal(rep.Status.Timestamp)
			if newRank < oldRank || (newRank == oldRank && (same || rep.Status.Timestamp.Before(old.status))) {
				statusOutcomes["ignored"]++
				continue
			}
			statusOutcomes["applied"]++
			old.state, old.msg, old.status, old.version = rep.Status.State, rep.Status.Message, rep.Status.Timestamp, index
			old.attribute(mu.By, index)
			objs[mu.ID] = old
		case OpCreate, OpUpdate:
			switch {
			case mu.Op == OpCreate && exists:
				return nil, ErrExists
			case mu.Op == OpUpdate && !exists:
				return nil, ErrNotFound
			case mu.Op == OpUpdate && old.version != mu.Version:
				return nil, ErrVersionConflict
			}
			o := modelOf(mu.Object)
			for id, other := range objs {
				if id != mu.ID && o.name != "" && strings.EqualFold(other.name, o.name) {
					return nil, ErrNameConflict
				}
			}
			o.version = index
			if exists {
				o.writer, o.writerVersion = old.writer, old.writerVersion
			}
			o.attribute(mu.By, index)
			objs[mu.ID] = o
		case OpDelete:
			switch {
			case !exists:
				return nil, ErrNotFound
			case mu.Version != 0 && old.version != mu.Version:
				return nil, ErrVersionConflict
			}
			if mu.Table == TableSecrets || mu.Table == TableConfigs {
				for _, svc := range next[TableServices] {
					if slices.Contains(svc.refs, mu.ID) {
						return nil, ErrInUse
					}
				}
			}
			delete(objs, mu.ID)
		}
	}
	return next, nil
}

// attribute records a write by someone; one by no one changes nothing.
func (o *modelObj) attribute(by string, index uint64) {
	if by != "" {
		o.writer, o.writerVersion = by, index
	}
}

func modelOf(obj any) modelObj {
	switch o := obj.(type) {
	case *swarm.Service:
		return modelObj{name: o.Spec.Name, refs: append(serviceSecretIDs(o), serviceConfigIDs(o)...)}
	case *swarm.Secret:
		return modelObj{name: o.Spec.Name}
	case *swarm.Config:
		return modelObj{name: o.Spec.Name}
	case *swarm.Task:
		return modelObj{node: o.NodeID, state: o.Status.State, msg: o.Status.Message, status: o.Status.Timestamp}
	}
	panic(fmt.Sprintf("no model for %T", obj))
}

// gen makes random batches over a small space of IDs and names, so that
// conflicts of every kind are frequent.
type gen struct {
	r *rand.Rand
}

func (g gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g gen) name() string {
	n := g.pick("web", "db", "cache", "api")
	if g.r.IntN(4) == 0 {
		n = strings.ToUpper(n)
	}
	return n
}

func (g gen) labels() map[string]string {
	l := map[string]string{}
	for range g.r.IntN(4) {
		l[g.pick("a", "b", "c", "d", "e")] = fmt.Sprint(g.r.IntN(100))
	}
	return l
}

func (g gen) object(t Table, id string) any {
	switch t {
	case TableServices:
		var o svcOpts
		for range g.r.IntN(3) {
			o.secrets = append(o.secrets, g.pick("sec0", "sec1", "sec2"))
		}
		for range g.r.IntN(2) {
			o.configs = append(o.configs, g.pick("cfg0", "cfg1"))
		}
		s := service(id, g.name(), o)
		s.Spec.Labels = g.labels()
		return s
	case TableSecrets:
		s := secret(id, g.name(), "")
		s.Spec.Labels = g.labels()
		return s
	case TableConfigs:
		c := config(id, g.name(), "")
		c.Spec.Labels = g.labels()
		return c
	default:
		return task(id, g.pick("svc0", "svc1"), g.r.IntN(3), g.pick("", "n1", "n2"), swarm.TaskStateRunning)
	}
}

// status is a report drawn from few states, messages and times, so that
// forward, backward, repeated and same-state reports all happen.
func (g gen) status() swarm.TaskStatus {
	return swarm.TaskStatus{
		State:     []swarm.TaskState{swarm.TaskStateAccepted, swarm.TaskStateStarting, swarm.TaskStateRunning, swarm.TaskStateFailed}[g.r.IntN(4)],
		Message:   g.pick("", "started", "exit 1"),
		Timestamp: t0.Add(time.Duration(g.r.IntN(3)) * time.Second),
	}
}

var propTables = map[Table][]string{
	TableServices: {"svc0", "svc1", "svc2", "svc3"},
	TableSecrets:  {"sec0", "sec1", "sec2"},
	TableConfigs:  {"cfg0", "cfg1"},
	TableTasks:    {"t0", "t1", "t2", "t3", "t4"},
}

// batch returns a random batch, choosing versions that are mostly right
// according to m (which the proposer would have read).
func (g gen) batch(m model) []Mutation {
	var muts []Mutation
	for range 1 + g.r.IntN(4) {
		t := []Table{TableServices, TableSecrets, TableConfigs, TableTasks}[g.r.IntN(4)]
		id := g.pick(propTables[t]...)
		version := m[t][id].version
		if g.r.IntN(5) == 0 {
			version = uint64(g.r.IntN(3))
		}
		// Most writes are the control loops' own, attributed to no one.
		who := g.pick("", "", "alice", "bob")
		if t == TableTasks && g.r.IntN(3) == 0 {
			muts = append(muts, by(who, SetTaskStatus(id, g.pick("n1", "n2"), g.status())))
			continue
		}
		switch g.r.IntN(3) {
		case 0:
			muts = append(muts, by(who, Create(g.object(t, id))))
		case 1:
			muts = append(muts, by(who, Update(g.object(t, id), version)))
		default:
			if g.r.IntN(2) == 0 {
				version = 0
			}
			muts = append(muts, by(who, Delete(t, id, version)))
		}
	}
	return muts
}

// checkAgainst compares the store's contents with the model.
func checkAgainst(t *testing.T, s *Store, m model) {
	t.Helper()
	err := s.View(func(tx ReadTx) error {
		for tb := range propTables {
			got := map[string]modelObj{}
			it, err := tx.txn.Get(string(tb), idxID)
			if err != nil {
				return err
			}
			for raw := it.Next(); raw != nil; raw = it.Next() {
				r := raw.(*record)
				o := modelOf(r.obj)
				o.version = r.version
				o.writer, o.writerVersion = r.writer.By, r.writer.Version
				if r.writer.By != "" && !r.writer.At.Equal(at(r.writer.Version)) {
					return fmt.Errorf("%s %s: writer at %v, not its entry's time %v", tb, r.id, r.writer.At, at(r.writer.Version))
				}
				got[r.id] = o
			}
			want := m[tb]
			if want == nil {
				want = map[string]modelObj{}
			}
			if !maps.EqualFunc(got, want, func(a, b modelObj) bool {
				return a.name == b.name && a.version == b.version && slices.Equal(a.refs, b.refs) &&
					a.node == b.node && a.state == b.state && a.msg == b.msg && a.status.Equal(b.status) &&
					a.writer == b.writer && a.writerVersion == b.writerVersion
			}) {
				return fmt.Errorf("%s: store holds %v, model %v", tb, got, want)
			}
			// Every named object is found by its name, in any case.
			for id, o := range want {
				if o.name == "" {
					continue
				}
				ids, err := tx.ids(tb, idxName, strings.ToLower(o.name))
				if err != nil || len(ids) != 1 || ids[0] != id {
					return fmt.Errorf("%s: name %q finds %v, %v; want %s", tb, o.name, ids, err, id)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPropertyReplicasAgree(t *testing.T) {
	const seeds, batches = 25, 200
	seen := map[error]int{}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			g := gen{r: rand.New(rand.NewPCG(seed, 0x5eed))}
			a, b := New(WithEventLogSize(64)), New()
			var restored *Store
			m := model{}
			failures := 0
			for i := range batches {
				index := uint64(i + 1)
				muts := g.batch(m)
				data, err := EncodeBatch(muts...)
				if err != nil {
					t.Fatal(err)
				}
				next, wantErr := m.apply(index, muts)
				errA := a.Apply(index, at(index), data)
				errB := b.Apply(index, at(index), data)
				if wantErr != nil {
					failures++
					seen[wantErr]++
					if !errors.Is(errA, wantErr) {
						t.Fatalf("batch %d %v: store says %v, model says %v", index, muts, errA, wantErr)
					}
				} else {
					if errA != nil {
						t.Fatalf("batch %d %v: store says %v, model accepts it", index, muts, errA)
					}
					m = next
				}
				if (errA == nil) != (errB == nil) {
					t.Fatalf("batch %d: replicas disagree: %v vs %v", index, errA, errB)
				}
				if restored != nil {
					if err := restored.Apply(index, at(index), data); (err == nil) != (errA == nil) {
						t.Fatalf("batch %d: restored replica says %v, others %v", index, err, errA)
					}
				}
				checkAgainst(t, a, m)
				if i == batches/2 {
					var snap bytes.Buffer
					if err := a.Save(&snap); err != nil {
						t.Fatal(err)
					}
					restored = New()
					if err := restored.Restore(&snap); err != nil {
						t.Fatal(err)
					}
				}
			}
			if failures == 0 || failures == batches {
				t.Errorf("%d of %d batches failed: the generator does not exercise both paths", failures, batches)
			}
			sa, sb, sr := save(t, a), save(t, b), save(t, restored)
			if sa != sb {
				t.Error("two stores applying the same entries saved different bytes")
			}
			if sa != sr {
				t.Error("a store restored midway and fed the rest saved different bytes")
			}
			checkAgainst(t, restored, m)
		})
	}
	for _, e := range []error{ErrExists, ErrNotFound, ErrVersionConflict, ErrNameConflict, ErrInUse} {
		if seen[e] == 0 {
			t.Errorf("no batch failed with %v: the generator misses a rule", e)
		}
	}
	if statusOutcomes["applied"] == 0 || statusOutcomes["ignored"] == 0 {
		t.Errorf("status reports by outcome: %v: the generator misses a path", statusOutcomes)
	}
	t.Logf("failures by error: %v; status reports by outcome: %v", seen, statusOutcomes)
}
