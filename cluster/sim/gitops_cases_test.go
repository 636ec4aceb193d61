package sim

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

// Scenarios the seeded runs found, replayed step by step on a quiet
// cluster: each pushes its own commits and makes its own rollbacks, then
// checks the state and lets the GitOps invariants, checked at every step,
// name what breaks.

// harness is a quiet cluster of three nodes with one stack, shop, whose
// commits the test pushes: no faults, no services but the stack's.
type harness struct {
	t *testing.T
	s *Sim
}

func newHarness(t *testing.T, opts api.StackOptions, first *stackModel) *harness {
	t.Helper()
	s, err := New(Config{Seed: 1, Nodes: 3, GitOps: true})
	if err != nil {
		t.Fatal(err)
	}
	s.faults = false
	st, err := s.read()
	if err != nil {
		t.Fatal(err)
	}
	var muts []store.Mutation
	for _, sv := range st.services {
		muts = append(muts, store.Delete(store.TableServices, sv.ID, 0))
	}
	if err := s.apply("setup", muts); err != nil {
		t.Fatal(err)
	}
	s.git.repo = &repo{seed: 1, byID: map[string]*commit{}, options: map[string]api.StackOptions{"shop": opts}}
	h := &harness{t: t, s: s}
	h.push("initial", first)
	h.settle()
	if rec := h.record(); rec == nil || rec.Status != api.StackSynced {
		t.Fatalf("setup: the stack is not Synced: %s\n%s", describeRecord(rec), strings.Join(s.Log(), "\n"))
	}
	return h
}

// push commits m as the stack's content.
func (h *harness) push(kind string, m *stackModel) {
	h.pushAt(kind, stackAt{model: m})
}

func (h *harness) pushBroken(m *stackModel) {
	h.pushAt("broken", stackAt{model: m, broken: "stacks/shop/compose.yml:7: services.web.deploy.replicas: must be a number, got \"three\""})
}

func (h *harness) pushAt(kind string, at stackAt) {
	c := &commit{kind: kind, stacks: map[string]stackAt{"shop": at}}
	h.s.git.repo.add(c, h.s.now)
	h.s.logf("git: commit %s %s", short(c.id), kind)
}

// step runs one step; an invariant it breaks fails the test.
func (h *harness) step() {
	h.t.Helper()
	if err := h.s.Step(); err != nil {
		h.t.Fatalf("%v\nstep log:\n%s", err, strings.Join(h.s.Log(), "\n"))
	}
}

// steps runs n steps.
func (h *harness) steps(n int) {
	h.t.Helper()
	for range n {
		h.step()
	}
}

// settle steps until every task is where it is meant to be and nothing
// was written for a few steps.
func (h *harness) settle() {
	h.t.Helper()
	quiet := 0
	for range 200 {
		h.step()
		if h.s.wrote || h.s.busy() {
			quiet = 0
			continue
		}
		if quiet++; quiet == 5 {
			return
		}
	}
	h.t.Fatalf("not quiet after 200 steps\n%s", strings.Join(h.s.Log(), "\n"))
}

func (h *harness) record() *api.Stack {
	var rec *api.Stack
	_ = h.s.st.View(func(tx store.ReadTx) error {
		rec, _ = tx.StackByName("shop")
		return nil
	})
	return rec
}

func (h *harness) service(name string) *swarm.Service {
	h.t.Helper()
	var sv *swarm.Service
	err := h.s.st.View(func(tx store.ReadTx) error {
		var err error
		sv, err = tx.ServiceByName("shop_" + name)
		return err
	})
	if err != nil {
		h.t.Fatalf("service shop_%s: %v", name, err)
	}
	return sv
}

func (h *harness) image(name string) string {
	h.t.Helper()
	return h.service(name).Spec.TaskTemplate.ContainerSpec.Image
}

// rollBack makes service name's rollout in progress fail and roll back,
// as the rollout engine does when its health gates or failure ratio say
// so under automatic rollback: the previous spec comes back and the
// rollout keeps its start.
func (h *harness) rollBack(name string) {
	h.t.Helper()
	sv := h.service(name)
	if sv.UpdateStatus == nil || sv.UpdateStatus.State != swarm.UpdateStateUpdating || sv.PreviousSpec == nil {
		h.t.Fatalf("shop_%s has no update in progress to roll back: %s", name, describeService(sv))
	}
	c, err := store.Clone(sv)
	if err != nil {
		h.t.Fatal(err)
	}
	c.Spec, c.PreviousSpec = *sv.PreviousSpec, nil
	c.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackStarted, StartedAt: sv.UpdateStatus.StartedAt,
		Message: "update rolled back due to failure or early termination of task " + h.s.newID("task")}
	h.s.roll.restore[sv.ID] = specJSON(c.Spec)
	h.s.logf("test: the rollout of shop_%s fails and rolls back", name)
	if err := h.s.apply("deploy", []store.Mutation{store.Update(c, sv.Meta.Version.Index)}); err != nil {
		h.t.Fatal(err)
	}
	if err := h.s.watchRollbacks(); err != nil {
		h.t.Fatal(err)
	}
}

// handEnv is an operator's `docker service update --env-add DEBUG=1` of
// service name.
func (h *harness) handEnv(name string) {
	h.t.Helper()
	sv := h.service(name)
	hand, err := store.Clone(sv)
	if err != nil {
		h.t.Fatal(err)
	}
	hand.Spec.TaskTemplate.ContainerSpec.Env = append(hand.Spec.TaskTemplate.ContainerSpec.Env, "DEBUG=1")
	hand.PreviousSpec, hand.UpdateStatus = &sv.Spec, nil
	h.s.roll.restore[sv.ID] = specJSON(sv.Spec)
	if err := h.s.handWrite(sv, hand, "env", "docker service update --env-add DEBUG shop_"+name); err != nil {
		h.t.Fatal(err)
	}
}

// handRemove is an operator's `docker service rm` of service name.
func (h *harness) handRemove(name string) {
	h.t.Helper()
	sv := h.service(name)
	g := h.s.git
	g.handEdited[sv.Spec.Name] = true
	g.handAt[sv.Spec.Name] = undo{head: g.repo.head().id, step: h.s.step}
	delete(g.written, sv.ID)
	h.s.logf("operator: docker service rm %s", sv.Spec.Name)
	m := store.Delete(store.TableServices, sv.ID, 0)
	m.By = byOperator
	if err := h.s.apply(byOperator, []store.Mutation{m}); err != nil {
		h.t.Fatal(err)
	}
}

// untilUpdating steps until service name's rollout is under way.
func (h *harness) untilUpdating(name string) {
	h.t.Helper()
	for range 5 {
		if sv := h.service(name); sv.UpdateStatus != nil && sv.UpdateStatus.State == swarm.UpdateStateUpdating {
			return
		}
		h.step()
	}
	h.t.Fatalf("shop_%s's rollout did not start: %s", name, describeService(h.service(name)))
}

// pause makes service name's rollout in progress pause, as the rollout
// engine does when a rollback fails too: it moves nothing until the
// service is updated again.
func (h *harness) pause(name string) {
	h.t.Helper()
	sv := h.service(name)
	c, err := store.Clone(sv)
	if err != nil {
		h.t.Fatal(err)
	}
	c.UpdateStatus.State = swarm.UpdateStateRollbackPaused
	c.UpdateStatus.Message = "update paused due to failure or early termination of task " + h.s.newID("task")
	h.s.logf("test: the rollback of shop_%s fails and pauses", name)
	if err := h.s.apply("deploy", []store.Mutation{store.Update(c, sv.Meta.Version.Index)}); err != nil {
		h.t.Fatal(err)
	}
}

// shop is a stack of the services named, each of one replica running
// image, with the simulation's default rollout blocks.
func shop(image string, services ...string) *stackModel {
	m := &stackModel{Services: map[string]serviceModel{}, Secrets: map[string]string{}, Configs: map[string]string{}, Networks: []string{"default"}}
	for _, name := range services {
		m.Services[name] = serviceModel{Image: image, Replicas: 1, Networks: []string{"default"}}
	}
	return m
}

// with is m with service name running image.
func with(m *stackModel, name, image string) *stackModel {
	m = m.clone()
	svc := m.Services[name]
	svc.Image = image
	m.Services[name] = svc
	return m
}

// A revert of a release that is still rolling out puts the applied
// revision back: the stack is not Synced while it runs the release.
func TestGitOpsRevertOfARolloutInFlight(t *testing.T) {
	v1 := shop("app:v1", "web")
	h := newHarness(t, api.StackOptions{}, v1)
	h.push("release", with(v1, "web", "app:v2"))
	h.step()
	if rec := h.record(); rec.Status != api.StackProgressing {
		t.Fatalf("after the release: %s", describeRecord(rec))
	}
	h.push("revert", v1)
	h.settle()
	if rec, img := h.record(), h.image("web"); img != "app:v1" {
		t.Fatalf("the release was reverted while it rolled out, yet shop_web runs %s and the stack is %s", img, describeRecord(rec))
	}
}

// A rollout that rolls back while the head is broken is quarantined all
// the same: the commit that fixes the head, rendering that revision
// again, does not deploy it a second time.
func TestGitOpsRollbackWhileTheHeadIsBroken(t *testing.T) {
	v1 := shop("app:v1", "web")
	h := newHarness(t, api.StackOptions{}, v1)
	v2 := with(v1, "web", imageCrash)
	h.push("failing release", v2)
	h.step()
	h.pushBroken(v2)
	h.step()
	h.rollBack("web")
	h.step()
	h.push("fix", v2)
	h.step()
	if rec, img := h.record(), h.image("web"); img != "app:v1" || rec.Status != api.StackDegraded {
		t.Fatalf("the release rolled back while the head was broken; after the fix rendering it again, shop_web runs %s and the stack is %s", img, describeRecord(rec))
	}
}

// A rollout begun by a deployment and rolled back after a newer one
// superseded it, asking for the same spec of that service, fails the
// newer deployment: the spec is not applied again.
func TestGitOpsRollbackOfASupersededRollout(t *testing.T) {
	v1 := shop("app:v1", "api", "web")
	h := newHarness(t, api.StackOptions{}, v1)
	v2 := with(v1, "web", imageCrash)
	h.push("failing release", v2)
	h.step()
	h.push("release", with(v2, "api", "app:v3"))
	h.step()
	h.rollBack("web")
	h.step()
	h.step()
	if rec, img := h.record(), h.image("web"); img != "app:v1" || rec.Status != api.StackDegraded {
		t.Fatalf("shop_web rolled back the spec both deployments ask for; it runs %s and the stack is %s", img, describeRecord(rec))
	}
}

// With rollback_stack, a stack whose return to its last good revision
// itself rolls back is left as it is: the reconciler does not roll the
// service again and again between the two revisions.
func TestGitOpsStackRollbackThatRollsBack(t *testing.T) {
	v1 := shop("app:v1", "api", "web")
	h := newHarness(t, api.StackOptions{RollbackStack: true}, v1)
	h.push("failing release", with(with(v1, "api", "app:v2"), "web", imageCrash))
	h.step()
	h.rollBack("web")
	h.step() // quarantined; shop_api goes back to app:v1
	if img := h.image("api"); img != "app:v1" {
		t.Fatalf("rollback_stack: shop_api runs %s, not the last good app:v1; %s", img, describeRecord(h.record()))
	}
	h.rollBack("api")
	h.steps(5)
	if rec := h.record(); rec.Status != api.StackDegraded {
		t.Fatalf("after the stack's rollback rolled back: %s", describeRecord(rec))
	}
}

// A service whose rollback paused, left with tasks of the spec it rolled
// back from, does not hold a later deployment that asks for the spec it
// rolled back to in Progressing for ever.
func TestGitOpsPausedRollbackUnderANewDeployment(t *testing.T) {
	v1 := shop("app:v1", "api", "web")
	h := newHarness(t, api.StackOptions{}, v1)
	h.push("failing release", with(v1, "api", imageCrash))
	h.step()
	h.rollBack("api")
	h.pause("api")
	h.step() // quarantined
	h.push("release", with(v1, "web", "app:v3"))
	h.settle()
	if rec := h.record(); rec.Status == api.StackProgressing {
		t.Fatalf("shop_api's rollback is paused and the new deployment leaves it so: %s; shop_api: %s", describeRecord(rec), describeService(h.service("api")))
	}
}

// A deployment of the applied revision (after a revert mid-rollout) that
// rolls back does not leave the stack Synced while the service runs what
// it rolled back to.
func TestGitOpsRedeployOfTheAppliedRevisionRollsBack(t *testing.T) {
	v1 := shop("app:v1", "web")
	h := newHarness(t, api.StackOptions{}, v1)
	h.push("release", with(v1, "web", "app:v2"))
	h.step()
	h.push("revert", v1)
	h.step() // app:v1 is deployed again
	h.rollBack("web")
	h.steps(3)
	if rec, img := h.record(), h.image("web"); rec.Status == api.StackSynced && img != "app:v1" {
		t.Fatalf("the stack is Synced at app:v1, yet shop_web runs %s: %s", img, describeRecord(rec))
	}
}

// An operator's `docker service rollback` of a self-healing stack is a
// hand change, healed once it completes, not a rollout that failed.
func TestGitOpsSelfHealAfterAnOperatorsRollback(t *testing.T) {
	v1 := shop("app:v1", "web")
	h := newHarness(t, api.StackOptions{SelfHeal: true}, v1)
	h.push("release", with(v1, "web", "app:v2"))
	h.settle()
	if err := h.s.handRollback(h.service("web")); err != nil {
		t.Fatal(err)
	}
	h.settle()
	if rec, img := h.record(), h.image("web"); img != "app:v2" || rec.Status != api.StackSynced {
		t.Fatalf("after an operator rolled shop_web back, self_heal left it on %s: %s", img, describeRecord(rec))
	}
}

// A rollback that paused may be resumed; when the resumed rollout rolls
// back again, its spec is not written a third time.
func TestGitOpsResumedRollbackThatRollsBack(t *testing.T) {
	v1 := shop("app:v1", "web")
	h := newHarness(t, api.StackOptions{RollbackStack: true}, v1)
	h.push("failing release", with(v1, "web", imageCrash))
	h.step()
	h.rollBack("web")
	h.pause("web")
	h.step() // quarantined
	for range 2 {
		if sv := h.service("web"); sv.UpdateStatus != nil && sv.UpdateStatus.State == swarm.UpdateStateUpdating {
			h.rollBack("web") // the resumed rollout fails too
			h.pause("web")
		}
		h.steps(3)
	}
	if rec := h.record(); rec.Status != api.StackDegraded {
		t.Fatalf("after the rollbacks: %s", describeRecord(rec))
	}
}

// Under a deployment in flight, a paused rollback is resumed once; when
// the resumed rollout rolls back too, putting back the very spec it
// rolled out, the spec is not written again at the next pass.
func TestGitOpsResumedRolloutThatRollsBackInFlight(t *testing.T) {
	v1 := shop("app:v1", "api", "web")
	h := newHarness(t, api.StackOptions{}, v1)
	h.push("failing release", with(v1, "web", imageCrash))
	h.step()
	h.rollBack("web")
	h.pause("web")
	h.step() // quarantined; shop_web runs tasks of both specs
	h.push("release", with(v1, "api", "app:v3"))
	h.step() // shop_web's paused rollback is resumed
	if sv := h.service("web"); sv.UpdateStatus == nil || sv.UpdateStatus.State != swarm.UpdateStateUpdating {
		t.Fatalf("shop_web's paused rollback was not resumed: %s", describeService(sv))
	}
	h.rollBack("web")
	h.pause("web")
	h.steps(3)
}

// A release that rolls back for one service leaves the others updated;
// a revert to the applied revision then deploys it again rather than
// calling the stack Synced while they run the release (seed 316).
func TestGitOpsRevertAfterARollbackOfOneService(t *testing.T) {
	v1 := shop("app:v1", "api", "db")
	h := newHarness(t, api.StackOptions{}, v1)
	h.push("failing release", with(with(v1, "api", "app:v2"), "db", imageCrash))
	h.step()
	h.rollBack("db")
	h.settle()
	if rec, img := h.record(), h.image("api"); img != "app:v2" || rec.Status != api.StackDegraded {
		t.Fatalf("after shop_db rolled back: shop_api runs %s, the stack is %s", img, describeRecord(rec))
	}
	h.push("revert", v1)
	h.settle()
	if rec, img := h.record(), h.image("api"); img != "app:v1" || rec.Status != api.StackSynced {
		t.Fatalf("after the revert: shop_api runs %s, the stack is %s", img, describeRecord(rec))
	}
}

// A rollout one deployment resumed, which rolls back and pauses again
// under a newer deployment, is judged by that one, not resumed by it once
// more: the pause came after it began, though the rollout is older
// (seed 2569).
func TestGitOpsResumedRolloutPausesUnderANewerDeployment(t *testing.T) {
	v1 := shop("app:v1", "api", "web")
	h := newHarness(t, api.StackOptions{}, v1)
	h.push("failing release", with(v1, "api", imageCrash))
	h.step()
	h.rollBack("api")
	h.pause("api")
	h.step() // quarantined
	h.push("release", with(v1, "web", "app:v3"))
	h.step() // shop_api's paused rollback is resumed
	if sv := h.service("api"); sv.UpdateStatus == nil || sv.UpdateStatus.State != swarm.UpdateStateUpdating {
		t.Fatalf("shop_api's paused rollback was not resumed: %s", describeService(sv))
	}
	h.s.now = h.s.now.Add(time.Second)
	h.push("release", with(v1, "web", "app:v4"))
	h.step()
	h.s.now = h.s.now.Add(time.Second)
	h.rollBack("api")
	h.pause("api")
	h.steps(3)
	if rec := h.record(); rec.Status == api.StackProgressing {
		t.Fatalf("shop_api paused under the deployment, which still waits: %s", describeRecord(rec))
	}
}

// With rollback_stack, a refused release takes the stack back to its last
// good revision, writing over an operator's change; when that write rolls
// back, a revert to that revision leaves the service as it is (Degraded)
// rather than writing the spec that rolled back again (seed 3912).
func TestGitOpsRevertAfterTheWayBackRolledBack(t *testing.T) {
	v1 := shop("app:v1", "web")
	h := newHarness(t, api.StackOptions{RollbackStack: true}, v1)
	h.handEnv("web")
	h.settle()
	refused := shop("app:v1", "api", "web")
	for _, name := range []string{"api", "web"} {
		svc := refused.Services[name]
		svc.Port = 80
		refused.Services[name] = svc
	}
	h.push("refused release", refused)
	h.step() // refused; shop_web goes back to the last good spec
	h.untilUpdating("web")
	h.rollBack("web")
	h.push("revert", v1)
	h.steps(5)
	if rec := h.record(); rec.Status != api.StackDegraded {
		t.Fatalf("shop_web rolled back from the last good spec: %s", describeRecord(rec))
	}
}

// A revert to the applied revision puts back a service another revision
// left updated, and leaves the one that rolled back from the applied
// revision's own spec as it runs, rather than leaving both, or writing
// both (seed 1566).
func TestGitOpsRevertPutsBackWhatItCanAndHoldsWhatRolledBack(t *testing.T) {
	v1 := shop("app:v1", "api", "web")
	h := newHarness(t, api.StackOptions{}, v1)
	h.handEnv("web")
	h.settle()
	h.push("release", with(v1, "api", "app:v2"))
	h.step() // shop_api to app:v2; shop_web back from the operator's spec to v1's
	h.untilUpdating("web")
	h.rollBack("web") // to the operator's spec
	h.settle()
	if rec, img := h.record(), h.image("api"); img != "app:v2" || rec.Status != api.StackDegraded {
		t.Fatalf("after shop_web rolled back: shop_api runs %s, the stack is %s", img, describeRecord(rec))
	}
	h.push("revert", v1)
	h.settle()
	if rec, img := h.record(), h.image("api"); img != "app:v1" || rec.Status != api.StackDegraded {
		t.Fatalf("after the revert: shop_api runs %s, the stack is %s", img, describeRecord(rec))
	}
	if env := h.service("web").Spec.TaskTemplate.ContainerSpec.Env; !slices.Contains(env, "DEBUG=1") {
		t.Fatalf("shop_web was written again after it rolled back from that spec: env %v", env)
	}
}

// A hand change after a release rolled back and was reverted stands
// without self_heal: the service rolled back from what the reconciler
// wrote last, and an operator wrote it since (the e2e scenario; seeds 169
// and 536 with a refused release and a leftover config).
func TestGitOpsHandChangeAfterARevertStands(t *testing.T) {
	v1 := shop("app:v1", "web")
	h := newHarness(t, api.StackOptions{}, v1)
	h.push("failing release", with(v1, "web", imageCrash))
	h.step()
	h.rollBack("web")
	h.settle()
	h.push("revert", v1)
	h.settle()
	if rec := h.record(); rec.Status != api.StackSynced {
		t.Fatalf("after the revert: %s", describeRecord(rec))
	}
	h.handEnv("web")
	h.settle()
	if env := h.service("web").Spec.TaskTemplate.ContainerSpec.Env; !slices.Contains(env, "DEBUG=1") {
		t.Fatalf("the hand change was written over without self_heal: env %v, stack %s", env, describeRecord(h.record()))
	}
}

// A service an operator removed after a refused release was reverted is
// not created again without self_heal: the refused deployment is the last
// one, which may have left things half-way, but the reconciler did not
// remove that service (seed 1865).
func TestGitOpsHandRemovalAfterARefusedReleaseStands(t *testing.T) {
	v1 := shop("app:v1", "api", "web")
	// rollback_stack takes shop_api back at once, so the revert finds
	// nothing to redeploy: the refused deployment stays the last.
	h := newHarness(t, api.StackOptions{RollbackStack: true}, v1)
	refused := v1.clone()
	for _, name := range []string{"api", "web"} {
		svc := refused.Services[name]
		svc.Port = 80
		refused.Services[name] = svc
	}
	h.push("refused release", refused)
	h.step()
	if rec := h.record(); rec.Status != api.StackFailed {
		t.Fatalf("after the refused release: %s", describeRecord(rec))
	}
	h.settle() // shop_api goes back
	h.push("revert", v1)
	h.settle()
	h.handRemove("web")
	h.settle()
	var sv *swarm.Service
	_ = h.s.st.View(func(tx store.ReadTx) error {
		sv, _ = tx.ServiceByName("shop_web")
		return nil
	})
	if sv != nil {
		t.Fatalf("shop_web, removed by hand, was created again without self_heal: %s", describeRecord(h.record()))
	}
}

// A release that removes a service and rolls back for another leaves the
// removed one gone (removals are not rolled back); a revert to the applied
// revision creates it again rather than calling the stack Synced without
// it (seeds 14003, 14137).
func TestGitOpsRevertRecreatesWhatAFailedReleaseRemoved(t *testing.T) {
	v1 := shop("app:v1", "api", "web")
	h := newHarness(t, api.StackOptions{}, v1)
	release := with(v1, "web", imageCrash)
	delete(release.Services, "api")
	h.push("failing release", release)
	h.step()
	h.untilUpdating("web")
	h.rollBack("web")
	h.settle()
	h.push("revert", v1)
	h.settle()
	if rec, img := h.record(), h.image("api"); img != "app:v1" || rec.Status != api.StackSynced {
		t.Fatalf("after the revert: shop_api runs %s, the stack is %s", img, describeRecord(rec))
	}
}
