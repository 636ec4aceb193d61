package stackspec

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/e2e/dockertruth"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const goldenDir = "testdata/golden"

// loadAndConvert is what `swarmops stack convert` does with one stack.
func loadAndConvert(ctx context.Context, opts Options) (*api.StackSpec, error) {
	l, err := Load(ctx, opts)
	if err != nil {
		return nil, err
	}
	return Convert(l)
}

// TestGoldenSharedStacks converts every shared stack, and every stack of
// testdata/stacks, and compares the
// StackSpec, as indented JSON, with testdata/golden/<case>.json; a stack
// that is rejected has testdata/golden/<case>.err with the error text
// instead. -update rewrites them.
func TestGoldenSharedStacks(t *testing.T) {
	stacks := recordedStacks(t)
	want := map[string]bool{}
	for _, s := range stacks {
		t.Run(s.Name, func(t *testing.T) {
			st, opts := s.stage(t)
			spec, err := loadAndConvert(context.Background(), opts)
			var got []byte
			ext, stale := ".json", ".err"
			if err != nil {
				ext, stale = stale, ext
				got = []byte(st.Scrub(err.Error()) + "\n")
			} else if got, err = dockertruth.Marshal(spec); err != nil {
				t.Fatal(err)
			} else {
				got = []byte(st.Scrub(string(got)))
			}
			file := filepath.Join(goldenDir, s.Name+ext)
			want[file] = true
			if *update {
				writeGolden(t, file, got)
				if err := os.Remove(filepath.Join(goldenDir, s.Name+stale)); err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				return
			}
			wantData, err := os.ReadFile(file)
			if os.IsNotExist(err) {
				t.Fatalf("no golden %s (the stack is %s now); run go test ./stackspec -run TestGoldenSharedStacks -update and review the diff",
					file, map[string]string{".json": "accepted", ".err": "rejected"}[ext])
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(wantData) {
				t.Errorf("%s differs (go test ./stackspec -run TestGoldenSharedStacks -update rewrites it):\n%s", file, lineDiff(string(wantData), string(got)))
			}
		})
	}
	if *update || t.Failed() {
		return
	}
	// A golden without a stack is left over from a renamed or removed one.
	files, err := filepath.Glob(filepath.Join(goldenDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !want[f] {
			t.Errorf("%s belongs to no shared stack: remove it", f)
		}
	}
}

func writeGolden(t *testing.T, file string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// lineDiff shows the first lines where two texts part, with a little
// context; enough to see what changed without a diff library.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	from := max(0, i-3)
	var b strings.Builder
	for j := from; j < i; j++ {
		b.WriteString("  " + w[j] + "\n")
	}
	for j := i; j < min(len(w), i+8); j++ {
		b.WriteString("- " + w[j] + "\n")
	}
	for j := i; j < min(len(g), i+8); j++ {
		b.WriteString("+ " + g[j] + "\n")
	}
	return b.String()
}

// TestRejectedStacksNamePlace holds every rejection of a shared stack to
// the rule that an error names the file, the line and the field, so a
// person can act on it.
func TestRejectedStacksNamePlace(t *testing.T) {
	rejected := 0
	for _, s := range recordedStacks(t) {
		_, opts := s.stage(t)
		_, err := loadAndConvert(context.Background(), opts)
		if err == nil {
			continue
		}
		rejected++
		t.Run(s.Name, func(t *testing.T) {
			var list ErrorList
			var one *Error
			switch {
			case errors.As(err, &list):
			case errors.As(err, &one):
				list = ErrorList{one}
			default:
				t.Fatalf("error is neither an ErrorList nor an *Error: %T %v", err, err)
			}
			if len(list) == 0 {
				t.Fatal("empty ErrorList")
			}
			for _, e := range list {
				if !contains(opts.Files, e.File) || e.Line <= 0 || e.Path == "" || e.Msg == "" {
					t.Errorf("error lacks file, line or field: %#v", *e)
				}
			}
		})
	}
	// The shared stacks include files swarmops rejects as Docker does
	// (services without an image, a replica count on a global service): if
	// none is rejected, the test above checked nothing.
	if rejected == 0 {
		t.Error("no shared stack was rejected; Docker rejects several")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
