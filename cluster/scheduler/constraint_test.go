package scheduler

import (
	"errors"
	"testing"
)

func errorIs(err, target error) bool { return errors.Is(err, target) }

func TestParseConstraints(t *testing.T) {
	good := []string{
		"node.role==manager", " node.labels.zone == eu-west-1 ", "engine.labels.os!=windows",
		"node.ip==10.0.0.0/8", "node.hostname!=web-[0-9]*", "NODE.ID==abc",
	}
	if _, err := ParseConstraints(good); err != nil {
		t.Fatalf("ParseConstraints(%q): %v", good, err)
	}
	for _, c := range []struct{ expr, want string }{
		{"node.role=manager", `invalid placement constraint "node.role=manager": expected one operator from ==, !=`},
		{"node.labels.zone>=a", `invalid placement constraint "node.labels.zone>=a": expected one operator from ==, !=`},
		{"node.role==", `invalid placement constraint "node.role==": value "" is invalid`},
		{"node.role==a<b", `invalid placement constraint "node.role==a<b": value "a<b" is invalid`},
		{"==manager", `invalid placement constraint "==manager": key "" is invalid`},
		{"node role==manager", `invalid placement constraint "node role==manager": key "node role" is invalid`},
		{"node.labels.a!=b==c", `invalid placement constraint "node.labels.a!=b==c": key "node.labels.a!=b" is invalid`},
		{"node.labels.==x", `invalid placement constraint "node.labels.==x": unknown key "node.labels." (want node.id, node.hostname, node.role, node.ip, node.platform.os, node.platform.arch, node.labels.<name> or engine.labels.<name>)`},
		{"node.zone==a", `invalid placement constraint "node.zone==a": unknown key "node.zone" (want node.id, node.hostname, node.role, node.ip, node.platform.os, node.platform.arch, node.labels.<name> or engine.labels.<name>)`},
	} {
		_, err := ParseConstraints([]string{"node.role==worker", c.expr})
		if err == nil {
			t.Errorf("ParseConstraints(%q) = nil error, want %q", c.expr, c.want)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("ParseConstraints(%q) = %q, want %q", c.expr, err, c.want)
		}
		var ce *ConstraintError
		if !errors.As(err, &ce) || ce.Constraint != c.expr || !errors.Is(err, ErrBadConstraint) {
			t.Errorf("ParseConstraints(%q) error %#v does not name the constraint", c.expr, err)
		}
	}
}

func TestMalformedIPMatchesNothing(t *testing.T) {
	cs, err := ParseConstraints([]string{"node.ip!=10.0.0.300"})
	if err != nil {
		t.Fatal(err)
	}
	if cs[0].Matches(node("n1", ip("10.0.0.1"))) {
		t.Error("a malformed address matched a node; Docker places nothing under it")
	}
}
