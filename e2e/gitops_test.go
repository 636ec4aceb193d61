package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
)

// The gitops tests run clusters that follow a git repository on this
// machine: every stack change is a commit pushed with the git CLI, and
// what the reconciler made of it is read back from `swarmops status`, the
// stack's record, the docker CLI and the engine's containers.

// shopStack is the stack the lifecycle test moves between releases (%s
// is the image): three replicas rolled one at a time, each task printing
// the secret at /run/secrets/token when it has one.
const shopStack = `services:
  web:
    image: %s
    environment:
      PORT: "none"
      PRINT_FILES: /run/secrets/token
    deploy:
      replicas: 3
      update_config:
        parallelism: 1
        monitor: 2s
      rollback_config:
        parallelism: 0
        monitor: 1s
`

// shopSecret gives shopStack's service the secret token from token.txt.
const shopSecret = `    secrets:
      - token
secrets:
  token:
    file: ./token.txt
`

// shopCompose is shopStack at image, with the secret or without.
func shopCompose(image string, secret bool) string {
	s := fmt.Sprintf(shopStack, image)
	if secret {
		s += shopSecret
	}
	return s
}

// brokenLine is the line of shopCompose's file that brokenCompose breaks.
const brokenLine = 4

// brokenCompose is shopCompose with a line indented as no YAML allows.
func brokenCompose(image string) string {
	lines := strings.SplitAfter(shopCompose(image, false), "\n")
	bad := "   replicas: 3\n" // three spaces: neither web's key nor image's sibling
	return strings.Join(slices.Insert(lines, brokenLine-1, bad), "")
}

// TestGitOpsStackFollowsGit walks one stack through what a team does with
// it in git: releases that roll out, one that crashes and is rolled back
// and quarantined, a revert, a commit that does not load, a hand change
// (reported, then healed), and a rotated secret.
func TestGitOpsStackFollowsGit(t *testing.T) {
	t.Parallel()
	eng := requireEngine(t, context.Background())
	rel := buildReleases(t, eng)
	repo := newGitRepo(t)
	const token1, token2 = "first-token", "second-token"
	repo.write("stacks/shop/compose.yml", shopCompose(rel.V1, false))
	c1 := repo.commitPush("shop at v1")
	tc := startTaskClusterWith(t, clusterOptions{Managers: 1, NodeArgs: []string{
		"--git", repo.Bare, "--branch", "main", "--path", "stacks", "--poll-interval", "1s"}})
	m1 := tc.Managers[0]
	var webID string  // the service, kept across updates
	var c2, c4 string // the commits of v2 and of the revert of the crash

	// A step that stopped half-way leaves the stack where the next one
	// cannot start; one that only reported errors does not.
	step := func(name string, f func(t *testing.T)) {
		finished := false
		t.Run(name, func(t *testing.T) {
			f(t)
			finished = true
		})
		if !finished {
			t.FailNow()
		}
	}

	step("v1 synced and converged", func(t *testing.T) {
		_, st := tc.waitStack(t, m1, "shop", "Synced at "+c1, syncedAt(c1))
		if len(st.Services) != 1 || st.Services[0].Name != "shop_web" || st.Services[0].Running != 3 || st.Services[0].Desired != 3 {
			t.Errorf("services %s, want shop_web running 3 of 3", jsonText(st.Services))
		}
		tc.checkStatusExit(t, m1, "shop", 0)
		svc := tc.service(t, m1, "shop_web")
		webID = svc.ID
		if serviceImage(svc) != rel.V1 || serviceReplicas(svc) != 3 {
			t.Errorf("shop_web runs %s with %d replicas, want %s with 3", serviceImage(svc), serviceReplicas(svc), rel.V1)
		}
		tc.waitImages(t, "shop_web", rel.V1, 3)
		rec := tc.stackRecord(t, m1, "shop")
		if len(rec.History) != 1 || rec.History[0].Commit != c1 || rec.History[0].Outcome != api.OutcomeSucceeded || rec.History[0].Trigger != "git" {
			t.Errorf("history:\n%swant one git deployment of %s that succeeded", historyText(rec.History), c1)
		}
	})

	step("v2 rolls out", func(t *testing.T) {
		repo.write("stacks/shop/compose.yml", shopCompose(rel.V2, false))
		c2 = repo.commitPush("shop at v2")
		tc.waitStack(t, m1, "shop", "Synced at "+c2, syncedAt(c2))
		tc.checkStatusExit(t, m1, "shop", 0)
		svc := tc.service(t, m1, "shop_web")
		if svc.ID != webID {
			t.Errorf("shop_web is a new service (%s, was %s): v2 must roll out as an update, not a re-creation", svc.ID, webID)
		}
		if serviceImage(svc) != rel.V2 || svc.UpdateStatus == nil || svc.UpdateStatus.State != swarm.UpdateStateCompleted {
			t.Errorf("shop_web runs %s, update status %s; want %s and a completed update", serviceImage(svc), jsonText(svc.UpdateStatus), rel.V2)
		}
		tc.waitImages(t, "shop_web", rel.V2, 3)
		rec := tc.stackRecord(t, m1, "shop")
		if len(rec.History) != 2 || rec.History[0].Commit != c2 || rec.History[0].Outcome != api.OutcomeSucceeded {
			t.Errorf("history:\n%swant the deployment of %s succeeded on top of v1's", historyText(rec.History), c2)
		}
	})

	step("crashing release rolls back and is quarantined", func(t *testing.T) {
		repo.write("stacks/shop/compose.yml", shopCompose(rel.Crash, false))
		c3 := repo.commitPush("shop at a release that crashes")
		_, st := tc.waitStack(t, m1, "shop", "Degraded with "+c3+" quarantined", func(_ api.Report, st api.StackReport) error {
			switch {
			case st.Status != api.StackDegraded:
				return fmt.Errorf("status %s: %s", st.Status, st.Message)
			case st.LastDeploy == nil || st.LastDeploy.Commit != c3 || st.LastDeploy.Outcome != api.OutcomeRolledBack:
				return fmt.Errorf("last deployment %s", jsonText(st.LastDeploy))
			case len(st.Quarantined) == 0 || st.Quarantined[0].Commit != c3:
				return fmt.Errorf("quarantined %s", jsonText(st.Quarantined))
			}
			return nil
		})
		if st.Applied == nil || st.Applied.Commit != c2 {
			t.Errorf("applied %s, want v2's %s to stay applied", revText(st.Applied), c2)
		}
		// Swarm's rollback puts v2's spec back and replaces the crashed
		// slot; then nothing moves any more.
		var svc swarm.Service
		poll(t, gitopsTimeout, "shop_web's rollback to complete", func() error {
			svc = tc.service(t, m1, "shop_web")
			if svc.UpdateStatus == nil || svc.UpdateStatus.State != swarm.UpdateStateRollbackCompleted || serviceImage(svc) != rel.V2 {
				return fmt.Errorf("image %s, update status %s", serviceImage(svc), jsonText(svc.UpdateStatus))
			}
			return nil
		})
		tc.waitImages(t, "shop_web", rel.V2, 3)
		printed := tc.checkStatusExit(t, m1, "shop", 1)
		if printed.Status != api.StackDegraded || !hasDrift(printed.Drift, api.DriftRolledBack, "shop_web") {
			t.Errorf("swarmops status shows %s with drift %s; want Degraded with shop_web's rolled_back drift", printed.Status, jsonText(printed.Drift))
		}

		// The quarantined revision is not applied again while the branch
		// stays on it: several polls later the service is as the rollback
		// left it and no deployment has started.
		tc.waitPolls(t, m1, 3)
		after := tc.service(t, m1, "shop_web")
		if after.Version.Index != svc.Version.Index || serviceImage(after) != rel.V2 {
			t.Errorf("after 3 more polls shop_web is at version %d running %s; the rollback left version %d running %s: the quarantined revision was applied again",
				after.Version.Index, serviceImage(after), svc.Version.Index, rel.V2)
		}
		rec := tc.stackRecord(t, m1, "shop")
		tried := deploymentsOf(rec.History, c3)
		if len(tried) != 1 || tried[0].Outcome != api.OutcomeRolledBack || rec.History[0].Commit != c3 {
			t.Errorf("history after 3 more polls:\n%swant one deployment of %s, rolled back, and none after it", historyText(rec.History), c3)
		}
		if rec.Status != api.StackDegraded || len(rec.Quarantined) == 0 || rec.Quarantined[0].Digest != rec.LastAttempted.Digest {
			t.Errorf("record: status %s, quarantined %s, last attempted %s; want Degraded with the last attempted digest quarantined",
				rec.Status, jsonText(rec.Quarantined), jsonText(rec.LastAttempted))
		}

		c4 = repo.revertPush(c3)
		tc.waitStack(t, m1, "shop", "Synced at the revert "+c4, syncedAt(c4))
		tc.checkStatusExit(t, m1, "shop", 0)
		if svc := tc.service(t, m1, "shop_web"); serviceImage(svc) != rel.V2 {
			t.Errorf("after the revert shop_web runs %s, want %s", serviceImage(svc), rel.V2)
		}
		tc.waitImages(t, "shop_web", rel.V2, 3)
	})

	step("broken YAML fails and changes nothing", func(t *testing.T) {
		before := tc.service(t, m1, "shop_web")
		repo.write("stacks/shop/compose.yml", brokenCompose(rel.V2))
		c5 := repo.commitPush("a stack file that does not load")
		where := regexp.MustCompile(`stacks/shop/compose\.yml:(\d+)(:\d+)?: `)
		_, st := tc.waitStack(t, m1, "shop", "Failed at "+c5, func(_ api.Report, st api.StackReport) error {
			if st.Status != api.StackFailed || st.LastAttempted == nil || st.LastAttempted.Commit != c5 {
				return fmt.Errorf("status %s (%s), last attempted %s", st.Status, st.Message, revText(st.LastAttempted))
			}
			return nil
		})
		if m := where.FindStringSubmatch(st.Message); m == nil || m[1] != fmt.Sprint(brokenLine) {
			t.Errorf("message %q, want it to name stacks/shop/compose.yml:%d, the broken line", st.Message, brokenLine)
		}
		if st.Applied == nil || st.Applied.Commit != c4 {
			t.Errorf("applied %s, want %s to stay applied", revText(st.Applied), c4)
		}
		printed := tc.checkStatusExit(t, m1, "shop", 1)
		if printed.Status != api.StackFailed {
			t.Errorf("swarmops status shows %s, want Failed", printed.Status)
		}
		// Nothing changes while the head does not load: not the service,
		// and not the stack's record once it says Failed.
		failed := tc.stackRecord(t, m1, "shop")
		tc.waitPolls(t, m1, 2)
		if after := tc.service(t, m1, "shop_web"); after.Version.Index != before.Version.Index || serviceImage(after) != rel.V2 {
			t.Errorf("shop_web went from version %d to %d (image %s) after a commit that does not load; want it untouched",
				before.Version.Index, after.Version.Index, serviceImage(after))
		}
		if rec := tc.stackRecord(t, m1, "shop"); rec.Version.Index != failed.Version.Index {
			t.Errorf("the stack record went from version %d to %d over 2 polls of the same broken head (last attempted %s, then %s): a Failed stack is rewritten on every pass",
				failed.Version.Index, rec.Version.Index, jsonText(failed.LastAttempted), jsonText(rec.LastAttempted))
		}

		c6 := repo.revertPush(c5)
		tc.waitStack(t, m1, "shop", "Synced at the fix "+c6, syncedAt(c6))
	})

	step("hand change is reported as cluster drift", func(t *testing.T) {
		if out, err := tc.Docker(t, m1, "service", "update", "-d", "--replicas", "5", "shop_web"); err != nil {
			t.Fatalf("docker service update --replicas 5 shop_web: %v\n%s", err, out)
		}
		who := tc.clientName(t)
		_, st := tc.waitStack(t, m1, "shop", "with shop_web's hand change reported", func(_ api.Report, st api.StackReport) error {
			for _, d := range st.Drift {
				if d.Kind == api.DriftClusterMoved && d.Object == "shop_web" && d.By != "" {
					return nil
				}
			}
			return fmt.Errorf("drift %s", jsonText(st.Drift))
		})
		for _, d := range st.Drift {
			if d.Kind == api.DriftClusterMoved && d.Object == "shop_web" && (d.By != who || d.At.IsZero()) {
				t.Errorf("cluster drift %s: want it changed by %s (the CLI's certificate), with a time", jsonText(d), who)
			}
		}
		printed := tc.checkStatusExit(t, m1, "shop", 1)
		if !hasDrift(printed.Drift, api.DriftClusterMoved, "shop_web") {
			t.Errorf("swarmops status --json shows drift %s, want shop_web's cluster_moved", jsonText(printed.Drift))
		}
		out, _, code := tc.swarmopsCLI(t, m1, "status", "shop")
		if code != 1 || !strings.Contains(out, "cluster_moved shop_web: ") || !strings.Contains(out, "(changed by "+who+" at ") {
			t.Errorf("swarmops status shop exited %d, want 1 and shop_web's cluster_moved drift changed by %s:\n%s", code, who, out)
		}
		if svc := tc.service(t, m1, "shop_web"); serviceReplicas(svc) != 5 {
			t.Errorf("shop_web has %d replicas, want the hand change (5) kept: self_heal is off", serviceReplicas(svc))
		}
	})

	step("self_heal reverts the hand change", func(t *testing.T) {
		repo.write("stacks/swarmops.yaml", "defaults: {self_heal: true}\n")
		c7 := repo.commitPush("heal hand changes")
		tc.waitStack(t, m1, "shop", "Synced at "+c7+" with git's replica count", syncedAt(c7))
		if svc := tc.service(t, m1, "shop_web"); serviceReplicas(svc) != 3 {
			t.Errorf("shop_web has %d replicas after self_heal, want git's 3", serviceReplicas(svc))
		}
		tc.waitRunning(t, "shop_web", 3)
		tc.checkStatusExit(t, m1, "shop", 0)
		if rec := tc.stackRecord(t, m1, "shop"); !rec.Options.SelfHeal {
			t.Errorf("record options %s, want self_heal from swarmops.yaml", jsonText(rec.Options))
		}
	})

	step("a secret from a file", func(t *testing.T) {
		repo.write("stacks/shop/token.txt", token1)
		repo.write("stacks/shop/compose.yml", shopCompose(rel.V2, true))
		c8 := repo.commitPush("give web a token")
		tc.waitStack(t, m1, "shop", "Synced at "+c8, syncedAt(c8))
		name := versionedSecret("shop", "token", token1)
		if got := tc.secretNames(t, m1, "shop_token"); !slices.Equal(got, []string{name}) {
			t.Errorf("secrets of shop: %v, want [%s]: the name carries the content's digest", got, name)
		}
		tc.checkSecretInUse(t, "shop_web", 3, name, token1)
	})

	step("a changed secret file rolls the tasks to a new secret", func(t *testing.T) {
		oldName, newName := versionedSecret("shop", "token", token1), versionedSecret("shop", "token", token2)
		repo.write("stacks/shop/token.txt", token2)
		c9 := repo.commitPush("rotate the token")
		tc.waitStack(t, m1, "shop", "Synced at "+c9, syncedAt(c9))
		poll(t, gitopsTimeout, "the old secret version "+oldName+" pruned", func() error {
			if got := tc.secretNames(t, m1, "shop_token"); !slices.Equal(got, []string{newName}) {
				return fmt.Errorf("secrets %v, want [%s] alone", got, newName)
			}
			return nil
		})
		tc.checkSecretInUse(t, "shop_web", 3, newName, token2)
		rec := tc.stackRecord(t, m1, "shop")
		if rec.History[0].Commit != c9 || rec.History[0].Outcome != api.OutcomeSucceeded {
			t.Errorf("history:\n%swant the deployment of %s succeeded", historyText(rec.History), c9)
		}
	})
}

// checkSecretInUse checks that svc's n tasks desired running use secret
// (alone) and that each of its running containers printed content as
// what it read at /run/secrets/token.
func (tc *taskCluster) checkSecretInUse(t *testing.T, svc string, n int, secret, content string) {
	t.Helper()
	m1 := tc.Managers[0]
	tasks := tc.runningTasks(t, m1, svc)
	if len(tasks) != n {
		t.Errorf("%d tasks of %s desired running, want %d", len(tasks), svc, n)
	}
	for _, task := range tasks {
		var refs []string
		for _, s := range task.Spec.ContainerSpec.Secrets {
			refs = append(refs, s.SecretName)
		}
		if !slices.Equal(refs, []string{secret}) {
			t.Errorf("task %s of %s uses secrets %v, want [%s]", task.ID, svc, refs, secret)
		}
	}
	want := "file /run/secrets/token mode -r--r--r--: " + content
	poll(t, taskTimeout, fmt.Sprintf("every running %s container printing %q", svc, want), func() error {
		cs, err := tc.containers(context.Background(), svc)
		if err != nil {
			return err
		}
		running := 0
		for _, c := range cs {
			if c.State != "running" {
				continue
			}
			if logs := tc.containerLogs(t, c.ID); !strings.Contains(logs, want) {
				return fmt.Errorf("container %s printed:\n%s", c.ID, logs)
			}
			running++
		}
		if running != n {
			return fmt.Errorf("%d containers running, want %d", running, n)
		}
		return nil
	})
}

// TestGitOpsWebhook: a cluster that polls once an hour syncs on a signed
// push delivery, and refuses one signed with another secret.
func TestGitOpsWebhook(t *testing.T) {
	t.Parallel()
	eng := requireEngine(t, context.Background())
	rel := buildReleases(t, eng)
	repo := newGitRepo(t)
	compose := "services:\n  web:\n    image: " + rel.V1 + "\n    environment: {PORT: \"none\"}\n    deploy: {replicas: %d}\n"
	repo.write("stacks/hook/compose.yml", fmt.Sprintf(compose, 1))
	c1 := repo.commitPush("hook with one replica")
	secret := []byte("webhook-secret-for-the-test")
	secretFile := filepath.Join(t.TempDir(), "webhook-secret")
	if err := os.WriteFile(secretFile, append(secret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	hookAddr := freeAddr(t)
	tc := startTaskClusterWith(t, clusterOptions{Managers: 1, NodeArgs: []string{
		"--git", "file://" + repo.Bare, "--branch", "main", "--path", "stacks", "--poll-interval", "1h",
		"--webhook-addr", hookAddr, "--webhook-secret-file", secretFile}})
	m1 := tc.Managers[0]
	// The first poll is at start; the next would be an hour later.
	tc.waitStack(t, m1, "hook", "Synced at "+c1, syncedAt(c1))
	poll(t, startTimeout, "the webhook listener on "+hookAddr, func() error {
		resp, err := http.Get("http://" + hookAddr + "/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			return fmt.Errorf("GET answered %s, want 405", resp.Status)
		}
		return nil
	})

	repo.write("stacks/hook/compose.yml", fmt.Sprintf(compose, 2))
	c2 := repo.commitPush("hook with two replicas")
	body := githubPush("refs/heads/main", c2)

	code, msg := postWebhook(t, hookAddr, []byte("not-the-secret"), body)
	if code != http.StatusUnauthorized {
		t.Errorf("a delivery signed with another secret: HTTP %d %q, want 401", code, msg)
	}
	// The handler asks for the sync before it answers, so a refused
	// delivery that triggered one would already show here.
	if n := strings.Count(m1.Output(), "webhook: sync requested"); n != 0 {
		t.Errorf("the refused delivery requested a sync (%d times):\n%s", n, tail(m1.Output(), 20))
	}
	if rep, err := tc.gitReport(m1); err != nil || rep.Head != c1 {
		t.Errorf("after the refused delivery the report's head is %q (%v), want %s: only the webhook may make it poll", rep.Head, err, c1)
	}

	code, msg = postWebhook(t, hookAddr, secret, body)
	if code != http.StatusAccepted {
		t.Fatalf("a delivery signed with the secret: HTTP %d %q, want 202", code, msg)
	}
	_, st := tc.waitStack(t, m1, "hook", "Synced at "+c2+" after the webhook", syncedAt(c2))
	if st.Head != c2 || len(st.Services) != 1 || st.Services[0].Running != 2 {
		t.Errorf("after the webhook: head %s, services %s; want head %s and hook_web running 2", st.Head, jsonText(st.Services), c2)
	}
	tc.waitImages(t, "hook_web", rel.V1, 2)
	tc.checkStatusExit(t, m1, "hook", 0)
}

// rollCompose is the stack the failover test rolls (%s: the image, then
// the hostname its tasks avoid): four replicas, one at a time with a
// delay, so that the rollout is still under way when the leader dies.
const rollCompose = `services:
  app:
    image: %s
    environment:
      PORT: "none"
    deploy:
      replicas: 4
      placement:
        constraints:
          - node.hostname != %s
      update_config:
        parallelism: 1
        delay: 2s
        monitor: 1s
`

// TestGitOpsLeaderKilledMidRollout: kill -9 the leader while a rollout a
// commit started is under way; the new leader's reconciler follows that
// deployment to its end instead of starting another one.
func TestGitOpsLeaderKilledMidRollout(t *testing.T) {
	t.Parallel()
	eng := requireEngine(t, context.Background())
	rel := buildReleases(t, eng)
	repo := newGitRepo(t)
	tc := startTaskClusterWith(t, clusterOptions{Managers: 3})
	leader := tc.Leader(t)
	var survivor *node
	for _, m := range tc.Managers {
		if m != leader {
			survivor = m
			break
		}
	}
	// The tasks run on the two other managers' agents, so that the kill
	// takes no task with it.
	repo.write("stacks/roll/compose.yml", fmt.Sprintf(rollCompose, rel.V1, leader.Name))
	c1 := repo.commitPush("roll at v1")
	if out, errOut, code := tc.swarmopsCLI(t, survivor, "repo", "set", "--git", repo.Bare, "--branch", "main", "--path", "stacks", "--poll-interval", "1s"); code != 0 {
		t.Fatalf("swarmops repo set exited %d:\n%s%s", code, out, errOut)
	}
	tc.waitStack(t, survivor, "roll", "Synced at "+c1, syncedAt(c1))
	tc.waitImages(t, "roll_app", rel.V1, 4)

	repo.write("stacks/roll/compose.yml", fmt.Sprintf(rollCompose, rel.V2, leader.Name))
	c2 := repo.commitPush("roll at v2")
	var updated int
	poll(t, gitopsTimeout, "the rollout of "+c2+" under way", func() error {
		rec := tc.stackRecord(t, survivor, "roll")
		if rec.Status != api.StackProgressing || rec.LastAttempted == nil || rec.LastAttempted.Commit != c2 {
			return fmt.Errorf("status %s (%s), last attempted %s", rec.Status, rec.Message, revText(rec.LastAttempted))
		}
		if updated = tc.runningImages(t, "roll_app")[rel.V2]; updated == 0 {
			return fmt.Errorf("no slot runs %s yet", rel.V2)
		}
		return nil
	})
	leader.Kill9(t)
	t.Logf("killed the leader %s with %d of 4 slots on %s", leader.Name, updated, rel.V2)
	if updated == 4 {
		t.Fatalf("every slot was updated before the kill: the delay (2s) did not hold the rollout back")
	}
	t.Logf("the new leader is %s", tc.Leader(t).Name)

	_, st := tc.waitStack(t, survivor, "roll", "Synced at "+c2+" under the new leader", syncedAt(c2))
	if st.LastDeploy == nil || st.LastDeploy.Commit != c2 || st.LastDeploy.Outcome != api.OutcomeSucceeded {
		t.Errorf("last deployment %s, want %s succeeded", jsonText(st.LastDeploy), c2)
	}
	tc.waitImages(t, "roll_app", rel.V2, 4)
	tc.checkStatusExit(t, survivor, "roll", 0)
	rec := tc.stackRecord(t, survivor, "roll")
	if got := deploymentsOf(rec.History, c2); len(got) != 1 || len(rec.History) != 2 {
		t.Errorf("history:\n%swant one deployment of %s (followed across the failover, not started again) over v1's", historyText(rec.History), c2)
	}
}

func hasDrift(ds []api.Drift, kind, object string) bool {
	return slices.ContainsFunc(ds, func(d api.Drift) bool { return d.Kind == kind && d.Object == object })
}

// waitImages waits until the engine runs exactly n containers of svc, all
// of image.
func (tc *taskCluster) waitImages(t *testing.T, svc, image string, n int) {
	t.Helper()
	poll(t, taskTimeout, fmt.Sprintf("%d containers of %s running %s", n, svc, image), func() error {
		if got := tc.runningImages(t, svc); len(got) != 1 || got[image] != n {
			return fmt.Errorf("running by image: %v", got)
		}
		return nil
	})
}
