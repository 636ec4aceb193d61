package dispatcher

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

// Assignments answers a node's long poll: the node's set at once when it
// differs from the one numbered req.Since (or Since is 0), otherwise when
// it changes, or after one heartbeat period with the same set. The call is
// a heartbeat. The tasks in the reply are the store's: read them, do not
// change them.
func (d *Dispatcher) Assignments(ctx context.Context, nodeID string, req api.AssignmentsRequest) (api.Assignments, error) {
	s, err := d.touch(nodeID, req.SessionID)
	if err != nil {
		return api.Assignments{}, err
	}
	period := time.NewTimer(d.cfg.HeartbeatPeriod)
	defer period.Stop()
	for {
		asg, index, err := d.current(s)
		if err != nil || req.Since == 0 || asg.Sequence != req.Since {
			return asg, err
		}
		// Wait for a change that may concern the node.
		for waiting := true; waiting; {
			events, changed, err := d.cfg.Store.Events(index)
			waiting = err == nil // compacted: read the whole set again
			for _, e := range events {
				index = max(index, e.Index)
				waiting = waiting && !concerns(e, nodeID)
			}
			if !waiting {
				break
			}
			select {
			case <-changed:
			case <-period.C:
				return asg, nil
			case <-ctx.Done():
				return api.Assignments{}, ctx.Err()
			case <-d.done:
				return api.Assignments{}, ErrStopped
			}
		}
	}
}

// current reads the node's set, numbers it in session s, and returns it
// with the store index it reflects.
func (d *Dispatcher) current(s *session) (api.Assignments, uint64, error) {
	var asg api.Assignments
	var index uint64
	err := d.cfg.Store.View(func(tx store.ReadTx) error {
		index = tx.Index()
		var err error
		asg, err = d.assignmentsOf(tx, s.nodeID)
		return err
	})
	if err != nil {
		return api.Assignments{}, 0, err
	}
	fp, err := fingerprint(asg)
	if err != nil {
		return api.Assignments{}, 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sessions[s.id] != s {
		return api.Assignments{}, 0, fmt.Errorf("session %q of node %s: %w: register again", s.id, s.nodeID, ErrUnknownSession)
	}
	if s.seq == 0 || fp != s.fingerprint {
		s.seq++
		s.fingerprint = fp
	}
	asg.Sequence = s.seq
	return asg, index, nil
}

// assignmentsOf is the node's whole set as tx holds it: every task on the
// node, whatever its state (the agent shuts down what is no longer wanted
// and forgets what is gone), the services of those tasks, and the secrets
// and configs referenced by those of them still meant to run — exactly
// those, decrypted.
func (d *Dispatcher) assignmentsOf(tx store.ReadTx, nodeID string) (api.Assignments, error) {
	node, err := tx.Node(nodeID)
	if errors.Is(err, store.ErrNotFound) {
		return api.Assignments{}, fmt.Errorf("node %s: %w", nodeID, ErrUnknownNode)
	}
	if err != nil {
		return api.Assignments{}, err
	}
	tasks, err := tx.TasksByNode(nodeID)
	if err != nil {
		return api.Assignments{}, err
	}
	asg := api.Assignments{Tasks: make([]swarm.Task, 0, len(tasks)), Role: node.Spec.Role, Managers: d.cfg.managers()}
	var secretIDs, configIDs []string
	for _, t := range tasks {
		asg.Tasks = append(asg.Tasks, *t)
		if _, ok := asg.Services[t.ServiceID]; !ok && t.ServiceID != "" {
			if svc, err := tx.Service(t.ServiceID); err == nil {
				if asg.Services == nil {
					asg.Services = map[string]api.AssignedService{}
				}
				asg.Services[svc.ID] = api.AssignedService{Name: svc.Spec.Name, Endpoint: svc.Spec.EndpointSpec, Auth: d.registryAuth(svc)}
			}
		}
		if !meantToRun(t) {
			continue
		}
		for _, ref := range t.Spec.ContainerSpec.Secrets {
			if ref != nil && ref.SecretID != "" {
				secretIDs = append(secretIDs, ref.SecretID)
			}
		}
		for _, ref := range t.Spec.ContainerSpec.Configs {
			if ref != nil && ref.ConfigID != "" {
				configIDs = append(configIDs, ref.ConfigID)
			}
		}
	}
	for _, id := range sortedUnique(secretIDs) {
		sec, err := tx.Secret(id)
		if err != nil {
			// The task fails on the node for want of it, which says more
			// than holding back the node's whole set.
			d.log.Warn("a task on the node references a missing secret", "node", nodeID, "secret", id, "err", err)
			continue
		}
		data := sec.Spec.Data
		if d.cfg.Open != nil {
			if data, err = d.cfg.Open(sec.Spec.Data); err != nil {
				d.log.Error("cannot decrypt a secret for the node", "node", nodeID, "secret", id, "name", sec.Spec.Name, "err", err)
				continue
			}
		}
		asg.Secrets = append(asg.Secrets, api.AssignedData{ID: id, Name: sec.Spec.Name, Data: data})
	}
	for _, id := range sortedUnique(configIDs) {
		cfg, err := tx.Config(id)
		if err != nil {
			d.log.Warn("a task on the node references a missing config", "node", nodeID, "config", id, "err", err)
			continue
		}
		asg.Configs = append(asg.Configs, api.AssignedData{ID: id, Name: cfg.Spec.Name, Data: cfg.Spec.Data})
	}
	return asg, nil
}

// meantToRun reports whether a task may still run: its desired state is
// running or before it. A task to shut down needs its secrets no more.
func meantToRun(t *swarm.Task) bool {
	if t.Spec.ContainerSpec == nil {
		return false
	}
	desired, ok := api.TaskStateRank(t.DesiredState)
	running, _ := api.TaskStateRank(swarm.TaskStateRunning)
	return ok && desired <= running
}

func sortedUnique(ids []string) []string {
	slices.Sort(ids)
	return slices.Compact(ids)
}

// fingerprint identifies a set up to what the agent acts on. A task's
// version and observed status are left out: they change with every status
// the node itself reports, and waking the node for its own news would turn
// the long poll into a busy loop. (The node reports the status; what it
// is told to do is the desired state and the spec.)
func fingerprint(asg api.Assignments) ([32]byte, error) {
	stable := asg
	stable.Sequence = 0
	stable.Tasks = make([]swarm.Task, len(asg.Tasks))
	for i, t := range asg.Tasks {
		t.Meta, t.Status = swarm.Meta{}, swarm.TaskStatus{}
		stable.Tasks[i] = t
	}
	b, err := json.Marshal(stable)
	if err != nil {
		return [32]byte{}, fmt.Errorf("fingerprint assignments: %w", err)
	}
	return sha256.Sum256(b), nil
}

// concerns reports whether a store change may change the node's set.
// Changes to services, secrets, configs and nodes (roles, the managers'
// addresses) may concern anyone; a task change only its node.
func concerns(e store.Event, nodeID string) bool {
	switch e.Table {
	case store.TableServices, store.TableSecrets, store.TableConfigs, store.TableNodes:
		return true
	case store.TableTasks:
		for _, obj := range []any{e.Object, e.Old} {
			if t, ok := obj.(*swarm.Task); ok && t.NodeID == nodeID {
				return true
			}
		}
	}
	return false
}

func sameJSON(a, b any) bool {
	x, errX := json.Marshal(a)
	y, errY := json.Marshal(b)
	return errX == nil && errY == nil && bytes.Equal(x, y)
}

// registryAuth opens the registry credentials the API sealed into svc's
// spec; empty when there are none or they do not open (logged: the pull
// then goes without credentials and fails with the registry's error).
func (d *Dispatcher) registryAuth(svc *swarm.Service) string {
	sealed := svc.Spec.Labels[api.LabelRegistryAuth]
	if sealed == "" || d.cfg.Open == nil {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(sealed)
	var plain []byte
	if err == nil {
		plain, err = d.cfg.Open(raw)
	}
	if err != nil {
		d.log.Error("cannot open a service's registry credentials", "service", svc.ID, "err", err)
		return ""
	}
	return string(plain)
}
