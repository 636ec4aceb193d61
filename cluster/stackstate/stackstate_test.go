package stackstate

import (
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/cluster/store"
)

func TestStackReadsWhatGitWouldWrite(t *testing.T) {
	st := store.New()
	ns := map[string]string{api.LabelNamespace: "shop"}
	nw := &network.Inspect{ID: "net1", Name: "shop_default", Driver: "overlay", Scope: "swarm", Labels: ns}
	svc := &swarm.Service{ID: "svc1"}
	svc.Spec.Name = "shop_web"
	svc.Spec.Labels = map[string]string{api.LabelNamespace: "shop", api.LabelRegistryAuth: "sealed"}
	svc.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "web:1"}
	svc.Spec.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: "net1", Aliases: []string{"web"}}}
	sec := &swarm.Secret{ID: "sec1", Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "shop_pw-0123456789", Labels: ns}, Data: []byte("sealed")}}
	other := &swarm.Service{ID: "svc2"}
	other.Spec.Name = "lonely"
	data, err := store.EncodeBatch(store.Create(nw), store.Create(sec), store.Create(svc), store.Create(other))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(1, time.Now(), data); err != nil {
		t.Fatal(err)
	}
	var all map[string]*api.StackSpec
	if err := st.View(func(tx store.ReadTx) (err error) { all, err = All(tx); return err }); err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all["shop"] == nil {
		t.Fatalf("All = %v, want exactly stack shop (a service without a stack label is no stack)", all)
	}
	shop := all["shop"]
	web, ok := shop.Services["shop_web"]
	if !ok {
		t.Fatalf("services = %v", shop.Services)
	}
	if got := web.TaskTemplate.Networks[0].Target; got != "shop_default" {
		t.Errorf("network target = %q, want the network's name as a stack file writes it", got)
	}
	if _, ok := web.Labels[api.LabelRegistryAuth]; ok {
		t.Errorf("the sealed registry credentials label is the cluster's, not git's: %v", web.Labels)
	}
	_ = st.View(func(tx store.ReadTx) error {
		if stored, err := tx.Service("svc1"); err != nil || stored.Spec.Labels[api.LabelRegistryAuth] != "sealed" {
			t.Errorf("reading the stack changed the stored service: %+v, %v", stored, err)
		}
		return nil
	})
	if s, ok := shop.Secrets["shop_pw-0123456789"]; !ok || s.Data != nil {
		t.Errorf("secrets = %+v, want the secret without its data", shop.Secrets)
	}
	if n, ok := shop.Networks["shop_default"]; !ok || n.Driver != "overlay" || n.Scope != "swarm" {
		t.Errorf("networks = %+v", shop.Networks)
	}
}
