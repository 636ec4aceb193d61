package control

import (
	"context"
	"errors"
	"fmt"

	"github.com/swarmops/swarmops/cluster/store"
)

// commit proposes groups, packed into batches of about maxBatch mutations
// without splitting a group. It returns how many mutations were committed
// and how many proposals the store refused; an error means a proposal's
// outcome is unknown, and the rest were not tried.
func (l *Loop) commit(ctx context.Context, who string, groups [][]store.Mutation) (committed, refused int, err error) {
	for len(groups) > 0 {
		n, size := 0, 0
		for n < len(groups) && (n == 0 || size+len(groups[n]) <= l.maxBatch) {
			size += len(groups[n])
			n++
		}
		c, r, err := l.propose(ctx, who, groups[:n])
		committed, refused = committed+c, refused+r
		if err != nil {
			return committed, refused, err
		}
		groups = groups[n:]
	}
	return committed, refused, nil
}

// propose commits groups as one batch. When the store refuses it, the
// groups are checked against the store as it is now, as Nomad's plan
// applier re-checks a plan before committing it: groups whose tasks moved
// on since the snapshot are dropped (the next pass plans them again from
// fresh state), and the rest are proposed again, in halves, so that tasks
// that keep changing cannot hold back the others. Every refusal drops a
// group or halves the batch, so this ends; k refused proposals cost about
// k·log2(n) more.
func (l *Loop) propose(ctx context.Context, who string, groups [][]store.Mutation) (committed, refused int, err error) {
	var muts []store.Mutation
	for _, g := range groups {
		muts = append(muts, g...)
	}
	data, err := store.EncodeBatch(muts...)
	if err == nil {
		_, err = l.cfg.Propose(ctx, data)
	}
	switch {
	case err == nil:
		l.log.Debug("control: committed", "by", who, "mutations", len(muts))
		return len(muts), 0, nil
	case !refusal(err):
		return 0, 0, fmt.Errorf("control: commit %d mutations of the %s: %w", len(muts), who, err)
	}
	refused = 1
	fresh, dropped := l.recheck(groups)
	switch {
	case dropped > 0:
		l.log.Debug("control: batch refused; dropped its stale groups", "by", who, "dropped", dropped, "kept", len(fresh), "err", err)
	case len(groups) == 1:
		// Nothing in it is stale, yet no store accepts it: a planner bug,
		// not a race. Drop it rather than retry it forever.
		l.log.Error("control: batch refused; dropping it", "by", who, "mutations", len(muts), "err", err)
		return 0, refused, nil
	}
	if len(fresh) == 0 {
		return 0, refused, nil
	}
	halves := [][][]store.Mutation{fresh}
	if len(fresh) > 1 {
		halves = [][][]store.Mutation{fresh[:len(fresh)/2], fresh[len(fresh)/2:]}
	}
	for _, h := range halves {
		c, r, err := l.propose(ctx, who, h)
		committed, refused = committed+c, refused+r
		if err != nil {
			return committed, refused, err
		}
	}
	return committed, refused, nil
}

// recheck returns the groups whose mutations the store would still accept
// as far as versions go — updated objects at the version read, deleted
// ones present, created IDs free — and how many groups it dropped. A
// mutation the store cannot even look up drops its group too.
func (l *Loop) recheck(groups [][]store.Mutation) (fresh [][]store.Mutation, dropped int) {
	_ = l.cfg.Store.View(func(tx store.ReadTx) error {
		for _, g := range groups {
			ok := true
			for _, m := range g {
				meta, err := tx.Meta(m.Table, m.ID)
				found := err == nil
				switch {
				case err != nil && !errors.Is(err, store.ErrNotFound):
					ok = false
				case m.Op == store.OpCreate:
					ok = ok && !found
				case m.Op == store.OpUpdate:
					ok = ok && found && meta.Version.Index == m.Version
				case m.Op == store.OpDelete:
					ok = ok && found && (m.Version == 0 || meta.Version.Index == m.Version)
				}
			}
			if ok {
				fresh = append(fresh, g)
			} else {
				dropped++
			}
		}
		return nil
	})
	return fresh, dropped
}

// stale reports whether the store refused a batch because the state it
// was planned from moved on.
func stale(err error) bool {
	return errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists)
}

// refusal reports whether err is the store's verdict on the batch (so the
// batch surely was not applied), rather than a failure to commit it.
func refusal(err error) bool {
	if stale(err) {
		return true
	}
	for _, e := range []error{store.ErrNameConflict, store.ErrInUse, store.ErrInvalid, store.ErrMalformed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
