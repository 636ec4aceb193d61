package reconciler

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
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
