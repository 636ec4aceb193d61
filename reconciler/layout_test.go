package reconciler

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/stackspec"
)

func TestDiscover(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("services: {}\n")}
	fsys := fstest.MapFS{
		"stacks/shop/compose.yml":          file,
		"stacks/shop/README.md":            file,
		"stacks/auth/docker-compose.yml":   file,
		"stacks/auth/stack.yml":            file, // docker-compose.yml wins
		"stacks/team/billing/compose.yaml": file,
		"stacks/empty/notes.txt":           file,
		"stacks/.hidden/compose.yml":       file,
		"other/ignored/compose.yml":        file,
	}
	got, err := Discover(fsys, "stacks")
	if err != nil {
		t.Fatal(err)
	}
	want := []StackSource{
		{Name: "auth", Dir: "stacks/auth", Files: []string{"stacks/auth/docker-compose.yml"}},
		{Name: "billing", Dir: "stacks/team/billing", Files: []string{"stacks/team/billing/compose.yaml"}},
		{Name: "shop", Dir: "stacks/shop", Files: []string{"stacks/shop/compose.yml"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Discover:\n got %+v\nwant %+v", got, want)
	}
}

func TestDiscoverRootIsAStack(t *testing.T) {
	fsys := fstest.MapFS{"shop/compose.yml": {Data: []byte("services: {}\n")}}
	got, err := Discover(fsys, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "shop" || got[0].Files[0] != "shop/compose.yml" {
		t.Fatalf("Discover = %+v, want the root directory as stack shop", got)
	}
}

func TestDiscoverErrors(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("services: {}\n")}
	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"duplicate names", fstest.MapFS{"a/web/compose.yml": file, "b/web/compose.yml": file}, `both would be stack "web"`},
		{"invalid name", fstest.MapFS{"my stack/compose.yml": file}, `"my stack" is not a valid stack name`},
		{"missing root", fstest.MapFS{"a/compose.yml": file}, "discover stacks under nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := "."
			if tc.name == "missing root" {
				root = "nope"
			}
			_, err := Discover(tc.fsys, root)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Discover error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func composeFile() *fstest.MapFile { return &fstest.MapFile{Data: []byte("services: {}\n")} }

func yamlFile(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func TestLoadLayoutWithoutConfigIsDiscovery(t *testing.T) {
	fsys := fstest.MapFS{"stacks/shop/compose.yml": composeFile(), "stacks/auth/stack.yml": composeFile()}
	got, err := LoadLayout(fsys, "stacks")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Discover(fsys, "stacks")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, &Layout{Stacks: want}) {
		t.Fatalf("LoadLayout = %+v, want only the discovered stacks %+v", got, want)
	}
}

func TestLoadLayout(t *testing.T) {
	fsys := fstest.MapFS{
		"swarmops.yaml": yamlFile(`
allow_prune_all: true
defaults:
  self_heal: true
  prune: false
sync_windows:
  - {kind: deny, schedule: "0 22 * * *", duration: 8h, time_zone: Europe/Berlin}
stacks:
  shop:
    path: apps/shop
    files: [compose.yml, compose.prod.yml]
    env_files: [prod.env]
    prune: true
    self_heal: false
    auto_rollback: false
    rollback_stack: true
    sync_windows:
      - kind: allow
        schedule: "0 9 * * 1-5"
        duration: 90m
  auth:
    prune: true
  legacy:
    path: old/web
    files: [production.yml]
  billing:
    path: apps/invoices
`),
		"apps/shop/compose.yml":      composeFile(),
		"apps/shop/compose.prod.yml": composeFile(),
		"apps/shop/prod.env":         yamlFile("TAG=1\n"),
		"stacks/auth/compose.yml":    composeFile(),
		"stacks/web/compose.yaml":    composeFile(),
		"old/web/production.yml":     composeFile(), // not a standard name: found only through swarmops.yaml
		"apps/invoices/compose.yml":  composeFile(), // listed as billing, so not also stack "invoices"
	}
	got, err := LoadLayout(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	no := false
	defaults := api.StackOptions{SelfHeal: true}
	want := &Layout{
		AllowPruneAll: true,
		ConfigFile:    "swarmops.yaml",
		Windows:       []api.SyncWindow{{Kind: "deny", Schedule: "0 22 * * *", Duration: 8 * time.Hour, TimeZone: "Europe/Berlin"}},
		Stacks: []StackSource{
			{Name: "auth", Dir: "stacks/auth", Files: []string{"stacks/auth/compose.yml"}, Options: api.StackOptions{Prune: true, SelfHeal: true}},
			{Name: "billing", Dir: "apps/invoices", Files: []string{"apps/invoices/compose.yml"}, Options: defaults},
			{Name: "legacy", Dir: "old/web", Files: []string{"old/web/production.yml"}, Options: defaults},
			{Name: "shop", Dir: "apps/shop",
				Files:    []string{"apps/shop/compose.yml", "apps/shop/compose.prod.yml"},
				EnvFiles: []string{"apps/shop/prod.env"},
				Options: api.StackOptions{Prune: true, SelfHeal: false, AutoRollback: &no, RollbackStack: true,
					Windows: []api.SyncWindow{{Kind: "allow", Schedule: "0 9 * * 1-5", Duration: 90 * time.Minute}}}},
			{Name: "web", Dir: "stacks/web", Files: []string{"stacks/web/compose.yaml"}, Options: defaults},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("LoadLayout:\n got %+v\nwant %+v", got, want)
	}
}

func TestLoadLayoutUnderARoot(t *testing.T) {
	// Paths in swarmops.yaml are relative to the root it sits in; two
	// stacks may share a directory with different files.
	fsys := fstest.MapFS{
		"deploy/swarmops.yaml": yamlFile(`
defaults: {auto_rollback: false}
stacks:
  shop-staging: {path: shop, files: [compose.yml, staging.yml], auto_rollback: true}
  shop-prod: {path: shop, files: [compose.yml, ../common/prod.yml]}
`),
		"deploy/shop/compose.yml":   composeFile(),
		"deploy/shop/staging.yml":   composeFile(),
		"deploy/common/prod.yml":    composeFile(),
		"outside/other/compose.yml": composeFile(),
	}
	got, err := LoadLayout(fsys, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	want := &Layout{
		ConfigFile: "deploy/swarmops.yaml",
		Stacks: []StackSource{
			{Name: "shop-prod", Dir: "deploy/shop", Files: []string{"deploy/shop/compose.yml", "deploy/common/prod.yml"}, Options: api.StackOptions{AutoRollback: &no}},
			{Name: "shop-staging", Dir: "deploy/shop", Files: []string{"deploy/shop/compose.yml", "deploy/shop/staging.yml"}, Options: api.StackOptions{AutoRollback: &yes}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("LoadLayout:\n got %+v\nwant %+v", got, want)
	}
}

func TestLoadLayoutEmptyConfig(t *testing.T) {
	fsys := fstest.MapFS{"swarmops.yaml": yamlFile("# nothing yet\n"), "shop/compose.yml": composeFile()}
	got, err := LoadLayout(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	if got.ConfigFile != "swarmops.yaml" || len(got.Stacks) != 1 || got.Stacks[0].Name != "shop" {
		t.Fatalf("LoadLayout = %+v, want stack shop and the config file named", got)
	}
}

func TestLoadLayoutErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config string
		files  []string
		want   string
	}{
		{"listed but not found", "stacks:\n  shop: {prune: true}\n", nil,
			"swarmops.yaml:2:3: stacks.shop: no directory named shop under . holds a compose file (compose.yml, compose.yaml, docker-compose.yml, docker-compose.yaml, stack.yml, stack.yaml); set path to the stack's directory"},
		{"path missing", "stacks:\n  shop:\n    path: apps/shop\n", nil,
			"swarmops.yaml:3:11: stacks.shop.path: apps/shop is not a directory in the repository; give the stack's directory, relative to ."},
		{"path is a file", "stacks:\n  shop:\n    path: a/compose.yml\n", []string{"a/compose.yml"},
			"swarmops.yaml:3:11: stacks.shop.path: a/compose.yml is not a directory"},
		{"path out of the root", "stacks:\n  shop:\n    path: ../elsewhere\n", nil,
			"swarmops.yaml:3:11: stacks.shop.path: ../elsewhere leads out of ., the part of the repository swarmops reads; keep it inside"},
		{"absolute path", "stacks:\n  shop:\n    path: /srv/shop\n", nil,
			"swarmops.yaml:3:11: stacks.shop.path: /srv/shop is absolute; write it relative to ."},
		{"no compose file", "stacks:\n  shop:\n    path: apps/shop\n", []string{"apps/shop/README.md"},
			"swarmops.yaml:2:3: stacks.shop: apps/shop holds none of compose.yml"},
		{"compose file missing", "stacks:\n  shop:\n    path: apps/shop\n    files: [compose.yml, prod.yml]\n", []string{"apps/shop/compose.yml"},
			"swarmops.yaml:4:26: stacks.shop.files[1]: compose file apps/shop/prod.yml does not exist; the path is relative to the stack's directory apps/shop"},
		{"env file missing", "stacks:\n  shop:\n    env_files: [prod.env]\n", []string{"shop/compose.yml"},
			"swarmops.yaml:3:17: stacks.shop.env_files[0]: env file shop/prod.env does not exist"},
		{"name taken by another directory", "stacks:\n  shop:\n    path: new/shop2\n", []string{"new/shop2/compose.yml", "old/shop/compose.yml"},
			"swarmops.yaml:3:11: stacks.shop.path: old/shop holds a compose file, so it would be stack shop too; rename that directory, or list it under another name with path: old/shop"},
		{"bad config", "stacks:\n  shop:\n    prune: yes\n", []string{"shop/compose.yml"},
			`swarmops.yaml:3:12: stacks.shop.prune: must be true or false, got "yes"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"swarmops.yaml": yamlFile(tc.config)}
			for _, f := range tc.files {
				fsys[f] = composeFile()
			}
			_, err := LoadLayout(fsys, ".")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadLayout error =\n%v\nwant it to contain\n%s", err, tc.want)
			}
		})
	}
}

func TestLoadLayoutReportsEveryProblem(t *testing.T) {
	fsys := fstest.MapFS{"swarmops.yaml": yamlFile("stacks:\n  a: {path: x}\n  b: {path: y}\n")}
	_, err := LoadLayout(fsys, ".")
	var list stackspec.ErrorList
	if !errors.As(err, &list) || len(list) != 2 || list[0].Line != 2 || list[1].Line != 3 {
		t.Fatalf("LoadLayout error = %#v, want a stackspec.ErrorList with one problem on line 2 and one on line 3", err)
	}
}

func TestPlanDirReadsTheListedEnvFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("swarmops.yaml", "stacks:\n  shop: {env_files: [prod.env]}\n")
	write("shop/compose.yml", "services:\n  web:\n    image: nginx:${TAG}\n")
	write("shop/prod.env", "TAG=1.27\n")
	write("shop/.env", "TAG=from-dot-env\n") // read only when no env file is listed
	write("auth/compose.yml", "services:\n  web:\n    image: nginx:${TAG}\n")
	write("auth/.env", "TAG=1.25\n")
	plan, err := PlanDir(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]string{}
	for _, sp := range plan.Stacks {
		if sp.Err != nil {
			t.Fatalf("stack %s: %v", sp.Source.Name, sp.Err)
		}
		images[sp.Source.Name] = sp.Spec.Services[sp.Source.Name+"_web"].TaskTemplate.ContainerSpec.Image
	}
	if images["shop"] != "nginx:1.27" || images["auth"] != "nginx:1.25" {
		t.Fatalf("images = %v, want shop from prod.env and auth from its .env", images)
	}
}
