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

// localStacksDir holds stack files of swarmops's own, each showing one
// behaviour of docker stack deploy that no shared stack does (a merge of
// top-level objects, what a pass-through variable sees). Docker's truth is
// recorded for them as for the shared ones.
const localStacksDir = "testdata/stacks"

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

// recordedStacks lists the shared stacks and the local ones: every case
// whose Docker truth is recorded under testdata/docker.
func recordedStacks(t testing.TB) []sharedStack {
	t.Helper()
	local, err := dockertruth.Cases(localStacksDir)
	if err != nil {
		t.Fatal(err)
	}
	out := sharedStacks(t)
	for _, c := range local {
		out = append(out, sharedStack{c})
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
