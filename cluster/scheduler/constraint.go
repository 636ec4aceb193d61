package scheduler

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/docker/docker/api/types/swarm"
)

// ErrBadConstraint is what every *ConstraintError matches with errors.Is.
var ErrBadConstraint = errors.New("invalid placement constraint")

// ConstraintError names a placement constraint that does not parse and why.
type ConstraintError struct {
	Constraint string
	Reason     string
}

func (e *ConstraintError) Error() string {
	return fmt.Sprintf("invalid placement constraint %q: %s", e.Constraint, e.Reason)
}

// Unwrap lets callers test for any bad constraint with errors.Is.
func (e *ConstraintError) Unwrap() error { return ErrBadConstraint }

const (
	nodeLabelPrefix   = "node.labels."
	engineLabelPrefix = "engine.labels."
)

// The same grammar Docker accepts, so a service the Engine API takes is one
// we can schedule: keys look like dotted identifiers and values may not
// contain anything that could later become an operator (<, >, ~ ...).
var (
	constraintKey   = regexp.MustCompile(`^(?i)[a-z_][a-z0-9\-_.]+$`)
	constraintValue = regexp.MustCompile(`^(?i)[a-z0-9:\-_\s.*()?+\[\]\\^$|/]+$`)
)

// Constraint is one parsed placement constraint, "key==value" or "key!=value".
type Constraint struct {
	Key   string // as written; matched case-insensitively except the label name
	Equal bool   // == rather than !=
	Value string

	prop  property // Key resolved once at parse, as matching runs per node
	label string   // the label name of a node.labels. or engine.labels. key
}

type property int

const (
	propUnknown property = iota
	propID
	propHostname
	propRole
	propIP
	propOS
	propArch
	propNodeLabel
	propEngineLabel
)

// resolve works out which node property key names.
func resolve(key string) (property, string) {
	switch strings.ToLower(key) {
	case "node.id":
		return propID, ""
	case "node.hostname":
		return propHostname, ""
	case "node.role":
		return propRole, ""
	case "node.ip":
		return propIP, ""
	case "node.platform.os":
		return propOS, ""
	case "node.platform.arch":
		return propArch, ""
	}
	if name, ok := labelKey(key, nodeLabelPrefix); ok {
		return propNodeLabel, name
	}
	if name, ok := labelKey(key, engineLabelPrefix); ok {
		return propEngineLabel, name
	}
	return propUnknown, ""
}

// ParseConstraints parses Docker's placement constraint syntax. Unlike
// Docker, which accepts an unknown key and then never places the task, an
// unknown key is an error here: a typo in git should fail the plan, not
// leave a service pending forever.
func ParseConstraints(exprs []string) ([]Constraint, error) {
	out := make([]Constraint, 0, len(exprs))
	for _, expr := range exprs {
		c, err := parseConstraint(expr)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func parseConstraint(expr string) (Constraint, error) {
	bad := func(format string, args ...any) (Constraint, error) {
		return Constraint{}, &ConstraintError{Constraint: expr, Reason: fmt.Sprintf(format, args...)}
	}
	var key, value string
	var equal bool
	// "==" is looked for first, as Docker does, so "a!=b==c" is a bad key
	// rather than a != with a strange value.
	if k, v, ok := strings.Cut(expr, "=="); ok {
		key, value, equal = k, v, true
	} else if k, v, ok := strings.Cut(expr, "!="); ok {
		key, value = k, v
	} else {
		return bad("expected one operator from ==, !=")
	}
	key, value = strings.TrimSpace(key), strings.TrimSpace(value)
	if !constraintKey.MatchString(key) {
		return bad("key %q is invalid", key)
	}
	if !constraintValue.MatchString(value) {
		return bad("value %q is invalid", value)
	}
	prop, label := resolve(key)
	if prop == propUnknown {
		return bad("unknown key %q (want node.id, node.hostname, node.role, node.ip, node.platform.os, node.platform.arch, node.labels.<name> or engine.labels.<name>)", key)
	}
	return Constraint{Key: key, Equal: equal, Value: value, prop: prop, label: label}, nil
}

// labelKey returns the label name of key if key starts with prefix
// (case-insensitively); the label name itself keeps its case.
func labelKey(key, prefix string) (string, bool) {
	if len(key) <= len(prefix) || !strings.EqualFold(key[:len(prefix)], prefix) {
		return "", false
	}
	return key[len(prefix):], true
}

// Matches reports whether node satisfies c. A property the node lacks reads
// as the empty string, so "==" fails and "!=" holds, as in Docker.
// A Constraint built by hand rather than parsed is resolved on each call;
// one with an unknown key matches no node, as in Docker.
func (c Constraint) Matches(node *swarm.Node) bool {
	prop, label := c.prop, c.label
	if prop == propUnknown {
		prop, label = resolve(c.Key)
	}
	var got string
	switch prop {
	case propID:
		got = node.ID
	case propHostname:
		got = node.Description.Hostname
	case propRole:
		got = string(node.Spec.Role)
	case propIP:
		return c.matchesIP(node.Status.Addr)
	case propOS:
		got = node.Description.Platform.OS
	case propArch:
		got = node.Description.Platform.Architecture
	case propNodeLabel:
		got = node.Spec.Labels[label]
	case propEngineLabel:
		got = node.Description.Engine.Labels[label]
	default:
		return false
	}
	return strings.EqualFold(c.Value, got) == c.Equal
}

func (c Constraint) matchesIP(addr string) bool {
	nodeIP := net.ParseIP(addr)
	if ip := net.ParseIP(c.Value); ip != nil {
		return ip.Equal(nodeIP) == c.Equal
	}
	if _, subnet, err := net.ParseCIDR(c.Value); err == nil {
		return subnet.Contains(nodeIP) == c.Equal
	}
	// Docker places nothing under a malformed address, whichever operator.
	return false
}

// labelValue reads node.labels.X or engine.labels.X; anything else reads
// as absent.
func labelValue(node *swarm.Node, key string) string {
	if name, ok := labelKey(key, nodeLabelPrefix); ok {
		return node.Spec.Labels[name]
	}
	if name, ok := labelKey(key, engineLabelPrefix); ok {
		return node.Description.Engine.Labels[name]
	}
	return ""
}

func matchesAll(cs []Constraint, node *swarm.Node) bool {
	for _, c := range cs {
		if !c.Matches(node) {
			return false
		}
	}
	return true
}
