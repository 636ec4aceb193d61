package reconciler

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/swarmops/swarmops/api"

	// The zone database is built in so that a window means the same on
	// every manager and in CI, whatever zoneinfo the host has.
	_ "time/tzdata"
)

// WindowState is whether sync windows let the reconciler apply a stack at
// some moment.
type WindowState struct {
	Open bool
	// Reason says which window keeps the stack closed; "" when open.
	Reason string
	// NextOpen is when the stack opens again; zero when open or unknown.
	NextOpen time.Time
}

// cronParser reads the standard five-field form and descriptors such as
// @daily; seconds are not part of a window's schedule.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// maxChain bounds how many firings are followed when a window re-fires
// before it closes; a window that chains further ("*/5 * * * *" open for
// 10m) is treated as never closing.
const maxChain = 1000

// maxSteps bounds the search for NextOpen through alternating windows.
const maxSteps = 64

// window is a SyncWindow ready to evaluate.
type window struct {
	api.SyncWindow
	sched *cron.SpecSchedule
	loc   *time.Location
}

// CheckWindows tells whether the repository-wide windows (global) and the
// stack's own let the reconciler apply the stack at now. A window is open
// at now when its schedule fired at some t with t <= now < t+Duration. Any
// open deny window closes the stack; when allow windows exist, one of them
// must be open. A window that does not validate closes the stack: windows
// are checked when swarmops.yaml loads, so one that fails here is stored
// state gone bad, and applying during what may be a freeze is the worse
// mistake.
func CheckWindows(global, stack []api.SyncWindow, now time.Time) WindowState {
	all := make([]window, 0, len(global)+len(stack))
	for _, w := range append(append([]api.SyncWindow{}, global...), stack...) {
		cw, err := compileWindow(w)
		if err != nil {
			return WindowState{Reason: fmt.Sprintf("sync window %q is invalid: %v", w.Schedule, err)}
		}
		all = append(all, cw)
	}
	open, reason, change := windowsAt(all, now)
	if open {
		return WindowState{Open: true}
	}
	return WindowState{Reason: reason, NextOpen: nextOpen(all, change)}
}

// ValidateWindow checks a window the way swarmops.yaml is checked; the
// error names the field, what is wrong and how to write it.
func ValidateWindow(w api.SyncWindow) error {
	_, err := compileWindow(w)
	return err
}

func compileWindow(w api.SyncWindow) (window, error) {
	if err := checkWindowKind(w.Kind); err != nil {
		return window{}, fmt.Errorf("kind: %w", err)
	}
	sched, err := parseSchedule(w.Schedule)
	if err != nil {
		return window{}, fmt.Errorf("schedule: %w", err)
	}
	if err := checkWindowDuration(w.Duration); err != nil {
		return window{}, fmt.Errorf("duration: %w", err)
	}
	loc, err := loadZone(w.TimeZone)
	if err != nil {
		return window{}, fmt.Errorf("time_zone: %w", err)
	}
	// The schedule is read in its own zone, not in the zone of the time
	// it is asked about.
	sched.Location = loc
	return window{SyncWindow: w, sched: sched, loc: loc}, nil
}

func checkWindowKind(kind string) error {
	switch kind {
	case api.WindowAllow, api.WindowDeny:
		return nil
	case "":
		return errors.New("missing; set allow or deny")
	}
	return fmt.Errorf("unknown kind %q; use allow or deny", kind)
}

// parseSchedule reads a standard cron expression. The zone is a field of
// its own (time_zone), and @every has no fixed firing times to look back
// to, so both are refused here.
func parseSchedule(s string) (sched *cron.SpecSchedule, err error) {
	const form = `use five fields, minute hour day-of-month month day-of-week, as in "0 22 * * 1-5"`
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return nil, errors.New("missing; " + form)
	case strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ="):
		return nil, fmt.Errorf("%q names a time zone; set it with time_zone and keep the schedule to its five fields", s)
	case strings.HasPrefix(s, "@every"):
		return nil, fmt.Errorf("%q repeats from whenever it starts, so it has no fixed times; %s", s, form)
	}
	// The cron parser is given text from a repository; a panic in it must
	// not take the reconciler down.
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("%q is not a cron schedule; %s", s, form)
		}
	}()
	parsed, perr := cronParser.Parse(s)
	if perr != nil {
		return nil, fmt.Errorf("%q is not a cron schedule (%v); %s", s, perr, form)
	}
	spec, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("%q has no fixed times; %s", s, form)
	}
	return spec, nil
}

func checkWindowDuration(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("must be more than zero, got %v; write how long the window stays open, as in 90m or 8h", d)
	}
	return nil
}

// loadZone finds an IANA zone; "" is UTC. "Local" is refused: it would
// make a window depend on the clock settings of whichever manager leads.
func loadZone(name string) (*time.Location, error) {
	if name == "Local" {
		return nil, errors.New(`"Local" depends on each host's settings; name the zone, as in Europe/Berlin or UTC`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q; use an IANA name such as Europe/Berlin, America/New_York or UTC", name)
	}
	return loc, nil
}

// openAt reports whether w is open at t and, if so, when it closes: the
// end of the last firing that chains from the one that opened it, or zero
// when the firings keep it open longer than maxChain of them.
func (w window) openAt(t time.Time) (bool, time.Time) {
	// Next is strictly after its argument, so this is the first firing f
	// with f > t-Duration, that is t < f+Duration.
	f := w.sched.Next(t.Add(-w.Duration))
	if f.IsZero() || f.After(t) {
		return false, time.Time{}
	}
	end := f.Add(w.Duration)
	for range maxChain {
		f = w.sched.Next(f)
		if f.IsZero() || !f.Before(end) {
			return true, end
		}
		end = f.Add(w.Duration)
	}
	return true, time.Time{}
}

// windowsAt decides at one moment. When closed, change is when the reason
// given stops holding (the deny window closes, an allow window opens), or
// zero if that is unknown.
func windowsAt(all []window, t time.Time) (open bool, reason string, change time.Time) {
	hasAllow, allowOpen := false, false
	for _, w := range all {
		active, end := w.openAt(t)
		switch {
		case w.Kind == api.WindowDeny && active:
			reason = fmt.Sprintf("deny window %q (%s) is open", w.Schedule, shortDuration(w.Duration))
			if !end.IsZero() {
				reason += " until " + clock(end.In(w.loc), t.In(w.loc))
			}
			return false, reason, end
		case w.Kind == api.WindowAllow:
			hasAllow = true
			allowOpen = allowOpen || active
		}
	}
	if !hasAllow || allowOpen {
		return true, "", time.Time{}
	}
	var next time.Time
	var nextWin window
	for _, w := range all {
		if w.Kind != api.WindowAllow {
			continue
		}
		if n := w.sched.Next(t); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next, nextWin = n, w
		}
	}
	if next.IsZero() {
		return false, "outside every allow window, and none opens in the next five years", time.Time{}
	}
	return false, "outside every allow window; the next opens at " + clock(next.In(nextWin.loc), t.In(nextWin.loc)), next
}

// nextOpen follows the closing reasons forward from the first change
// until the windows let the stack through.
func nextOpen(all []window, t time.Time) time.Time {
	for range maxSteps {
		if t.IsZero() {
			return time.Time{}
		}
		open, _, change := windowsAt(all, t)
		if open {
			return t
		}
		if !change.After(t) {
			return time.Time{}
		}
		t = change
	}
	return time.Time{}
}

// clock writes t for a message read at now: the time of day when it is the
// same day, the date too when not.
func clock(t, now time.Time) string {
	layout := "15:04"
	if t.Second() != 0 {
		layout = "15:04:05"
	}
	if y, m, d := t.Date(); y != now.Year() || m != now.Month() || d != now.Day() {
		layout = "2006-01-02 " + layout
	}
	return t.Format(layout + " MST")
}

// shortDuration writes 8h for 8h0m0s, as a person writes it in
// swarmops.yaml.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
