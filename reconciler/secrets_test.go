package reconciler

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
)

func newIdentity(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func encrypt(t *testing.T, plain string, armored bool, to ...age.Recipient) []byte {
	t.Helper()
	var buf bytes.Buffer
	var dst io.Writer = &buf
	var aw io.WriteCloser
	if armored {
		aw = armor.NewWriter(&buf)
		dst = aw
	}
	w, err := age.Encrypt(dst, to...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if aw != nil {
		if err := aw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestParseIdentities(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	file := "# created: 2025-01-10\n# public key: " + a.Recipient().String() + "\n" + a.String() + "\r\n\n  " + b.String() + "\n"
	ids, err := ParseIdentities([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0].(*age.X25519Identity).String() != a.String() || ids[1].(*age.X25519Identity).String() != b.String() {
		t.Fatalf("ParseIdentities = %v, want the two keys in order", ids)
	}
}

func TestParseIdentitiesErrors(t *testing.T) {
	key := newIdentity(t).String()
	broken := key[:len(key)-3] + "QQQ" // a key with a bad checksum
	for _, tc := range []struct {
		name, file, want string
	}{
		{"empty", "", "holds no key; make one with age-keygen"},
		{"comments only", "# nothing\n\n", "holds no key"},
		{"bad checksum", "# key\n" + broken + "\n", "line 2: not an age secret key"},
		{"public key", "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\n", "line 1: not an age secret key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseIdentities([]byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseIdentities error = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), broken[len("AGE-SECRET-KEY-1"):]) {
				t.Fatalf("error %q shows key material", err)
			}
		})
	}
}

func TestDecryptStack(t *testing.T) {
	id := newIdentity(t)
	spec := &api.StackSpec{
		Secrets: map[string]swarm.SecretSpec{
			"shop_db":     {Annotations: swarm.Annotations{Name: "shop_db"}, Data: encrypt(t, "hunter2", false, id.Recipient())},
			"shop_api":    {Annotations: swarm.Annotations{Name: "shop_api"}, Data: append([]byte("\n"), encrypt(t, "token", true, id.Recipient())...)},
			"shop_plain":  {Annotations: swarm.Annotations{Name: "shop_plain"}, Data: []byte("not encrypted")},
			"shop_driver": {Annotations: swarm.Annotations{Name: "shop_driver"}, Data: []byte{}, Driver: &swarm.Driver{Name: "vault"}},
		},
		Configs: map[string]swarm.ConfigSpec{
			"shop_conf": {Annotations: swarm.Annotations{Name: "shop_conf"}, Data: encrypt(t, "listen 80;", true, id.Recipient())},
		},
	}
	if err := DecryptStack(spec, []age.Identity{newIdentity(t), id}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"shop_db": "hunter2", "shop_api": "token", "shop_plain": "not encrypted", "shop_driver": ""} {
		if got := string(spec.Secrets[name].Data); got != want {
			t.Errorf("secret %s = %q, want %q", name, got, want)
		}
	}
	if got := string(spec.Configs["shop_conf"].Data); got != "listen 80;" {
		t.Errorf("config shop_conf = %q, want the plaintext", got)
	}
}

func TestDecryptStackErrors(t *testing.T) {
	const plain = "correct horse battery staple"
	cluster, other := newIdentity(t), newIdentity(t)
	encrypted := encrypt(t, plain, false, other.Recipient())
	armored := encrypt(t, plain, true, other.Recipient())
	damaged := bytes.Clone(encrypt(t, plain, false, cluster.Recipient()))
	damaged[len(damaged)-1] ^= 1
	fake := []byte(armor.Header + "\n" + plain + "\n" + armor.Footer + "\n")
	for _, tc := range []struct {
		name string
		data []byte
		ids  []age.Identity
		want string
	}{
		{"no identity", encrypted, nil, "secret shop_db is encrypted with age but no identity is configured: `swarmops repo set --age-identity-file FILE`"},
		{"wrong identity", encrypted, []age.Identity{cluster}, "secret shop_db cannot be decrypted with the cluster's age identity: encrypt it to " + cluster.Recipient().String()},
		{"wrong identity, armored", armored, []age.Identity{cluster}, "encrypt it to " + cluster.Recipient().String()},
		{"damaged", damaged, []age.Identity{cluster}, "secret shop_db is a damaged age file: encrypt it again with age"},
		{"only looks encrypted", fake, []age.Identity{cluster}, "secret shop_db looks age-encrypted but is not a valid age file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &api.StackSpec{Secrets: map[string]swarm.SecretSpec{"shop_db": {Data: tc.data}}}
			err := DecryptStack(spec, tc.ids)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DecryptStack error = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "horse") {
				t.Fatalf("error %q holds the plaintext", err)
			}
			if !bytes.Equal(spec.Secrets["shop_db"].Data, tc.data) {
				t.Fatal("a secret that failed to decrypt was changed")
			}
		})
	}
}

func TestDecryptStackNamesEveryFailure(t *testing.T) {
	other := newIdentity(t)
	spec := &api.StackSpec{
		Secrets: map[string]swarm.SecretSpec{"shop_a": {Data: encrypt(t, "a", false, other.Recipient())}},
		Configs: map[string]swarm.ConfigSpec{"shop_b": {Data: encrypt(t, "b", false, other.Recipient())}},
	}
	err := DecryptStack(spec, []age.Identity{newIdentity(t)})
	var noMatch *age.NoIdentityMatchError
	if err == nil || !strings.Contains(err.Error(), "secret shop_a") || !strings.Contains(err.Error(), "config shop_b") || !errors.As(err, &noMatch) {
		t.Fatalf("DecryptStack error = %v, want both objects named and age's error wrapped", err)
	}
}

func serviceWith(secrets []string, configs []string, credentialConfig string) swarm.ServiceSpec {
	cs := &swarm.ContainerSpec{Image: "nginx"}
	for _, s := range secrets {
		cs.Secrets = append(cs.Secrets, &swarm.SecretReference{SecretName: s, File: &swarm.SecretReferenceFileTarget{Name: s}})
	}
	for _, c := range configs {
		cs.Configs = append(cs.Configs, &swarm.ConfigReference{ConfigName: c, File: &swarm.ConfigReferenceFileTarget{Name: c}})
	}
	if credentialConfig != "" {
		cs.Configs = append(cs.Configs, &swarm.ConfigReference{ConfigName: credentialConfig, Runtime: &swarm.ConfigReferenceRuntimeTarget{}})
		cs.Privileges = &swarm.Privileges{CredentialSpec: &swarm.CredentialSpec{Config: credentialConfig}}
	}
	return swarm.ServiceSpec{TaskTemplate: swarm.TaskSpec{ContainerSpec: cs}}
}

func versionTestSpec(dbPassword string) *api.StackSpec {
	return &api.StackSpec{
		Namespace: "shop",
		Secrets: map[string]swarm.SecretSpec{
			"shop_db":    {Annotations: swarm.Annotations{Name: "shop_db"}, Data: []byte(dbPassword)},
			"shop_vault": {Annotations: swarm.Annotations{Name: "shop_vault"}, Data: []byte{}, Driver: &swarm.Driver{Name: "vault"}},
		},
		Configs: map[string]swarm.ConfigSpec{
			"shop_nginx": {Annotations: swarm.Annotations{Name: "shop_nginx"}, Data: []byte("listen 80;")},
			"shop_cred":  {Annotations: swarm.Annotations{Name: "shop_cred"}, Data: []byte("{}")},
		},
		Services: map[string]swarm.ServiceSpec{
			"shop_web": serviceWith([]string{"shop_db", "shop_vault", "tls_external"}, []string{"shop_nginx", "shared_external"}, "shop_cred"),
		},
	}
}

func TestVersionNames(t *testing.T) {
	a := versionTestSpec("hunter2")
	VersionNames(a)
	db := versionedName("shop_db", []byte("hunter2"))
	if !strings.HasPrefix(db, "shop_db-") || len(db) != len("shop_db-")+10 {
		t.Fatalf("versioned name %q, want shop_db-<10 hex>", db)
	}
	if s, ok := a.Secrets[db]; !ok || s.Name != db {
		t.Fatalf("secrets = %v, want %s under its new name", keys(a.Secrets), db)
	}
	if _, ok := a.Secrets["shop_vault"]; !ok {
		t.Fatalf("secrets = %v, want the driver-backed shop_vault to keep its name", keys(a.Secrets))
	}
	if _, ok := a.Secrets["shop_db"]; ok {
		t.Fatal("the old name is still in the map")
	}
	nginx := versionedName("shop_nginx", []byte("listen 80;"))
	cred := versionedName("shop_cred", []byte("{}"))
	if c, ok := a.Configs[nginx]; !ok || c.Name != nginx {
		t.Fatalf("configs = %v, want %s", keys(a.Configs), nginx)
	}
	cs := a.Services["shop_web"].TaskTemplate.ContainerSpec
	var secretRefs, configRefs []string
	for _, r := range cs.Secrets {
		secretRefs = append(secretRefs, r.SecretName)
	}
	for _, r := range cs.Configs {
		configRefs = append(configRefs, r.ConfigName)
	}
	wantSecrets := []string{db, "shop_vault", "tls_external"}
	wantConfigs := []string{"shared_external", cred, nginx}
	if strings.Join(secretRefs, " ") != strings.Join(wantSecrets, " ") || strings.Join(configRefs, " ") != strings.Join(wantConfigs, " ") {
		t.Fatalf("refs = %v / %v, want %v / %v (renamed, external untouched, sorted)", secretRefs, configRefs, wantSecrets, wantConfigs)
	}
	if got := cs.Privileges.CredentialSpec.Config; got != cred {
		t.Fatalf("credential spec config = %q, want %q", got, cred)
	}
	if cs.Secrets[0].File.Name != "shop_db" {
		t.Fatalf("the file target changed to %q; only the object's name may", cs.Secrets[0].File.Name)
	}

	same := versionTestSpec("hunter2")
	VersionNames(same)
	if _, ok := same.Secrets[db]; !ok {
		t.Fatalf("same data gave %v, want %s again", keys(same.Secrets), db)
	}
	changed := versionTestSpec("correct horse")
	VersionNames(changed)
	newDB := versionedName("shop_db", []byte("correct horse"))
	if newDB == db {
		t.Fatal("changed data kept the name")
	}
	if _, ok := changed.Secrets[newDB]; !ok || changed.Services["shop_web"].TaskTemplate.ContainerSpec.Secrets[0].SecretName != newDB {
		t.Fatalf("changed data: secrets %v, want %s with the service following", keys(changed.Secrets), newDB)
	}
	if _, ok := changed.Configs[nginx]; !ok {
		t.Fatal("an unchanged config got a new name because a secret changed")
	}
}

func TestVersionedNameFitsSwarmsLimit(t *testing.T) {
	long := "shop_" + strings.Repeat("x", 70)
	got := versionedName(long, []byte("data"))
	want := versionedName("shop_db", []byte("data"))
	if len(got) != maxObjectName || got[len(got)-11:] != want[len(want)-11:] || !strings.HasPrefix(got, "shop_xxx") {
		t.Fatalf("versionedName = %q (%d chars), want the base cut to fit 64 with the whole digest kept", got, len(got))
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
