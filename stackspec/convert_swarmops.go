package stackspec

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
	"github.com/swarmops/swarmops/deploy"
)

// extensionKey is the extension holding what swarmops adds to Swarm: on a
// service, for that service; at the top of the file, the default for every
// service of the stack.
const extensionKey = "x-swarmops"

// drivers are the runtimes a service may ask for with x-swarmops.driver.
var drivers = []string{"docker", "exec"}

// The keys of an x-swarmops block besides driver: the health gates, each
// written to the service label the rollout engine reads.
var gateLabels = map[string]string{
	"min_healthy_time":  deploy.LabelMinHealthyTime,
	"healthy_deadline":  deploy.LabelHealthyDeadline,
	"progress_deadline": deploy.LabelProgressDeadline,
	"auto_rollback":     deploy.LabelAutoRollback,
}

const keyDriver = "driver"

// knownKeys lists the keys an x-swarmops block may hold, for messages.
func knownKeys() string {
	return strings.Join(slices.Sorted(maps.Keys(gateLabels)), ", ") + " and " + keyDriver
}

// setting is one checked x-swarmops value: what it becomes and where it
// is written.
type setting struct {
	value string
	path  string
}

// swarmopsBlock is one x-swarmops block, checked: its settings by key.
type swarmopsBlock map[string]setting

// readSwarmopsBlock checks one x-swarmops block written at path. Every
// problem becomes an error placed at its key, so a typo never passes
// silently; what is valid is returned.
func (c *converter) readSwarmopsBlock(path string, raw any) swarmopsBlock {
	out := swarmopsBlock{}
	if raw == nil {
		return out
	}
	block, ok := raw.(map[string]any)
	if !ok {
		c.failf(path, "must be a mapping, e.g. {driver: exec} or {min_healthy_time: 10s}, not %s", describeValue(raw))
		return out
	}
	for _, k := range slices.Sorted(maps.Keys(block)) {
		v, at := block[k], path+"."+k
		switch _, gate := gateLabels[k]; {
		case k == keyDriver:
			d, ok := v.(string)
			if !ok || !slices.Contains(drivers, d) {
				c.failf(at, "unknown driver %v: use one of %s", v, strings.Join(drivers, ", "))
				continue
			}
			out[k] = setting{d, at}
		case gate && k == "auto_rollback":
			b, err := gateBool(v)
			if err != nil {
				c.fail(at, err.Error())
				continue
			}
			out[k] = setting{b, at}
		case gate:
			d, err := gateDuration(v)
			if err != nil {
				c.fail(at, err.Error())
				continue
			}
			out[k] = setting{d, at}
		default:
			c.failf(at, "unknown key %q: x-swarmops knows %s", k, knownKeys())
		}
	}
	return out
}

// gateDuration reads a duration as compose writes them ("10s", "1m30s",
// "1h"), returning it as a Go duration string, which is what the rollout
// engine reads from the label.
func gateDuration(v any) (string, error) {
	switch v.(type) {
	case string, int, int64, uint64, float64:
	default:
		return "", fmt.Errorf("must be a duration such as 10s or 1m30s, not %s", describeValue(v))
	}
	var d types.Duration
	if err := d.DecodeMapstructure(v); err != nil {
		return "", fmt.Errorf("%q is not a duration: write one such as 10s or 1m30s", fmt.Sprint(v))
	}
	if d < 0 {
		return "", fmt.Errorf("must not be negative, got %s", time.Duration(d))
	}
	return time.Duration(d).String(), nil
}

// gateBool reads true or false; a variable substituted into the file
// arrives as the text "true" or "false".
func gateBool(v any) (string, error) {
	switch b := v.(type) {
	case bool:
		return fmt.Sprint(b), nil
	case string:
		if b == "true" || b == "false" {
			return b, nil
		}
	}
	return "", fmt.Errorf("must be true or false, got %s", describeValue(v))
}

// stackSwarmops reads the stack's top-level x-swarmops block, the default
// of every service.
func (c *converter) stackSwarmops() swarmopsBlock {
	return c.readSwarmopsBlock(extensionKey, c.p.Extensions[extensionKey])
}

// swarmopsExtension applies the service's x-swarmops block, over the
// stack's, to its spec: driver picks the runtime (api.LabelDriver on the
// container spec) and each health gate becomes its deploy.Label* service
// label. A service's own block wins over the stack's; a label the service
// sets itself (labels:, deploy.labels:) wins over the stack's block and
// loses to the service's.
func (c *converter) swarmopsExtension(base string, svc types.ServiceConfig, spec *swarm.ServiceSpec) {
	own := c.readSwarmopsBlock(base+"."+extensionKey, svc.Extensions[extensionKey])
	cs := spec.TaskTemplate.ContainerSpec
	if d, ok := own[keyDriver]; ok {
		cs.Labels[api.LabelDriver] = d.value
	} else if d, ok := c.stackBlock[keyDriver]; ok {
		if _, set := cs.Labels[api.LabelDriver]; !set {
			cs.Labels[api.LabelDriver] = d.value
		}
	}
	from := map[string]string{} // gate key -> where its value is written
	for _, key := range slices.Sorted(maps.Keys(gateLabels)) {
		label := gateLabels[key]
		if s, ok := own[key]; ok {
			spec.Labels[label], from[key] = s.value, s.path
			continue
		}
		if v, set := spec.Labels[label]; set {
			path := base + ".deploy.labels." + label
			if !c.checkGateLabel(path, key, v) {
				continue
			}
			from[key] = path
			continue
		}
		if s, ok := c.stackBlock[key]; ok {
			spec.Labels[label], from[key] = s.value, s.path
		}
	}
	c.checkGateOrder(spec.Labels, from)
}

// checkGateLabel holds a health-gate label written by hand to what the
// rollout engine reads.
func (c *converter) checkGateLabel(path, key, value string) bool {
	var err error
	if key == "auto_rollback" {
		_, err = gateBool(value)
	} else if _, perr := time.ParseDuration(value); perr != nil {
		err = fmt.Errorf("%q is not a Go duration: write one such as 10s or 1m30s, or set x-swarmops.%s instead", value, key)
	}
	if err != nil {
		c.fail(path, err.Error())
		return false
	}
	return true
}

// checkGateOrder refuses deadlines that cannot work together: a
// replacement must be able to count as healthy (min_healthy_time) before
// it is failed for not being healthy (healthy_deadline), and must be given
// that chance before the whole rollout is failed for making no progress
// (progress_deadline). A zero deadline is no deadline.
func (c *converter) checkGateOrder(labels map[string]string, from map[string]string) {
	get := func(key string) time.Duration {
		d, _ := time.ParseDuration(labels[gateLabels[key]])
		return d
	}
	minHealthy, healthy, progress := get("min_healthy_time"), get("healthy_deadline"), get("progress_deadline")
	if healthy > 0 && minHealthy >= healthy {
		c.failf(from["healthy_deadline"], "healthy_deadline %s must be longer than min_healthy_time %s: a replacement would fail before it could count as healthy", healthy, minHealthy)
	}
	if progress > 0 && healthy >= progress {
		c.failf(from["progress_deadline"], "progress_deadline %s must be longer than healthy_deadline %s: the rollout would fail before a replacement could", progress, healthy)
	}
}
