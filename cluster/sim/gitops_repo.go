package sim

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/deploy"
	"github.com/swarmops/swarmops/reconciler"
	"github.com/swarmops/swarmops/stackspec"
)

// The repository of the GitOps simulation lives in memory: each commit
// holds every stack's content as a small model and is rendered once, when
// it is made, into the reconciler.Snapshot the leader's source would
// render from a checkout. Models, not compose files, so that the
// simulation can make any sequence of commits cheaply; the renderings
// have the shape stackspec.Convert gives (full names, the namespace label
// on every object, content-versioned secret and config names, automatic
// rollback on every service).

// stackModel is one stack's content at one commit.
type stackModel struct {
	Services map[string]serviceModel // by short name
	Secrets  map[string]string       // short name -> content
	Configs  map[string]string
	Networks []string // short names, sorted
}

// serviceModel is one service of a stack file.
type serviceModel struct {
	Image    string
	Replicas uint64
	Global   bool
	Env      []string
	Secrets  []string // short names, sorted
	Configs  []string
	Networks []string
	Health   bool
	// Port is a published ingress port, 0 for none.
	Port     uint32
	Update   *swarm.UpdateConfig
	Rollback *swarm.UpdateConfig
	Gates    map[string]string
}

// stackAt is a stack in one commit: its content and, when the commit
// breaks its files, the loader's error (the content is then what the
// author meant, which the commit that fixes the typo deploys).
type stackAt struct {
	model  *stackModel
	broken string
}

// commit is one commit of the tracked branch.
type commit struct {
	id string
	// kind says what the simulation made it as ("failing release shop");
	// class the same without names ("failing release").
	kind, class string
	// stacks holds every stack, by name; repoBroken, when set, is an
	// error of swarmops.yaml that keeps every stack from rendering.
	stacks     map[string]stackAt
	repoBroken string
	snap       *reconciler.Snapshot
}

// repo is the branch's history, oldest first.
type repo struct {
	seed    uint64
	commits []*commit
	byID    map[string]*commit
	// options are each stack's options in swarmops.yaml; they do not
	// change over a run.
	options map[string]api.StackOptions
}

func (r *repo) head() *commit { return r.commits[len(r.commits)-1] }

// render answers the Stepper's renderings of earlier commits.
func (r *repo) render(commitID, name string) *reconciler.Rendered {
	c := r.byID[commitID]
	if c == nil {
		return nil
	}
	return c.snap.Stacks[name]
}

// rendered is the spec of stack name at commitID, nil when that commit
// is unknown or the stack did not render there.
func (r *repo) rendered(commitID, name string) *api.StackSpec {
	if rr := r.render(commitID, name); rr != nil {
		return rr.Spec
	}
	return nil
}

// add makes c the new head: names and renders it.
func (r *repo) add(c *commit, at time.Time) {
	sum := sha1.Sum(fmt.Appendf(nil, "%d/%d", r.seed, len(r.commits)))
	c.id = hex.EncodeToString(sum[:])
	c.snap = r.snapshot(c, at)
	r.commits = append(r.commits, c)
	r.byID[c.id] = c
}

// snapshot renders c as RenderDir renders a checkout.
func (r *repo) snapshot(c *commit, at time.Time) *reconciler.Snapshot {
	msg := fmt.Sprintf("%s (+%s)", c.kind, at.Sub(epoch))
	snap := &reconciler.Snapshot{Commit: c.id, Message: msg, Layout: &reconciler.Layout{ConfigFile: "swarmops.yaml"}, Stacks: map[string]*reconciler.Rendered{}}
	if c.repoBroken != "" {
		snap.Layout = nil
		snap.Err = errors.New(c.repoBroken)
		return snap
	}
	for _, name := range slices.Sorted(maps.Keys(c.stacks)) {
		at := c.stacks[name]
		src := reconciler.StackSource{
			Name: name, Dir: "stacks/" + name, Files: []string{"stacks/" + name + "/compose.yml"},
			Options: r.options[name],
		}
		snap.Layout.Stacks = append(snap.Layout.Stacks, src)
		rr := &reconciler.Rendered{Source: src, Revision: api.Revision{Commit: c.id, Message: msg}}
		if at.broken != "" {
			rr.Err = errors.New(at.broken)
		} else {
			rr.Spec = at.model.render(name)
			rr.Revision.Digest = stackspec.DigestStack(rr.Spec)
		}
		snap.Stacks[name] = rr
	}
	return snap
}

// versioned is a secret's or config's name on the cluster: its content
// in git changes it, as reconciler.VersionNames does.
func versioned(stack, name, content string) string {
	sum := sha256.Sum256([]byte(content))
	return fmt.Sprintf("%s_%s_%s", stack, name, hex.EncodeToString(sum[:])[:10])
}

// render is the stack's spec, as the reconciler renders a compose file.
func (m *stackModel) render(stack string) *api.StackSpec {
	ns := map[string]string{api.LabelNamespace: stack}
	spec := &api.StackSpec{
		Namespace: stack,
		Services:  map[string]swarm.ServiceSpec{},
		Networks:  map[string]network.CreateRequest{},
		Secrets:   map[string]swarm.SecretSpec{},
		Configs:   map[string]swarm.ConfigSpec{},
	}
	for _, n := range m.Networks {
		spec.Networks[stack+"_"+n] = network.CreateRequest{CreateOptions: network.CreateOptions{Driver: "overlay", Labels: maps.Clone(ns)}}
	}
	for name, content := range m.Secrets {
		full := versioned(stack, name, content)
		spec.Secrets[full] = swarm.SecretSpec{Annotations: swarm.Annotations{Name: full, Labels: maps.Clone(ns)}, Data: []byte(content)}
	}
	for name, content := range m.Configs {
		full := versioned(stack, name, content)
		spec.Configs[full] = swarm.ConfigSpec{Annotations: swarm.Annotations{Name: full, Labels: maps.Clone(ns)}, Data: []byte(content)}
	}
	for name, svc := range m.Services {
		spec.Services[stack+"_"+name] = svc.render(stack, name, m)
	}
	return spec
}

func (svc serviceModel) render(stack, name string, m *stackModel) swarm.ServiceSpec {
	labels := map[string]string{api.LabelNamespace: stack, api.LabelImage: svc.Image, deploy.LabelAutoRollback: "true"}
	maps.Copy(labels, svc.Gates)
	cs := &swarm.ContainerSpec{Image: svc.Image, Labels: map[string]string{api.LabelNamespace: stack}, Env: slices.Clone(svc.Env)}
	if svc.Health {
		cs.Healthcheck = &container.HealthConfig{Test: []string{"CMD", "/app", "health"}, Interval: time.Second, Retries: 2}
	}
	for _, s := range svc.Secrets {
		cs.Secrets = append(cs.Secrets, &swarm.SecretReference{
			SecretName: versioned(stack, s, m.Secrets[s]),
			File:       &swarm.SecretReferenceFileTarget{Name: s, UID: "0", GID: "0", Mode: 0o444},
		})
	}
	for _, c := range svc.Configs {
		cs.Configs = append(cs.Configs, &swarm.ConfigReference{
			ConfigName: versioned(stack, c, m.Configs[c]),
			File:       &swarm.ConfigReferenceFileTarget{Name: "/" + c, UID: "0", GID: "0", Mode: 0o444},
		})
	}
	delay := time.Second
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: stack + "_" + name, Labels: labels},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: cs,
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny, Delay: &delay},
		},
		UpdateConfig:   cloneUpdateConfig(svc.Update),
		RollbackConfig: cloneUpdateConfig(svc.Rollback),
	}
	for _, n := range svc.Networks {
		spec.TaskTemplate.Networks = append(spec.TaskTemplate.Networks, swarm.NetworkAttachmentConfig{Target: stack + "_" + n, Aliases: []string{name}})
	}
	if svc.Port != 0 {
		spec.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{
			Protocol: swarm.PortConfigProtocolTCP, TargetPort: 80, PublishedPort: svc.Port, PublishMode: swarm.PortConfigPublishModeIngress,
		}}}
	}
	if svc.Global {
		spec.Mode.Global = &swarm.GlobalService{}
	} else {
		n := svc.Replicas
		spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &n}
	}
	return spec
}

func cloneUpdateConfig(c *swarm.UpdateConfig) *swarm.UpdateConfig {
	if c == nil {
		return nil
	}
	out := *c
	return &out
}

// clone is a deep copy of m, to edit for the next commit.
func (m *stackModel) clone() *stackModel {
	out := &stackModel{
		Services: make(map[string]serviceModel, len(m.Services)),
		Secrets:  maps.Clone(m.Secrets),
		Configs:  maps.Clone(m.Configs),
		Networks: slices.Clone(m.Networks),
	}
	for name, svc := range m.Services {
		svc.Env = slices.Clone(svc.Env)
		svc.Secrets, svc.Configs, svc.Networks = slices.Clone(svc.Secrets), slices.Clone(svc.Configs), slices.Clone(svc.Networks)
		svc.Update, svc.Rollback = cloneUpdateConfig(svc.Update), cloneUpdateConfig(svc.Rollback)
		svc.Gates = maps.Clone(svc.Gates)
		out.Services[name] = svc
	}
	return out
}

// Stack names and the short names of their services.
var (
	stackNames   = []string{"shop", "blog", "ops"}
	serviceNames = []string{"web", "api", "db", "worker"}
)

// newStackModel is a stack's first content: one to three services on
// its default network, now and then with a secret and a config.
func newStackModel(r *rand.Rand, release *int) *stackModel {
	m := &stackModel{Services: map[string]serviceModel{}, Secrets: map[string]string{}, Configs: map[string]string{}, Networks: []string{"default"}}
	for _, name := range serviceNames[:1+r.IntN(3)] {
		m.Services[name] = newServiceModel(r, release)
	}
	if r.IntN(2) == 0 {
		m.Secrets["db"] = fmt.Sprintf("password-%d", r.IntN(1000))
		m.Configs["app"] = fmt.Sprintf("level: %d", r.IntN(1000))
		for name, svc := range m.Services {
			svc.Secrets, svc.Configs = []string{"db"}, []string{"app"}
			m.Services[name] = svc
		}
	}
	return m
}

func newServiceModel(r *rand.Rand, release *int) serviceModel {
	*release++
	svc := serviceModel{Image: fmt.Sprintf("app:v%d", *release), Replicas: uint64(1 + r.IntN(3)), Networks: []string{"default"}}
	if r.IntN(8) == 0 {
		svc.Global = true
	}
	randomServiceRollout(r, &svc)
	return svc
}

// randomServiceRollout gives a service random update and rollback blocks,
// health gates and, now and then, a healthcheck; automatic rollback is
// always on, as for every service deployed from git.
func randomServiceRollout(r *rand.Rand, svc *serviceModel) {
	svc.Update, svc.Rollback = randomUpdateConfig(r), randomUpdateConfig(r)
	svc.Gates = randomGates(r)
	svc.Health = r.IntN(3) == 0
}

// describeModel is one line of the step log for a stack's content.
func describeModel(m *stackModel) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(m.Services)) {
		svc := m.Services[name]
		mode := fmt.Sprintf("x%d", svc.Replicas)
		if svc.Global {
			mode = "global"
		}
		p := fmt.Sprintf("%s=%s %s", name, svc.Image, mode)
		if svc.Health {
			p += " healthcheck"
		}
		if len(svc.Env) > 0 {
			p += " env=" + strings.Join(svc.Env, ",")
		}
		if len(svc.Networks) > 1 {
			p += " nets=" + strings.Join(svc.Networks, ",")
		}
		if svc.Port != 0 {
			p += fmt.Sprintf(" port=%d", svc.Port)
		}
		parts = append(parts, p)
	}
	for _, name := range slices.Sorted(maps.Keys(m.Secrets)) {
		parts = append(parts, "secret "+versioned("", name, m.Secrets[name])[1:])
	}
	for _, name := range slices.Sorted(maps.Keys(m.Configs)) {
		parts = append(parts, "config "+versioned("", name, m.Configs[name])[1:])
	}
	return strings.Join(parts, "; ")
}
