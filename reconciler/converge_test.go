package reconciler

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
)

// recordingWriter is a Writer that records the calls it gets.
type recordingWriter struct{ calls []string }

func (w *recordingWriter) add(format string, args ...any) error {
	w.calls = append(w.calls, fmt.Sprintf(format, args...))
	return nil
}

func (w *recordingWriter) CreateNetwork(_ context.Context, name string, _ network.CreateRequest) error {
	return w.add("create network %s", name)
}
func (w *recordingWriter) RemoveNetwork(_ context.Context, name string) error {
	return w.add("remove network %s", name)
}
func (w *recordingWriter) CreateSecret(_ context.Context, s swarm.SecretSpec) error {
	return w.add("create secret %s", s.Name)
}
func (w *recordingWriter) RemoveSecret(_ context.Context, name string) error {
	return w.add("remove secret %s", name)
}
func (w *recordingWriter) CreateConfig(_ context.Context, s swarm.ConfigSpec) error {
	return w.add("create config %s", s.Name)
}
func (w *recordingWriter) RemoveConfig(_ context.Context, name string) error {
	return w.add("remove config %s", name)
}
func (w *recordingWriter) CreateService(_ context.Context, s swarm.ServiceSpec) error {
	return w.add("create service %s", s.Name)
}
func (w *recordingWriter) UpdateService(_ context.Context, id string, version uint64, s swarm.ServiceSpec) error {
	return w.add("update service %s %s@%d", s.Name, id, version)
}
func (w *recordingWriter) RemoveService(_ context.Context, name string) error {
	return w.add("remove service %s", name)
}
func (w *recordingWriter) PutStack(_ context.Context, st *api.Stack) error {
	return w.add("put stack %s@%d", st.Name, st.Version.Index)
}
func (w *recordingWriter) RemoveStack(_ context.Context, name string) error {
	return w.add("remove stack %s", name)
}

func svc(name, image string, secrets ...string) swarm.ServiceSpec {
	one := uint64(1)
	s := swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: name},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}},
	}
	for _, sec := range secrets {
		s.TaskTemplate.ContainerSpec.Secrets = append(s.TaskTemplate.ContainerSpec.Secrets, &swarm.SecretReference{SecretName: sec, File: &swarm.SecretReferenceFileTarget{Name: "s", Mode: 0o444}})
	}
	return s
}

func stackOf(services map[string]swarm.ServiceSpec, secrets ...string) *api.StackSpec {
	s := &api.StackSpec{Namespace: "shop", Services: services, Networks: map[string]network.CreateRequest{}, Secrets: map[string]swarm.SecretSpec{}, Configs: map[string]swarm.ConfigSpec{}}
	for _, name := range secrets {
		s.Secrets[name] = swarm.SecretSpec{Annotations: swarm.Annotations{Name: name}}
	}
	return s
}

func TestConvergeHonoursDependsOn(t *testing.T) {
	target := stackOf(map[string]swarm.ServiceSpec{"shop_db": svc("shop_db", "db:1"), "shop_web": svc("shop_web", "web:1")})
	target.DependsOn = map[string][]api.Dependency{"shop_web": {{Service: "shop_db", Condition: api.ConditionHealthy}}}
	w := &recordingWriter{}
	step, err := converge(context.Background(), w, target, Live{Spec: stackOf(nil), Services: map[string]LiveService{}}, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"create service shop_db"}; !reflect.DeepEqual(w.calls, want) {
		t.Errorf("first pass calls = %q, want %q", w.calls, want)
	}
	if len(step.Waiting) != 1 || !strings.Contains(step.Waiting[0], "shop_web (waiting for shop_db to be applied)") {
		t.Errorf("waiting = %q", step.Waiting)
	}
	// db exists but is not healthy yet: web still waits.
	live := Live{Spec: stackOf(map[string]swarm.ServiceSpec{"shop_db": target.Services["shop_db"]}),
		Services: map[string]LiveService{"shop_db": {ID: "db", Running: 0, Desired: 1}}}
	w = &recordingWriter{}
	step, _ = converge(context.Background(), w, target, live, time.Now(), nil)
	if len(w.calls) != 0 || len(step.Waiting) != 1 || !strings.Contains(step.Waiting[0], "to be healthy (0/1)") {
		t.Errorf("db starting: calls %q waiting %q, want web held until db is healthy", w.calls, step.Waiting)
	}
	live.Services["shop_db"] = LiveService{ID: "db", Running: 1, Desired: 1}
	w = &recordingWriter{}
	if _, err := converge(context.Background(), w, target, live, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	if want := []string{"create service shop_web"}; !reflect.DeepEqual(w.calls, want) {
		t.Errorf("db healthy: calls = %q, want %q", w.calls, want)
	}
}

func TestConvergeKeepsOldSecretsUntilSettled(t *testing.T) {
	oldSpec := stackOf(map[string]swarm.ServiceSpec{"shop_web": svc("shop_web", "web:1", "shop_pw-aaaa")}, "shop_pw-aaaa")
	target := stackOf(map[string]swarm.ServiceSpec{"shop_web": svc("shop_web", "web:1", "shop_pw-bbbb")}, "shop_pw-bbbb")
	w := &recordingWriter{}
	live := Live{Spec: oldSpec, Services: map[string]LiveService{"shop_web": {ID: "web", Version: 4, Running: 1, Desired: 1}}}
	if _, err := converge(context.Background(), w, target, live, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	if want := []string{"create secret shop_pw-bbbb", "update service shop_web web@4"}; !reflect.DeepEqual(w.calls, want) {
		t.Errorf("calls = %q, want %q (the old version stays while the service rolls)", w.calls, want)
	}
	// The service rolled to the new version; still rolling out.
	started := time.Now()
	live = Live{Spec: stackOf(target.Services, "shop_pw-aaaa", "shop_pw-bbbb"),
		Services: map[string]LiveService{"shop_web": {ID: "web", Version: 5, Running: 1, Desired: 1, Dirty: 1, Update: &swarm.UpdateStatus{State: swarm.UpdateStateUpdating, StartedAt: &started}}}}
	w = &recordingWriter{}
	if _, err := converge(context.Background(), w, target, live, time.Now(), nil); err != nil || len(w.calls) != 0 {
		t.Errorf("mid-rollout calls = %q (err %v), want none", w.calls, err)
	}
	live.Services["shop_web"] = LiveService{ID: "web", Version: 6, Running: 1, Desired: 1}
	w = &recordingWriter{}
	if _, err := converge(context.Background(), w, target, live, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	if want := []string{"remove secret shop_pw-aaaa"}; !reflect.DeepEqual(w.calls, want) {
		t.Errorf("settled calls = %q, want %q", w.calls, want)
	}
}

func TestDriftsReportsEachKind(t *testing.T) {
	v1 := release("c1c1c1c1c1", "web:1")
	rec := &api.Stack{Name: "shop", Status: api.StackSynced, Applied: &api.Revision{Commit: "c1c1c1c1c1", Digest: v1.Revision.Digest}}
	if d := Drifts(rec, v1, v1.Spec, running(v1)); len(d) != 0 {
		t.Errorf("in sync: drifts = %+v, want none", d)
	}
	at := t0
	hand := running(release("c1c1c1c1c1", "web:hand"))
	ls := hand.Services["shop_web"]
	ls.By, ls.At, ls.Running = "client-alice", at, 2
	hand.Services["shop_web"] = ls
	v2 := release("c2c2c2c2c2", "web:2")
	got := Drifts(rec, v2, v1.Spec, hand)
	kinds := map[string]api.Drift{}
	for _, d := range got {
		kinds[d.Kind] = d
	}
	if _, ok := kinds[api.DriftGitMoved]; !ok {
		t.Errorf("drifts %+v lack git_moved", got)
	}
	if d, ok := kinds[api.DriftClusterMoved]; !ok || d.By != "client-alice" || !d.At.Equal(at) || !strings.Contains(d.Message, "web:hand") {
		t.Errorf("cluster_moved drift = %+v, want the hand change with who and when", d)
	}
	if d, ok := kinds[api.DriftNotConverged]; !ok || !strings.Contains(d.Message, "2/3") {
		t.Errorf("not_converged drift = %+v", d)
	}
	// A service rolled back from the head's spec is rolled_back, not a hand change.
	rb := rolledBackLive(v1, t0)
	got = Drifts(rec, v2, v1.Spec, rb)
	if len(got) != 2 || got[0].Kind != api.DriftGitMoved || got[1].Kind != api.DriftRolledBack {
		t.Errorf("rolled back: drifts = %+v, want git_moved and rolled_back", got)
	}
}
