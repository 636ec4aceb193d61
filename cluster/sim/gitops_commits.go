package sim

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
)

// Commits the GitOps simulation pushes, each on top of the head: good
// releases (new image tags, replicas, environment, secret and config
// content, services and networks added and removed, new rollout blocks,
// a mode change now and then), failing releases (an image the agents
// crash or never find healthy while the faults are on), releases the API
// refuses (two services publishing one ingress port), commits that
// break one stack's files or swarmops.yaml, the commits that fix them,
// reverts of the head and restores of an earlier commit's content (so
// digests come back, quarantined ones included), and commits that change
// nothing a stack renders.

// nextCommit makes a random commit on top of the head and returns it,
// not yet added.
func (g *gitops) nextCommit() *commit {
	head := g.repo.head()
	r := g.rng
	c := &commit{stacks: maps.Clone(head.stacks)}
	if head.repoBroken != "" && r.IntN(3) != 0 {
		c.class, c.kind = "fix swarmops.yaml", "fix swarmops.yaml"
		return c
	}
	if broken := brokenStacks(head); len(broken) > 0 && r.IntN(2) == 0 {
		name := broken[r.IntN(len(broken))]
		at := c.stacks[name]
		at.broken = ""
		if r.IntN(3) == 0 {
			// The fix brings a change of its own.
			at.model = g.release(at.model)
		}
		c.stacks[name] = at
		c.class, c.kind = "fix stack", "fix "+name
		return c
	}
	switch k := r.IntN(100); {
	case k < 61:
		name := g.pickStack()
		at := c.stacks[name]
		switch {
		case k < 35:
			at.model, c.class = g.release(at.model), "release"
		case k < 55:
			at.model, c.class = g.failing(at.model), "failing release"
		default:
			at.model, c.class = g.refused(at.model), "refused release"
		}
		c.stacks[name] = at
		c.kind = c.class + " " + name
	case k < 70:
		name := g.pickStack()
		at := c.stacks[name]
		switch r.IntN(3) {
		case 0:
			at.model = g.release(at.model)
		case 1:
			at.model = g.failing(at.model)
		}
		svc := slices.Sorted(maps.Keys(at.model.Services))[0]
		at.broken = fmt.Sprintf("stacks/%s/compose.yml:%d: services.%s.deploy.replicas: must be a number, got \"three\"", name, 3+r.IntN(20), svc)
		c.stacks[name] = at
		c.class, c.kind = "broken stack", "broken "+name
	case k < 82 && len(g.repo.commits) > 1:
		// git revert HEAD: the content of the head's parent.
		c.stacks = maps.Clone(g.repo.commits[len(g.repo.commits)-2].stacks)
		c.class, c.kind = "revert", "revert "+short(head.id)
	case k < 89:
		// The content of an earlier commit, as a revert of several does.
		earlier := g.repo.commits[r.IntN(len(g.repo.commits))]
		c.stacks = maps.Clone(earlier.stacks)
		c.repoBroken = earlier.repoBroken
		c.class, c.kind = "restore", "restore "+short(earlier.id)
	case k < 93:
		c.repoBroken = fmt.Sprintf("swarmops.yaml:%d: stacks.%s.path: stacks/nowhere does not exist", 2+r.IntN(10), g.pickStack())
		c.class, c.kind = "broken swarmops.yaml", "broken swarmops.yaml"
	default:
		c.class, c.kind = "docs", "docs"
	}
	return c
}

func brokenStacks(c *commit) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(c.stacks)) {
		if c.stacks[name].broken != "" {
			out = append(out, name)
		}
	}
	return out
}

func (g *gitops) pickStack() string {
	names := slices.Sorted(maps.Keys(g.repo.head().stacks))
	return names[g.rng.IntN(len(names))]
}

func pickService(r *rand.Rand, m *stackModel) string {
	names := slices.Sorted(maps.Keys(m.Services))
	return names[r.IntN(len(names))]
}

// failing is m with one service released as an image that misbehaves
// while the faults are on, sometimes beside good changes.
func (g *gitops) failing(m *stackModel) *stackModel {
	r := g.rng
	if r.IntN(3) == 0 {
		m = g.release(m)
	} else {
		m = m.clone()
	}
	name := pickService(r, m)
	svc := m.Services[name]
	svc.Image = imageCrash
	if r.IntN(2) == 0 {
		// A healthcheck that never passes needs a healthcheck.
		svc.Image, svc.Health = imageSick, true
	}
	m.Services[name] = svc
	return m
}

// refused is m with two services publishing the same ingress port,
// which the API refuses for the second.
func (g *gitops) refused(m *stackModel) *stackModel {
	m = m.clone()
	if len(m.Services) == 1 {
		g.change(m, 5) // a second service
	}
	names := slices.Sorted(maps.Keys(m.Services))
	for _, name := range names[:2] {
		svc := m.Services[name]
		svc.Port = 80
		m.Services[name] = svc
	}
	return m
}

// release is m with a random set of good changes.
func (g *gitops) release(m *stackModel) *stackModel {
	r := g.rng
	m = m.clone()
	// A port two services publish is fixed first.
	published := map[uint32]bool{}
	for _, name := range slices.Sorted(maps.Keys(m.Services)) {
		svc := m.Services[name]
		if svc.Port != 0 && published[svc.Port] {
			svc.Port = 0
			m.Services[name] = svc
		}
		published[svc.Port] = true
	}
	// A new image for one service, for every failing one first.
	bumped := false
	for _, name := range slices.Sorted(maps.Keys(m.Services)) {
		if svc := m.Services[name]; svc.Image == imageCrash || svc.Image == imageSick {
			g.bump(m, name)
			bumped = true
		}
	}
	if !bumped || r.IntN(3) == 0 {
		g.bump(m, pickService(r, m))
	}
	for range r.IntN(3) {
		g.change(m, r.IntN(9))
	}
	return m
}

func (g *gitops) bump(m *stackModel, name string) {
	g.tag++
	svc := m.Services[name]
	svc.Image = fmt.Sprintf("app:v%d", g.tag)
	m.Services[name] = svc
}

// change makes good change number k (0 to 8) to m.
func (g *gitops) change(m *stackModel, k int) {
	r := g.rng
	name := pickService(r, m)
	svc := m.Services[name]
	switch k {
	case 0:
		svc.Replicas = uint64([]int{0, 1, 2, 2, 3}[r.IntN(5)])
	case 1:
		g.tag++
		svc.Env = []string{fmt.Sprintf("LEVEL=%d", g.tag)}
	case 2:
		randomServiceRollout(r, &svc)
	case 3:
		if len(m.Configs) > 0 {
			g.tag++
			m.Configs["app"] = fmt.Sprintf("level: %d", g.tag)
		}
		if len(m.Secrets) > 0 && r.IntN(2) == 0 {
			g.tag++
			m.Secrets["db"] = fmt.Sprintf("password-%d", g.tag)
		}
		return
	case 4:
		// A secret and a config come, or go, with every use of them.
		if len(m.Secrets) == 0 {
			m.Secrets["db"] = fmt.Sprintf("password-%d", r.IntN(1000))
			m.Configs["app"] = fmt.Sprintf("level: %d", r.IntN(1000))
			svc.Secrets, svc.Configs = []string{"db"}, []string{"app"}
		} else {
			m.Secrets, m.Configs = map[string]string{}, map[string]string{}
			for n, other := range m.Services {
				other.Secrets, other.Configs = nil, nil
				m.Services[n] = other
			}
			svc.Secrets, svc.Configs = nil, nil
		}
	case 5:
		if len(m.Services) < len(serviceNames) {
			for _, n := range serviceNames {
				if _, ok := m.Services[n]; !ok {
					m.Services[n] = newServiceModel(r, &g.tag)
					return
				}
			}
		}
	case 6:
		if len(m.Services) > 1 {
			delete(m.Services, name)
			return
		}
	case 7:
		// A back-end network, added with one service on it, or removed.
		if !slices.Contains(m.Networks, "back") {
			m.Networks = []string{"back", "default"}
			svc.Networks = []string{"back", "default"}
		} else {
			m.Networks = []string{"default"}
			for n, other := range m.Services {
				other.Networks = []string{"default"}
				m.Services[n] = other
			}
			svc.Networks = []string{"default"}
		}
	case 8:
		// Swarm cannot change a mode: the reconciler recreates the service.
		svc.Global = !svc.Global
		if svc.Replicas == 0 {
			svc.Replicas = 1
		}
	}
	m.Services[name] = svc
}

// short is a commit's abbreviation, as git prints it.
func short(id string) string { return id[:min(len(id), 7)] }
