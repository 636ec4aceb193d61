package stackspec

import (
	"fmt"
	"math/big"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/swarm"
)

// resources converts deploy.resources. Docker always sends the structure,
// empty when the file sets nothing. Limits take cpus, memory and pids;
// reservations take cpus, memory and discrete generic resources.
func (c *converter) resources(path string, r types.Resources) *swarm.ResourceRequirements {
	out := &swarm.ResourceRequirements{}
	if l := r.Limits; l != nil {
		out.Limits = &swarm.Limit{
			NanoCPUs:    c.nanoCPUs(path+".limits.cpus", l.NanoCPUs),
			MemoryBytes: int64(l.MemoryBytes),
			Pids:        l.Pids,
		}
		if len(l.GenericResources) > 0 {
			c.fail(path+".limits.generic_resources", "generic resources can only be reserved: move them to reservations")
		}
		if len(l.Devices) > 0 {
			c.fail(path+".limits.devices", "docker stack deploy does not accept devices; reserve generic_resources instead")
		}
	}
	if res := r.Reservations; res != nil {
		out.Reservations = &swarm.Resources{
			NanoCPUs:    c.nanoCPUs(path+".reservations.cpus", res.NanoCPUs),
			MemoryBytes: int64(res.MemoryBytes),
		}
		if res.Pids != 0 {
			c.fail(path+".reservations.pids", "pids can only be limited: move it to limits")
		}
		if len(res.Devices) > 0 {
			c.fail(path+".reservations.devices", "docker stack deploy does not accept devices; reserve generic_resources instead")
		}
		for _, g := range res.GenericResources {
			var gr swarm.GenericResource
			if d := g.DiscreteResourceSpec; d != nil {
				gr.DiscreteResourceSpec = &swarm.DiscreteGenericResource{Kind: d.Kind, Value: d.Value}
			}
			out.Reservations.GenericResources = append(out.Reservations.GenericResources, gr)
		}
	}
	return out
}

// nanoCPUs turns a CPU count into billionths of a CPU, exactly as Docker
// does from the decimal written in the file. compose-go keeps the count as a
// float32; its shortest decimal form is the one written, for any count a
// person writes (0.1, 0.25, 1.5), so that is what is parsed.
func (c *converter) nanoCPUs(path string, cpus types.NanoCPUs) int64 {
	if cpus == 0 {
		return 0
	}
	text := strconv.FormatFloat(float64(cpus), 'f', -1, 32)
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		c.failf(path, "%s is not a number of CPUs", text)
		return 0
	}
	r.Mul(r, big.NewRat(1e9, 1))
	if !r.IsInt() {
		c.failf(path, "%s CPUs is finer than a billionth of a CPU: round it", text)
		return 0
	}
	if !r.Num().IsInt64() {
		c.fail(path, fmt.Sprintf("%s CPUs is too many", text))
		return 0
	}
	return r.Num().Int64()
}
