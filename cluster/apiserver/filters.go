package apiserver

import (
	"net/http"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/filters"
)

// parseFilters reads the filters parameter (Docker's JSON form
// {"name":{"web":true}}, or the legacy {"name":["web"]}) and refuses
// keys the route does not know, as the daemon does.
func parseFilters(r *http.Request, accepted ...string) (filters.Args, error) {
	args, err := filters.FromJSON(r.URL.Query().Get("filters"))
	if err != nil {
		return args, badRequest("%v", err)
	}
	ok := make(map[string]bool, len(accepted))
	for _, k := range accepted {
		ok[k] = true
	}
	if err := args.Validate(ok); err != nil {
		return args, badRequest("%v", err)
	}
	return args, nil
}

// values returns a filter's values in a stable order.
func values(args filters.Args, key string) []string {
	v := args.Get(key)
	slices.Sort(v)
	return v
}

// hasPrefix reports whether s starts with one of prefixes; no prefixes
// match everything.
func hasPrefix(s string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// oneOf reports whether s is one of candidates; none match everything.
func oneOf(s string, candidates []string) bool {
	return len(candidates) == 0 || slices.Contains(candidates, s)
}

// matchLabels reports whether labels carry every "key" or "key=value" of
// the filter, as Swarm's label filters do.
func matchLabels(labels map[string]string, filter []string) bool {
	for _, kv := range filter {
		k, v, withValue := strings.Cut(kv, "=")
		got, ok := labels[k]
		if !ok || (withValue && v != "" && got != v) {
			return false
		}
	}
	return true
}
