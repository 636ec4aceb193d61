package stackspec

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
)

// stackNetworkDriver is the driver docker stack deploy gives a network
// whose file names none: a stack spans nodes, so overlay.
const stackNetworkDriver = "overlay"

// defaultNetwork is the network a service joins when it names none.
const defaultNetwork = "default"

// Convert turns a loaded stack into the specs `docker stack deploy` would
// send to the Engine API, field for field. Anything Docker would refuse
// comes back as an ErrorList, every problem placed where it is written.
//
// Two things Docker fills in from the cluster stay empty: the IDs of
// secrets and configs in service references (Docker looks them up by name
// before it creates the service), and the ID of a credential-spec config.
// The references carry the names, from which whoever applies the spec
// resolves them.
func Convert(l *Loaded) (*api.StackSpec, error) {
	if l == nil || l.Project == nil {
		return nil, errors.New("stackspec: Convert needs the result of Load")
	}
	c := &converter{l: l, ns: l.Namespace, p: l.Project}
	spec := &api.StackSpec{
		Namespace: l.Namespace,
		Services:  map[string]swarm.ServiceSpec{},
		Networks:  map[string]network.CreateRequest{},
		Secrets:   map[string]swarm.SecretSpec{},
		Configs:   map[string]swarm.ConfigSpec{},
		Warnings:  slices.Clone(l.Warnings),
	}
	for _, f := range l.docker {
		c.fail(f.path, f.msg)
	}
	c.networks(spec)
	c.secrets(spec)
	c.configs(spec)
	c.checkVolumes()
	c.stackBlock = c.stackSwarmops()
	for _, name := range slices.Sorted(maps.Keys(c.p.Services)) {
		if svc, ok := c.service(c.p.Services[name]); ok {
			spec.Services[svc.Name] = svc
		}
	}
	if len(c.errs) > 0 {
		return nil, c.errs.sorted(c.p.ComposeFiles)
	}
	spec.DependsOn = c.dependsOn()
	spec.Warnings = append(spec.Warnings, c.warnings...)
	return spec, nil
}

// dependsOn keeps each service's depends_on, by full service names, for
// the reconciler's ordering; nil when no service has any.
func (c *converter) dependsOn() map[string][]api.Dependency {
	var out map[string][]api.Dependency
	for _, name := range slices.Sorted(maps.Keys(c.p.Services)) {
		deps := c.p.Services[name].DependsOn
		for _, dep := range slices.Sorted(maps.Keys(deps)) {
			cond := deps[dep].Condition
			if cond == "" {
				cond = api.ConditionStarted
			}
			if out == nil {
				out = map[string][]api.Dependency{}
			}
			full := c.scope(name)
			out[full] = append(out[full], api.Dependency{Service: c.scope(dep), Condition: cond})
		}
	}
	return out
}

// converter carries one conversion: the stack, and every problem found so
// far, so that all of them are reported together.
type converter struct {
	l        *Loaded
	ns       string
	p        *types.Project
	errs     ErrorList
	warnings []string
	// stackBlock is the stack's top-level x-swarmops block, the default
	// for every service.
	stackBlock swarmopsBlock
}

func (c *converter) fail(path, msg string) {
	c.errs = append(c.errs, c.l.src.errorAt(path, msg))
}

func (c *converter) failf(path, format string, args ...any) {
	c.fail(path, fmt.Sprintf(format, args...))
}

// scope prefixes a name with the stack's, as every object the stack
// creates is named.
func (c *converter) scope(name string) string {
	return c.ns + "_" + name
}

// objectName is what a network, volume, secret or config is called on the
// cluster: its `name:` when the file sets one, its key when it is external
// (it exists already, under that name), else the key in the stack's scope.
func (c *converter) objectName(key, name string, external bool) string {
	switch {
	case name != "":
		return name
	case external:
		return key
	default:
		return c.scope(key)
	}
}

// stackLabels copies labels and adds the stack's namespace label, which
// Docker puts on every object of a stack.
func (c *converter) stackLabels(labels map[string]string) map[string]string {
	out := make(map[string]string, len(labels)+1)
	maps.Copy(out, labels)
	out[api.LabelNamespace] = c.ns
	return out
}

// networks creates the networks services use, and only those: a network
// declared but joined by no service is not created, nor is an external one.
func (c *converter) networks(spec *api.StackSpec) {
	used := map[string]bool{}
	for _, svc := range c.p.Services {
		if len(svc.Networks) == 0 {
			used[defaultNetwork] = true
		}
		for key := range svc.Networks {
			used[key] = true
		}
	}
	for _, key := range slices.Sorted(maps.Keys(used)) {
		nw, declared := c.p.Networks[key]
		if !declared && key != defaultNetwork {
			continue // the service that names it reports it
		}
		if bool(nw.External) {
			continue
		}
		path := "networks." + key
		req := network.CreateRequest{
			Name: c.objectName(key, nw.Name, false),
			CreateOptions: network.CreateOptions{
				Driver:     nw.Driver,
				Options:    maps.Clone(nw.DriverOpts),
				Internal:   nw.Internal,
				Attachable: nw.Attachable,
				Labels:     c.stackLabels(nw.Labels),
			},
		}
		if req.Driver == "" {
			req.Driver = stackNetworkDriver
		}
		if nw.Ipam.Driver != "" || len(nw.Ipam.Config) > 0 {
			req.IPAM = &network.IPAM{Driver: nw.Ipam.Driver}
			for i, pool := range nw.Ipam.Config {
				if pool == nil {
					continue
				}
				// Docker sends the subnet alone: its file format has nothing else.
				if pool.Gateway != "" || pool.IPRange != "" || len(pool.AuxiliaryAddresses) > 0 {
					c.fail(indexPath(path+".ipam.config", i), "docker stack deploy accepts only subnet in an ipam pool; remove gateway, ip_range and aux_addresses")
				}
				req.IPAM.Config = append(req.IPAM.Config, network.IPAMConfig{Subnet: pool.Subnet})
			}
		}
		spec.Networks[req.Name] = req
	}
}

// secrets creates every secret the file declares that is not external,
// whether or not a service uses it, as Docker does.
func (c *converter) secrets(spec *api.StackSpec) {
	for _, key := range slices.Sorted(maps.Keys(c.p.Secrets)) {
		s := c.p.Secrets[key]
		if bool(s.External) {
			continue
		}
		path := "secrets." + key
		out := swarm.SecretSpec{Annotations: swarm.Annotations{
			Name:   c.objectName(key, s.Name, false),
			Labels: c.stackLabels(s.Labels),
		}}
		if s.Driver != "" {
			if s.File != "" {
				c.failf(path, "secret %s sets both driver and file: keep one", key)
				continue
			}
			out.Data = []byte{}
			out.Driver = &swarm.Driver{Name: s.Driver, Options: maps.Clone(s.DriverOpts)}
		} else {
			data, ok := c.objectData(path, types.FileObjectConfig(s))
			if !ok {
				continue
			}
			out.Data = data
		}
		if s.TemplateDriver != "" {
			out.Templating = &swarm.Driver{Name: s.TemplateDriver}
		}
		spec.Secrets[out.Name] = out
	}
}

// configs creates every config the file declares that is not external.
func (c *converter) configs(spec *api.StackSpec) {
	for _, key := range slices.Sorted(maps.Keys(c.p.Configs)) {
		cfg := c.p.Configs[key]
		if bool(cfg.External) {
			continue
		}
		data, ok := c.objectData("configs."+key, types.FileObjectConfig(cfg))
		if !ok {
			continue
		}
		out := swarm.ConfigSpec{
			Annotations: swarm.Annotations{
				Name:   c.objectName(key, cfg.Name, false),
				Labels: c.stackLabels(cfg.Labels),
			},
			Data: data,
		}
		if cfg.TemplateDriver != "" {
			out.Templating = &swarm.Driver{Name: cfg.TemplateDriver}
		}
		spec.Configs[out.Name] = out
	}
}

// objectData is the content of a secret or config: its file, read now as
// Docker reads it at deploy time, or, for the compose-specification forms
// Docker lacks, the inline content or the environment variable's value
// that compose-go put in Content.
func (c *converter) objectData(path string, obj types.FileObjectConfig) ([]byte, bool) {
	switch {
	case obj.File != "":
		data, err := os.ReadFile(obj.File)
		if err != nil {
			c.failf(path+".file", "cannot read %s: %s; create the file, or mark the object external: true if it exists on the cluster", obj.File, pathErrorText(err))
			return nil, false
		}
		return data, true
	case obj.Content != "":
		return []byte(obj.Content), true
	case obj.Environment != "":
		c.failf(path+".environment", "variable %s is not set; set it, or read the value from a file", obj.Environment)
		return nil, false
	default:
		c.fail(path, "no content: set file (or external: true for one that exists on the cluster)")
		return nil, false
	}
}

// checkVolumes makes Docker's checks of top-level volumes: an external
// volume exists already, so the stack may not set how it is made.
func (c *converter) checkVolumes() {
	for _, key := range slices.Sorted(maps.Keys(c.p.Volumes)) {
		v := c.p.Volumes[key]
		if !bool(v.External) {
			continue
		}
		path := "volumes." + key
		switch {
		case v.Driver != "":
			c.failf(path+".driver", "volume %s is external, so it exists already: remove driver, or remove external", key)
		case len(v.DriverOpts) > 0:
			c.failf(path+".driver_opts", "volume %s is external, so it exists already: remove driver_opts, or remove external", key)
		case len(v.Labels) > 0:
			c.failf(path+".labels", "volume %s is external, so it exists already: remove labels, or remove external", key)
		}
	}
}

// indexPath names one entry of a list in a field path.
func indexPath(path string, i int) string {
	return fmt.Sprintf("%s.%d", path, i)
}

// isUserDefinedNetwork tells whether a network name is one the user made,
// as opposed to the engine's own (default, bridge, host, none) or another
// container's stack: only those take aliases.
func isUserDefinedNetwork(name string) bool {
	switch name {
	case "default", "bridge", "host", "none":
		return false
	}
	return !strings.HasPrefix(name, "container:")
}
