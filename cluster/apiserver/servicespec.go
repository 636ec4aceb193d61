package apiserver

import (
	"math"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
)

// A service spec goes through the daemon's conversion to SwarmKit's types
// and back before Swarm stores and returns it. normalizeServiceSpec gives
// a spec the shape that round trip leaves, so that what `docker service
// inspect` shows here is what it shows against Swarm: empty labels become
// {}, an unset runtime becomes "container", enum-like strings take their
// defaults ("any", "pause", "stop-first", "vip", "tcp", "ingress",
// "default"), an unset mode becomes one replica. Its errors are the
// daemon's conversion errors, which carry no gRPC code.
func normalizeServiceSpec(spec *swarm.ServiceSpec) error {
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	t := &spec.TaskTemplate
	switch t.Runtime {
	case swarm.RuntimeContainer, "":
		if t.ContainerSpec == nil {
			return badRequest("mismatched Runtime and *Spec fields")
		}
		t.Runtime = swarm.RuntimeContainer
	case swarm.RuntimePlugin:
		return badRequest("unsupported runtime: swarmops runs container tasks only, not %q", t.Runtime)
	default:
		return badRequest("unsupported runtime")
	}
	t.PluginSpec, t.NetworkAttachmentSpec = nil, nil
	if err := normalizeContainerSpec(t.ContainerSpec); err != nil {
		return err
	}
	if rp := t.RestartPolicy; rp != nil {
		switch rp.Condition {
		case "":
			rp.Condition = swarm.RestartPolicyConditionAny
		case swarm.RestartPolicyConditionNone, swarm.RestartPolicyConditionOnFailure, swarm.RestartPolicyConditionAny:
		default:
			return badRequest("invalid RestartCondition: %q", rp.Condition)
		}
		if rp.MaxAttempts == nil {
			rp.MaxAttempts = new(uint64)
		}
	}
	if p := t.Placement; p != nil {
		prefs := p.Preferences[:0]
		for _, pref := range p.Preferences {
			if pref.Spread != nil {
				prefs = append(prefs, pref)
			}
		}
		p.Preferences = prefs
		if len(p.Preferences) == 0 {
			p.Preferences = nil
		}
	}
	// The deprecated service-level networks move to the task template,
	// as the daemon reads them.
	//lint:ignore SA1019 older clients still send the deprecated field
	if len(t.Networks) == 0 && len(spec.Networks) > 0 {
		//lint:ignore SA1019 see above
		t.Networks = spec.Networks
	}
	//lint:ignore SA1019 see above
	spec.Networks = nil
	for _, uc := range []*swarm.UpdateConfig{spec.UpdateConfig, spec.RollbackConfig} {
		if err := normalizeUpdateConfig(uc); err != nil {
			return err
		}
	}
	if err := normalizeEndpointSpec(spec.EndpointSpec); err != nil {
		return err
	}
	return normalizeMode(&spec.Mode)
}

func normalizeContainerSpec(c *swarm.ContainerSpec) error {
	switch c.Isolation {
	case container.IsolationHyperV, container.IsolationProcess:
	default:
		c.Isolation = container.IsolationDefault
	}
	for i := range c.Mounts {
		m := &c.Mounts[i]
		switch t := mount.Type(strings.ToLower(string(m.Type))); t {
		case "":
			m.Type = mount.TypeBind
		case mount.TypeBind, mount.TypeVolume, mount.TypeTmpfs, mount.TypeNamedPipe, mount.TypeCluster:
			m.Type = t
		default:
			return badRequest("invalid MountType: %q", m.Type)
		}
		if b := m.BindOptions; b != nil {
			switch p := mount.Propagation(strings.ToLower(string(b.Propagation))); p {
			case "", mount.PropagationRPrivate, mount.PropagationPrivate, mount.PropagationRShared,
				mount.PropagationShared, mount.PropagationRSlave, mount.PropagationSlave:
				b.Propagation = p
			default:
				return badRequest("invalid MountPropagation: %q", b.Propagation)
			}
		}
	}
	for _, ref := range c.Configs {
		if ref == nil {
			continue
		}
		switch {
		case ref.File == nil && ref.Runtime == nil:
			return badRequest("either File or Runtime should be set")
		case ref.File != nil && ref.Runtime != nil:
			return badRequest("cannot specify both File and Runtime")
		}
	}
	return nil
}

func normalizeUpdateConfig(uc *swarm.UpdateConfig) error {
	if uc == nil {
		return nil
	}
	switch uc.FailureAction {
	case "":
		uc.FailureAction = swarm.UpdateFailureActionPause
	case swarm.UpdateFailureActionPause, swarm.UpdateFailureActionContinue, swarm.UpdateFailureActionRollback:
	default:
		return badRequest("unrecognized update failure action %s", uc.FailureAction)
	}
	switch uc.Order {
	case "":
		uc.Order = swarm.UpdateOrderStopFirst
	case swarm.UpdateOrderStopFirst, swarm.UpdateOrderStartFirst:
	default:
		return badRequest("unrecognized update order %s", uc.Order)
	}
	return nil
}

func normalizeEndpointSpec(ep *swarm.EndpointSpec) error {
	if ep == nil {
		return nil
	}
	switch ep.Mode {
	case "":
		ep.Mode = swarm.ResolutionModeVIP
	case swarm.ResolutionModeVIP, swarm.ResolutionModeDNSRR:
	default:
		return badRequest("invalid resolution mode: %q", ep.Mode)
	}
	for i := range ep.Ports {
		p := &ep.Ports[i]
		// Unknown protocols and modes read as the first enum value in
		// SwarmKit's types, TCP and ingress; so they do here.
		switch proto := swarm.PortConfigProtocol(strings.ToLower(string(p.Protocol))); proto {
		case swarm.PortConfigProtocolUDP, swarm.PortConfigProtocolSCTP:
			p.Protocol = proto
		default:
			p.Protocol = swarm.PortConfigProtocolTCP
		}
		if strings.EqualFold(string(p.PublishMode), string(swarm.PortConfigPublishModeHost)) {
			p.PublishMode = swarm.PortConfigPublishModeHost
		} else {
			p.PublishMode = swarm.PortConfigPublishModeIngress
		}
	}
	return nil
}

func normalizeMode(m *swarm.ServiceMode) error {
	modes := 0
	for _, set := range []bool{m.Global != nil, m.Replicated != nil, m.ReplicatedJob != nil, m.GlobalJob != nil} {
		if set {
			modes++
		}
	}
	if modes > 1 {
		return badRequest("must specify only one service mode")
	}
	switch {
	case m.Global != nil, m.GlobalJob != nil:
	case m.ReplicatedJob != nil:
		j := m.ReplicatedJob
		if j.MaxConcurrent == nil {
			one := uint64(1)
			j.MaxConcurrent = &one
		}
		if j.TotalCompletions == nil {
			total := *j.MaxConcurrent
			j.TotalCompletions = &total
		}
	default:
		if m.Replicated == nil || m.Replicated.Replicas == nil {
			one := uint64(1)
			m.Replicated = &swarm.ReplicatedService{Replicas: &one}
		}
	}
	return nil
}

// Names Swarm accepts for services (and networks): a DNS label with
// underscores allowed between alphanumerics.
var validDNSName = regexp.MustCompile(`^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$`)

const minHealthDuration = time.Millisecond

// validateServiceSpec checks a normalized spec as SwarmKit's control API
// does, with its messages. References to other objects (networks,
// secrets, configs, ports of other services) are checked against the
// store separately.
func validateServiceSpec(spec *swarm.ServiceSpec) error {
	if err := validateName(spec.Name); err != nil {
		return err
	}
	t := &spec.TaskTemplate
	if r := t.Resources; r != nil {
		if l := r.Limits; l != nil {
			if err := validateResources(l.NanoCPUs, l.MemoryBytes); err != nil {
				return err
			}
		}
		if rs := r.Reservations; rs != nil {
			if err := validateResources(rs.NanoCPUs, rs.MemoryBytes); err != nil {
				return err
			}
		}
	}
	if rp := t.RestartPolicy; rp != nil {
		if rp.Delay != nil && *rp.Delay < 0 {
			return invalidArgument("TaskSpec: restart-delay cannot be negative")
		}
		if rp.Window != nil && *rp.Window < 0 {
			return invalidArgument("TaskSpec: restart-window cannot be negative")
		}
	}
	if p := t.Placement; p != nil {
		if err := validateConstraints(p.Constraints); err != nil {
			return err
		}
	}
	if err := validateReferences(t.ContainerSpec); err != nil {
		return err
	}
	if err := validateContainer(t.ContainerSpec); err != nil {
		return err
	}
	if err := validateModeValues(spec.Mode); err != nil {
		return err
	}
	if spec.Mode.ReplicatedJob != nil || spec.Mode.GlobalJob != nil {
		if spec.UpdateConfig != nil {
			return invalidArgument("Jobs may not have an update config")
		}
	} else if uc := spec.UpdateConfig; uc != nil {
		switch {
		case uc.Delay < 0:
			return invalidArgument("TaskSpec: update-delay cannot be negative")
		case uc.Monitor < 0:
			return invalidArgument("TaskSpec: update-monitor cannot be negative")
		case uc.MaxFailureRatio < 0 || uc.MaxFailureRatio > 1 || math.IsNaN(float64(uc.MaxFailureRatio)):
			return invalidArgument("TaskSpec: update-maxfailureratio cannot be less than 0 or bigger than 1")
		}
	}
	return validateEndpointSpec(spec.EndpointSpec)
}

func validateName(name string) error {
	switch {
	case name == "":
		return invalidArgument("meta: name must be provided")
	case !validDNSName.MatchString(name):
		return invalidArgument("name must be valid as a DNS name component")
	case len(name) > 63:
		return invalidArgument("name must be 63 characters or fewer")
	}
	return nil
}

func validateResources(nanoCPUs, memory int64) error {
	if nanoCPUs != 0 && nanoCPUs < 1e6 {
		return invalidArgument("invalid cpu value %g: Must be at least %g", float64(nanoCPUs)/1e9, 1e6/1e9)
	}
	if memory != 0 && memory < 4*1024*1024 {
		return invalidArgument("invalid memory value %d: Must be at least 4MiB", memory)
	}
	return nil
}

var (
	constraintKey   = regexp.MustCompile(`^(?i)[a-z_][a-z0-9\-_.]+$`)
	constraintValue = regexp.MustCompile(`^(?i)[a-z0-9:\-_\s\.\*\(\)\?\+\[\]\\\^\$\|\/]+$`)
)

// validateConstraints checks placement constraints ("key==value",
// "key!=value"). SwarmKit returns these errors without a gRPC code, so
// they read "code = Unknown".
func validateConstraints(constraints []string) error {
	for _, c := range constraints {
		op := "=="
		if !strings.Contains(c, op) {
			op = "!="
		}
		key, value, found := strings.Cut(c, op)
		if !found {
			return rpcError(http.StatusBadRequest, "Unknown", "constraint expected one operator from ==, !=")
		}
		if k := strings.TrimSpace(key); !constraintKey.MatchString(k) {
			return rpcError(http.StatusBadRequest, "Unknown", "key '%s' is invalid", k)
		}
		if v := strings.TrimSpace(value); !constraintValue.MatchString(v) {
			return rpcError(http.StatusBadRequest, "Unknown", "value '%s' is invalid", v)
		}
	}
	return nil
}

// validateReferences checks the shape of secret and config references;
// that the objects exist is checked against the store.
func validateReferences(c *swarm.ContainerSpec) error {
	targets := map[string]string{}
	for _, ref := range c.Secrets {
		if ref == nil || ref.SecretID == "" || ref.SecretName == "" {
			return invalidArgument("malformed secret reference")
		}
		if ref.File == nil {
			return invalidArgument("malformed secret reference, no target provided")
		}
		if ref.File.Name == "" {
			return invalidArgument("malformed file secret reference, invalid target file name provided")
		}
		if prev, ok := targets[ref.File.Name]; ok {
			return invalidArgument("secret references '%s' and '%s' have a conflicting target: '%s'", prev, ref.SecretName, ref.File.Name)
		}
		targets[ref.File.Name] = ref.SecretName
	}
	targets = map[string]string{}
	for _, ref := range c.Configs {
		if ref == nil || ref.ConfigID == "" || ref.ConfigName == "" {
			return invalidArgument("malformed config reference")
		}
		if ref.File == nil {
			continue // a runtime target
		}
		if ref.File.Name == "" {
			return invalidArgument("malformed file config reference, invalid target file name provided")
		}
		if prev, ok := targets[ref.File.Name]; ok {
			return invalidArgument("config references '%s' and '%s' have a conflicting target: '%s'", prev, ref.ConfigName, ref.File.Name)
		}
		targets[ref.File.Name] = ref.ConfigName
	}
	return nil
}

func validateContainer(c *swarm.ContainerSpec) error {
	if c.Image == "" {
		return invalidArgument("ContainerSpec: image reference must be provided")
	}
	if _, err := reference.ParseNormalizedNamed(c.Image); err != nil {
		return invalidArgument("ContainerSpec: %q is not a valid repository/tag", c.Image)
	}
	seen := map[string]bool{}
	for _, m := range c.Mounts {
		if seen[m.Target] {
			return invalidArgument("ContainerSpec: duplicate mount point: %s", m.Target)
		}
		seen[m.Target] = true
	}
	if hc := c.Healthcheck; hc != nil {
		for _, d := range []struct {
			name string
			v    time.Duration
		}{{"Interval", hc.Interval}, {"Timeout", hc.Timeout}, {"StartPeriod", hc.StartPeriod}, {"StartInterval", hc.StartInterval}} {
			if d.v != 0 && d.v < minHealthDuration {
				return invalidArgument("ContainerSpec: %s in HealthConfig cannot be less than %s", d.name, minHealthDuration)
			}
		}
		if hc.Retries < 0 {
			return invalidArgument("ContainerSpec: Retries in HealthConfig cannot be negative")
		}
	}
	return nil
}

// validateModeValues refuses counts that do not survive SwarmKit's signed
// arithmetic.
func validateModeValues(m swarm.ServiceMode) error {
	if r := m.Replicated; r != nil && r.Replicas != nil && *r.Replicas > math.MaxInt64 {
		return invalidArgument("Number of replicas must be non-negative")
	}
	if j := m.ReplicatedJob; j != nil {
		if j.MaxConcurrent != nil && *j.MaxConcurrent > math.MaxInt64 {
			return invalidArgument("Maximum concurrent jobs must not be negative")
		}
		if j.TotalCompletions != nil && *j.TotalCompletions > math.MaxInt64 {
			return invalidArgument("Total completed jobs must not be negative")
		}
	}
	return nil
}

func validateEndpointSpec(ep *swarm.EndpointSpec) error {
	if ep == nil {
		return nil
	}
	type published struct {
		port  uint32
		proto swarm.PortConfigProtocol
	}
	seen := map[published]bool{}
	for _, p := range ep.Ports {
		if ep.Mode == swarm.ResolutionModeDNSRR && p.PublishMode == swarm.PortConfigPublishModeIngress {
			return invalidArgument("EndpointSpec: port published with ingress mode can't be used with dnsrr mode")
		}
		if p.PublishedPort == 0 {
			continue
		}
		k := published{p.PublishedPort, p.Protocol}
		if seen[k] {
			return invalidArgument("EndpointSpec: duplicate published ports provided")
		}
		seen[k] = true
	}
	return nil
}

// insertDefaults fills what Swarm fills for `inspect
// ?insertDefaults=true`, which `docker service inspect` asks for to show
// the effective values. `docker service update` and `rollback` read the
// spec as stored and send it back so: the defaults never reach the task
// template, where they would make every task out of date.
func insertDefaults(spec *swarm.ServiceSpec) {
	t := &spec.TaskTemplate
	if c := t.ContainerSpec; c != nil {
		if c.StopGracePeriod == nil {
			d := 10 * time.Second
			c.StopGracePeriod = &d
		}
		if c.DNSConfig == nil {
			c.DNSConfig = &swarm.DNSConfig{}
		}
	}
	if t.Resources == nil {
		t.Resources = &swarm.ResourceRequirements{}
	}
	if t.RestartPolicy == nil {
		t.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny}
	}
	if t.RestartPolicy.Delay == nil {
		d := 5 * time.Second
		t.RestartPolicy.Delay = &d
	}
	if t.RestartPolicy.MaxAttempts == nil {
		t.RestartPolicy.MaxAttempts = new(uint64)
	}
	if t.Placement == nil {
		t.Placement = &swarm.Placement{}
	}
	for _, uc := range []**swarm.UpdateConfig{&spec.UpdateConfig, &spec.RollbackConfig} {
		if *uc == nil {
			*uc = &swarm.UpdateConfig{Parallelism: 1, FailureAction: swarm.UpdateFailureActionPause, Order: swarm.UpdateOrderStopFirst}
		}
		if (*uc).Monitor == 0 {
			(*uc).Monitor = 5 * time.Second
		}
	}
}
