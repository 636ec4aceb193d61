package reconciler

import (
	"strings"
	"testing"
	"time"

	"github.com/swarmops/swarmops/api"
)

func at(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func deny(schedule string, d time.Duration, zone string) api.SyncWindow {
	return api.SyncWindow{Kind: api.WindowDeny, Schedule: schedule, Duration: d, TimeZone: zone}
}

func allow(schedule string, d time.Duration, zone string) api.SyncWindow {
	return api.SyncWindow{Kind: api.WindowAllow, Schedule: schedule, Duration: d, TimeZone: zone}
}

func TestCheckWindows(t *testing.T) {
	nightly := deny("0 22 * * *", 8*time.Hour, "")
	officeBerlin := allow("0 9 * * 1-5", 8*time.Hour, "Europe/Berlin")
	for _, tc := range []struct {
		name          string
		global, stack []api.SyncWindow
		now           string
		open          bool
		reason        string // a part of the reason; "" when open
		nextOpen      string // "" for zero
	}{
		{name: "no windows", now: "2025-01-10T12:00:00Z", open: true},
		{name: "before a deny window", global: []api.SyncWindow{nightly}, now: "2025-01-10T21:59:59Z", open: true},
		{name: "deny opens at its firing", global: []api.SyncWindow{nightly}, now: "2025-01-10T22:00:00Z",
			reason: `deny window "0 22 * * *" (8h) is open until 2025-01-11 06:00 UTC`, nextOpen: "2025-01-11T06:00:00Z"},
		{name: "deny a fraction of a second in", global: []api.SyncWindow{nightly}, now: "2025-01-10T22:00:00.5Z",
			reason: "is open until", nextOpen: "2025-01-11T06:00:00Z"},
		{name: "deny spans midnight", global: []api.SyncWindow{nightly}, now: "2025-01-11T02:00:00Z",
			reason: `deny window "0 22 * * *" (8h) is open until 06:00 UTC`, nextOpen: "2025-01-11T06:00:00Z"},
		{name: "deny last second", global: []api.SyncWindow{nightly}, now: "2025-01-11T05:59:59Z",
			reason: "until 06:00 UTC", nextOpen: "2025-01-11T06:00:00Z"},
		{name: "deny closed at its end", global: []api.SyncWindow{nightly}, now: "2025-01-11T06:00:00Z", open: true},
		{name: "stack deny alone", stack: []api.SyncWindow{nightly}, now: "2025-01-11T01:00:00Z",
			reason: "deny window", nextOpen: "2025-01-11T06:00:00Z"},
		{name: "deny in its own zone", global: []api.SyncWindow{deny("0 22 * * *", 8*time.Hour, "Europe/Berlin")},
			now: "2025-07-01T20:30:00Z", reason: "until 2025-07-02 06:00 CEST", nextOpen: "2025-07-02T04:00:00Z"},
		{name: "utc window not yet open where Berlin is", global: []api.SyncWindow{nightly}, now: "2025-07-01T20:30:00Z", open: true},
		{name: "inside an allow window", global: []api.SyncWindow{officeBerlin}, now: "2025-01-10T09:00:00Z", open: true},
		{name: "allow window opens at its firing", global: []api.SyncWindow{officeBerlin}, now: "2025-01-10T08:00:00Z", open: true},
		{name: "allow window closed at its end", global: []api.SyncWindow{officeBerlin}, now: "2025-01-10T16:00:00Z",
			reason: "outside every allow window; the next opens at 2025-01-13 09:00 CET", nextOpen: "2025-01-13T08:00:00Z"},
		{name: "weekend, allow from the stack", stack: []api.SyncWindow{officeBerlin}, now: "2025-01-11T12:00:00Z",
			reason: "outside every allow window", nextOpen: "2025-01-13T08:00:00Z"},
		{name: "later the same day", global: []api.SyncWindow{allow("0 18 * * *", time.Hour, "")}, now: "2025-01-11T12:00:00Z",
			reason: "the next opens at 18:00 UTC", nextOpen: "2025-01-11T18:00:00Z"},
		{name: "any allow window will do", global: []api.SyncWindow{officeBerlin}, stack: []api.SyncWindow{allow("0 12 * * 6", 2*time.Hour, "")},
			now: "2025-01-11T12:30:00Z", open: true},
		{name: "deny beats allow", global: []api.SyncWindow{allow("0 0 * * *", 24*time.Hour, "")}, stack: []api.SyncWindow{nightly},
			now: "2025-01-10T23:00:00Z", reason: "deny window", nextOpen: "2025-01-11T06:00:00Z"},
		{name: "deny ends inside an allow window",
			global: []api.SyncWindow{allow("0 8 * * *", 2*time.Hour, ""), deny("0 7 * * *", 2*time.Hour, "")},
			now:    "2025-01-10T07:30:00Z", reason: "until 09:00 UTC", nextOpen: "2025-01-10T09:00:00Z"},
		{name: "next allow window starts under a deny",
			global: []api.SyncWindow{allow("0 8 * * *", 2*time.Hour, ""), deny("0 7 * * *", 2*time.Hour, "")},
			now:    "2025-01-10T10:30:00Z", reason: "the next opens at 2025-01-11 08:00 UTC", nextOpen: "2025-01-11T09:00:00Z"},
		{name: "firings that overlap extend the window", global: []api.SyncWindow{deny("0 22,23 * * *", 90*time.Minute, "")},
			now: "2025-01-10T22:30:00Z", reason: `(1h30m) is open until 2025-01-11 00:30 UTC`, nextOpen: "2025-01-11T00:30:00Z"},
		{name: "a deny window that never closes", global: []api.SyncWindow{deny("*/5 * * * *", 10*time.Minute, "")},
			now: "2025-01-10T22:30:00Z", reason: `deny window "*/5 * * * *" (10m) is open`},
		{name: "an invalid window closes", global: []api.SyncWindow{deny("0 25 * * *", time.Hour, "")},
			now: "2025-01-10T22:30:00Z", reason: `sync window "0 25 * * *" is invalid: schedule:`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckWindows(tc.global, tc.stack, at(t, tc.now))
			if got.Open != tc.open {
				t.Fatalf("Open = %v (reason %q), want %v", got.Open, got.Reason, tc.open)
			}
			if tc.open && (got.Reason != "" || !got.NextOpen.IsZero()) {
				t.Fatalf("open, yet Reason = %q, NextOpen = %v", got.Reason, got.NextOpen)
			}
			if !tc.open && !strings.Contains(got.Reason, tc.reason) {
				t.Fatalf("Reason = %q, want it to contain %q", got.Reason, tc.reason)
			}
			var want time.Time
			if tc.nextOpen != "" {
				want = at(t, tc.nextOpen)
			}
			if !got.NextOpen.Equal(want) {
				t.Fatalf("NextOpen = %v, want %v", got.NextOpen, want)
			}
		})
	}
}

func TestCheckWindowsNeverClosesUntilStated(t *testing.T) {
	// The "never closes" reason must not claim an end time it cannot know.
	got := CheckWindows([]api.SyncWindow{deny("*/5 * * * *", 10*time.Minute, "")}, nil, at(t, "2025-01-10T22:30:00Z"))
	if strings.Contains(got.Reason, "until") {
		t.Fatalf("Reason = %q, want no end time for a window whose firings always overlap", got.Reason)
	}
}

func TestValidateWindow(t *testing.T) {
	for _, tc := range []struct {
		w    api.SyncWindow
		want string // "" for valid
	}{
		{w: deny("0 22 * * 1-5", 8*time.Hour, "Europe/Berlin")},
		{w: allow("@daily", time.Hour, "UTC")},
		{w: allow("30 9 1 */3 *", 90*time.Second, "")},
		{w: api.SyncWindow{Schedule: "0 22 * * *", Duration: time.Hour}, want: "kind: missing; set allow or deny"},
		{w: api.SyncWindow{Kind: "block", Schedule: "0 22 * * *", Duration: time.Hour}, want: `kind: unknown kind "block"; use allow or deny`},
		{w: deny("", time.Hour, ""), want: "schedule: missing; use five fields"},
		{w: deny("0 25 * * *", time.Hour, ""), want: `schedule: "0 25 * * *" is not a cron schedule (`},
		{w: deny("0 0 22 * * *", time.Hour, ""), want: `schedule: "0 0 22 * * *" is not a cron schedule`},
		{w: deny("TZ=UTC 0 1 * * *", time.Hour, ""), want: "set it with time_zone"},
		{w: deny("TZ=", time.Hour, ""), want: "set it with time_zone"},
		{w: deny("@every 1h", time.Hour, ""), want: "has no fixed times"},
		{w: deny("0 22 * * *", 0, ""), want: "duration: must be more than zero"},
		{w: deny("0 22 * * *", -time.Hour, ""), want: "duration: must be more than zero, got -1h0m0s"},
		{w: deny("0 22 * * *", time.Hour, "Mars/Olympus"), want: `time_zone: unknown time zone "Mars/Olympus"; use an IANA name`},
		{w: deny("0 22 * * *", time.Hour, "Local"), want: `time_zone: "Local" depends on each host's settings`},
	} {
		err := ValidateWindow(tc.w)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("ValidateWindow(%+v) = %v, want nil", tc.w, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("ValidateWindow(%+v) = %v, want it to contain %q", tc.w, err, tc.want)
		}
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		8 * time.Hour:           "8h",
		90 * time.Minute:        "1h30m",
		10 * time.Minute:        "10m",
		90 * time.Second:        "1m30s",
		time.Hour + time.Second: "1h0m1s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
