package stackspec

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/swarmops/swarmops/e2e/dockertruth"
)

// TestConvertMatchesDockerTruth replays, without an engine, what `docker
// stack deploy` created from each shared stack (testdata/docker/*.json,
// recorded by the e2e test TestDockerStackDeployMatchesConvert with
// -update) against Convert: both reject or both accept, and then every
// service, network, secret and config, and every warning, is Docker's, or
// the difference is named in dockertruth.Deliberate and docs/compat.md.
// Where Docker rejects a stack for a reason dockertruth.Relaxations names,
// swarmops accepts the stack (its golden file pins the output), or rejects
// it for its other faults.
func TestConvertMatchesDockerTruth(t *testing.T) {
	rules := dockertruth.Deliberate()
	used := make([]bool, len(rules))
	relaxed := dockertruth.Relaxations()
	relaxedUsed := make([]bool, len(relaxed))
	recorded := map[string]bool{}
	for _, s := range recordedStacks(t) {
		file := filepath.Join("testdata", "docker", s.Name+".json")
		recorded[file] = true
		t.Run(s.Name, func(t *testing.T) {
			truth, err := dockertruth.ReadTruth(file)
			if err != nil {
				t.Fatalf("%v (record it: go test ./e2e -run TestDockerStackDeployMatchesConvert -update, with a Docker engine)", err)
			}
			st, opts := s.stage(t)
			spec, err := loadAndConvert(context.Background(), opts)
			ours := dockertruth.Ours{Spec: spec, Err: err, ErrPaths: errorPaths(err)}
			report, err := dockertruth.Check(s.Name, ours, st, truth, rules, relaxed)
			if err != nil {
				t.Fatal(err)
			}
			for i := range relaxed {
				if &relaxed[i] == report.Relaxed {
					relaxedUsed[i] = true
				}
			}
			for _, p := range report.Problems {
				t.Error(p)
			}
			for _, d := range report.Known {
				for i := range rules {
					if &rules[i] == d.Rule {
						used[i] = true
					}
				}
			}
		})
	}
	files, err := filepath.Glob(filepath.Join("testdata", "docker", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !recorded[f] {
			t.Errorf("%s belongs to no shared stack: remove it", f)
		}
	}
	if t.Failed() {
		return
	}
	for i, u := range used {
		if !u {
			t.Errorf("Deliberate rule %s (%s) explains no difference: remove it, and its entry in docs/compat.md", rules[i].Path, rules[i].Why)
		}
	}
	for i, u := range relaxedUsed {
		if !u {
			t.Errorf("Relaxations entry %s at %s explains no rejection of Docker's: remove it, and its entry in docs/compat.md", relaxed[i].Case, relaxed[i].Field)
		}
	}
}

// errorPaths lists the field path of every problem in a Load or Convert
// error.
func errorPaths(err error) []string {
	var list ErrorList
	var one *Error
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = ErrorList{one}
	}
	var paths []string
	for _, e := range list {
		paths = append(paths, e.Path)
	}
	return paths
}
