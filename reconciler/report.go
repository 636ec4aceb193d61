package reconciler

import (
	"context"
	"fmt"
	"strings"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/stackspec"
)

// stackReport is what `swarmops status` shows of one stack.
func (r *Stepper) stackReport(ctx context.Context, name string, rec *api.Stack, in StackInput, live Live) api.StackReport {
	rep := api.StackReport{Name: name, Head: in.Head, Services: []api.ServiceReport{}}
	if rec != nil {
		rep.Status, rep.Message = rec.Status, rec.Message
		rep.Applied, rep.LastAttempted, rep.Pin, rep.Quarantined = rec.Applied, rec.LastAttempted, rec.Pin, rec.Quarantined
		if len(rec.History) > 0 {
			d := rec.History[0]
			rep.LastDeploy = &d
		}
	} else {
		rep.Status = api.StackOutOfSync
	}
	if err := r.applyErr[name]; err != nil {
		rep.Message = strings.TrimPrefix(rep.Message+"; ", "; ") + "last apply failed: " + err.Error()
	}
	rep.Drift = Drifts(rec, in.Desired, r.appliedSpec(ctx, rec, in.Desired), live)
	byObject := map[string][]api.Drift{}
	for _, d := range rep.Drift {
		byObject[d.Object] = append(byObject[d.Object], d)
	}
	for _, svc := range sortedKeys(live.Services) {
		ls := live.Services[svc]
		sr := api.ServiceReport{Name: svc, Running: ls.Running, Desired: ls.Desired, Drift: byObject[svc]}
		if ls.Update != nil {
			sr.UpdateState, sr.UpdateMessage = string(ls.Update.State), ls.Update.Message
		}
		rep.Services = append(rep.Services, sr)
	}
	return rep
}

// appliedSpec is the rendering of what rec has applied.
func (r *Stepper) appliedSpec(ctx context.Context, rec *api.Stack, desired *Rendered) *api.StackSpec {
	if rec == nil || rec.Applied == nil {
		return nil
	}
	if desired != nil && desired.Spec != nil && desired.Revision.Digest == rec.Applied.Digest {
		return desired.Spec
	}
	if rr := r.renderStack(ctx, rec.Applied.Commit, rec.Name); rr != nil && rr.Revision.Digest == rec.Applied.Digest {
		return rr.Spec
	}
	return nil
}

// Drifts lists how a stack differs from git, each kind apart: the head not
// applied, live objects changed since the applied revision (with who
// changed a service and when), services not converged, and services whose
// last update rolled back. applied is the applied revision's rendering
// (nil when unknown: no cluster drift is reported then).
func Drifts(rec *api.Stack, desired *Rendered, applied *api.StackSpec, live Live) []api.Drift {
	var out []api.Drift
	if rec == nil {
		return []api.Drift{{Kind: api.DriftGitMoved, Message: "never applied"}}
	}
	switch {
	case desired == nil:
		out = append(out, api.Drift{Kind: api.DriftGitMoved, Message: "the stack is no longer in the repository"})
	case desired.Err != nil:
		out = append(out, api.Drift{Kind: api.DriftGitMoved, Message: fmt.Sprintf("head %s does not render; %s stays applied", short(desired.Revision.Commit), appliedName(rec))})
	case rec.Applied == nil || rec.Applied.Digest != desired.Revision.Digest:
		out = append(out, api.Drift{Kind: api.DriftGitMoved, Message: fmt.Sprintf("head %s is not applied (applied: %s)", short(desired.Revision.Commit), appliedName(rec))})
	}
	rollingBack := map[string]bool{}
	for _, name := range sortedKeys(live.Services) {
		ls := live.Services[name]
		if ls.Update != nil && rolledBack(ls.Update.State) && desired != nil && desired.Spec != nil {
			if d, ok := desired.Spec.Services[name]; ok && stackspec.Digest(d) != stackspec.Digest(live.Spec.Services[name]) {
				rollingBack[name] = true
				out = append(out, api.Drift{Kind: api.DriftRolledBack, Object: name, Message: "its update rolled back: " + ls.Update.Message})
			}
		}
	}
	if applied != nil && rec.Status != api.StackProgressing {
		for _, ch := range stackspec.Diff(applied, live.Spec).Changes {
			if rollingBack[ch.Name] {
				continue
			}
			d := api.Drift{Kind: api.DriftClusterMoved, Object: ch.Name, Message: changeText(ch)}
			if ls, ok := live.Services[ch.Name]; ok && ch.Kind == api.KindService {
				d.By, d.At = ls.By, ls.At
			}
			out = append(out, d)
		}
	}
	for _, name := range sortedKeys(live.Services) {
		ls := live.Services[name]
		if !ls.Converged() {
			msg := fmt.Sprintf("%d/%d tasks running", ls.Running, ls.Desired)
			if ls.Dirty > 0 {
				msg += fmt.Sprintf(", %d of an older spec", ls.Dirty)
			}
			out = append(out, api.Drift{Kind: api.DriftNotConverged, Object: name, Message: msg})
		}
	}
	return out
}

func appliedName(rec *api.Stack) string {
	if rec.Applied == nil {
		return "nothing"
	}
	return short(rec.Applied.Commit)
}

// changeText words a change of the cluster against git.
func changeText(ch api.Change) string {
	switch ch.Action {
	case api.ActionCreate:
		return fmt.Sprintf("%s %s is missing from the cluster", ch.Kind, ch.Name)
	case api.ActionRemove:
		return fmt.Sprintf("%s %s is on the cluster but not in git", ch.Kind, ch.Name)
	}
	var fields []string
	for _, f := range ch.Fields {
		fields = append(fields, fmt.Sprintf("%s: %s -> %s", f.Path, orNone(f.New), orNone(f.Old)))
	}
	return fmt.Sprintf("%s %s changed on the cluster (git -> cluster): %s", ch.Kind, ch.Name, strings.Join(fields, "; "))
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
