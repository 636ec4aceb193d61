package stackspec

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
)

// service converts one service. It reports false when the service has a
// problem, which is then in c.errs.
func (c *converter) service(svc types.ServiceConfig) (swarm.ServiceSpec, bool) {
	before := len(c.errs)
	base := "services." + svc.Name
	deploy := svc.Deploy
	if deploy == nil {
		deploy = &types.DeployConfig{}
	}
	image := c.image(base, svc.Image)

	configs := c.configRefs(base, svc)
	cs := &swarm.ContainerSpec{
		Image:           image,
		Labels:          c.stackLabels(svc.Labels),
		Command:         slices.Clone(svc.Entrypoint),
		Args:            slices.Clone(svc.Command),
		Hostname:        svc.Hostname,
		Env:             containerEnv(svc.Environment),
		Dir:             svc.WorkingDir,
		User:            svc.User,
		Privileges:      &swarm.Privileges{CredentialSpec: c.credentialSpec(base, svc, configs)},
		Init:            svc.Init,
		StopSignal:      svc.StopSignal,
		TTY:             svc.Tty,
		OpenStdin:       svc.StdinOpen,
		ReadOnly:        svc.ReadOnly,
		Mounts:          c.mounts(base, svc.Volumes, c.l.targets[svc.Name]),
		StopGracePeriod: durationPtr(svc.StopGracePeriod),
		Healthcheck:     c.healthcheck(base, svc.HealthCheck),
		Hosts:           swarmHosts(c.l.hosts[svc.Name]),
		DNSConfig:       dnsConfig(svc.DNS, svc.DNSSearch),
		Secrets:         c.secretRefs(base, svc),
		Configs:         configs,
		Isolation:       container.Isolation(svc.Isolation),
		Sysctls:         maps.Clone(svc.Sysctls),
		Ulimits:         convertUlimits(svc.Ulimits),
		OomScoreAdj:     svc.OomScoreAdj,
	}
	cs.CapabilityAdd, cs.CapabilityDrop = effectiveCapabilities(svc.CapAdd, svc.CapDrop)
	if c.l.overridden[svc.Name] {
		// Docker's merge of a service several files define rebuilds its
		// volumes from a map, sorted by target.
		slices.SortFunc(cs.Mounts, func(a, b mount.Mount) int { return strings.Compare(a.Target, b.Target) })
	}

	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{
			Name:   c.scope(svc.Name),
			Labels: c.stackLabels(deploy.Labels),
		},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: cs,
			Resources:     c.resources(base+".deploy.resources", deploy.Resources),
			RestartPolicy: c.restartPolicy(base, svc.Restart, deploy.RestartPolicy),
			Placement: &swarm.Placement{
				Constraints: slices.Clone(deploy.Placement.Constraints),
				Preferences: placementPreferences(deploy.Placement.Preferences),
				MaxReplicas: deploy.Placement.MaxReplicas,
			},
			Networks: c.serviceNetworks(base, svc),
		},
		Mode:           c.mode(base, deploy),
		UpdateConfig:   updateConfig(deploy.UpdateConfig),
		RollbackConfig: updateConfig(deploy.RollbackConfig),
		EndpointSpec:   c.endpoint(base, deploy.EndpointMode, svc.Ports),
	}
	if c.l.overridden[svc.Name] {
		c.warnMergedPorts(svc.Name, spec.EndpointSpec.Ports)
	}
	if svc.Logging != nil {
		spec.TaskTemplate.LogDriver = &swarm.Driver{Name: svc.Logging.Driver, Options: maps.Clone(svc.Logging.Options)}
	}
	spec.Labels[api.LabelImage] = svc.Image
	c.swarmopsExtension(base, svc, &spec)
	c.warnShortMonitor(svc.Name, spec)
	return spec, len(c.errs) == before
}

// image makes Docker's check: a stack runs images and builds none, so
// every service needs a valid image reference. It returns the reference as
// Docker's API client sends it: a bare name gets the tag latest ("redis"
// becomes "redis:latest"), while the stack's image label keeps what the file
// says. The client would also pin the tag to a digest from the registry;
// that needs the registry, so it is left to whoever applies the spec.
func (c *converter) image(base, image string) string {
	if image == "" {
		c.fail(base, "no image: docker stack deploy builds nothing, so every service needs image: naming an image in a registry the nodes can pull from")
		return ""
	}
	if _, err := reference.ParseAnyReference(image); err != nil {
		c.failf(base+".image", "invalid image reference %q: %v", image, err)
		return image
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image // an image ID, which takes no tag
	}
	return reference.FamiliarString(reference.TagNameOnly(named))
}

// mode is the service mode. Replicas count only for the replicated modes.
func (c *converter) mode(base string, deploy *types.DeployConfig) swarm.ServiceMode {
	var replicas *uint64
	if deploy.Replicas != nil {
		if *deploy.Replicas < 0 {
			c.failf(base+".deploy.replicas", "must be 0 or more, got %d", *deploy.Replicas)
		} else {
			n := uint64(*deploy.Replicas)
			replicas = &n
		}
	}
	switch deploy.Mode {
	case "global", "global-job":
		if deploy.Replicas != nil {
			c.failf(base+".deploy.replicas", "a %s service runs one task per node and takes no replicas: remove replicas, or use mode: replicated", deploy.Mode)
		}
		if deploy.Mode == "global" {
			return swarm.ServiceMode{Global: &swarm.GlobalService{}}
		}
		return swarm.ServiceMode{GlobalJob: &swarm.GlobalJob{}}
	case "replicated-job":
		return swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: replicas, TotalCompletions: copyPtr(replicas)}}
	case "replicated", "":
		return swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: replicas}}
	default:
		c.failf(base+".deploy.mode", "unknown mode %q: use replicated, global, replicated-job or global-job", deploy.Mode)
		return swarm.ServiceMode{}
	}
}

func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func durationPtr(d *types.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	v := time.Duration(*d)
	return &v
}

// containerEnv is the container's environment, sorted. A variable with no
// value (written bare, and not set in the environment) is sent as a bare
// NAME, as Docker sends it.
func containerEnv(env types.MappingWithEquals) []string {
	var out []string
	for name, value := range env {
		if value == nil {
			out = append(out, name)
		} else {
			out = append(out, name+"="+*value)
		}
	}
	slices.Sort(out)
	return out
}

// swarmHosts writes "host:ip" pairs as swarmkit wants them: "ip host".
func swarmHosts(pairs []string) []string {
	hosts := make([]string, 0, len(pairs))
	for _, p := range pairs {
		if host, ip, ok := strings.Cut(p, ":"); ok {
			hosts = append(hosts, ip+" "+host)
		}
	}
	return hosts
}

func dnsConfig(dns, search []string) *swarm.DNSConfig {
	if dns == nil && search == nil {
		return nil
	}
	return &swarm.DNSConfig{Nameservers: slices.Clone(dns), Search: slices.Clone(search)}
}

// healthcheck converts the healthcheck; `disable: true` becomes the NONE
// test, and may not come with a test of its own.
func (c *converter) healthcheck(base string, h *types.HealthCheckConfig) *container.HealthConfig {
	if h == nil {
		return nil
	}
	if h.Disable {
		if len(h.Test) != 0 {
			c.fail(base+".healthcheck.disable", "a disabled healthcheck takes no test: remove test, or remove disable")
		}
		return &container.HealthConfig{Test: []string{"NONE"}}
	}
	out := &container.HealthConfig{Test: slices.Clone(h.Test)}
	if h.Timeout != nil {
		out.Timeout = time.Duration(*h.Timeout)
	}
	if h.Interval != nil {
		out.Interval = time.Duration(*h.Interval)
	}
	if h.StartPeriod != nil {
		out.StartPeriod = time.Duration(*h.StartPeriod)
	}
	if h.StartInterval != nil {
		out.StartInterval = time.Duration(*h.StartInterval)
	}
	if h.Retries != nil {
		out.Retries = int(*h.Retries)
	}
	return out
}

// restartPolicy is deploy.restart_policy when set. Without one, Docker
// reads the service-level `restart:` (while warning that it ignores it):
// always and unless-stopped restart on any exit, on-failure[:N] on failure
// at most N times, and no or nothing leaves the engine's default.
func (c *converter) restartPolicy(base, restart string, p *types.RestartPolicy) *swarm.RestartPolicy {
	if p != nil {
		return &swarm.RestartPolicy{
			Condition:   swarm.RestartPolicyCondition(p.Condition),
			Delay:       durationPtr(p.Delay),
			MaxAttempts: p.MaxAttempts,
			Window:      durationPtr(p.Window),
		}
	}
	if restart == "" {
		return nil
	}
	path := base + ".restart"
	name, count, hasCount := strings.Cut(restart, ":")
	if hasCount && name == "" {
		c.failf(path, "%q names no policy before the colon: use no, always, unless-stopped or on-failure[:N]", restart)
		return nil
	}
	var retries int
	if count != "" {
		n, err := strconv.Atoi(count)
		if err != nil {
			c.failf(path, "%q: the retry count after the colon must be an integer", restart)
			return nil
		}
		retries = n
	}
	switch name {
	case "no":
		return nil
	case "always", "unless-stopped":
		return &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny}
	case "on-failure":
		attempts := uint64(retries)
		return &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, MaxAttempts: &attempts}
	default:
		c.failf(path, "unknown restart policy %q: use no, always, unless-stopped or on-failure[:N], or deploy.restart_policy", restart)
		return nil
	}
}

// updateConfig converts update_config and rollback_config; Docker sends a
// parallelism of 1 when the file sets none.
func updateConfig(u *types.UpdateConfig) *swarm.UpdateConfig {
	if u == nil {
		return nil
	}
	parallelism := uint64(1)
	if u.Parallelism != nil {
		parallelism = *u.Parallelism
	}
	return &swarm.UpdateConfig{
		Parallelism:     parallelism,
		Delay:           time.Duration(u.Delay),
		FailureAction:   u.FailureAction,
		Monitor:         time.Duration(u.Monitor),
		MaxFailureRatio: u.MaxFailureRatio,
		Order:           u.Order,
	}
}

func placementPreferences(prefs []types.PlacementPreferences) []swarm.PlacementPreference {
	out := []swarm.PlacementPreference{}
	for _, p := range prefs {
		out = append(out, swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: p.Spread}})
	}
	return out
}

// serviceNetworks attaches the service to its networks, or to the stack's
// default network when it names none, sorted by network name. On networks
// the user made, the service's name is an alias beside its own aliases.
func (c *converter) serviceNetworks(base string, svc types.ServiceConfig) []swarm.NetworkAttachmentConfig {
	networks := svc.Networks
	if len(networks) == 0 {
		networks = map[string]*types.ServiceNetworkConfig{defaultNetwork: nil}
	}
	out := []swarm.NetworkAttachmentConfig{}
	for _, key := range slices.Sorted(maps.Keys(networks)) {
		nw, declared := c.p.Networks[key]
		if !declared && key != defaultNetwork {
			c.failf(base+".networks."+key, "undefined network %q: declare it under the top-level networks", key)
			continue
		}
		att := swarm.NetworkAttachmentConfig{Target: c.objectName(key, nw.Name, bool(nw.External))}
		if cfg := networks[key]; cfg != nil {
			att.Aliases = slices.Clone(cfg.Aliases)
			att.DriverOpts = maps.Clone(cfg.DriverOpts)
		}
		if isUserDefinedNetwork(att.Target) {
			att.Aliases = append(att.Aliases, svc.Name)
		}
		out = append(out, att)
	}
	slices.SortStableFunc(out, func(a, b swarm.NetworkAttachmentConfig) int { return strings.Compare(a.Target, b.Target) })
	return out
}

// effectiveCapabilities normalises capabilities as Docker does ("net_admin"
// becomes "CAP_NET_ADMIN"), lets ALL stand alone, drops from cap_drop what
// cap_add adds, and sorts both lists without duplicates.
func effectiveCapabilities(add, drop []string) (capAdd, capDrop []string) {
	addSet, dropSet := capabilitySet(add), capabilitySet(drop)
	if addSet["ALL"] {
		addSet = map[string]bool{"ALL": true}
	}
	if dropSet["ALL"] {
		dropSet = map[string]bool{"ALL": true}
	}
	for c := range dropSet {
		if !addSet[c] && c != "RESET" {
			capDrop = append(capDrop, c)
		}
	}
	for c := range addSet {
		if c != "RESET" {
			capAdd = append(capAdd, c)
		}
	}
	slices.Sort(capAdd)
	slices.Sort(capDrop)
	return capAdd, capDrop
}

func capabilitySet(caps []string) map[string]bool {
	set := map[string]bool{}
	for _, c := range caps {
		c = strings.ToUpper(strings.TrimSpace(c))
		if c != "ALL" && c != "RESET" && !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		set[c] = true
	}
	return set
}

// convertUlimits lists the ulimits sorted by name; a single number sets both the
// soft and the hard limit.
func convertUlimits(in map[string]*types.UlimitsConfig) []*container.Ulimit {
	out := make([]*container.Ulimit, 0, len(in))
	for _, name := range slices.Sorted(maps.Keys(in)) {
		u := in[name]
		if u == nil {
			continue
		}
		if u.Single != 0 {
			out = append(out, &container.Ulimit{Name: name, Soft: int64(u.Single), Hard: int64(u.Single)})
		} else {
			out = append(out, &container.Ulimit{Name: name, Soft: int64(u.Soft), Hard: int64(u.Hard)})
		}
	}
	return out
}
