package e2e

import (
	"context"
	"errors"
	"testing"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/e2e/dockertruth"
	"github.com/swarmops/swarmops/stackspec"
)

// compareWithConvert holds stackspec's conversion of a staged case to what
// Docker just did with it, and the engine's view to what the CLI sent.
func compareWithConvert(t *testing.T, ctx context.Context, c dockertruth.Case, st *dockertruth.Staged, truth *dockertruth.Truth) {
	t.Helper()
	spec, err := convert(ctx, c, st)
	ours := dockertruth.Ours{Spec: spec, Err: err}
	var list stackspec.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			ours.ErrPaths = append(ours.ErrPaths, e.Path)
		}
	}
	var one *stackspec.Error
	if ours.ErrPaths == nil && errors.As(err, &one) {
		ours.ErrPaths = []string{one.Path}
	}
	report, err := dockertruth.Check(c.Name, ours, st, truth, dockertruth.Deliberate(), dockertruth.Relaxations())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range report.Problems {
		t.Errorf("%s", p)
	}
	for _, d := range report.Known {
		t.Logf("known: %s (%s)", d.Format("ours", "docker"), d.Rule.Why)
	}
	if rx := report.Relaxed; rx != nil {
		t.Logf("Docker rejects at %s, which swarmops accepts on purpose: %s", rx.Field, rx.Why)
	}
	diffs, err := dockertruth.Compare(c.Name, truth.Sent, truth.Inspected, dockertruth.DaemonAdds())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		if d.Rule == nil {
			t.Errorf("the engine stored what the CLI did not send, and DaemonAdds does not say why: %s", d.Format("sent", "engine"))
		}
	}
}

// convert is `swarmops stack convert` on the staged case, with the same
// environment the docker CLI had.
func convert(ctx context.Context, c dockertruth.Case, st *dockertruth.Staged) (*api.StackSpec, error) {
	l, err := stackspec.Load(ctx, stackspec.Options{
		Files:      st.Files,
		Namespace:  c.Namespace,
		WorkingDir: st.Dir,
		Environ:    st.Env,
	})
	if err != nil {
		return nil, err
	}
	return stackspec.Convert(l)
}
