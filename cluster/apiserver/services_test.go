package apiserver

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
)

// What `docker service create -p 8080:80 --name web nginx:latest` sends
// (recorded from docker CLI 28 at API 1.41).
const cliCreateBody = `{"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"nginx:latest","Init":false,"DNSConfig":{}},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},"Mode":{"Replicated":{}},"EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]}}`

func minimalSpec(name, image string) swarm.ServiceSpec {
	return swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: name},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image}},
	}
}

func TestCreateServiceStoresWhatSwarmWouldReturn(t *testing.T) {
	h := newHarness(t, 1)
	m, cert := h.managers[0], h.clientCert()
	status, body, hdr := h.raw(m, cert, "POST", "/v1.41/services/create", cliCreateBody)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	var created swarm.ServiceCreateResponse
	if err := json.Unmarshal(body, &created); err != nil || len(created.ID) != 25 {
		t.Fatalf("create answer %s: %v", body, err)
	}
	if hdr.Get(headerIndex) == "" {
		t.Errorf("no %s header on a write", headerIndex)
	}
	// The answer Swarm (Engine 20.10) gives to GET /services/web for
	// that create, less the allocator's VirtualIPs and the times.
	want := `{"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"nginx:latest","Init":false,"DNSConfig":{},"Isolation":"default"},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0,"Runtime":"container"},"Mode":{"Replicated":{"Replicas":1}},"EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]}}`
	status, body, _ = h.raw(m, cert, "GET", "/v1.41/services/web", nil)
	if status != http.StatusOK {
		t.Fatalf("inspect: %d %s", status, body)
	}
	var got struct {
		ID       string
		Version  swarm.Version
		Spec     json.RawMessage
		Endpoint json.RawMessage
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if string(got.Spec) != want {
		t.Errorf("spec\n got %s\nwant %s", got.Spec, want)
	}
	if wantEP := `{"Spec":{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]},"Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]}`; string(got.Endpoint) != wantEP {
		t.Errorf("endpoint\n got %s\nwant %s", got.Endpoint, wantEP)
	}
	if got.ID != created.ID || got.Version.Index == 0 {
		t.Errorf("ID %s version %d", got.ID, got.Version.Index)
	}
	if strings.Contains(string(body), "UpdateStatus") || strings.Contains(string(body), "PreviousSpec") {
		t.Errorf("a new service has no update status or previous spec: %s", body)
	}

	// A minimal spec gets the daemon's round-trip defaults and no endpoint.
	status, body, _ = h.raw(m, cert, "POST", "/services/create", `{"Name":"min","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`)
	if status != http.StatusCreated {
		t.Fatalf("create min: %d %s", status, body)
	}
	_, body, _ = h.raw(m, cert, "GET", "/services/min", nil)
	if !strings.Contains(string(body), `"Spec":{"Name":"min","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"busybox","Isolation":"default"},"ForceUpdate":0,"Runtime":"container"},"Mode":{"Replicated":{"Replicas":1}}},"Endpoint":{"Spec":{}}`) {
		t.Errorf("minimal service: %s", body)
	}
	// insertDefaults fills what Swarm fills.
	_, body, _ = h.raw(m, cert, "GET", "/services/min?insertDefaults=true", nil)
	wantDefaults := `"Spec":{"Name":"min","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"busybox","StopGracePeriod":10000000000,"DNSConfig":{},"Isolation":"default"},"Resources":{},"RestartPolicy":{"Condition":"any","Delay":5000000000,"MaxAttempts":0},"Placement":{},"ForceUpdate":0,"Runtime":"container"},"Mode":{"Replicated":{"Replicas":1}},"UpdateConfig":{"Parallelism":1,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"},"RollbackConfig":{"Parallelism":1,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"}}`
	if !strings.Contains(string(body), wantDefaults) {
		t.Errorf("insertDefaults:\n got %s\nwant %s", body, wantDefaults)
	}
	status, body, _ = h.raw(m, cert, "GET", "/services/min?insertDefaults=maybe", nil)
	wantError(t, status, body, 400, "invalid value for insertDefaults: maybe")
}

func TestCreateServiceRefusesBadSpecs(t *testing.T) {
	h := newHarness(t, 1)
	m, cert := h.managers[0], h.clientCert()
	h.propose(store.Create(&swarm.Service{ID: store.NewID(), Spec: minimalSpec("taken", "busybox"),
		Endpoint: swarm.Endpoint{Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "ingress"}}}}))
	cases := []struct {
		name, body string
		status     int
		msg        string
	}{
		{"duplicate name", `{"Name":"taken","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`, 409,
			"rpc error: code = AlreadyExists desc = name conflicts with an existing object: service taken already exists"},
		{"duplicate name other case", `{"Name":"TAKEN","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`, 409, "service TAKEN already exists"},
		{"no image", `{"Name":"x","TaskTemplate":{"ContainerSpec":{}}}`, 400,
			"rpc error: code = InvalidArgument desc = ContainerSpec: image reference must be provided"},
		{"bad image", `{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"UPPER/Case"}}}`, 400, `ContainerSpec: "UPPER/Case" is not a valid repository/tag`},
		{"no container", `{"Name":"x","TaskTemplate":{}}`, 400, "mismatched Runtime and *Spec fields"},
		{"plugin runtime", `{"Name":"x","TaskTemplate":{"Runtime":"plugin","ContainerSpec":{"Image":"a"}}}`, 400, "unsupported runtime"},
		{"bad name", `{"Name":"bad name","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`, 400,
			"rpc error: code = InvalidArgument desc = name must be valid as a DNS name component"},
		{"long name", `{"Name":"` + strings.Repeat("a", 64) + `","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`, 400, "name must be 63 characters or fewer"},
		{"two modes", `{"Name":"x","Mode":{"Global":{},"Replicated":{}},"TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`, 400, "must specify only one service mode"},
		{"duplicate ports", `{"Name":"x","EndpointSpec":{"Ports":[{"TargetPort":80,"PublishedPort":9999},{"TargetPort":81,"PublishedPort":9999}]},"TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`, 400,
			"EndpointSpec: duplicate published ports provided"},
		{"port in use", `{"Name":"x","EndpointSpec":{"Ports":[{"TargetPort":80,"PublishedPort":8080}]},"TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`, 400,
			"rpc error: code = InvalidArgument desc = port '8080' is already in use by service 'taken' ("},
		{"host port on ingress port", `{"Name":"x","EndpointSpec":{"Ports":[{"TargetPort":80,"PublishedPort":8080,"PublishMode":"host"}]},"TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`, 400,
			"as an ingress port"},
		{"dnsrr with ingress", `{"Name":"x","EndpointSpec":{"Mode":"dnsrr","Ports":[{"TargetPort":80}]},"TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`, 400,
			"EndpointSpec: port published with ingress mode can't be used with dnsrr mode"},
		{"bad resolution mode", `{"Name":"x","EndpointSpec":{"Mode":"round"},"TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`, 400, `invalid resolution mode: "round"`},
		{"missing secret", `{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Secrets":[{"SecretID":"abc","SecretName":"nosuch","File":{"Name":"x"}}]}}}`, 400,
			"rpc error: code = InvalidArgument desc = secret not found: nosuch"},
		{"secret without target", `{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Secrets":[{"SecretID":"abc","SecretName":"s"}]}}}`, 400,
			"malformed secret reference, no target provided"},
		{"conflicting secret targets", `{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Secrets":[{"SecretID":"a","SecretName":"s1","File":{"Name":"t"}},{"SecretID":"b","SecretName":"s2","File":{"Name":"t"}}]}}}`, 400,
			"secret references 's1' and 's2' have a conflicting target: 't'"},
		{"config without target", `{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Configs":[{"ConfigID":"a","ConfigName":"c"}]}}}`, 400,
			"either File or Runtime should be set"},
		{"missing network", `{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"busybox"},"Networks":[{"Target":"nonet"}]}}`, 404, "network nonet not found"},
		{"bad restart condition", `{"Name":"x","TaskTemplate":{"RestartPolicy":{"Condition":"sometimes"},"ContainerSpec":{"Image":"busybox"}}}`, 400, `invalid RestartCondition: "sometimes"`},
		{"negative restart delay", `{"Name":"x","TaskTemplate":{"RestartPolicy":{"Delay":-1},"ContainerSpec":{"Image":"busybox"}}}`, 400, "TaskSpec: restart-delay cannot be negative"},
		{"bad failure action", `{"Name":"x","UpdateConfig":{"FailureAction":"explode"},"TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`, 400, "unrecognized update failure action explode"},
		{"bad order", `{"Name":"x","UpdateConfig":{"Order":"sideways"},"TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`, 400, "unrecognized update order sideways"},
		{"failure ratio", `{"Name":"x","UpdateConfig":{"MaxFailureRatio":2},"TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`, 400, "update-maxfailureratio cannot be less than 0 or bigger than 1"},
		{"job with update config", `{"Name":"x","Mode":{"ReplicatedJob":{}},"UpdateConfig":{},"TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`, 400, "Jobs may not have an update config"},
		{"tiny memory", `{"Name":"x","TaskTemplate":{"Resources":{"Limits":{"MemoryBytes":1024}},"ContainerSpec":{"Image":"busybox"}}}`, 400, "invalid memory value 1024: Must be at least 4MiB"},
		{"tiny cpu", `{"Name":"x","TaskTemplate":{"Resources":{"Reservations":{"NanoCPUs":10}},"ContainerSpec":{"Image":"busybox"}}}`, 400, "invalid cpu value 1e-08: Must be at least 0.001"},
		{"bad constraint", `{"Name":"x","TaskTemplate":{"Placement":{"Constraints":["node.role"]},"ContainerSpec":{"Image":"busybox"}}}`, 400, "constraint expected one operator from ==, !="},
		{"duplicate mount", `{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Mounts":[{"Type":"volume","Target":"/d"},{"Type":"volume","Target":"/d"}]}}}`, 400, "ContainerSpec: duplicate mount point: /d"},
		{"bad mount type", `{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Mounts":[{"Type":"nfs","Target":"/d"}]}}}`, 400, `invalid MountType: "nfs"`},
		{"health interval", `{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Healthcheck":{"Interval":10}}}}`, 400, "ContainerSpec: Interval in HealthConfig cannot be less than 1ms"},
		{"huge replicas", `{"Name":"x","Mode":{"Replicated":{"Replicas":18446744073709551615}},"TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`, 400, "Number of replicas must be non-negative"},
		{"malformed JSON", `{"Name":`, 400, "invalid JSON: unexpected EOF"},
		{"trailing garbage", `{"Name":"x"} x`, 400, "unexpected content after JSON"},
		{"two documents", `{"Name":"x"}{"Name":"y"}`, 400, "unexpected content after JSON"},
		{"wrong type", `{"Name":5}`, 400, "invalid JSON: json: cannot unmarshal number into Go struct field"},
		{"empty body", ``, 400, "invalid JSON: got EOF while reading request body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body, _ := h.raw(m, cert, "POST", "/v1.41/services/create", c.body)
			wantError(t, status, body, c.status, c.msg)
		})
	}
	// None of them was stored.
	_ = h.leader().store.View(func(tx store.ReadTx) error {
		svcs, _ := tx.Services()
		if len(svcs) != 1 {
			t.Errorf("%d services stored, want only the seeded one", len(svcs))
		}
		return nil
	})
}

func TestCreateServiceIgnoresUnknownFieldsAndNamesUnnamed(t *testing.T) {
	h := newHarness(t, 1)
	m, cert := h.managers[0], h.clientCert()
	status, body, _ := h.raw(m, cert, "POST", "/services/create", `{"Name":"x","Bogus":{"a":1},"TaskTemplate":{"ContainerSpec":{"Image":"busybox","FutureField":true}}}`)
	if status != http.StatusCreated {
		t.Fatalf("unknown fields: %d %s", status, body)
	}
	status, body, _ = h.raw(m, cert, "POST", "/services/create", `{"TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}`)
	if status != http.StatusCreated {
		t.Fatalf("unnamed: %d %s", status, body)
	}
	var created swarm.ServiceCreateResponse
	_ = json.Unmarshal(body, &created)
	svc, _, err := h.docker(m, cert).ServiceInspectWithRaw(context.Background(), created.ID, swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	if !regexp.MustCompile(`^[a-z]+_[a-z]+[0-9]*$`).MatchString(svc.Spec.Name) {
		t.Errorf("generated name %q", svc.Spec.Name)
	}
}

func TestRandomNameAvoidsTakenNames(t *testing.T) {
	zero := func(int) int { return 0 }
	taken := map[string]bool{"brisk_albatross": true, "brisk_albatross2": true}
	if got := randomName(zero, func(n string) bool { return taken[n] }); got != "brisk_albatross3" {
		t.Errorf("randomName = %q, want brisk_albatross3", got)
	}
	if err := validateName(randomName(func(n int) int { return n - 1 }, func(string) bool { return false })); err != nil {
		t.Errorf("generated names must be valid service names: %v", err)
	}
}

func TestServiceUpdateRollbackAndRemove(t *testing.T) {
	h := newHarness(t, 1)
	m, cert := h.managers[0], h.clientCert()
	cli := h.docker(m, cert)
	ctx := context.Background()
	resp, err := cli.ServiceCreate(ctx, minimalSpec("web", "nginx:1"), swarm.ServiceCreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	svc, _, err := cli.ServiceInspectWithRaw(ctx, "web", swarm.ServiceInspectOptions{InsertDefaults: true})
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	v1 := svc.Version

	// `docker service update --image nginx:2 web`
	spec := svc.Spec
	spec.TaskTemplate.ContainerSpec.Image = "nginx:2"
	up, err := cli.ServiceUpdate(ctx, resp.ID, v1, spec, swarm.ServiceUpdateOptions{RegistryAuthFrom: swarm.RegistryAuthFromSpec})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if len(up.Warnings) != 0 {
		t.Errorf("warnings %q", up.Warnings)
	}
	svc, _, _ = cli.ServiceInspectWithRaw(ctx, "web", swarm.ServiceInspectOptions{})
	if svc.Spec.TaskTemplate.ContainerSpec.Image != "nginx:2" || svc.PreviousSpec == nil || svc.PreviousSpec.TaskTemplate.ContainerSpec.Image != "nginx:1" {
		t.Fatalf("after update: spec %v previous %v", svc.Spec.TaskTemplate.ContainerSpec, svc.PreviousSpec)
	}
	if svc.UpdateStatus != nil {
		t.Errorf("an update resets the update status: %+v", svc.UpdateStatus)
	}
	if svc.Version.Index <= v1.Index || !svc.UpdatedAt.After(svc.CreatedAt) {
		t.Errorf("version %d (was %d), created %v updated %v", svc.Version.Index, v1.Index, svc.CreatedAt, svc.UpdatedAt)
	}

	// The same stale version again: Swarm's "update out of sequence".
	_, err = cli.ServiceUpdate(ctx, resp.ID, v1, spec, swarm.ServiceUpdateOptions{})
	wantErr(t, err, "rpc error: code = Unknown desc = update out of sequence")
	if !strings.Contains(err.Error(), "update out of sequence") {
		t.Fatal(err)
	}
	status, body, _ := h.raw(m, cert, "POST", "/services/web/update?version=1", minimalSpec("web", "nginx:3"))
	wantError(t, status, body, http.StatusConflict, "update out of sequence")

	// `docker service rollback web`
	_, err = cli.ServiceUpdate(ctx, resp.ID, svc.Version, svc.Spec, swarm.ServiceUpdateOptions{Rollback: "previous"})
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	svc, _, _ = cli.ServiceInspectWithRaw(ctx, "web", swarm.ServiceInspectOptions{})
	if svc.Spec.TaskTemplate.ContainerSpec.Image != "nginx:1" || svc.PreviousSpec.TaskTemplate.ContainerSpec.Image != "nginx:2" {
		t.Errorf("rollback did not swap: spec %s previous %s", svc.Spec.TaskTemplate.ContainerSpec.Image, svc.PreviousSpec.TaskTemplate.ContainerSpec.Image)
	}
	us := svc.UpdateStatus
	if us == nil || us.State != swarm.UpdateStateRollbackStarted || us.Message != "manually requested rollback" || us.StartedAt == nil || !us.StartedAt.Equal(h.now) {
		t.Errorf("update status after rollback: %+v", us)
	}

	// Refusals on update.
	v := svc.Version.Index
	updates := []struct {
		name, query string
		spec        swarm.ServiceSpec
		status      int
		msg         string
	}{
		{"rename", "", minimalSpec("web2", "nginx:1"), 501, "rpc error: code = Unimplemented desc = renaming services is not supported"},
		{"mode change", "", func() swarm.ServiceSpec {
			s := minimalSpec("web", "nginx:1")
			s.Mode.Global = &swarm.GlobalService{}
			return s
		}(), 501, "rpc error: code = Unimplemented desc = service mode change is not allowed"},
		{"bad rollback", "&rollback=sideways", minimalSpec("web", "nginx:1"), 400, "unrecognized rollback option sideways"},
		{"bad auth source", "&registryAuthFrom=elsewhere", minimalSpec("web", "nginx:1"), 400, "invalid registryAuthFrom 'elsewhere'"},
		{"invalid spec", "", minimalSpec("web", ""), 400, "image reference must be provided"},
	}
	for _, u := range updates {
		status, body, _ := h.raw(m, cert, "POST", "/v1.41/services/web/update?version="+itoa(v)+u.query, u.spec)
		t.Run(u.name, func(t *testing.T) { wantError(t, status, body, u.status, u.msg) })
	}
	status, body, _ = h.raw(m, cert, "POST", "/v1.41/services/web/update", minimalSpec("web", "nginx:1"))
	wantError(t, status, body, 400, "invalid service version '': strconv.ParseUint")

	// A service never updated has no previous spec to roll back to.
	if _, err := cli.ServiceCreate(ctx, minimalSpec("fresh", "busybox"), swarm.ServiceCreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fresh, _, _ := cli.ServiceInspectWithRaw(ctx, "fresh", swarm.ServiceInspectOptions{})
	_, err = cli.ServiceUpdate(ctx, fresh.ID, fresh.Version, fresh.Spec, swarm.ServiceUpdateOptions{Rollback: "previous"})
	wantErr(t, err, "rpc error: code = FailedPrecondition desc = service "+fresh.ID+" does not have a previous spec")

	// Remove, then it is gone.
	if err := cli.ServiceRemove(ctx, "web"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	_, _, err = cli.ServiceInspectWithRaw(ctx, "web", swarm.ServiceInspectOptions{})
	wantErr(t, err, "service web not found")
	status, body, _ = h.raw(m, cert, "GET", "/v1.41/services/web", nil)
	wantError(t, status, body, http.StatusNotFound, "service web not found")
	wantErr(t, cli.ServiceRemove(ctx, "web"), "service web not found")
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func TestServiceListFiltersAndStatus(t *testing.T) {
	h := newHarness(t, 1)
	m, cert := h.managers[0], h.clientCert()
	cli := h.docker(m, cert)
	ctx := context.Background()
	web := minimalSpec("shop_web", "nginx")
	web.Labels = map[string]string{"com.docker.stack.namespace": "shop", "tier": "front"}
	web.Mode.Replicated = &swarm.ReplicatedService{Replicas: ptr(uint64(3))}
	db := minimalSpec("shop_db", "postgres")
	db.Labels = map[string]string{"com.docker.stack.namespace": "shop"}
	agent := minimalSpec("agent", "busybox")
	agent.Mode.Global = &swarm.GlobalService{}
	ids := map[string]string{}
	for _, s := range []swarm.ServiceSpec{web, db, agent} {
		r, err := cli.ServiceCreate(ctx, s, swarm.ServiceCreateOptions{})
		if err != nil {
			t.Fatalf("create %s: %v", s.Name, err)
		}
		ids[s.Name] = r.ID
	}
	node := h.managers[0].id
	task := func(svc string, slot int, desired, state swarm.TaskState) *swarm.Task {
		return &swarm.Task{ID: store.NewID(), ServiceID: ids[svc], Slot: slot, NodeID: node, DesiredState: desired,
			Status: swarm.TaskStatus{State: state}}
	}
	h.propose(
		store.Create(task("shop_web", 1, swarm.TaskStateRunning, swarm.TaskStateRunning)),
		store.Create(task("shop_web", 2, swarm.TaskStateRunning, swarm.TaskStateRunning)),
		store.Create(task("shop_web", 3, swarm.TaskStateRunning, swarm.TaskStatePending)),
		store.Create(task("shop_web", 1, swarm.TaskStateShutdown, swarm.TaskStateShutdown)),
		store.Create(task("agent", 0, swarm.TaskStateRunning, swarm.TaskStateRunning)),
	)

	list := func(args filters.Args, status bool) map[string]*swarm.ServiceStatus {
		t.Helper()
		svcs, err := cli.ServiceList(ctx, swarm.ServiceListOptions{Filters: args, Status: status})
		if err != nil {
			t.Fatalf("list %v: %v", args, err)
		}
		out := map[string]*swarm.ServiceStatus{}
		for _, s := range svcs {
			out[s.Spec.Name] = s.ServiceStatus
		}
		return out
	}
	all := list(filters.NewArgs(), true)
	if len(all) != 3 {
		t.Fatalf("list: %v", all)
	}
	if st := all["shop_web"]; st == nil || st.RunningTasks != 2 || st.DesiredTasks != 3 {
		t.Errorf("shop_web status %+v, want 2/3", st)
	}
	if st := all["agent"]; st == nil || st.RunningTasks != 1 || st.DesiredTasks != 1 {
		t.Errorf("agent status %+v, want 1/1", st)
	}
	if st := all["shop_db"]; st == nil || st.RunningTasks != 0 || st.DesiredTasks != 1 {
		t.Errorf("shop_db status %+v, want 0/1", st)
	}
	if st := list(filters.NewArgs(), false)["shop_web"]; st != nil {
		t.Errorf("status without status=true: %+v", st)
	}
	for _, c := range []struct {
		args filters.Args
		want string
	}{
		{filters.NewArgs(filters.Arg("name", "shop")), "shop_db shop_web"},
		{filters.NewArgs(filters.Arg("name", "shop_w")), "shop_web"},
		{filters.NewArgs(filters.Arg("id", ids["agent"][:6])), "agent"},
		{filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace=shop")), "shop_db shop_web"},
		{filters.NewArgs(filters.Arg("label", "tier")), "shop_web"},
		{filters.NewArgs(filters.Arg("label", "tier=back")), ""},
		{filters.NewArgs(filters.Arg("mode", "global")), "agent"},
		{filters.NewArgs(filters.Arg("mode", "replicated")), "shop_db shop_web"},
		{filters.NewArgs(filters.Arg("name", "shop"), filters.Arg("label", "tier")), "shop_web"},
	} {
		if got := names(list(c.args, false)); got != c.want {
			t.Errorf("filter %v: got %q, want %q", c.args, got, c.want)
		}
	}
	status, body, _ := h.raw(m, cert, "GET", `/v1.41/services?filters={"bogus":{"x":true}}`, nil)
	wantError(t, status, body, 400, "invalid filter 'bogus'")
	status, body, _ = h.raw(m, cert, "GET", `/v1.41/services?filters=notjson`, nil)
	wantError(t, status, body, 400, "invalid filter")
	status, body, _ = h.raw(m, cert, "GET", `/v1.41/services?status=maybe`, nil)
	wantError(t, status, body, 400, "invalid value for status: maybe")
	// Before API 1.41 the status parameter does not exist.
	status, body, _ = h.raw(m, cert, "GET", `/v1.40/services?status=true`, nil)
	if status != 200 || strings.Contains(string(body), "ServiceStatus") {
		t.Errorf("v1.40 list with status: %d %s", status, body)
	}
}

func names(m map[string]*swarm.ServiceStatus) string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func TestServiceReferencesAndPorts(t *testing.T) {
	h := newHarness(t, 1)
	m, cert := h.managers[0], h.clientCert()
	cli := h.docker(m, cert)
	ctx := context.Background()
	nw, err := cli.NetworkCreate(ctx, "backend", network.CreateOptions{Driver: "overlay"})
	if err != nil {
		t.Fatalf("network: %v", err)
	}
	sec, err := cli.SecretCreate(ctx, swarm.SecretSpec{Annotations: swarm.Annotations{Name: "pw"}, Data: []byte("hunter2")})
	if err != nil {
		t.Fatalf("secret: %v", err)
	}
	spec := minimalSpec("api", "busybox")
	spec.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: "backend"}}
	spec.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{{SecretID: sec.ID, SecretName: "pw", File: &swarm.SecretReferenceFileTarget{Name: "pw", UID: "0", GID: "0", Mode: 0o444}}}
	spec.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 80}, {TargetPort: 443}, {TargetPort: 53, Protocol: "udp"}, {TargetPort: 22, PublishMode: "host"}}}
	if _, err := cli.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{EncodedRegistryAuth: "e30="}); err != nil {
		t.Fatalf("create: %v", err)
	}
	svc, _, _ := cli.ServiceInspectWithRaw(ctx, "api", swarm.ServiceInspectOptions{})
	if got := svc.Spec.TaskTemplate.Networks[0].Target; got != nw.ID {
		t.Errorf("network target %q, want the ID %s", got, nw.ID)
	}
	var published []string
	for _, p := range svc.Endpoint.Ports {
		published = append(published, string(p.Protocol)+"/"+itoa(uint64(p.TargetPort))+"->"+itoa(uint64(p.PublishedPort))+"/"+string(p.PublishMode))
	}
	if got := strings.Join(published, " "); got != "tcp/80->30000/ingress tcp/443->30001/ingress udp/53->30000/ingress tcp/22->0/host" {
		t.Errorf("allocated ports: %s", got)
	}
	// Another service takes the next free ports, and an update keeps the
	// ports already chosen.
	other := minimalSpec("other", "busybox")
	other.EndpointSpec = &swarm.EndpointSpec{Ports: []swarm.PortConfig{{TargetPort: 8080}}}
	if _, err := cli.ServiceCreate(ctx, other, swarm.ServiceCreateOptions{}); err != nil {
		t.Fatal(err)
	}
	o, _, _ := cli.ServiceInspectWithRaw(ctx, "other", swarm.ServiceInspectOptions{})
	if o.Endpoint.Ports[0].PublishedPort != 30002 {
		t.Errorf("second service got port %d, want 30002", o.Endpoint.Ports[0].PublishedPort)
	}
	svc.Spec.TaskTemplate.ContainerSpec.Image = "busybox:2"
	if _, err := cli.ServiceUpdate(ctx, svc.ID, svc.Version, svc.Spec, swarm.ServiceUpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc2, _, _ := cli.ServiceInspectWithRaw(ctx, "api", swarm.ServiceInspectOptions{})
	if svc2.Endpoint.Ports[0].PublishedPort != 30000 || svc2.Endpoint.Ports[1].PublishedPort != 30001 {
		t.Errorf("update moved published ports: %+v", svc2.Endpoint.Ports)
	}
	// Ambiguous prefixes are refused as the daemon refuses them.
	h.propose(store.Create(&swarm.Service{ID: "zz1" + store.NewID()[3:], Spec: minimalSpec("z1", "a")}),
		store.Create(&swarm.Service{ID: "zz2" + store.NewID()[3:], Spec: minimalSpec("z2", "a")}))
	status, body, _ := h.raw(m, cert, "GET", "/services/zz", nil)
	wantError(t, status, body, 400, "service zz is ambiguous (2 matches found)")
}

func TestJobServiceStartsItsFirstIteration(t *testing.T) {
	h := newHarness(t, 1)
	m, cert := h.managers[0], h.clientCert()
	spec := minimalSpec("migrate", "busybox")
	spec.Mode.ReplicatedJob = &swarm.ReplicatedJob{}
	spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{}
	spec.TaskTemplate.ContainerSpec.Isolation = container.Isolation("bogus")
	status, body, _ := h.raw(m, cert, "POST", "/services/create", spec)
	if status != http.StatusCreated {
		t.Fatalf("create job: %d %s", status, body)
	}
	svc, _, err := h.docker(m, cert).ServiceInspectWithRaw(context.Background(), "migrate", swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j := svc.Spec.Mode.ReplicatedJob
	if j == nil || j.MaxConcurrent == nil || *j.MaxConcurrent != 1 || *j.TotalCompletions != 1 {
		t.Errorf("job mode %+v", j)
	}
	if svc.JobStatus == nil || !svc.JobStatus.LastExecution.Equal(h.now) {
		t.Errorf("job status %+v", svc.JobStatus)
	}
	rp := svc.Spec.TaskTemplate.RestartPolicy
	if rp.Condition != swarm.RestartPolicyConditionAny || rp.MaxAttempts == nil || *rp.MaxAttempts != 0 {
		t.Errorf("restart policy %+v", rp)
	}
	if svc.Spec.TaskTemplate.ContainerSpec.Isolation != container.IsolationDefault {
		t.Errorf("isolation %q", svc.Spec.TaskTemplate.ContainerSpec.Isolation)
	}
}
