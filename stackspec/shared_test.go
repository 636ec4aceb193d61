package stackspec

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/swarmops/swarmops/e2e/dockertruth"
)

// sharedStacksDir holds the real stack files of ../shared/stacks; CI has
// /work/shared beside the clone.
const sharedStacksDir = "../../shared/stacks"

// sharedStack is one deploy of the shared stacks: a file, or a base file
// with its override (025 with 026), as dockertruth.Cases lists them.
type sharedStack struct {
	dockertruth.Case
}

// sharedStacks lists the shared stacks, failing the test when they are
// missing: a test over no stacks would pass and prove nothing.
func sharedStacks(t testing.TB) []sharedStack {
	t.Helper()
	cases, err := dockertruth.Cases(sharedStacksDir)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]sharedStack, len(cases))
	for i, c := range cases {
		out[i] = sharedStack{c}
	}
	return out
}

// stage copies the stack's files and the fixtures they reference from
// testdata/fixtures into a fresh directory, and returns it with the Options
// that load it: relative paths resolve in that directory, and the
// environment is only the fixture's env file, never the process's, so
// results are the same on every machine. Output that holds the directory
// goes through Staged.Scrub before it is compared.
func (s sharedStack) stage(t testing.TB) (*dockertruth.Staged, Options) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "stack")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := dockertruth.Stage(s.Case, filepath.Join("testdata", "fixtures"), dir)
	if err != nil {
		t.Fatal(err)
	}
	return st, Options{
		Files:      st.Files,
		Namespace:  s.Namespace,
		WorkingDir: st.Dir,
		Environ:    st.Env, // never nil: nil would mean os.Environ()
	}
}
