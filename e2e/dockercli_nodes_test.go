package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestDockerCLINodes drives node availability, promotion and demotion on a
// cluster of three managers and a worker, where a single-node Swarm has
// nothing to compare: the expectations are Swarm's (seeds, swarmkit's
// messages), asserted on docker's own tables and --pretty output.
func TestDockerCLINodes(t *testing.T) {
	requireDockerCLI(t)
	c := startCluster(t, 3, 1)
	leader := c.Leader(t)
	var followers []*node
	for _, m := range c.Managers {
		if m != leader {
			followers = append(followers, m)
		}
	}
	via, other := followers[0], followers[1]
	worker := c.Workers[0]
	ids := map[*node]string{}
	for _, n := range c.nodes() {
		ids[n] = n.NodeID(t)
	}
	// The helpers take the (sub)test they report to.
	docker := func(t *testing.T, via *node, args ...string) (string, int) {
		t.Helper()
		out, err := c.Docker(t, via, args...)
		return out, exitCode(t, args, err)
	}
	mustDocker := func(t *testing.T, via *node, want string, args ...string) {
		t.Helper()
		out, code := docker(t, via, args...)
		if code != 0 || out != want {
			t.Errorf("docker %s via %s: exit %d, printed %q; want exit 0 and %q", strings.Join(args, " "), via.Name, code, out, want)
		}
	}
	// nodeRows is `docker node ls` as rows keyed by hostname.
	nodeRows := func(t *testing.T, via *node, args ...string) map[string]map[string]string {
		t.Helper()
		out, code := docker(t, via, append([]string{"node", "ls"}, args...)...)
		tb := parseTable(out)
		want := []string{"ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"}
		if code != 0 || strings.Join(tb.header, "|") != strings.Join(want, "|") {
			t.Fatalf("docker node ls via %s: exit %d, header %q, want %q:\n%s", via.Name, code, tb.header, want, out)
		}
		rows := map[string]map[string]string{}
		for _, r := range tb.rows {
			row := map[string]string{}
			for i, h := range tb.header {
				row[h] = r[i]
			}
			rows[row["HOSTNAME"]] = row
		}
		return rows
	}

	t.Run("ls", func(t *testing.T) {
		rows := nodeRows(t, via)
		if len(rows) != 4 {
			t.Fatalf("docker node ls via %s lists %d nodes, want 4: %v", via.Name, len(rows), rows)
		}
		for _, n := range c.nodes() {
			r := rows[n.Name]
			wantID, wantStatus := ids[n], "Reachable"
			switch {
			case n == via:
				wantID += " *"
			case n == leader:
				wantStatus = "Leader"
			case !n.Manager:
				wantStatus = ""
			}
			if r["ID"] != wantID || r["AVAILABILITY"] != "Active" || r["MANAGER STATUS"] != wantStatus || r["ENGINE VERSION"] == "" {
				t.Errorf("docker node ls via %s, row of %s: %v; want ID %q, AVAILABILITY Active, MANAGER STATUS %q and an engine version",
					via.Name, n.Name, r, wantID, wantStatus)
			}
			// A worker is ready once it has checked in (every 5s), so
			// only the managers' status is certain at this point.
			if n.Manager && r["STATUS"] != "Ready" {
				t.Errorf("docker node ls via %s: STATUS of manager %s is %q, want Ready", via.Name, n.Name, r["STATUS"])
			}
		}
		out, code := docker(t, via, "info")
		section := infoSection(out, " Swarm:")
		for _, want := range []string{"  NodeID: " + ids[via], "  Is Manager: true", "  Managers: 3", "  Nodes: 4"} {
			if code != 0 || !strings.Contains(section+"\n", want+"\n") {
				t.Errorf("docker info via %s: exit %d, Swarm section lacks %q:\n%s", via.Name, code, want, section)
			}
		}
	})

	t.Run("availability", func(t *testing.T) {
		for _, target := range []*node{worker, leader} {
			for _, avail := range []string{"drain", "pause", "active"} {
				title := strings.ToUpper(avail[:1]) + avail[1:]
				mustDocker(t, via, target.Name+"\n", "node", "update", "--availability", avail, target.Name)
				if got := nodeRows(t, via)[target.Name]["AVAILABILITY"]; got != title {
					t.Errorf("after --availability %s, docker node ls shows %s's AVAILABILITY %q, want %q", avail, target.Name, got, title)
				}
				out, _ := docker(t, via, "node", "inspect", "--pretty", target.Name)
				lines := normalizeStep(cliStep{}, out, clusterFacts{})
				if !containsSeq(lines, "Status:", " Availability: "+title) {
					t.Errorf("after --availability %s, docker node inspect --pretty %s lacks Status: / Availability: %s:\n%s",
						avail, target.Name, title, out)
				}
			}
		}
		if got := nodeRows(t, via)[leader.Name]["MANAGER STATUS"]; got != "Leader" {
			t.Errorf("after drain and active, the leader %s shows MANAGER STATUS %q", leader.Name, got)
		}
	})

	t.Run("promote and demote a worker", func(t *testing.T) {
		mustDocker(t, via, "Node "+worker.Name+" promoted to a manager in the swarm.\n", "node", "promote", worker.Name)
		if _, ok := nodeRows(t, via, "--filter", "role=manager")[worker.Name]; !ok {
			t.Errorf("after promote, docker node ls --filter role=manager does not list %s", worker.Name)
		}
		mustDocker(t, via, "manager\n", "node", "inspect", "--format", "{{.Spec.Role}}", worker.Name)
		mustDocker(t, via, "Node "+ids[worker]+" is already a manager.\n", "node", "promote", worker.Name)
		// The worker learns of its promotion when it next checks in,
		// takes a manager certificate and joins Raft.
		poll(t, 60*time.Second, worker.Name+" a reachable Raft member", func() error {
			r := nodeRows(t, via)[worker.Name]
			if r["MANAGER STATUS"] != "Reachable" || r["STATUS"] != "Ready" {
				return fmt.Errorf("STATUS %q, MANAGER STATUS %q", r["STATUS"], r["MANAGER STATUS"])
			}
			return nil
		})

		mustDocker(t, via, "Manager "+worker.Name+" demoted in the swarm.\n", "node", "demote", worker.Name)
		if _, ok := nodeRows(t, via, "--filter", "role=worker")[worker.Name]; !ok {
			t.Errorf("after demote, docker node ls --filter role=worker does not list %s", worker.Name)
		}
		mustDocker(t, via, "Node "+ids[worker]+" is already a worker.\n", "node", "demote", worker.Name)
		poll(t, 30*time.Second, worker.Name+" out of Raft", func() error {
			if got := nodeRows(t, via)[worker.Name]["MANAGER STATUS"]; got != "" {
				return fmt.Errorf("MANAGER STATUS %q", got)
			}
			return nil
		})
	})

	t.Run("demotion keeps the quorum", func(t *testing.T) {
		// With one of three managers down, demoting another live one
		// would leave one reachable voter of two.
		other.Kill9(t)
		poll(t, 30*time.Second, other.Name+" Unreachable in docker node ls", func() error {
			if got := nodeRows(t, leader)[other.Name]["MANAGER STATUS"]; got != "Unreachable" {
				return fmt.Errorf("MANAGER STATUS %q", got)
			}
			return nil
		})
		out, code := docker(t, leader, "node", "demote", via.Name)
		want := "Error response from daemon: rpc error: code = FailedPrecondition desc = can't remove member from the raft: this would result in a loss of quorum\n"
		if code == 0 || out != want {
			t.Errorf("docker node demote %s with %s down: exit %d, printed %q; want a refusal: %q", via.Name, other.Name, code, out, want)
		}
		mustDocker(t, leader, "manager\n", "node", "inspect", "--format", "{{.Spec.Role}}", via.Name)

		// Demoting the unreachable one keeps two of two: Swarm takes it
		// out of Raft, and docker node ls stops showing a manager status.
		mustDocker(t, leader, "Manager "+other.Name+" demoted in the swarm.\n", "node", "demote", other.Name)
		err := pollErr(15*time.Second, func() error {
			if got := nodeRows(t, leader)[other.Name]["MANAGER STATUS"]; got != "" {
				return fmt.Errorf("MANAGER STATUS %q", got)
			}
			return nil
		})
		if err != nil {
			t.Errorf("after demoting %s, docker node ls still shows it as a Raft member: %v", other.Name, err)
		}
		out, code = docker(t, via, "info")
		if section := infoSection(out, " Swarm:"); code != 0 || !strings.Contains(section, "  Managers: 2\n") {
			t.Errorf("docker info via %s after a demotion: exit %d, want Managers: 2:\n%s", via.Name, code, section)
		}
		// Writes still commit, through the follower too.
		out, code = docker(t, via, "service", "create", "--detach", "--no-resolve-image", "--name", "dcli-after", "nginx:1.25")
		if code != 0 {
			t.Errorf("docker service create via %s after the demotion: exit %d: %s", via.Name, code, out)
		}

		// A live manager demoted leaves Raft too; one voter is a quorum
		// of one.
		mustDocker(t, leader, "Manager "+via.Name+" demoted in the swarm.\n", "node", "demote", via.Name)
		err = pollErr(15*time.Second, func() error {
			if got := nodeRows(t, leader)[via.Name]["MANAGER STATUS"]; got != "" {
				return fmt.Errorf("MANAGER STATUS %q", got)
			}
			return nil
		})
		if err != nil {
			t.Errorf("after demoting the live manager %s, docker node ls still shows it as a Raft member: %v", via.Name, err)
		}
		out, code = docker(t, leader, "service", "scale", "--detach", "dcli-after=2")
		if code != 0 || out != "dcli-after scaled to 2\n" {
			t.Errorf("docker service scale on %s after the demotions: exit %d: %s", leader.Name, code, out)
		}
		// Swarm's demoted manager is a worker: its API refuses cluster
		// commands rather than serve a copy of the state that stopped
		// following the leader (here, before the scale).
		out, code = docker(t, via, "service", "ls")
		if code == 0 || out != notAManager {
			t.Errorf("docker service ls via %s, demoted: exit %d, printed %q; want %q", via.Name, code, out, notAManager)
		}
		out, code = docker(t, leader, "node", "demote", leader.Name)
		want = "Error response from daemon: rpc error: code = FailedPrecondition desc = attempting to demote the last manager of the swarm\n"
		if code == 0 || out != want {
			t.Errorf("docker node demote %s, the last manager: exit %d, printed %q; want %q", leader.Name, code, out, want)
		}
	})
}

// notAManager is what Swarm answers on a worker (seeds 000 and 001).
const notAManager = "Error response from daemon: This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.\n"

// containsSeq reports whether lines holds a, with b somewhere in the block
// of lines indented under it.
func containsSeq(lines []string, a, b string) bool {
	for i, l := range lines {
		if l != a {
			continue
		}
		for _, m := range lines[i+1:] {
			if !strings.HasPrefix(m, " ") {
				break
			}
			if m == b {
				return true
			}
		}
	}
	return false
}
