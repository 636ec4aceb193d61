package stackspec

import (
	"cmp"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// Defaults Swarm applies to a service spec that leaves them out. Each was
// checked against SwarmKit (api/defaults, the updater and restart supervisor)
// and the daemon's Engine-API-to-SwarmKit conversion, not taken on trust.
const (
	defaultReplicas        = 1
	defaultUpdateMonitor   = 5 * time.Second
	defaultRestartDelay    = 5 * time.Second
	defaultStopGracePeriod = 10 * time.Second
	defaultNetworkDriver   = "overlay"
	defaultIPAMDriver      = "default"
)

// Normalize returns the spec with every default Swarm applies written out and
// every order that doesn't matter sorted, so two specs that mean the same
// thing are deeply equal. The argument is not modified.
//
// Normalize describes the effect of a spec, not its bytes: Swarm itself
// compares task specs literally, so two specs Normalize makes equal can still
// differ on the wire. Defaults that only the docker CLI fills in (a secret
// file's uid, gid and mode) are not Swarm's and are left as they are: a mode
// of 0 really is 0000 on the node.
func Normalize(spec swarm.ServiceSpec) swarm.ServiceSpec {
	s := deepCopy(spec)
	normalizeMode(&s.Mode)
	// The daemon fills an unset update or rollback config from the same
	// defaults when it rolls a service, so leaving it out means those values.
	s.UpdateConfig = normalizeUpdateConfig(s.UpdateConfig)
	s.RollbackConfig = normalizeUpdateConfig(s.RollbackConfig)
	// The deprecated service-level networks apply only when the task
	// template has none; SwarmKit reads them there.
	if len(s.TaskTemplate.Networks) == 0 {
		//lint:ignore SA1019 specs stored by older clients still carry it.
		s.TaskTemplate.Networks = s.Networks
	}
	//lint:ignore SA1019 cleared so both forms normalise alike.
	s.Networks = nil
	s.EndpointSpec = normalizeEndpoint(s.EndpointSpec)
	normalizeTask(&s.TaskTemplate)
	dropEmpty(reflect.ValueOf(&s).Elem())
	return s
}

func normalizeMode(m *swarm.ServiceMode) {
	switch {
	case m.Global != nil, m.GlobalJob != nil:
	case m.ReplicatedJob != nil:
		// The daemon stores MaxConcurrent 1 and TotalCompletions equal to
		// MaxConcurrent when they are left out.
		if m.ReplicatedJob.MaxConcurrent == nil {
			m.ReplicatedJob.MaxConcurrent = ptr(uint64(1))
		}
		if m.ReplicatedJob.TotalCompletions == nil {
			m.ReplicatedJob.TotalCompletions = ptr(*m.ReplicatedJob.MaxConcurrent)
		}
	default:
		// No mode, or replicated without a count, is stored as one replica.
		if m.Replicated == nil {
			m.Replicated = &swarm.ReplicatedService{}
		}
		if m.Replicated.Replicas == nil {
			m.Replicated.Replicas = ptr(uint64(defaultReplicas))
		}
	}
}

func normalizeUpdateConfig(c *swarm.UpdateConfig) *swarm.UpdateConfig {
	if c == nil {
		// An absent config rolls one task at a time; a present one with
		// Parallelism 0 means all at once, so 0 is not filled in below.
		c = &swarm.UpdateConfig{Parallelism: 1}
	}
	// The daemon maps "" to pause and to stop-first.
	if c.FailureAction == "" {
		c.FailureAction = swarm.UpdateFailureActionPause
	}
	if c.Order == "" {
		c.Order = swarm.UpdateOrderStopFirst
	}
	// A zero monitor is not sent to SwarmKit, whose updater then uses 5s.
	if c.Monitor == 0 {
		c.Monitor = defaultUpdateMonitor
	}
	return c
}

func normalizeEndpoint(e *swarm.EndpointSpec) *swarm.EndpointSpec {
	if e == nil {
		e = &swarm.EndpointSpec{}
	}
	// vip, tcp and ingress are the zero values of SwarmKit's enums, so ""
	// becomes them on the way in and comes back spelt out.
	if e.Mode == "" {
		e.Mode = swarm.ResolutionModeVIP
	}
	for i := range e.Ports {
		p := &e.Ports[i]
		if p.Protocol == "" {
			p.Protocol = swarm.PortConfigProtocolTCP
		}
		if p.PublishMode == "" {
			p.PublishMode = swarm.PortConfigPublishModeIngress
		}
	}
	// Ports are a set: the routing mesh and host bindings don't depend on
	// their order.
	slices.SortStableFunc(e.Ports, comparePorts)
	return e
}

func comparePorts(a, b swarm.PortConfig) int {
	return cmp.Or(
		cmp.Compare(a.PublishedPort, b.PublishedPort),
		cmp.Compare(a.Protocol, b.Protocol),
		cmp.Compare(a.TargetPort, b.TargetPort),
		cmp.Compare(a.PublishMode, b.PublishMode),
		cmp.Compare(a.Name, b.Name),
	)
}

func normalizeTask(t *swarm.TaskSpec) {
	// The daemon runs a task template without a runtime as a container.
	if t.Runtime == "" && t.ContainerSpec != nil {
		t.Runtime = swarm.RuntimeContainer
	}
	if t.ContainerSpec != nil {
		normalizeContainer(t.ContainerSpec)
	}
	// Absent resources, limits and reservations mean no limit and no
	// reservation, as zero values do.
	if t.Resources == nil {
		t.Resources = &swarm.ResourceRequirements{}
	}
	if t.Resources.Limits == nil {
		t.Resources.Limits = &swarm.Limit{}
	}
	if t.Resources.Reservations == nil {
		t.Resources.Reservations = &swarm.Resources{}
	}
	// Generic resources are a set of reservations.
	slices.SortStableFunc(t.Resources.Reservations.GenericResources, compareGenericResources)
	t.RestartPolicy = normalizeRestartPolicy(t.RestartPolicy)
	if t.Placement == nil {
		t.Placement = &swarm.Placement{}
	}
	// Constraints are ANDed, so their order is irrelevant and a repeat adds
	// nothing; SwarmKit trims the spaces around key, operator and value.
	// Preferences are NOT sorted: they nest in the order given.
	for i, c := range t.Placement.Constraints {
		t.Placement.Constraints[i] = canonicalConstraint(c)
	}
	slices.Sort(t.Placement.Constraints)
	t.Placement.Constraints = slices.Compact(t.Placement.Constraints)
	// Platforms are alternatives a node may match.
	slices.SortStableFunc(t.Placement.Platforms, func(a, b swarm.Platform) int {
		return cmp.Or(cmp.Compare(a.OS, b.OS), cmp.Compare(a.Architecture, b.Architecture))
	})
	// A log driver with no name and no options is the cluster's default,
	// exactly as no log driver is.
	if t.LogDriver != nil && t.LogDriver.Name == "" && len(t.LogDriver.Options) == 0 {
		t.LogDriver = nil
	}
	// Attachments and aliases are sets keyed by network.
	for i := range t.Networks {
		slices.Sort(t.Networks[i].Aliases)
	}
	slices.SortStableFunc(t.Networks, func(a, b swarm.NetworkAttachmentConfig) int {
		return cmp.Compare(a.Target, b.Target)
	})
}

func compareGenericResources(a, b swarm.GenericResource) int {
	key := func(r swarm.GenericResource) (string, string, int64) {
		switch {
		case r.NamedResourceSpec != nil:
			return r.NamedResourceSpec.Kind, r.NamedResourceSpec.Value, 0
		case r.DiscreteResourceSpec != nil:
			return r.DiscreteResourceSpec.Kind, "", r.DiscreteResourceSpec.Value
		}
		return "", "", 0
	}
	ak, av, an := key(a)
	bk, bv, bn := key(b)
	return cmp.Or(cmp.Compare(ak, bk), cmp.Compare(av, bv), cmp.Compare(an, bn))
}

func normalizeRestartPolicy(p *swarm.RestartPolicy) *swarm.RestartPolicy {
	if p == nil {
		p = &swarm.RestartPolicy{}
	}
	// The daemon maps "" to any; SwarmKit's restart supervisor waits 5s when
	// no delay is set; unset attempts and window are stored as 0 (unlimited,
	// no window).
	if p.Condition == "" {
		p.Condition = swarm.RestartPolicyConditionAny
	}
	if p.Delay == nil {
		p.Delay = ptr(defaultRestartDelay)
	}
	if p.MaxAttempts == nil {
		p.MaxAttempts = ptr(uint64(0))
	}
	if p.Window == nil {
		p.Window = ptr(time.Duration(0))
	}
	return p
}

// canonicalConstraint writes a placement constraint as SwarmKit parses it:
// the first "==" (else "!=") splits it and spaces around the parts are
// dropped. A constraint without an operator is left for Swarm to reject.
func canonicalConstraint(c string) string {
	for _, op := range []string{"==", "!="} {
		if k, v, ok := strings.Cut(c, op); ok {
			return strings.TrimSpace(k) + op + strings.TrimSpace(v)
		}
	}
	return strings.TrimSpace(c)
}

func normalizeContainer(c *swarm.ContainerSpec) {
	c.Image = canonicalImage(c.Image)
	// Later entries override earlier ones only for the same key, so a
	// stable sort by key keeps the meaning and drops the order.
	slices.SortStableFunc(c.Env, func(a, b string) int {
		return cmp.Compare(envKey(a), envKey(b))
	})
	// The daemon sorts mounts by depth before mounting, and targets are
	// unique, so the written order means nothing.
	for i := range c.Mounts {
		normalizeMount(&c.Mounts[i])
	}
	slices.SortStableFunc(c.Mounts, func(a, b mount.Mount) int { return cmp.Compare(a.Target, b.Target) })
	// Secret and config references are files keyed by target. The IDs are
	// the cluster's resolution of the names at deploy time; a stack file
	// names them, so the name is what the spec means.
	for _, r := range c.Secrets {
		if r != nil && r.SecretName != "" {
			r.SecretID = ""
		}
	}
	slices.SortStableFunc(c.Secrets, func(a, b *swarm.SecretReference) int {
		return cmp.Compare(secretRefKey(a), secretRefKey(b))
	})
	for _, r := range c.Configs {
		if r != nil && r.ConfigName != "" {
			r.ConfigID = ""
		}
	}
	slices.SortStableFunc(c.Configs, func(a, b *swarm.ConfigReference) int {
		return cmp.Compare(configRefKey(a), configRefKey(b))
	})
	// SwarmKit fills a missing grace period with 10s.
	if c.StopGracePeriod == nil {
		c.StopGracePeriod = ptr(defaultStopGracePeriod)
	}
	// "" is sent as ISOLATION_DEFAULT and reported back as "default".
	if c.Isolation == "" {
		c.Isolation = "default"
	}
	// Absent privileges and DNS settings are the zero settings.
	if c.Privileges == nil {
		c.Privileges = &swarm.Privileges{}
	}
	if c.DNSConfig == nil {
		c.DNSConfig = &swarm.DNSConfig{}
	}
	// An empty healthcheck inherits the image's, as none does.
	if c.Healthcheck != nil && reflect.ValueOf(*c.Healthcheck).IsZero() {
		c.Healthcheck = nil
	}
	// Capabilities and supplementary groups are sets; ulimits are keyed by
	// name. Hosts, DNS servers and search domains keep their order: the
	// resolver reads them first to last.
	slices.Sort(c.CapabilityAdd)
	slices.Sort(c.CapabilityDrop)
	slices.Sort(c.Groups)
	slices.SortStableFunc(c.Ulimits, func(a, b *container.Ulimit) int { return cmp.Compare(ulimitName(a), ulimitName(b)) })
}

func normalizeMount(m *mount.Mount) {
	// Bind is SwarmKit's zero mount type.
	if m.Type == "" {
		m.Type = mount.TypeBind
	}
	switch m.Type {
	case mount.TypeBind:
		// The daemon binds rprivate unless told otherwise.
		if m.BindOptions == nil {
			m.BindOptions = &mount.BindOptions{}
		}
		if m.BindOptions.Propagation == "" {
			m.BindOptions.Propagation = mount.PropagationRPrivate
		}
	case mount.TypeVolume:
		if m.VolumeOptions == nil {
			m.VolumeOptions = &mount.VolumeOptions{}
		}
		if d := m.VolumeOptions.DriverConfig; d != nil && d.Name == "" && len(d.Options) == 0 {
			m.VolumeOptions.DriverConfig = nil
		}
	case mount.TypeTmpfs:
		if m.TmpfsOptions == nil {
			m.TmpfsOptions = &mount.TmpfsOptions{}
		}
	}
	if m.Consistency == mount.ConsistencyDefault {
		m.Consistency = ""
	}
}

// canonicalImage writes an image reference the way the daemon stores it:
// Docker Hub's docker.io/library/ prefix dropped and ":latest" added when
// neither a tag nor a digest is given, since that is the image a node pulls.
// A ':' before the last '/' is a registry port, not a tag.
func canonicalImage(ref string) string {
	if ref == "" {
		return ref
	}
	name, digest, pinned := strings.Cut(ref, "@")
	for _, hub := range []string{"docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"} {
		if rest, ok := strings.CutPrefix(name, hub); ok {
			name = rest
			break
		}
	}
	if pinned {
		return name + "@" + digest
	}
	if !strings.Contains(name[strings.LastIndex(name, "/")+1:], ":") {
		name += ":latest"
	}
	return name
}

func envKey(e string) string {
	k, _, _ := strings.Cut(e, "=")
	return k
}

func secretRefKey(r *swarm.SecretReference) string {
	if r == nil {
		return ""
	}
	if r.File != nil {
		return r.File.Name
	}
	return r.SecretName
}

func configRefKey(r *swarm.ConfigReference) string {
	if r == nil {
		return ""
	}
	if r.File != nil {
		return r.File.Name
	}
	// A runtime target (a credential spec) has no file; its name is its
	// identity, kept apart from file targets.
	return "runtime:" + r.ConfigName
}

func ulimitName(u *container.Ulimit) string {
	if u == nil {
		return ""
	}
	return u.Name
}

// normalizeNetwork is Normalize for a stack network.
func normalizeNetwork(n network.CreateRequest) network.CreateRequest {
	n = deepCopy(n)
	// docker stack deploy creates overlay networks unless told otherwise,
	// and an overlay created through a manager is swarm-scoped.
	if n.Driver == "" {
		n.Driver = defaultNetworkDriver
	}
	if n.Scope == "" && n.Driver == defaultNetworkDriver {
		n.Scope = "swarm"
	}
	if n.IPAM == nil {
		n.IPAM = &network.IPAM{}
	}
	if n.IPAM.Driver == "" {
		n.IPAM.Driver = defaultIPAMDriver
	}
	// The daemon enables IPv4 and not IPv6 when the request says nothing.
	if n.EnableIPv4 == nil {
		n.EnableIPv4 = ptr(true)
	}
	if n.EnableIPv6 == nil {
		n.EnableIPv6 = ptr(false)
	}
	// CheckDuplicate is deprecated and has no effect on the network; a
	// ConfigFrom naming no network is no ConfigFrom.
	//lint:ignore SA1019 cleared because older clients still send it.
	n.CheckDuplicate = nil
	if n.ConfigFrom != nil && n.ConfigFrom.Network == "" {
		n.ConfigFrom = nil
	}
	dropEmpty(reflect.ValueOf(&n).Elem())
	return n
}

// normalizeSecret is Normalize for a secret: only empty drivers and empty
// maps have an implicit form.
func normalizeSecret(s swarm.SecretSpec) swarm.SecretSpec {
	s = deepCopy(s)
	s.Driver = dropEmptyDriver(s.Driver)
	s.Templating = dropEmptyDriver(s.Templating)
	dropEmpty(reflect.ValueOf(&s).Elem())
	return s
}

// normalizeConfig is Normalize for a config.
func normalizeConfig(c swarm.ConfigSpec) swarm.ConfigSpec {
	c = deepCopy(c)
	c.Templating = dropEmptyDriver(c.Templating)
	dropEmpty(reflect.ValueOf(&c).Elem())
	return c
}

func dropEmptyDriver(d *swarm.Driver) *swarm.Driver {
	if d != nil && d.Name == "" && len(d.Options) == 0 {
		return nil
	}
	return d
}

func ptr[T any](v T) *T { return &v }

// dropEmpty sets every empty slice and map reachable from v to nil: the
// Engine API and Swarm treat an empty list or map as an absent one.
func dropEmpty(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			dropEmpty(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				dropEmpty(f)
			}
		}
	case reflect.Slice:
		if v.Len() == 0 && !v.IsNil() && v.CanSet() {
			v.SetZero()
			return
		}
		for i := range v.Len() {
			dropEmpty(v.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 && !v.IsNil() && v.CanSet() {
			v.SetZero()
			return
		}
		if !holdsContainers(v.Type().Elem()) {
			return
		}
		// Map values are not addressable: clean a copy and store it back.
		iter := v.MapRange()
		for iter.Next() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(iter.Value())
			dropEmpty(e)
			v.SetMapIndex(iter.Key(), e)
		}
	}
}

func holdsContainers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Struct, reflect.Slice, reflect.Map:
		return true
	}
	return false
}

// deepCopy copies v so that normalising the copy never writes through a
// pointer, slice or map shared with the caller's spec.
func deepCopy[T any](v T) T {
	return copyValue(reflect.ValueOf(&v).Elem()).Interface().(T)
}

func copyValue(v reflect.Value) reflect.Value {
	out := reflect.New(v.Type()).Elem()
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			p := reflect.New(v.Type().Elem())
			p.Elem().Set(copyValue(v.Elem()))
			out.Set(p)
		}
	case reflect.Struct:
		// Unexported fields come along by value; exported ones are then
		// replaced by deep copies.
		out.Set(v)
		for i := range v.NumField() {
			if f := out.Field(i); f.CanSet() {
				f.Set(copyValue(v.Field(i)))
			}
		}
	case reflect.Slice:
		if !v.IsNil() {
			s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
			for i := range v.Len() {
				s.Index(i).Set(copyValue(v.Index(i)))
			}
			out.Set(s)
		}
	case reflect.Map:
		if !v.IsNil() {
			m := reflect.MakeMapWithSize(v.Type(), v.Len())
			iter := v.MapRange()
			for iter.Next() {
				m.SetMapIndex(iter.Key(), copyValue(iter.Value()))
			}
			out.Set(m)
		}
	case reflect.Interface:
		if !v.IsNil() {
			out.Set(copyValue(v.Elem()))
		}
	default:
		out.Set(v)
	}
	return out
}
