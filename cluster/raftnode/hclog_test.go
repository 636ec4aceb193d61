package raftnode

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// records decodes the JSON lines a slog.JSONHandler wrote.
func records(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	buf.Reset()
	return out
}

func TestHCLogAdapterMapsLevelsNamesAndArgs(t *testing.T) {
	var buf bytes.Buffer
	l := newHCLog(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: LevelTrace})), "raft")

	l.Trace("t")
	l.Debug("d")
	l.Info("i")
	l.Warn("w")
	l.Error("e", "error", errors.New("boom"), "peer", "m2", "progress", hclog.Fmt("%0.1f%%", 42.0))
	got := records(t, &buf)
	wantLevels := []string{"DEBUG-4", "DEBUG", "INFO", "WARN", "ERROR"}
	if len(got) != len(wantLevels) {
		t.Fatalf("%d records, want %d: %v", len(got), len(wantLevels), got)
	}
	for i, want := range wantLevels {
		if got[i]["level"] != want || got[i]["logger"] != "raft" {
			t.Errorf("record %d: %v, want level %s and logger raft", i, got[i], want)
		}
	}
	if last := got[4]; last["error"] != "boom" || last["peer"] != "m2" || last["progress"] != "42.0%" {
		t.Errorf("args lost: %v", last)
	}

	sub := l.Named("snapshots").With("node", "m1")
	if sub.Name() != "raft.snapshots" || len(sub.ImpliedArgs()) != 2 {
		t.Errorf("named %q implied %v", sub.Name(), sub.ImpliedArgs())
	}
	sub.Info("saved")
	if r := records(t, &buf); len(r) != 1 || r[0]["logger"] != "raft.snapshots" || r[0]["node"] != "m1" {
		t.Errorf("derived logger wrote %v", r)
	}
	if l.ResetNamed("transport").Name() != "transport" {
		t.Error("ResetNamed kept the old name")
	}
}

func TestHCLogAdapterLevelGates(t *testing.T) {
	var buf bytes.Buffer
	l := newHCLog(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), "raft")
	if l.IsDebug() || l.IsTrace() || !l.IsInfo() || !l.IsError() {
		t.Error("Is* does not follow the handler's level")
	}
	if l.GetLevel() != hclog.Info {
		t.Errorf("GetLevel %v, want the handler's Info", l.GetLevel())
	}
	l.Debug("hidden")
	if buf.Len() != 0 {
		t.Errorf("debug written below the handler's level: %s", buf.String())
	}

	// SetLevel narrows further, and loggers derived before share the gate.
	sub := l.Named("x")
	l.SetLevel(hclog.Warn)
	sub.Info("hidden")
	sub.Warn("shown")
	if r := records(t, &buf); len(r) != 1 || r[0]["msg"] != "shown" {
		t.Errorf("after SetLevel(Warn): %v", r)
	}
	l.SetLevel(hclog.Off)
	l.Error("hidden")
	if buf.Len() != 0 || l.IsError() {
		t.Errorf("logger Off still writes: %s", buf.String())
	}

	std := newHCLog(slog.New(slog.NewJSONHandler(&buf, nil)), "raft").StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn})
	std.Print("from log.Logger")
	if r := records(t, &buf); len(r) != 1 || r[0]["level"] != "WARN" || r[0]["msg"] != "from log.Logger" || r[0]["logger"] != "raft" {
		t.Errorf("StandardLogger wrote %v", r)
	}
}
