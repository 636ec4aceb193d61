package apiserver

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

func TestNetworks(t *testing.T) {
	h := newHarness(t, 1)
	m, cert := h.managers[0], h.clientCert()
	cli := h.docker(m, cert)
	ctx := context.Background()

	// What `docker network create -d overlay --attachable --label a=b
	// front` sends (docker CLI 28).
	body := `{"Driver":"overlay","Scope":"","IPAM":{"Driver":"default","Options":{},"Config":[]},"Internal":false,"Attachable":true,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{},"Labels":{"a":"b"},"Name":"front","CheckDuplicate":true}`
	status, raw, _ := h.raw(m, cert, "POST", "/v1.41/networks/create", body)
	if status != http.StatusCreated || !strings.Contains(string(raw), `"Warning":""`) {
		t.Fatalf("create: %d %s", status, raw)
	}
	front, err := cli.NetworkInspect(ctx, "front", network.InspectOptions{})
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	if front.Driver != "overlay" || front.Scope != "swarm" || !front.Attachable || front.Labels["a"] != "b" || front.IPAM.Driver != "default" || front.Created.IsZero() {
		t.Errorf("network: %+v", front)
	}
	_, err = cli.NetworkCreate(ctx, "back", network.CreateOptions{Driver: "overlay", Internal: true,
		IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: "10.20.0.0/24", Gateway: "10.20.0.1"}}}})
	if err != nil {
		t.Fatalf("create with subnet: %v", err)
	}

	refusals := []struct {
		name   string
		opts   network.CreateOptions
		status int
		msg    string
	}{
		{"front", network.CreateOptions{Driver: "overlay"}, 409, "network with name front already exists"},
		{"local", network.CreateOptions{Driver: "bridge"}, 400, `swarmops networks use the overlay driver; "bridge" networks`},
		{"bridge", network.CreateOptions{Driver: "overlay"}, 403, "bridge is a pre-defined network and cannot be created"},
		{"bad name!", network.CreateOptions{Driver: "overlay"}, 400, "name must be valid as a DNS name component"},
		{"ing", network.CreateOptions{Driver: "overlay", Ingress: true}, 400, "swarmops manages the ingress network itself"},
		{"n1", network.CreateOptions{IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: "10.99.0.0/33"}}}}, 400, "ipam configuration: invalid subnet 10.99.0.0/33"},
		{"n2", network.CreateOptions{IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: "10.99.0.0/24", Gateway: "10.98.0.1"}}}}, 400,
			"ipam configuration: subnet 10.99.0.0/24 does not contain gateway 10.98.0.1"},
		{"n3", network.CreateOptions{Scope: "local"}, 400, `scope "local" cannot be created`},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			status, raw, _ := h.raw(m, cert, "POST", "/v1.41/networks/create", network.CreateRequest{Name: r.name, CreateOptions: r.opts})
			wantError(t, status, raw, r.status, r.msg)
		})
	}

	s := minimalSpec("api", "busybox")
	s.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: "back"}}
	if _, err := cli.ServiceCreate(ctx, s, swarm.ServiceCreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args filters.Args
		want string
	}{
		{filters.NewArgs(), "back front"},
		{filters.NewArgs(filters.Arg("name", "ron")), "front"},
		{filters.NewArgs(filters.Arg("driver", "overlay")), "back front"},
		{filters.NewArgs(filters.Arg("driver", "bridge")), ""},
		{filters.NewArgs(filters.Arg("label", "a=b")), "front"},
		{filters.NewArgs(filters.Arg("scope", "swarm")), "back front"},
		{filters.NewArgs(filters.Arg("type", "custom")), "back front"},
		{filters.NewArgs(filters.Arg("type", "builtin")), ""},
		{filters.NewArgs(filters.Arg("dangling", "true")), "front"},
		{filters.NewArgs(filters.Arg("dangling", "false")), "back"},
		{filters.NewArgs(filters.Arg("id", front.ID[:5])), "front"},
	} {
		list, err := cli.NetworkList(ctx, network.ListOptions{Filters: c.args})
		if err != nil {
			t.Fatalf("list %v: %v", c.args, err)
		}
		var got []string
		for _, n := range list {
			got = append(got, n.Name)
		}
		if strings.Join(slices.Sorted(slices.Values(got)), " ") != c.want {
			t.Errorf("filter %v: %q, want %q", c.args, got, c.want)
		}
	}
	_, err = cli.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("dangling", "maybe"))})
	wantErr(t, err, `invalid value for filter 'dangling'`)

	back, _ := cli.NetworkInspect(ctx, "back", network.InspectOptions{})
	svc, _, _ := cli.ServiceInspectWithRaw(ctx, "api", swarm.ServiceInspectOptions{})
	wantErr(t, cli.NetworkRemove(ctx, "back"), "rpc error: code = FailedPrecondition desc = network "+back.ID+" is in use by service "+svc.ID)
	status, raw, _ = h.raw(m, cert, "DELETE", "/networks/front", nil)
	if status != http.StatusNoContent {
		t.Errorf("remove: %d %s", status, raw)
	}
	wantErr(t, cli.NetworkRemove(ctx, "front"), "network front not found")
	_, err = cli.NetworkInspect(ctx, "front", network.InspectOptions{})
	wantErr(t, err, "network front not found")
}
