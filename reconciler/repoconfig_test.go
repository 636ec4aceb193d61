package reconciler

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/stackspec"
)

func TestParseRepoConfig(t *testing.T) {
	cfg, err := parseRepoConfig("swarmops.yaml", []byte(`
allow_prune_all: true
defaults:
  self_heal: true
  auto_rollback: false
sync_windows:
  - &night {kind: deny, schedule: "0 22 * * *", duration: 8h, time_zone: Europe/Berlin}
stacks:
  shop:
    self_heal: false
    sync_windows: [*night]
  auth:
`))
	if err != nil {
		t.Fatal(err)
	}
	night := api.SyncWindow{Kind: "deny", Schedule: "0 22 * * *", Duration: 8 * time.Hour, TimeZone: "Europe/Berlin"}
	if !cfg.allowPruneAll || !reflect.DeepEqual(cfg.windows, []api.SyncWindow{night}) {
		t.Fatalf("allow_prune_all %v, windows %+v", cfg.allowPruneAll, cfg.windows)
	}
	if len(cfg.stacks) != 2 || cfg.stacks[0].name != "shop" || cfg.stacks[1].name != "auth" {
		t.Fatalf("stacks = %+v, want shop then auth, in file order", cfg.stacks)
	}
	no := false
	shop := cfg.stacks[0].opts.over(cfg.defaults).options()
	if want := (api.StackOptions{SelfHeal: false, AutoRollback: &no, Windows: []api.SyncWindow{night}}); !reflect.DeepEqual(shop, want) {
		t.Fatalf("shop's options = %+v, want %+v (its own self_heal over the default)", shop, want)
	}
	auth := cfg.stacks[1].opts.over(cfg.defaults).options()
	if want := (api.StackOptions{SelfHeal: true, AutoRollback: &no}); !reflect.DeepEqual(auth, want) {
		t.Fatalf("auth's options = %+v, want the defaults %+v", auth, want)
	}
}

func TestRepoConfigErrors(t *testing.T) {
	windowLine := func(fields string) string {
		return "stacks:\n  shop:\n    sync_windows:\n      - {" + fields + "}\n"
	}
	for _, tc := range []struct {
		name, file, want string
	}{
		{"misspelt key", "alow_prune_all: true\n",
			"swarmops.yaml:1:1: alow_prune_all: unknown key; did you mean allow_prune_all?"},
		{"unknown key", "version: 1\n",
			"swarmops.yaml:1:1: version: unknown key; the keys here are allow_prune_all, defaults, sync_windows, stacks"},
		{"unknown stack key", "stacks:\n  shop:\n    self-heal: true\n",
			"swarmops.yaml:3:5: stacks.shop.self-heal: unknown key; did you mean self_heal?"},
		{"not a bool", "allow_prune_all: yes\n",
			`swarmops.yaml:1:18: allow_prune_all: must be true or false, got "yes"`},
		{"windows in defaults", "defaults:\n  self_heal: true\n  sync_windows: []\n",
			"swarmops.yaml:3:17: defaults.sync_windows: windows for every stack go under the top-level sync_windows; move them there"},
		{"bad duration", windowLine(`kind: deny, schedule: "0 22 * * *", duration: 8 hours`),
			`swarmops.yaml:4:56: stacks.shop.sync_windows[0].duration: "8 hours" is not a duration; write a number with a unit, as in 90m, 8h or 1h30m`},
		{"duration without unit", windowLine(`kind: deny, schedule: "0 22 * * *", duration: 3600`),
			`swarmops.yaml:4:56: stacks.shop.sync_windows[0].duration: "3600" is not a duration`},
		{"zero duration", windowLine(`kind: deny, schedule: "0 22 * * *", duration: 0s`),
			`swarmops.yaml:4:56: stacks.shop.sync_windows[0].duration: must be more than zero, got 0s`},
		{"bad schedule", windowLine(`kind: deny, schedule: "0 25 * * *", duration: 8h`),
			`swarmops.yaml:4:32: stacks.shop.sync_windows[0].schedule: "0 25 * * *" is not a cron schedule (`},
		{"bad kind", windowLine(`kind: block, schedule: "0 22 * * *", duration: 8h`),
			`swarmops.yaml:4:16: stacks.shop.sync_windows[0].kind: unknown kind "block"; use allow or deny`},
		{"unknown zone", "sync_windows:\n  - kind: deny\n    schedule: \"0 22 * * *\"\n    duration: 8h\n    time_zone: Europe/Berln\n",
			`swarmops.yaml:5:16: sync_windows[0].time_zone: unknown time zone "Europe/Berln"; use an IANA name such as Europe/Berlin, America/New_York or UTC`},
		{"missing schedule", "sync_windows:\n  - {kind: deny, duration: 1h}\n",
			`swarmops.yaml:2:5: sync_windows[0]: schedule is missing; a window needs kind, schedule and duration`},
		{"window not a mapping", "sync_windows:\n  - deny at night\n",
			`swarmops.yaml:2:5: sync_windows[0]: must be a mapping (key: value lines), got "deny at night"`},
		{"windows not a list", "sync_windows: {kind: deny}\n",
			`swarmops.yaml:1:15: sync_windows: must be a list, got a mapping`},
		{"invalid stack name", "stacks:\n  my shop: {}\n",
			`swarmops.yaml:2:3: stacks.my shop: "my shop" is not a valid stack name; use letters, digits, '-' and '_', starting with a letter or digit`},
		{"stack twice", "stacks:\n  shop: {}\n  shop: {}\n",
			"swarmops.yaml:3:3: stacks.shop: set twice (first on line 2); keep one"},
		{"files not a list", "stacks:\n  shop:\n    files: compose.yml\n",
			`swarmops.yaml:3:12: stacks.shop.files: must be a list, got "compose.yml"; write it as in files: [compose.yml, compose.prod.yml]`},
		{"empty file name", "stacks:\n  shop:\n    files: [compose.yml, \"\"]\n",
			`swarmops.yaml:3:26: stacks.shop.files[1]: must be text, got ""`},
		{"stacks a list", "stacks: [shop]\n",
			"swarmops.yaml:1:9: stacks: must be a mapping (key: value lines), got a list; write stacks as keys and values"},
		{"file a list", "- shop\n",
			"swarmops.yaml:1:1: must be a mapping (key: value lines), got a list; write the file as keys and values"},
		{"merge key", "defaults: &d {prune: true}\nstacks:\n  shop:\n    <<: *d\n",
			"swarmops.yaml:4:5: stacks.shop: keys must be plain names"},
		{"two documents", "stacks: {}\n---\nstacks: {}\n",
			"swarmops.yaml:2:1: a second YAML document; keep everything in one (remove the ---)"},
		{"bad indentation", "stacks:\n  shop:\n    prune: true\n   files: []\n",
			"swarmops.yaml:4:4: did not find expected key"},
		{"unclosed flow", "stacks: {shop: {}\n",
			"swarmops.yaml:2:"},
		{"tab", "stacks:\n\tshop: {}\n",
			"swarmops.yaml:2: found character that cannot start any token; indent with spaces: YAML does not allow tabs there"},
		{"bad escape", "stacks:\n  shop:\n    path: \"a\\q\"\n",
			"swarmops.yaml:3:13: found unknown escape character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseRepoConfig("swarmops.yaml", []byte(tc.file))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("parseRepoConfig error =\n%v\nwant it to start with\n%s", err, tc.want)
			}
			var list stackspec.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error %T, want a stackspec.ErrorList", err)
			}
		})
	}
}

func TestRepoConfigReportsEveryProblemInLineOrder(t *testing.T) {
	_, err := parseRepoConfig("swarmops.yaml", []byte(`
stacks:
  shop:
    prune: maybe
allow_prune_all: 1
sync_windows:
  - {kind: deny, schedule: "@every 1h", duration: 1h}
`))
	var list stackspec.ErrorList
	if !errors.As(err, &list) || len(list) != 3 {
		t.Fatalf("error = %v, want three problems", err)
	}
	for i, line := range []int{4, 5, 7} {
		if list[i].Line != line {
			t.Fatalf("problem %d on line %d, want %d:\n%v", i, list[i].Line, line, err)
		}
	}
}

func TestRepoConfigEmpty(t *testing.T) {
	for _, file := range []string{"", "# comments only\n", "~\n"} {
		cfg, err := parseRepoConfig("swarmops.yaml", []byte(file))
		if err != nil || cfg.allowPruneAll || len(cfg.stacks) != 0 {
			t.Fatalf("parseRepoConfig(%q) = %+v, %v; want an empty config", file, cfg, err)
		}
	}
}
