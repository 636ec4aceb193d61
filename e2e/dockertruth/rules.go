package dockertruth

import (
	"encoding/json"
	"strings"
)

// DaemonAdds explains every difference between what the docker CLI sends
// and what the engine then stores and reports. It was found by recording
// both for every shared stack (docker CLI 28.2.2, engine 20.10.24, API
// 1.41), not assumed: swarmops's specs are held to what the CLI sends, and
// this table says why the engine's view differs from that.
//
// The engine's stored spec is read without `?insertDefaults=true`; `docker
// service inspect` asks for it, and then also shows Swarm's defaults for
// unset blocks (UpdateConfig, RollbackConfig, RestartPolicy,
// StopGracePeriod, DNSConfig) — defaults the spec itself does not hold.
func DaemonAdds() []Rule {
	return []Rule{
		{Path: "services.*.TaskTemplate.Runtime", When: unsetThen("container"),
			Why: "the engine names the container runtime when the spec leaves it empty"},
		{Path: "services.*.TaskTemplate.ContainerSpec.Isolation", When: unsetThen("default"),
			Why: "the engine stores the default isolation when none is given"},
		{Path: "services.*.EndpointSpec.Mode", When: unsetThen("vip"),
			Why: "the engine stores the default endpoint mode when none is given"},
		{Path: "services.*.Mode.Replicated.Replicas", When: unsetThen(1),
			Why: "the engine stores one replica when a replicated service gives no count"},
		{Path: "services.*.TaskTemplate.RestartPolicy.Condition", When: unsetThen("any"),
			Why: "the engine fills the restart condition of a restart policy that has none"},
		{Path: "services.*.TaskTemplate.RestartPolicy.MaxAttempts", When: unsetThen(0),
			Why: "the engine writes out a restart policy's unset max attempts as 0"},
		{Path: "services.*.UpdateConfig.FailureAction", When: unsetThen("pause"),
			Why: "the engine fills the failure action of an update config that has none"},
		{Path: "services.*.UpdateConfig.Order", When: unsetThen("stop-first"),
			Why: "the engine fills the order of an update config that has none"},
		{Path: "services.*.TaskTemplate.ContainerSpec.Privileges.NoNewPrivileges", When: func(sent, engine any) bool { return sent == false && engine == nil },
			Why: "API 1.46 added the field; an older engine drops it (the CLI sends it as false)"},
		{Path: "services.*.TaskTemplate.Networks[*].Target", When: idOf,
			Why: "the CLI names a network; the engine stores its ID"},
		{Path: "networks.*.CheckDuplicate", When: func(sent, engine any) bool { return sent == true && engine == nil },
			Why: "the Docker client library asks for the duplicate check on API before 1.44; it is a request flag, not stored"},
		{Path: "networks.*.Scope", When: unsetThen("swarm"),
			Why: "an overlay network created on a swarm manager is swarm-scoped"},
		{Path: "networks.*.EnableIPv6", When: unsetThen(false),
			Why: "a network inspect writes out every field"},
		{Path: "networks.*.ConfigFrom.Network", When: unsetThen(""),
			Why: "a network inspect writes out every field"},
		{Path: "networks.*.IPAM.Driver", When: unsetThen("default"),
			Why: "the engine names the default IPAM driver when none is given"},
		{Path: "networks.*.IPAM.Config[*].Subnet", When: unsetThen(nil),
			Why: "the engine allocates a subnet when the stack gives none"},
		{Path: "networks.*.IPAM.Config[*].Gateway", When: unsetThen(nil),
			Why: "the engine allocates a gateway when the stack gives none"},
		{Path: `networks.*.Options["com.docker.network.driver.overlay.vxlanid_list"]`, When: unsetThen(nil),
			Why: "the engine allocates the overlay's VXLAN ID"},
		{Cases: []string{"048__docker__cli__cli_compose_loader_full-example"},
			Path: "networks.*.IPAM.Driver", When: func(sent, engine any) bool { return sent == "overlay" && engine == "default" },
			Why: "the recorder forwarded the built-in IPAM driver: the engine has no \"overlay\" IPAM plugin (see the truth's adjusted)"},
		{Path: "secrets.*.Data", When: func(sent, engine any) bool { return sent != nil && engine == nil },
			Why: "the engine never returns secret data"},
	}
}

// unsetThen holds when the left side lacks the value or has its type's
// zero value (Go's encoder writes "" for a string without omitempty), and
// the right side has want (any value at all when want is nil).
func unsetThen(want any) func(left, right any) bool {
	return func(left, right any) bool {
		if !isZero(left) || right == nil {
			return false
		}
		return want == nil || sameJSON(right, want)
	}
}

func isZero(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case bool:
		return !v
	case json.Number:
		return v == "0"
	}
	return false
}

// idOf holds when the right side is the IDMark of the name on the left.
func idOf(left, right any) bool {
	name, ok := left.(string)
	return ok && right == IDMark(name)
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// Deliberate explains every difference between swarmops's conversion and
// what the docker CLI sends for the same stack that swarmops keeps on
// purpose; docs/compat.md gives each one with its reason. A difference not
// named here fails the comparison.
func Deliberate() []Rule {
	return []Rule{
		{Path: "services.*.TaskTemplate.ContainerSpec.Secrets[*].SecretID", When: unsetThenID,
			Why: "the CLI looks each secret's ID up on the cluster at deploy time; a conversion made without a cluster names the secret (SecretName) and swarmops resolves the ID when it applies the spec"},
		{Path: "services.*.TaskTemplate.ContainerSpec.Configs[*].ConfigID", When: unsetThenID,
			Why: "the CLI looks each config's ID up on the cluster at deploy time; a conversion made without a cluster names the config (ConfigName) and swarmops resolves the ID when it applies the spec"},
		{Path: "networks.*.CheckDuplicate", When: func(ours, docker any) bool { return isZero(ours) && docker == true },
			Why: "the Docker client library adds this request flag when it talks API older than 1.44 (deprecated since); it is not part of the network, and the engine does not store it"},
	}
}

// unsetThenID holds when ours has no ID and Docker's is an ID it looked up.
func unsetThenID(ours, docker any) bool {
	s, ok := docker.(string)
	return isZero(ours) && ok && strings.HasPrefix(s, "$ID(")
}
