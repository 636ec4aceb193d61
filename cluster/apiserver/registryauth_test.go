package apiserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"testing"

	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

func TestRegistryAuthIsSealedKeptAndHidden(t *testing.T) {
	h := newHarness(t, 1)
	m := h.managers[0]
	cli := h.docker(m, h.clientCert())
	ctx := context.Background()
	const creds = "eyJ1c2VybmFtZSI6InUiLCJwYXNzd29yZCI6InAifQ==" // {"username":"u","password":"p"}
	spec := minimalSpec("web", "registry.example/web:1")
	spec.Labels = map[string]string{api.LabelRegistryAuth: "forged", "team": "a"}
	created, err := cli.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{EncodedRegistryAuth: creds})
	if err != nil {
		t.Fatal(err)
	}
	stored := func() string {
		var label string
		m.store.View(func(tx store.ReadTx) error {
			svc, err := tx.Service(created.ID)
			if err == nil {
				label = svc.Spec.Labels[api.LabelRegistryAuth]
			}
			return err
		})
		return label
	}
	opened := func(label string) string {
		raw, err := base64.StdEncoding.DecodeString(label)
		if err != nil || !bytes.HasPrefix(raw, []byte("sealed:")) {
			t.Fatalf("stored credentials %q are not sealed", label)
		}
		sealed, _ := xorSealer{}.Seal(raw[len("sealed:"):]) // xor undoes itself
		return string(sealed[len("sealed:"):])
	}
	if got := opened(stored()); got != creds {
		t.Fatalf("the store keeps credentials %q, want the header's %q", got, creds)
	}
	// Never shown, not in an inspect nor a list; the user's labels stay.
	svc, raw, err := cli.ServiceInspectWithRaw(ctx, "web", swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(api.LabelRegistryAuth)) || svc.Spec.Labels["team"] != "a" {
		t.Errorf("inspect shows %s", raw)
	}
	list, err := cli.ServiceList(ctx, swarm.ServiceListOptions{})
	if err != nil || len(list) != 1 || list[0].Spec.Labels[api.LabelRegistryAuth] != "" {
		t.Errorf("list: %v %+v", err, list)
	}
	if stored() == "" {
		t.Fatal("showing the service dropped the stored credentials")
	}

	// An update without credentials keeps them; one with new ones
	// replaces them.
	svc.Spec.Labels["team"] = "b"
	if _, err := cli.ServiceUpdate(ctx, svc.ID, svc.Version, svc.Spec, swarm.ServiceUpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := opened(stored()); got != creds {
		t.Errorf("after an update without credentials the store keeps %q, want %q", got, creds)
	}
	svc, _, _ = cli.ServiceInspectWithRaw(ctx, "web", swarm.ServiceInspectOptions{})
	const other = "eyJ1c2VybmFtZSI6InYifQ=="
	if _, err := cli.ServiceUpdate(ctx, svc.ID, svc.Version, svc.Spec, swarm.ServiceUpdateOptions{EncodedRegistryAuth: other}); err != nil {
		t.Fatal(err)
	}
	if got := opened(stored()); got != other {
		t.Errorf("after an update with new credentials the store keeps %q, want %q", got, other)
	}
}

// A rollback keeps the credentials of the spec it returns to: done by the
// server (rollback=previous, as `docker service rollback` asks), the
// previous spec comes back whole; done by the client (what the CLI did
// before API 1.28: the previous spec sent as new, with
// registryAuthFrom=previous-spec), the credentials come from the previous
// spec, as the daemon takes them.
func TestRollbackKeepsThePreviousSpecsRegistryAuth(t *testing.T) {
	h := newHarness(t, 1)
	m := h.managers[0]
	cli := h.docker(m, h.clientCert())
	ctx := context.Background()
	const credsA, credsB = "eyJ1c2VybmFtZSI6ImEifQ==", "eyJ1c2VybmFtZSI6ImIifQ=="
	created, err := cli.ServiceCreate(ctx, minimalSpec("web", "registry.example/web:1"), swarm.ServiceCreateOptions{EncodedRegistryAuth: credsA})
	if err != nil {
		t.Fatal(err)
	}
	stored := func() (spec, previous string) {
		t.Helper()
		m.store.View(func(tx store.ReadTx) error {
			svc, err := tx.Service(created.ID)
			if err != nil {
				return err
			}
			spec = svc.Spec.Labels[api.LabelRegistryAuth]
			if svc.PreviousSpec != nil {
				previous = svc.PreviousSpec.Labels[api.LabelRegistryAuth]
			}
			return nil
		})
		return spec, previous
	}
	sealedA, _ := stored()
	svc, _, _ := cli.ServiceInspectWithRaw(ctx, "web", swarm.ServiceInspectOptions{})
	svc.Spec.TaskTemplate.ContainerSpec.Image = "registry.example/web:2"
	if _, err := cli.ServiceUpdate(ctx, svc.ID, svc.Version, svc.Spec, swarm.ServiceUpdateOptions{EncodedRegistryAuth: credsB}); err != nil {
		t.Fatal(err)
	}
	sealedB, prev := stored()
	if sealedB == sealedA || prev != sealedA {
		t.Fatalf("after an update with new credentials: spec %q, previous %q (first %q)", sealedB, prev, sealedA)
	}

	// Client-side: the previous spec (as the API shows it, without
	// credentials) sent as the new one.
	svc, _, _ = cli.ServiceInspectWithRaw(ctx, "web", swarm.ServiceInspectOptions{})
	if _, err := cli.ServiceUpdate(ctx, svc.ID, svc.Version, *svc.PreviousSpec, swarm.ServiceUpdateOptions{RegistryAuthFrom: swarm.RegistryAuthFromPreviousSpec}); err != nil {
		t.Fatal(err)
	}
	if spec, _ := stored(); spec != sealedA {
		t.Errorf("client-side rollback keeps %q, want the previous spec's %q", spec, sealedA)
	}

	// Server-side: the specs swap, credentials and all.
	svc, _, _ = cli.ServiceInspectWithRaw(ctx, "web", swarm.ServiceInspectOptions{})
	if _, err := cli.ServiceUpdate(ctx, svc.ID, svc.Version, svc.Spec, swarm.ServiceUpdateOptions{Rollback: "previous"}); err != nil {
		t.Fatal(err)
	}
	if spec, previous := stored(); spec != sealedB || previous != sealedA {
		t.Errorf("server-side rollback: spec %q, previous %q; want %q and %q", spec, previous, sealedB, sealedA)
	}
}
