package stackspec

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
)

// extensionKey is the service-level extension holding what swarmops adds
// to Swarm.
const extensionKey = "x-swarmops"

// drivers are the runtimes a service may ask for with x-swarmops.driver.
var drivers = []string{"docker", "exec"}

// swarmopsExtension applies a service's x-swarmops block to its spec:
// driver picks the runtime (api.LabelDriver on the container spec). Every
// other key is an error naming the keys there are, so a typo never passes
// silently.
func (c *converter) swarmopsExtension(base string, svc types.ServiceConfig, spec *swarm.ServiceSpec) {
	raw, ok := svc.Extensions[extensionKey]
	if !ok || raw == nil {
		return
	}
	path := base + "." + extensionKey
	block, ok := raw.(map[string]any)
	if !ok {
		c.failf(path, "must be a mapping, e.g. {driver: exec}, not %T", raw)
		return
	}
	keys := make([]string, 0, len(block))
	for k := range block {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := block[k]
		switch k {
		case "driver":
			d, ok := v.(string)
			if !ok || !slices.Contains(drivers, d) {
				c.failf(path+".driver", "unknown driver %v: use one of %s", v, strings.Join(drivers, ", "))
				continue
			}
			cs := spec.TaskTemplate.ContainerSpec
			if cs.Labels == nil {
				cs.Labels = map[string]string{}
			}
			cs.Labels[api.LabelDriver] = d
		default:
			c.fail(path+"."+k, fmt.Sprintf("unknown key %q: x-swarmops knows driver", k))
		}
	}
}
