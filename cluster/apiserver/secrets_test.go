package apiserver

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/cluster/store"
)

func TestSecretDataNeverLeavesInPlaintext(t *testing.T) {
	h := newHarness(t, 2)
	leader, follower := h.managers[0], h.managers[1]
	cert := h.clientCert()
	plain := []byte("correct horse battery staple")
	ctx := context.Background()
	// Through the follower: the body is forwarded, the leader seals.
	resp, err := h.docker(follower, cert).SecretCreate(ctx, swarm.SecretSpec{Annotations: swarm.Annotations{Name: "db_password"}, Data: plain})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	h.c.mu.Lock()
	for i, p := range h.c.proposals {
		if bytes.Contains(p, plain) || bytes.Contains(p, []byte("Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ")) {
			t.Errorf("proposal %d carries the secret in plaintext: %s", i, p)
		}
	}
	h.c.mu.Unlock()
	for _, m := range []*manager{leader, follower} {
		var stored swarm.Secret
		if err := m.store.View(func(tx store.ReadTx) error {
			s, err := tx.Secret(resp.ID)
			if err == nil {
				stored = *s
			}
			return err
		}); err != nil {
			t.Fatalf("%s: %v", m.id, err)
		}
		want, _ := xorSealer{}.Seal(plain)
		if !bytes.Equal(stored.Spec.Data, want) {
			t.Errorf("%s stores %q, want the sealed data", m.id, stored.Spec.Data)
		}
	}
	for _, m := range []*manager{leader, follower} {
		cli := h.docker(m, cert)
		sec, raw, err := cli.SecretInspectWithRaw(ctx, "db_password")
		if err != nil {
			t.Fatalf("inspect: %v", err)
		}
		if sec.Spec.Data != nil || bytes.Contains(raw, []byte(`"Data"`)) {
			t.Errorf("inspect returns data: %s", raw)
		}
		list, err := cli.SecretList(ctx, swarm.SecretListOptions{})
		if err != nil || len(list) != 1 || list[0].Spec.Data != nil || list[0].Spec.Labels == nil {
			t.Errorf("list: %v %+v", err, list)
		}
	}
}

func TestSecretRules(t *testing.T) {
	h := newHarness(t, 1)
	m, cert := h.managers[0], h.clientCert()
	cli := h.docker(m, cert)
	ctx := context.Background()
	mk := func(name string, data []byte, labels map[string]string) error {
		_, err := cli.SecretCreate(ctx, swarm.SecretSpec{Annotations: swarm.Annotations{Name: name, Labels: labels}, Data: data})
		return err
	}
	if err := mk("app_key", []byte("k"), map[string]string{"com.docker.stack.namespace": "app"}); err != nil {
		t.Fatal(err)
	}
	if err := mk("app_cert", []byte("c"), nil); err != nil {
		t.Fatal(err)
	}
	if err := mk("other", []byte("o"), nil); err != nil {
		t.Fatal(err)
	}
	wantErr(t, mk("app_key", []byte("x"), nil), "rpc error: code = AlreadyExists desc = secret app_key already exists")
	wantErr(t, mk("-bad", []byte("x"), nil), "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]")
	wantErr(t, mk("", []byte("x"), nil), "rpc error: code = InvalidArgument desc = name must be provided")
	wantErr(t, mk("empty", nil, nil), "secret data must be larger than 0 and less than 512000 bytes")
	wantErr(t, mk("huge", bytes.Repeat([]byte("x"), 512000), nil), "secret data must be larger than 0 and less than 512000 bytes")
	_, err := cli.SecretCreate(ctx, swarm.SecretSpec{Annotations: swarm.Annotations{Name: "vault"}, Data: []byte("x"), Driver: &swarm.Driver{Name: "vault"}})
	wantErr(t, err, `secret driver "vault" is not available`)

	for _, c := range []struct {
		args filters.Args
		want string
	}{
		{filters.NewArgs(filters.Arg("name", "app")), "app_cert app_key"},
		{filters.NewArgs(filters.Arg("names", "app")), ""},
		{filters.NewArgs(filters.Arg("names", "app_key")), "app_key"},
		{filters.NewArgs(filters.Arg("names", "app_key"), filters.Arg("name", "oth")), "app_key other"},
		{filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace=app")), "app_key"},
	} {
		list, err := cli.SecretList(ctx, swarm.SecretListOptions{Filters: c.args})
		if err != nil {
			t.Fatalf("list %v: %v", c.args, err)
		}
		var got []string
		for _, s := range list {
			got = append(got, s.Spec.Name)
		}
		if strings.Join(slices.Sorted(slices.Values(got)), " ") != c.want {
			t.Errorf("filter %v: %q, want %q", c.args, got, c.want)
		}
	}

	sec, _, _ := cli.SecretInspectWithRaw(ctx, "app_cert")
	// Labels may change; name and data may not.
	spec := sec.Spec
	spec.Labels = map[string]string{"rotated": "no"}
	if err := cli.SecretUpdate(ctx, sec.ID, sec.Version, spec); err != nil {
		t.Fatalf("update labels: %v", err)
	}
	after, _, _ := cli.SecretInspectWithRaw(ctx, "app_cert")
	if after.Spec.Labels["rotated"] != "no" {
		t.Errorf("labels after update: %v", after.Spec.Labels)
	}
	wantErr(t, cli.SecretUpdate(ctx, sec.ID, sec.Version, spec), "update out of sequence")
	spec.Data = []byte("new")
	wantErr(t, cli.SecretUpdate(ctx, sec.ID, after.Version, spec), "rpc error: code = InvalidArgument desc = only updates to Labels are allowed")
	spec.Data, spec.Name = nil, "renamed"
	wantErr(t, cli.SecretUpdate(ctx, sec.ID, after.Version, spec), "only updates to Labels are allowed")
	status, body, _ := h.raw(m, cert, "POST", "/secrets/app_cert/update?version=", spec)
	wantError(t, status, body, 400, "invalid secret version")

	// In use: removal refused, naming every service.
	key, _, _ := cli.SecretInspectWithRaw(ctx, "app_key")
	for _, name := range []string{"api", "worker"} {
		s := minimalSpec(name, "busybox")
		s.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{{SecretID: key.ID, SecretName: "app_key", File: &swarm.SecretReferenceFileTarget{Name: "key"}}}
		if _, err := cli.ServiceCreate(ctx, s, swarm.ServiceCreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, cli.SecretRemove(ctx, "app_key"), "rpc error: code = InvalidArgument desc = secret 'app_key' is in use by the following services: api, worker")
	if err := cli.ServiceRemove(ctx, "worker"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, cli.SecretRemove(ctx, "app_key"), "secret 'app_key' is in use by the following service: api")
	status, body, _ = h.raw(m, cert, "DELETE", "/v1.41/secrets/app_key", nil)
	wantError(t, status, body, http.StatusBadRequest, "is in use")

	status, _, _ = h.raw(m, cert, "DELETE", "/v1.41/secrets/other", nil)
	if status != http.StatusNoContent {
		t.Errorf("remove: %d, want 204", status)
	}
	wantErr(t, cli.SecretRemove(ctx, "other"), "secret other not found")
	_, _, err = cli.SecretInspectWithRaw(ctx, "other")
	wantErr(t, err, "secret other not found")
}

func TestConfigRules(t *testing.T) {
	h := newHarness(t, 1)
	m, cert := h.managers[0], h.clientCert()
	cli := h.docker(m, cert)
	ctx := context.Background()
	resp, err := cli.ConfigCreate(ctx, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "nginx.conf"}, Data: []byte("server {}")})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	_, err = cli.ConfigCreate(ctx, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "nginx.conf"}, Data: []byte("x")})
	wantErr(t, err, "rpc error: code = AlreadyExists desc = config nginx.conf already exists")
	_, err = cli.ConfigCreate(ctx, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "big"}, Data: bytes.Repeat([]byte("x"), 1024000)})
	wantErr(t, err, "config data must be larger than 0 and less than 1024000 bytes")

	cfg, raw, err := cli.ConfigInspectWithRaw(ctx, "nginx.conf")
	if err != nil || string(cfg.Spec.Data) != "server {}" || cfg.ID != resp.ID {
		t.Fatalf("configs return their data: %v %s", err, raw)
	}
	list, err := cli.ConfigList(ctx, swarm.ConfigListOptions{Filters: filters.NewArgs(filters.Arg("name", "nginx"))})
	if err != nil || len(list) != 1 || string(list[0].Spec.Data) != "server {}" {
		t.Errorf("list: %v %+v", err, list)
	}
	_, err = cli.ConfigList(ctx, swarm.ConfigListOptions{Filters: filters.NewArgs(filters.Arg("names", "nginx.conf"))})
	wantErr(t, err, "invalid filter 'names'")

	// The same data may come back in an update; other data may not.
	spec := cfg.Spec
	spec.Labels = map[string]string{"a": "b"}
	if err := cli.ConfigUpdate(ctx, cfg.ID, cfg.Version, spec); err != nil {
		t.Fatalf("update with same data: %v", err)
	}
	cfg, _, _ = cli.ConfigInspectWithRaw(ctx, "nginx.conf")
	spec.Data = []byte("server { listen 81; }")
	wantErr(t, cli.ConfigUpdate(ctx, cfg.ID, cfg.Version, spec), "only updates to Labels are allowed")

	s := minimalSpec("web", "nginx")
	s.TaskTemplate.ContainerSpec.Configs = []*swarm.ConfigReference{{ConfigID: cfg.ID, ConfigName: "nginx.conf", File: &swarm.ConfigReferenceFileTarget{Name: "/etc/nginx/nginx.conf"}}}
	if _, err := cli.ServiceCreate(ctx, s, swarm.ServiceCreateOptions{}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, cli.ConfigRemove(ctx, "nginx.conf"), "rpc error: code = InvalidArgument desc = config 'nginx.conf' is in use by the following service: web")
	if err := cli.ServiceRemove(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if err := cli.ConfigRemove(ctx, "nginx.conf"); err != nil {
		t.Errorf("remove: %v", err)
	}
	// A service naming a config that is gone is refused.
	_, err = cli.ServiceCreate(ctx, s, swarm.ServiceCreateOptions{})
	wantErr(t, err, "rpc error: code = InvalidArgument desc = config not found: nginx.conf")
}
