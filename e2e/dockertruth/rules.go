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
		{Cases: []string{mergeBugs}, Path: "services.*.TaskTemplate.ContainerSpec.Healthcheck.Test[*]",
			Why: "Docker's merge appends a later file's healthcheck test to the earlier one's, a command nobody wrote; swarmops takes the later test, as for every other command"},
		{Cases: []string{mergeBugs}, Path: "services.*.EndpointSpec.Ports[*].*",
			Why: "Docker's merge of a service several files define keeps one port per published number (53/udp and 53/tcp become one); swarmops keeps every port written, and warns"},
		{Cases: []string{mergeBugs}, Path: "warnings", When: func(ours, docker any) bool {
			s, ok := ours.(string)
			return ok && docker == nil && strings.Contains(s, "docker stack deploy keeps only one of the")
		}, Why: "swarmops warns where Docker's merge would have dropped ports"},
		{Path: "warnings", When: func(ours, docker any) bool {
			s, ok := ours.(string)
			return ok && docker == nil && strings.Contains(s, "its healthcheck may take to report a failure")
		}, Why: "swarmops warns where a rollout stops watching a replacement before its healthcheck can fail it"},
	}
}

// mergeBugs is the recorded case that shows the two merges where Docker
// loses what the files say.
const mergeBugs = "903+904__swarmops__merge-healthcheck-ports.override"

// unsetThenID holds when ours has no ID and Docker's is an ID it looked up.
func unsetThenID(ours, docker any) bool {
	s, ok := docker.(string)
	return isZero(ours) && ok && strings.HasPrefix(s, "$ID(")
}

// Relaxed is a rejection of Docker's that swarmops deliberately does not
// make: the compose specification, which swarmops follows, allows what
// Docker's legacy version 3 schema refuses, and it means one thing.
// docs/compat.md lists each under "Accepted where Docker rejects". A
// rejection of Docker's that no entry names must be swarmops's too.
type Relaxed struct {
	// Case is the case Docker rejects.
	Case string
	// Field is where Docker's error is (as DockerErrorPath reads it), a
	// dotted pattern where "*" stands for one segment: of several faults
	// the CLI names the first it meets, which varies between runs.
	Field string
	// Accepts says that swarmops converts the stack: nothing else in it is
	// wrong. Its output is pinned by its golden file, as Docker's error
	// leaves nothing to compare with. When false, the stack has faults
	// Docker would also refuse once past the first, and swarmops must
	// reject it for those.
	Accepts bool
	// Why is the reason, as docs/compat.md gives it.
	Why string
}

// Relaxations are the rejections of Docker's that swarmops does not make,
// for the recorded cases that show them.
func Relaxations() []Relaxed {
	const (
		version   = "the version key is obsolete in the compose specification, and swarmops ignores it: Docker reads only version 3 files and wants one version in every file of a deploy"
		dependsOn = "depends_on with conditions is the compose specification's long form; Convert ignores depends_on in either form, as Docker ignores the list (a later issue makes swarmops honour the order)"
		cpus      = "a CPU count written as a number (cpus: 0.50) means what the string does; Docker's version 3 schema wants the string"
	)
	return []Relaxed{
		{Case: "003__dockersamples__example-voting-app__docker-compose", Field: "services.*.depends_on",
			Why: dependsOn + "; the stack still has services without an image and a profiles key, which both refuse"},
		{Case: "025+026__BretFisher__dogvscat__stack-elk.override", Field: "version", Accepts: true,
			Why: version + " (3.7 and 3.3 here)"},
		{Case: "050__dockersamples__example-voting-app__docker-compose", Field: "version",
			Why: version + "; the stack's services build their images and name none, which both refuse"},
		{Case: "059__r4ulcl__WiFiChallengeLab-docker__docker-compose", Field: "services.*.deploy.resources.limits.cpus", Accepts: true,
			Why: cpus},
		{Case: "908__swarmops__depends-on-conditions", Field: "services.web.depends_on", Accepts: true, Why: dependsOn},
		{Case: "909__swarmops__cpus-number", Field: "services.web.deploy.resources.limits.cpus", Accepts: true, Why: cpus},
		{Case: "910__swarmops__version-2", Field: "version", Accepts: true, Why: version},
	}
}

// relaxedFor returns the entry that explains Docker's rejection of a case
// at field, or nil.
func relaxedFor(caseName, field string, relaxed []Relaxed) *Relaxed {
	if field == "" {
		return nil
	}
	for i := range relaxed {
		r := &relaxed[i]
		if r.Case == caseName && fieldMatches(field, r.Field) {
			return r
		}
	}
	return nil
}

func fieldMatches(field, pattern string) bool {
	f, p := strings.Split(field, "."), strings.Split(pattern, ".")
	if len(f) != len(p) {
		return false
	}
	for i := range p {
		if p[i] != "*" && p[i] != f[i] {
			return false
		}
	}
	return true
}
