package runtime

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	goruntime "runtime"
	"slices"
	"strings"
	"text/template"

	"github.com/docker/docker/api/types/swarm"
)

// Node is what a task's templates may say of the node it runs on.
type Node struct {
	ID       string
	Hostname string
	Platform Platform
}

// Platform is the node's, as Swarm's node description names it.
type Platform struct {
	Architecture string // uname -m: x86_64, aarch64, ...
	OS           string
}

// ThisNode describes the machine the agent runs on, as node nodeID.
func ThisNode(nodeID string) Node {
	host, _ := os.Hostname()
	arch := goruntime.GOARCH
	switch arch {
	case "amd64":
		arch = "x86_64"
	case "arm64":
		arch = "aarch64"
	}
	return Node{ID: nodeID, Hostname: host, Platform: Platform{Architecture: arch, OS: goruntime.GOOS}}
}

// templateContext holds exactly the values Swarm lets a service's
// templates use ({{.Service.Name}}, {{.Task.Slot}}, {{.Node.Hostname}},
// ...). It has no methods, so a template can call none.
type templateContext struct {
	Service struct {
		ID     string
		Name   string
		Labels map[string]string
	}
	Node Node
	Task struct {
		ID   string
		Name string
		Slot string
	}
}

var templateFuncs = template.FuncMap{
	// join SEP A B ...: Swarm's, with the separator first.
	"join": func(s ...string) string {
		if len(s) == 0 {
			return ""
		}
		return strings.Join(s[1:], s[0])
	},
}

// ContainerSpec returns the task's container spec with Swarm's templates
// expanded on node n, where Swarm expands them: the values of Env, the
// hostname, and the mounts' source, target, volume labels and driver
// options. The task's spec is left as it was. The service's labels are not
// in a Spec, so {{.Service.Labels}} is empty.
func (s Spec) ContainerSpec(n Node) (*swarm.ContainerSpec, error) {
	orig := s.Task.Spec.ContainerSpec
	if orig == nil {
		return nil, nil
	}
	var ctx templateContext
	ctx.Service.ID, ctx.Service.Name, ctx.Service.Labels = s.Task.ServiceID, s.Service, map[string]string{}
	ctx.Node = n
	ctx.Task.ID, ctx.Task.Name, ctx.Task.Slot = s.Task.ID, TaskName(s.Task, s.Service), fmt.Sprint(s.Task.Slot)
	if s.Task.Slot == 0 {
		ctx.Task.Slot = n.ID // a global service's task: Swarm uses the node
	}
	expand := func(what, v string) (string, error) {
		if !strings.Contains(v, "{{") {
			return v, nil
		}
		t, err := template.New(what).Option("missingkey=error").Funcs(templateFuncs).Parse(v)
		if err != nil {
			return "", fmt.Errorf("task %s: template in %s: %w", s.Task.ID, what, err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, &ctx); err != nil {
			return "", fmt.Errorf("task %s: template in %s: %w", s.Task.ID, what, err)
		}
		return b.String(), nil
	}
	expandMap := func(what string, m map[string]string) (map[string]string, error) {
		if m == nil {
			return nil, nil
		}
		out := make(map[string]string, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			v, err := expand(what+" "+k, m[k])
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	}

	cs := *orig
	var err error
	cs.Env = make([]string, len(orig.Env))
	for i, e := range orig.Env {
		k, v, ok := strings.Cut(e, "=")
		if ok {
			if v, err = expand("env "+k, v); err != nil {
				return nil, err
			}
			e = k + "=" + v
		}
		cs.Env[i] = e
	}
	if orig.Env == nil {
		cs.Env = nil
	}
	if cs.Hostname, err = expand("hostname", orig.Hostname); err != nil {
		return nil, err
	}
	cs.Mounts = slices.Clone(orig.Mounts)
	for i := range cs.Mounts {
		m := &cs.Mounts[i]
		what := "mount " + m.Target
		if m.Source, err = expand(what+" source", m.Source); err != nil {
			return nil, err
		}
		if m.Target, err = expand(what+" target", m.Target); err != nil {
			return nil, err
		}
		if vo := m.VolumeOptions; vo != nil {
			c := *vo
			if c.Labels, err = expandMap(what+" volume label", vo.Labels); err != nil {
				return nil, err
			}
			if dc := vo.DriverConfig; dc != nil {
				d := *dc
				if d.Options, err = expandMap(what+" driver option", dc.Options); err != nil {
					return nil, err
				}
				c.DriverConfig = &d
			}
			m.VolumeOptions = &c
		}
	}
	return &cs, nil
}
