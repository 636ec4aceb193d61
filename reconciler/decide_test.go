package reconciler

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/stackspec"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// release renders stack shop at commit with service web on image.
func release(commit, image string) *Rendered {
	replicas := uint64(3)
	spec := &api.StackSpec{
		Namespace: "shop",
		Services: map[string]swarm.ServiceSpec{"shop_web": {
			Annotations:  swarm.Annotations{Name: "shop_web", Labels: map[string]string{api.LabelNamespace: "shop"}},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image}},
			Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		}},
		Networks: map[string]network.CreateRequest{},
		Secrets:  map[string]swarm.SecretSpec{},
		Configs:  map[string]swarm.ConfigSpec{},
	}
	return &Rendered{
		Source:   StackSource{Name: "shop", Dir: "stacks/shop", Files: []string{"stacks/shop/compose.yml"}},
		Revision: api.Revision{Commit: commit, Digest: stackspec.DigestStack(spec), Message: "release " + image},
		Spec:     spec,
	}
}

// running is a cluster running r's spec, converged.
func running(r *Rendered) Live {
	live := Live{Spec: r.Spec, Services: map[string]LiveService{}}
	for name := range r.Spec.Services {
		live.Services[name] = LiveService{ID: "id-" + name, Version: 10, Running: 3, Desired: 3}
	}
	return live
}

func open() WindowState { return WindowState{Open: true} }

func TestDecideFirstDeployment(t *testing.T) {
	v1 := release("c1c1c1c1c1", "web:1")
	act := Decide(StackInput{Name: "shop", Desired: v1, Live: Live{Spec: &api.StackSpec{Namespace: "shop"}}, Head: "c1c1c1c1c1", Window: open(), Now: t0})
	rec := act.Record
	if rec == nil || act.Apply != v1 {
		t.Fatalf("Decide = %+v, want a record and v1 applied", act)
	}
	if rec.Status != api.StackProgressing || rec.LastAttempted == nil || rec.LastAttempted.Digest != v1.Revision.Digest || rec.Applied != nil {
		t.Errorf("record = %+v, want Progressing with v1 attempted and nothing applied", rec)
	}
	if len(rec.History) != 1 || rec.History[0].Outcome != api.OutcomeProgressing || rec.History[0].Trigger != "git" {
		t.Errorf("history = %+v, want one progressing git deployment", rec.History)
	}
	if got := rec.Inventory.Services; len(got) != 1 || got[0] != "shop_web" {
		t.Errorf("inventory = %+v", rec.Inventory)
	}
}

// deploying is the record after v's deployment started at t0.
func deploying(t *testing.T, v *Rendered, base *api.Stack) *api.Stack {
	t.Helper()
	in := StackInput{Name: "shop", Record: base, Desired: v, Head: v.Revision.Commit, Window: open(), Now: t0,
		Live: Live{Spec: &api.StackSpec{Namespace: "shop"}}}
	if base != nil && base.Applied != nil {
		in.Live = running(release(base.Applied.Commit, "web:old"))
	}
	act := Decide(in)
	if act.Record == nil || act.Record.Status != api.StackProgressing {
		t.Fatalf("deployment of %s did not start: %+v", v.Revision.Commit, act)
	}
	act.Record.Version.Index = 7
	return act.Record
}

func TestDecideFollowsToSynced(t *testing.T) {
	v1 := release("c1c1c1c1c1", "web:1")
	rec := deploying(t, v1, nil)
	// Rolling out: the spec is applied but tasks are not there yet.
	live := running(v1)
	ls := live.Services["shop_web"]
	ls.Running = 1
	live.Services["shop_web"] = ls
	act := Decide(StackInput{Name: "shop", Record: rec, Desired: v1, Head: v1.Revision.Commit, Live: live, Window: open(), Now: t0.Add(time.Second)})
	if act.Apply != v1 || (act.Record != nil && act.Record.Status != api.StackProgressing) {
		t.Fatalf("mid-rollout Decide = %+v, want to keep converging while Progressing", act)
	}
	if act.Record == nil || !strings.Contains(act.Record.Message, "waiting for shop_web") {
		t.Errorf("mid-rollout message = %+v, want it to name the service waited for", act.Record)
	}
	act = Decide(StackInput{Name: "shop", Record: rec, Desired: v1, Head: v1.Revision.Commit, Live: running(v1), Window: open(), Now: t0.Add(time.Minute)})
	if act.Record == nil || act.Record.Status != api.StackSynced || act.Apply != nil {
		t.Fatalf("converged Decide = %+v, want Synced with nothing to apply", act)
	}
	if act.Record.Applied == nil || act.Record.Applied.Digest != v1.Revision.Digest || act.Record.History[0].Outcome != api.OutcomeSucceeded {
		t.Errorf("record = %+v, want v1 applied and the deployment succeeded", act.Record)
	}
}

// synced is the record of a stack that runs v, applied.
func synced(t *testing.T, v *Rendered) *api.Stack {
	t.Helper()
	rec := deploying(t, v, nil)
	act := Decide(StackInput{Name: "shop", Record: rec, Desired: v, Head: v.Revision.Commit, Live: running(v), Window: open(), Now: t0.Add(time.Minute)})
	if act.Record == nil || act.Record.Status != api.StackSynced {
		t.Fatalf("not synced: %+v", act)
	}
	act.Record.Version.Index = 9
	return act.Record
}

func rolledBackLive(v *Rendered, at time.Time) Live {
	live := running(v)
	ls := live.Services["shop_web"]
	ls.Update = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackCompleted, StartedAt: &at, Message: "rollback completed"}
	live.Services["shop_web"] = ls
	return live
}

func TestDecideQuarantinesARolledBackRevision(t *testing.T) {
	v1, v2 := release("c1c1c1c1c1", "web:1"), release("c2c2c2c2c2", "web:crash")
	rec := deploying(t, v2, synced(t, v1))
	act := Decide(StackInput{Name: "shop", Record: rec, Desired: v2, Head: v2.Revision.Commit, Live: rolledBackLive(v1, t0.Add(time.Second)), Window: open(), Now: t0.Add(time.Minute)})
	if act.Record == nil || act.Record.Status != api.StackDegraded || act.Apply != nil {
		t.Fatalf("Decide = %+v, want Degraded and nothing applied", act)
	}
	if q := act.Record.Quarantined; len(q) != 1 || q[0].Digest != v2.Revision.Digest {
		t.Errorf("quarantined = %+v, want v2", q)
	}
	if h := act.Record.History[0]; h.Outcome != api.OutcomeRolledBack || h.Digest != v2.Revision.Digest {
		t.Errorf("last deployment = %+v, want v2 rolled back", h)
	}
	if act.Record.Applied.Digest != v1.Revision.Digest {
		t.Errorf("applied = %+v, want v1 still", act.Record.Applied)
	}

	// The next polls find the same head: it is not applied again.
	rec = act.Record
	for i := range 3 {
		act = Decide(StackInput{Name: "shop", Record: rec, Desired: v2, Head: v2.Revision.Commit, Live: rolledBackLive(v1, t0.Add(time.Second)), Window: open(), Now: t0.Add(time.Duration(2+i) * time.Minute)})
		if act.Apply != nil || (act.Record != nil && act.Record.Status != api.StackDegraded) {
			t.Fatalf("poll %d: Decide = %+v, want the quarantined revision left alone", i, act)
		}
	}
	// A commit that renders the same (a README change) stays quarantined.
	same := *v2
	same.Revision.Commit = "c3c3c3c3c3"
	if act := Decide(StackInput{Name: "shop", Record: rec, Desired: &same, Head: "c3c3c3c3c3", Live: rolledBackLive(v1, t0.Add(time.Second)), Window: open(), Now: t0.Add(time.Hour)}); act.Apply != nil {
		t.Errorf("same rendering, new commit: applied again: %+v", act)
	}
	// A retry applies it once more, and takes it out of quarantine.
	rec.Retry = v2.Revision.Digest
	act = Decide(StackInput{Name: "shop", Record: rec, Desired: v2, Head: v2.Revision.Commit, Live: rolledBackLive(v1, t0.Add(time.Second)), Window: open(), Now: t0.Add(time.Hour)})
	if act.Apply != v2 || act.Record.Status != api.StackProgressing || act.Record.History[0].Trigger != "retry" || len(act.Record.Quarantined) != 0 || act.Record.Retry != "" {
		t.Errorf("retry: Decide = %+v / %+v", act, act.Record)
	}
	// A revert renders v1 again: Synced at once, nothing to apply.
	revert := *v1
	revert.Revision.Commit = "c4c4c4c4c4"
	act = Decide(StackInput{Name: "shop", Record: rec, Desired: &revert, Head: "c4c4c4c4c4", Live: rolledBackLive(v1, t0.Add(time.Second)), Window: open(), Now: t0.Add(time.Hour)})
	if act.Record == nil || act.Record.Status != api.StackSynced || act.Apply != nil || act.Record.Applied.Commit != "c4c4c4c4c4" {
		t.Errorf("revert: Decide = %+v / %+v, want Synced at the revert commit", act, act.Record)
	}
}

func TestDecideRollsTheWholeStackBack(t *testing.T) {
	v1, v2 := release("c1c1c1c1c1", "web:1"), release("c2c2c2c2c2", "web:crash")
	v2.Source.Options.RollbackStack = true // swarmops.yaml: rollback_stack: true
	rec := deploying(t, v2, synced(t, v1))
	act := Decide(StackInput{Name: "shop", Record: rec, Desired: v2, LastGood: v1, Head: v2.Revision.Commit, Live: rolledBackLive(v1, t0.Add(time.Second)), Window: open(), Now: t0.Add(time.Minute)})
	if act.Apply != v1 || act.Record.Status != api.StackDegraded {
		t.Errorf("Decide = %+v, want Degraded and the last good revision applied", act)
	}
}

func TestDecideBrokenCommitChangesNothing(t *testing.T) {
	v1 := release("c1c1c1c1c1", "web:1")
	rec := synced(t, v1)
	broken := &Rendered{Source: v1.Source, Revision: api.Revision{Commit: "cbcbcbcbcb"}, Err: errors.New("stacks/shop/compose.yml:5:17: services.web.deploy.replicas: must be an integer")}
	act := Decide(StackInput{Name: "shop", Record: rec, Desired: broken, Head: "cbcbcbcbcb", Live: running(v1), Window: open(), Now: t0.Add(time.Hour)})
	if act.Apply != nil || act.Remove {
		t.Fatalf("Decide = %+v, want nothing applied", act)
	}
	if act.Record.Status != api.StackFailed || !strings.Contains(act.Record.Message, "compose.yml:5:17") || act.Record.Applied.Digest != v1.Revision.Digest {
		t.Errorf("record = %+v, want Failed naming file and line, v1 still applied", act.Record)
	}
}

func TestDecideWindowsAndForce(t *testing.T) {
	v1, v2 := release("c1c1c1c1c1", "web:1"), release("c2c2c2c2c2", "web:2")
	rec := synced(t, v1)
	closed := WindowState{Reason: `deny window "0 22 * * *" (8h) is open until 06:00 UTC`}
	act := Decide(StackInput{Name: "shop", Record: rec, Desired: v2, Head: "c2c2c2c2c2", Live: running(v1), Window: closed, Now: t0})
	if act.Apply != nil || act.Record.Status != api.StackOutOfSync || !strings.Contains(act.Record.Message, "deny window") {
		t.Errorf("closed window: Decide = %+v / %+v", act, act.Record)
	}
	act = Decide(StackInput{Name: "shop", Record: rec, Desired: v2, Head: "c2c2c2c2c2", Live: running(v1), Window: closed, Force: true, Now: t0})
	if act.Apply != v2 {
		t.Errorf("forced: Decide = %+v, want v2 applied", act)
	}
}

func TestDecideRemovedStack(t *testing.T) {
	v1 := release("c1c1c1c1c1", "web:1")
	rec := synced(t, v1)
	act := Decide(StackInput{Name: "shop", Record: rec, Live: running(v1), Window: open(), Now: t0})
	if act.Remove || act.Record == nil || act.Record.Status != api.StackOutOfSync || !strings.Contains(act.Record.Message, "prune: true") {
		t.Errorf("without prune: Decide = %+v, want the stack kept and OutOfSync", act)
	}
	rec.Options.Prune = true
	if act := Decide(StackInput{Name: "shop", Record: rec, Live: running(v1), Window: open(), Now: t0}); !act.Remove {
		t.Errorf("with prune: Decide = %+v, want the stack removed", act)
	}
	if act := Decide(StackInput{Name: "shop", Record: rec, Live: running(v1), Window: open(), PruneRefused: true, Now: t0}); act.Remove {
		t.Errorf("every stack removed without allow_prune_all: Decide = %+v, want nothing removed", act)
	}
}

func TestDecidePinAndResume(t *testing.T) {
	v1, v2 := release("c1c1c1c1c1", "web:1"), release("c2c2c2c2c2", "web:2")
	rec := deploying(t, v2, synced(t, v1))
	act := Decide(StackInput{Name: "shop", Record: rec, Desired: v2, Head: "c2c2c2c2c2", Live: running(v2), Window: open(), Now: t0.Add(time.Minute)})
	rec = act.Record
	rec.Pin = &api.Pin{Revision: api.Revision{Commit: v1.Revision.Commit, Digest: v1.Revision.Digest}}
	act = Decide(StackInput{Name: "shop", Record: rec, Desired: v2, Pinned: v1, Head: "c2c2c2c2c2", Live: running(v2), Window: open(), Now: t0.Add(time.Hour)})
	if act.Apply != v1 || act.Record.Pin.BranchHead != "c2c2c2c2c2" || act.Record.History[0].Trigger != "rollback" {
		t.Fatalf("pinned: Decide = %+v / %+v, want v1 applied as a rollback, pinned at head c2", act, act.Record)
	}
	rec = act.Record
	act = Decide(StackInput{Name: "shop", Record: rec, Desired: v2, Pinned: v1, Head: "c2c2c2c2c2", Live: running(v1), Window: open(), Now: t0.Add(2 * time.Hour)})
	if act.Record.Status != api.StackSuspended || act.Apply != nil {
		t.Errorf("pinned and converged: %+v / %+v, want Suspended", act, act.Record)
	}
	rec = act.Record
	v3 := release("c3c3c3c3c3", "web:3")
	act = Decide(StackInput{Name: "shop", Record: rec, Desired: v3, Pinned: v1, Head: "c3c3c3c3c3", Live: running(v1), Window: open(), Now: t0.Add(3 * time.Hour)})
	if act.Apply != v3 || act.Record.Pin != nil {
		t.Errorf("branch moved: %+v / %+v, want the pin dropped and v3 applied", act, act.Record)
	}
}

func TestDecideSelfHeal(t *testing.T) {
	v1 := release("c1c1c1c1c1", "web:1")
	rec := synced(t, v1)
	hand := running(release("c1c1c1c1c1", "web:hand"))
	if act := Decide(StackInput{Name: "shop", Record: rec, Desired: v1, Head: "c1c1c1c1c1", Live: hand, Window: open(), Now: t0}); act.Apply != nil {
		t.Errorf("without self_heal: Decide = %+v, want the hand change left (and reported)", act)
	}
	rec.Options.SelfHeal = true
	v1.Source.Options.SelfHeal = true
	if act := Decide(StackInput{Name: "shop", Record: rec, Desired: v1, Head: "c1c1c1c1c1", Live: hand, Window: open(), Now: t0}); act.Apply != v1 {
		t.Errorf("with self_heal: Decide = %+v, want git's spec applied again", act)
	}
}

func TestDecideSupersedes(t *testing.T) {
	v1, v2 := release("c1c1c1c1c1", "web:1"), release("c2c2c2c2c2", "web:2")
	rec := deploying(t, v1, nil)
	act := Decide(StackInput{Name: "shop", Record: rec, Desired: v2, Head: "c2c2c2c2c2", Live: running(v1), Window: open(), Now: t0.Add(time.Second)})
	if act.Apply != v2 || len(act.Record.History) != 2 || act.Record.History[1].Outcome != api.OutcomeSuperseded || act.Record.History[0].Outcome != api.OutcomeProgressing {
		t.Errorf("Decide = %+v, history %+v: want v2 started and v1 superseded", act, act.Record.History)
	}
}

func TestDecideFollowingIsIdempotent(t *testing.T) {
	// A new leader reads the record the old one wrote and follows the same
	// deployment: it starts no second one.
	v1, v2 := release("c1c1c1c1c1", "web:1"), release("c2c2c2c2c2", "web:2")
	rec := deploying(t, v2, synced(t, v1))
	live := running(v1)
	act := Decide(StackInput{Name: "shop", Record: rec, Desired: v2, Head: "c2c2c2c2c2", Live: live, Window: open(), Now: t0.Add(time.Second)})
	if act.Apply != v2 {
		t.Fatalf("Decide = %+v, want to keep applying v2", act)
	}
	if act.Record != nil && len(act.Record.History) != len(rec.History) {
		t.Errorf("history grew from %d to %d entries: a second deployment of the same revision", len(rec.History), len(act.Record.History))
	}
}

func TestDecideRevertWhileRollingOut(t *testing.T) {
	v1, v2 := release("c1c1c1c1c1", "web:1"), release("c2c2c2c2c2", "web:2")
	rec := deploying(t, v2, synced(t, v1))
	revert := *v1
	revert.Revision.Commit = "c3c3c3c3c3"
	// Half of the release runs: the revert must deploy v1 again, not call
	// the stack Synced because v1 is what is applied.
	act := Decide(StackInput{Name: "shop", Record: rec, Desired: &revert, Head: "c3c3c3c3c3", Live: running(v2), Window: open(), Now: t0.Add(time.Second)})
	if act.Apply != &revert || act.Record.Status != api.StackProgressing || act.Record.History[1].Outcome != api.OutcomeSuperseded {
		t.Errorf("Decide = %+v / %+v, want the revert deployed and the release superseded", act, act.Record)
	}
}

func TestDecideBrokenHeadStillJudgesTheRolloutInFlight(t *testing.T) {
	v1, v2 := release("c1c1c1c1c1", "web:1"), release("c2c2c2c2c2", "web:crash")
	rec := deploying(t, v2, synced(t, v1))
	rec.Written = map[string]string{"shop_web": stackspec.Digest(v2.Spec.Services["shop_web"])}
	broken := &Rendered{Source: v1.Source, Revision: api.Revision{Commit: "cbcbcbcbcb"}, Err: errors.New("stacks/shop/compose.yml:3:1: bad")}
	act := Decide(StackInput{Name: "shop", Record: rec, Desired: broken, InFlight: v2, Head: "cbcbcbcbcb", Live: rolledBackLive(v1, t0.Add(time.Second)), Window: open(), Now: t0.Add(time.Minute)})
	if act.Apply != nil || act.Record.Status != api.StackFailed {
		t.Fatalf("Decide = %+v / %+v, want Failed with nothing applied", act, act.Record)
	}
	if q := act.Record.Quarantined; len(q) != 1 || q[0].Digest != v2.Revision.Digest || act.Record.History[0].Outcome != api.OutcomeRolledBack {
		t.Errorf("quarantine %+v, history %+v: want the release's rollback recorded while the head is broken", q, act.Record.History)
	}
	// The fix renders the release again: it stays quarantined.
	fix := *v2
	fix.Revision.Commit = "cfcfcfcfcf"
	act = Decide(StackInput{Name: "shop", Record: act.Record, Desired: &fix, Head: "cfcfcfcfcf", Live: rolledBackLive(v1, t0.Add(time.Second)), Window: open(), Now: t0.Add(2 * time.Minute)})
	if act.Apply != nil || act.Record.Status != api.StackDegraded {
		t.Errorf("after the fix: Decide = %+v / %+v, want the quarantined release left alone", act, act.Record)
	}
}

func TestDecideManualRollbackIsAHandChange(t *testing.T) {
	v1, v2 := release("c1c1c1c1c1", "web:1"), release("c2c2c2c2c2", "web:2")
	rec := synced(t, v2)
	rec.Written = map[string]string{"shop_web": stackspec.Digest(v2.Spec.Services["shop_web"])}
	v2.Source.Options.SelfHeal = true
	rec.Options.SelfHeal = true
	live := running(v1) // `docker service rollback` took it back to v1
	ls := live.Services["shop_web"]
	at := t0
	ls.Update = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackCompleted, StartedAt: &at, Message: "manually requested rollback"}
	live.Services["shop_web"] = ls
	if act := Decide(StackInput{Name: "shop", Record: rec, Desired: v2, Head: "c2c2c2c2c2", Live: live, Window: open(), Now: t0.Add(time.Minute)}); act.Apply != v2 {
		t.Errorf("Decide = %+v, want self_heal to put git's spec back after an operator's rollback", act)
	}
	// An automatic rollback from that spec is a failure: not healed again.
	ls.Update.Message = "update rolled back due to failure or early termination of task x"
	live.Services["shop_web"] = ls
	if act := Decide(StackInput{Name: "shop", Record: rec, Desired: v2, Head: "c2c2c2c2c2", Live: live, Window: open(), Now: t0.Add(time.Minute)}); act.Apply != nil {
		t.Errorf("Decide = %+v, want a spec that failed and rolled back left alone", act)
	}
}

func TestDecideHandChangeAfterARollbackIsNotRedeployed(t *testing.T) {
	v1, v2 := release("c1c1c1c1c1", "web:1"), release("c2c2c2c2c2", "web:crash")
	rec := deploying(t, v2, synced(t, v1))
	act := Decide(StackInput{Name: "shop", Record: rec, Desired: v2, Head: "c2c2c2c2c2", Live: rolledBackLive(v1, t0.Add(time.Second)), Window: open(), Now: t0.Add(time.Minute)})
	rec = act.Record
	revert := *v1
	revert.Revision.Commit = "c3c3c3c3c3"
	hand := running(release("c1c1c1c1c1", "web:hand"))
	act = Decide(StackInput{Name: "shop", Record: rec, Desired: &revert, Head: "c3c3c3c3c3", Live: hand, Window: open(), Now: t0.Add(time.Hour)})
	if act.Apply != nil || act.Record.Status != api.StackSynced {
		t.Errorf("Decide = %+v / %+v, want Synced with the hand change left for drift (no self_heal)", act, act.Record)
	}
}

func TestFailedBackKnowsWhoRolledBack(t *testing.T) {
	at := t0
	done := &swarm.UpdateStatus{State: swarm.UpdateStateRollbackCompleted, StartedAt: &at, Message: "rollback completed"}
	for _, tc := range []struct {
		name string
		ls   LiveService
		want bool
	}{
		{"automatic: the reconciler's write is the last attributed one", LiveService{Update: done, By: WriterName, ByUs: true}, true},
		{"an operator's rollback: their request is", LiveService{Update: done, By: "client-alice"}, false},
		{"no writers recorded: the message of a finished rollback", LiveService{Update: done}, true},
		{"no writers recorded: an operator's rollback under way", LiveService{Update: &swarm.UpdateStatus{State: swarm.UpdateStateRollbackStarted, Message: "manually requested rollback"}}, false},
		{"no rollback", LiveService{Update: &swarm.UpdateStatus{State: swarm.UpdateStateCompleted}, ByUs: true}, false},
	} {
		if got := failedBack(tc.ls); got != tc.want {
			t.Errorf("%s: failedBack = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDecideRevertRedeploysWhatAnotherRevisionLeftUpdated(t *testing.T) {
	v1, v2 := release("c1c1c1c1c1", "web:1"), release("c2c2c2c2c2", "web:2")
	rec := deploying(t, v2, synced(t, v1))
	// v2's rollout rolled back for another service; shop_web kept the
	// spec the reconciler wrote for v2.
	rec.History[0].Outcome = api.OutcomeRolledBack
	rec.Quarantined = []api.Revision{v2.Revision}
	rec.Status = api.StackDegraded
	rec.Written = map[string]string{"shop_web": stackspec.Digest(v2.Spec.Services["shop_web"])}
	revert := *v1
	revert.Revision.Commit = "c3c3c3c3c3"
	live := running(v2)
	ours := live.Services["shop_web"]
	ours.By, ours.ByUs = WriterName, true
	live.Services["shop_web"] = ours
	act := Decide(StackInput{Name: "shop", Record: rec, Desired: &revert, Head: "c3c3c3c3c3", Live: live, Window: open(), Now: t0.Add(time.Hour)})
	if act.Apply != &revert || act.Record == nil || act.Record.Status != api.StackProgressing {
		t.Fatalf("Decide = %+v, want the revert deployed over the service v2 left updated", act)
	}

	// Where an operator wrote the service since, what differs is their
	// hand change: left for drift.
	hand := live.Services["shop_web"]
	hand.By, hand.ByUs = "client-alice", false
	live.Services["shop_web"] = hand
	act = Decide(StackInput{Name: "shop", Record: rec, Desired: &revert, Head: "c3c3c3c3c3", Live: live, Window: open(), Now: t0.Add(time.Hour)})
	if act.Apply != nil {
		t.Errorf("Decide = %+v, want a hand change left alone without self_heal", act)
	}

	// So too where the reconciler last wrote the applied spec.
	rec.Written["shop_web"] = stackspec.Digest(v1.Spec.Services["shop_web"])
	act = Decide(StackInput{Name: "shop", Record: rec, Desired: &revert, Head: "c3c3c3c3c3", Live: running(v2), Window: open(), Now: t0.Add(time.Hour)})
	if act.Apply != nil {
		t.Errorf("Decide = %+v, want a hand change left alone without self_heal", act)
	}
}

func TestDecideRolloutCompletedWithToleratedFailures(t *testing.T) {
	v1, v2 := release("c1c1c1c1c1", "web:1"), release("c2c2c2c2c2", "web:2")
	rec := deploying(t, v2, synced(t, v1))
	live := running(v2)
	at := t0.Add(time.Second)
	ls := live.Services["shop_web"]
	ls.Running, ls.Dirty = 2, 1 // one slot's replacement failed; its old task runs on
	ls.Update = &swarm.UpdateStatus{State: swarm.UpdateStateCompleted, StartedAt: &at, Message: "update completed"}
	live.Services["shop_web"] = ls
	act := Decide(StackInput{Name: "shop", Record: rec, Desired: v2, Head: v2.Revision.Commit, Live: live, Window: open(), Now: t0.Add(time.Minute)})
	if act.Record == nil || act.Record.Status != api.StackSynced || act.Record.Applied == nil || act.Record.Applied.Digest != v2.Revision.Digest {
		t.Fatalf("Decide = %+v, want v2 applied: the rollout engine is done with the service", act.Record)
	}
	if d := act.Record.History[0]; d.Outcome != api.OutcomeSucceeded || !strings.Contains(d.Detail, "service shop_web: 1 of 3 tasks run the new spec") {
		t.Errorf("deployment = %+v, want succeeded with the tolerated failure named", d)
	}

	// Before the rollout engine takes the service up, no status: waiting.
	ls.Update = nil
	live.Services["shop_web"] = ls
	act = Decide(StackInput{Name: "shop", Record: rec, Desired: v2, Head: v2.Revision.Commit, Live: live, Window: open(), Now: t0.Add(time.Minute)})
	if act.Record != nil && act.Record.Status != api.StackProgressing {
		t.Errorf("Decide = %+v, want the deployment still in flight", act.Record)
	}
}
