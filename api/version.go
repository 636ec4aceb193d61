package api

import (
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/swarm"
)

// CompareVersions compares dotted version numbers field by field, as
// Docker compares API and compose file versions: "1.9" is older than
// "1.24", "1.41" equals "1.41.0", and a field that is not a number counts as
// 0. It returns -1, 0 or 1.
func CompareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// ModeName names a service mode as Docker's filters and CLI do:
// "replicated", "global", "replicated-job" or "global-job".
func ModeName(m swarm.ServiceMode) string {
	switch {
	case m.Global != nil:
		return "global"
	case m.ReplicatedJob != nil:
		return "replicated-job"
	case m.GlobalJob != nil:
		return "global-job"
	}
	return "replicated"
}
