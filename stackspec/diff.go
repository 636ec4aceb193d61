package stackspec

import (
	"cmp"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/swarmops/swarmops/api"
)

// Diff plans what applying desired over actual does, per stack: services,
// networks, secrets and configs to create, update and remove, each update
// with its field-level changes (path: old -> new) and whether it restarts
// tasks. Either side may be nil, meaning an empty stack. Changes are ordered
// as api.ChangeSet documents, and by name within each group.
//
// Besides Normalize, Diff follows what `docker stack deploy` does on an
// existing stack: a force_update counter lower than the cluster's is kept
// (deploy preserves it), an image the cluster runs pinned to a digest is
// unchanged when the stack file names the same tag again, and secret or
// config data the actual side withholds (the Engine API never returns it)
// is not compared.
func Diff(desired, actual *api.StackSpec) api.ChangeSet {
	if desired == nil {
		desired = &api.StackSpec{}
	}
	if actual == nil {
		actual = &api.StackSpec{}
	}
	netUp, netRm := planKind(api.KindNetwork, desired.Networks, actual.Networks, diffNetwork)
	secUp, secRm := planKind(api.KindSecret, desired.Secrets, actual.Secrets, diffSecret)
	cfgUp, cfgRm := planKind(api.KindConfig, desired.Configs, actual.Configs, diffConfig)
	svcUp, svcRm := planKind(api.KindService, desired.Services, actual.Services, diffService)

	changes := make([]api.Change, 0)
	for _, group := range [][]api.Change{netUp, secUp, cfgUp, svcUp, svcRm, netRm, secRm, cfgRm} {
		changes = append(changes, group...)
	}
	return api.ChangeSet{Stack: cmp.Or(desired.Namespace, actual.Namespace), Changes: changes}
}

// planKind compares the objects of one kind by name. update returns false
// when the two specs mean the same.
func planKind[T any](kind api.Kind, desired, actual map[string]T, update func(name string, d, a T) (api.Change, bool)) (upserts, removals []api.Change) {
	names := make([]string, 0, len(desired)+len(actual))
	for name := range desired {
		names = append(names, name)
	}
	for name := range actual {
		if _, ok := desired[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		d, inDesired := desired[name]
		a, inActual := actual[name]
		switch {
		case !inActual:
			upserts = append(upserts, api.Change{Kind: kind, Name: name, Action: api.ActionCreate})
		case !inDesired:
			removals = append(removals, api.Change{Kind: kind, Name: name, Action: api.ActionRemove})
		default:
			if c, changed := update(name, d, a); changed {
				upserts = append(upserts, c)
			}
		}
	}
	return upserts, removals
}

// Notes a plan shows beside an update, for what the fields alone don't say.
const (
	noteModeChange      = "Swarm cannot change a service's mode: the service is removed and created again"
	noteJobRerun        = "a job runs again after every update"
	noteConstraintsOnly = "only tasks on nodes that no longer satisfy the constraints are replaced"
	notePlacementOnly   = "placement only: running tasks stay where they are"
	noteNetworkRecreate = "Docker cannot update a network: it must be removed (every service detached) and created again; docker stack deploy leaves it unchanged"
	noteSecretRecreate  = "Swarm updates only a secret's labels: the new content needs the secret removed and created again, or a new name"
	noteConfigRecreate  = "Swarm updates only a config's labels: the new content needs the config removed and created again, or a new name"
)

// Field paths whose changes decide what an update does.
const (
	pathTask         = "TaskTemplate"
	pathPlacement    = "TaskTemplate.Placement"
	pathConstraints  = "TaskTemplate.Placement.Constraints"
	pathEndpoint     = "EndpointSpec"
	pathLabels       = "Labels"
	pathContainerEnv = "TaskTemplate.ContainerSpec.Env"
)

// overlayVXLANOption is written into an overlay network's options by the
// Swarm allocator, not asked for by a stack file.
const overlayVXLANOption = "com.docker.network.driver.overlay.vxlanid_list"

func diffService(name string, d, a swarm.ServiceSpec) (api.Change, bool) {
	desired, actual := Normalize(d), Normalize(a)
	// docker stack deploy copies the cluster's counter into the spec it
	// sends, so only a higher one in the stack file forces a roll.
	if desired.TaskTemplate.ForceUpdate < actual.TaskTemplate.ForceUpdate {
		desired.TaskTemplate.ForceUpdate = actual.TaskTemplate.ForceUpdate
	}
	keepPinnedImage(&desired, actual)
	fields := fieldChanges(actual, desired)
	if len(fields) == 0 {
		return api.Change{}, false
	}
	c := api.Change{Kind: api.KindService, Name: name, Action: api.ActionUpdate, Fields: fields}

	// SwarmKit replaces a task when its task spec or the service's
	// endpoint differs from the task's copy (orchestrator.IsTaskDirty),
	// except when only the placement changed and the task's node still
	// satisfies the constraints. Labels, mode counts and update and
	// rollback configs live outside both, so they only touch the record.
	var task, endpoint, placement, constraints bool
	for _, f := range fields {
		switch {
		case hasPathPrefix(f.Path, pathConstraints):
			placement, constraints = true, true
		case hasPathPrefix(f.Path, pathPlacement):
			placement = true
		case hasPathPrefix(f.Path, pathTask):
			task = true
		case hasPathPrefix(f.Path, pathEndpoint):
			endpoint = true
		}
	}
	switch {
	case api.ModeName(desired.Mode) != api.ModeName(actual.Mode):
		// SwarmKit rejects a mode change on update.
		c.Restarts, c.Recreate, c.Note = true, true, noteModeChange
	case desired.Mode.ReplicatedJob != nil || desired.Mode.GlobalJob != nil:
		// Every update of a job starts a new iteration with new tasks.
		c.Restarts, c.Note = true, noteJobRerun
	default:
		c.Restarts = task || endpoint || constraints
		if placement && !task && !endpoint {
			c.Note = notePlacementOnly
			if constraints {
				c.Note = noteConstraintsOnly
			}
		}
	}
	return c, true
}

// keepPinnedImage treats an image the cluster runs as "ref@sha256:..." as
// unchanged when the stack file names the same ref: deploying resolves the
// tag to that digest, and whether the tag has moved since can only be told
// by a registry, which a plan does not ask. Both specs are normalised.
func keepPinnedImage(desired *swarm.ServiceSpec, actual swarm.ServiceSpec) {
	dc, ac := desired.TaskTemplate.ContainerSpec, actual.TaskTemplate.ContainerSpec
	if dc == nil || ac == nil || strings.Contains(dc.Image, "@") {
		return
	}
	if ref, _, pinned := strings.Cut(ac.Image, "@"); pinned && canonicalImage(ref) == dc.Image {
		dc.Image = ac.Image
	}
}

func diffNetwork(name string, d, a network.CreateRequest) (api.Change, bool) {
	desired, actual := normalizeNetwork(d), normalizeNetwork(a)
	// The map key is the network's name; a request may leave Name empty.
	desired.Name, actual.Name = name, name
	// Swarm allocates a subnet when none is asked for, and a VXLAN ID for
	// an overlay; neither is drift.
	if len(desired.IPAM.Config) == 0 {
		actual.IPAM.Config = nil
	}
	if _, asked := desired.Options[overlayVXLANOption]; !asked && actual.Options[overlayVXLANOption] != "" {
		// normalizeNetwork returned a copy, so this edits no caller's map.
		delete(actual.Options, overlayVXLANOption)
		if len(actual.Options) == 0 {
			actual.Options = nil
		}
	}
	fields := fieldChanges(actual, desired)
	if len(fields) == 0 {
		return api.Change{}, false
	}
	return api.Change{
		Kind: api.KindNetwork, Name: name, Action: api.ActionUpdate, Fields: fields,
		Recreate: true, Note: noteNetworkRecreate,
	}, true
}

func diffSecret(name string, d, a swarm.SecretSpec) (api.Change, bool) {
	desired, actual := normalizeSecret(d), normalizeSecret(a)
	desired.Name, actual.Name = name, name
	// Swarm refuses empty data, so nil data is data not given: the Engine
	// API withholds it, and an update without data keeps the old one.
	if actual.Data == nil || desired.Data == nil {
		actual.Data, desired.Data = nil, nil
	}
	return immutableChange(api.KindSecret, name, fieldChanges(actual, desired), noteSecretRecreate)
}

func diffConfig(name string, d, a swarm.ConfigSpec) (api.Change, bool) {
	desired, actual := normalizeConfig(d), normalizeConfig(a)
	desired.Name, actual.Name = name, name
	if actual.Data == nil || desired.Data == nil {
		actual.Data, desired.Data = nil, nil
	}
	return immutableChange(api.KindConfig, name, fieldChanges(actual, desired), noteConfigRecreate)
}

// immutableChange builds the update of a secret or config: labels change in
// place, anything else needs the object made anew.
func immutableChange(kind api.Kind, name string, fields []api.FieldChange, note string) (api.Change, bool) {
	if len(fields) == 0 {
		return api.Change{}, false
	}
	c := api.Change{Kind: kind, Name: name, Action: api.ActionUpdate, Fields: fields}
	for _, f := range fields {
		if !hasPathPrefix(f.Path, pathLabels) {
			c.Recreate, c.Note = true, note
		}
	}
	return c, true
}

func hasPathPrefix(path, prefix string) bool {
	rest, ok := strings.CutPrefix(path, prefix)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}

// fieldChanges lists the fields where newer differs from older, walking both
// (normalised, of one type) in Engine API JSON names: structs by field, maps
// by key, lists of things with an identity by that identity, other lists as
// whole values.
func fieldChanges(older, newer any) []api.FieldChange {
	var w fieldWalker
	w.walk("", reflect.ValueOf(older), reflect.ValueOf(newer))
	return w.changes
}

type fieldWalker struct{ changes []api.FieldChange }

func (w *fieldWalker) add(path string, older, newer reflect.Value) {
	w.changes = append(w.changes, api.FieldChange{Path: path, Old: renderJSON(older), New: renderJSON(newer)})
}

func (w *fieldWalker) walk(path string, a, b reflect.Value) {
	if a.Type() != b.Type() {
		w.add(path, a, b)
		return
	}
	if reflect.DeepEqual(a.Interface(), b.Interface()) {
		return
	}
	if _, ok := leafRenderers[a.Type()]; ok {
		w.add(path, a, b)
		return
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			w.add(path, a, b)
			return
		}
		w.walk(path, a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			f := a.Type().Field(i)
			name, ok := jsonName(f)
			if !ok {
				continue
			}
			sub := joinFieldPath(path, name)
			if f.Anonymous && name == f.Name && f.Type.Kind() == reflect.Struct {
				// encoding/json flattens an untagged embedded struct.
				sub = path
			}
			w.walk(sub, a.Field(i), b.Field(i))
		}
	case reflect.Map:
		w.walkKeyed(path, mapItems(a), mapItems(b))
	case reflect.Slice:
		ai, aok := sliceItems(path, a)
		bi, bok := sliceItems(path, b)
		if !aok || !bok {
			w.add(path, a, b)
			return
		}
		w.walkKeyed(path, ai, bi)
	default:
		w.add(path, a, b)
	}
}

func (w *fieldWalker) walkKeyed(path string, a, b map[string]reflect.Value) {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, naturalCompare)
	for _, k := range keys {
		sub := path + "[" + k + "]"
		av, aok := a[k]
		bv, bok := b[k]
		if aok && bok {
			w.walk(sub, av, bv)
		} else {
			w.add(sub, av, bv)
		}
	}
}

func joinFieldPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// jsonName is the field's name in the Engine API's JSON, false for fields
// JSON leaves out.
func jsonName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	switch name {
	case "-":
		return "", false
	case "":
		return f.Name, true
	}
	return name, true
}

func mapItems(m reflect.Value) map[string]reflect.Value {
	items := make(map[string]reflect.Value, m.Len())
	iter := m.MapRange()
	for iter.Next() {
		items[fmt.Sprint(iter.Key().Interface())] = iter.Value()
	}
	return items
}

// itemKeys name the identity of list items a plan should follow one by one.
var itemKeys = map[reflect.Type]func(any) string{
	reflect.TypeFor[mount.Mount]():                   func(v any) string { return v.(mount.Mount).Target },
	reflect.TypeFor[swarm.NetworkAttachmentConfig](): func(v any) string { return v.(swarm.NetworkAttachmentConfig).Target },
	reflect.TypeFor[swarm.PortConfig]():              func(v any) string { return portKey(v.(swarm.PortConfig)) },
	reflect.TypeFor[*swarm.SecretReference]():        func(v any) string { return secretRefKey(v.(*swarm.SecretReference)) },
	reflect.TypeFor[*swarm.ConfigReference]():        func(v any) string { return configRefKey(v.(*swarm.ConfigReference)) },
	reflect.TypeFor[*container.Ulimit]():             func(v any) string { return ulimitName(v.(*container.Ulimit)) },
}

// portKey is how a plan names a published port: "8080/tcp", or
// "auto:80/tcp" for a target port Swarm publishes on a port it picks.
func portKey(p swarm.PortConfig) string {
	if p.PublishedPort == 0 {
		return fmt.Sprintf("auto:%d/%s", p.TargetPort, p.Protocol)
	}
	return fmt.Sprintf("%d/%s", p.PublishedPort, p.Protocol)
}

// sliceItems keys a list by its items' identity; false when the items have
// none or two items share one, so the list compares as a whole.
func sliceItems(path string, s reflect.Value) (map[string]reflect.Value, bool) {
	if path == pathContainerEnv {
		return envItems(s.Interface().([]string))
	}
	key, ok := itemKeys[s.Type().Elem()]
	if !ok {
		return nil, false
	}
	items := make(map[string]reflect.Value, s.Len())
	for i := range s.Len() {
		k := key(s.Index(i).Interface())
		if _, dup := items[k]; dup {
			return nil, false
		}
		items[k] = s.Index(i)
	}
	return items, true
}

// envItems keys environment entries by variable; an entry without "=" has
// the value null, unlike an absent variable.
func envItems(env []string) (map[string]reflect.Value, bool) {
	items := make(map[string]reflect.Value, len(env))
	for _, e := range env {
		k, v, hasValue := strings.Cut(e, "=")
		if _, dup := items[k]; dup {
			return nil, false
		}
		if hasValue {
			items[k] = reflect.ValueOf(v)
		} else {
			items[k] = reflect.ValueOf(json.RawMessage("null"))
		}
	}
	return items, true
}

// naturalCompare orders keys with digit runs compared as numbers, so port
// 443 comes before 8080 and Env[A2] before Env[A10].
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da != "" && db != "" {
			na, nb := strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
			if c := cmp.Or(cmp.Compare(len(na), len(nb)), cmp.Compare(na, nb)); c != 0 {
				return c
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digitPrefix(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// leafRenderers write values whose JSON a person can't read in a plan:
// durations as "5s", file modes in octal, and bytes (secret and config data,
// seccomp profiles) as a digest, which also keeps secrets out of plans.
var leafRenderers = map[reflect.Type]func(reflect.Value) string{
	reflect.TypeFor[time.Duration](): func(v reflect.Value) string {
		return strconv.Quote(time.Duration(v.Int()).String())
	},
	reflect.TypeFor[os.FileMode](): func(v reflect.Value) string {
		return strconv.Quote(fmt.Sprintf("%#o", v.Uint()))
	},
	reflect.TypeFor[[]byte](): func(v reflect.Value) string {
		if v.IsNil() {
			return "null"
		}
		sum := sha256.Sum256(v.Bytes())
		return strconv.Quote("sha256:" + hex.EncodeToString(sum[:]))
	},
}

// renderJSON writes v as compact JSON with leafRenderers applied at any
// depth; "" for a value absent on its side (a missing key, a nil pointer,
// list or map), as api.FieldChange documents.
func renderJSON(v reflect.Value) string {
	if !v.IsValid() {
		return ""
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
		if v.IsNil() {
			return ""
		}
	}
	var b strings.Builder
	writeJSON(&b, v)
	return b.String()
}

func writeJSON(b *strings.Builder, v reflect.Value) {
	if r, ok := leafRenderers[v.Type()]; ok {
		b.WriteString(r(v))
		return
	}
	if v.Type().Implements(reflect.TypeFor[json.Marshaler]()) || v.Type().Implements(reflect.TypeFor[encoding.TextMarshaler]()) {
		writeMarshalled(b, v)
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("null")
			return
		}
		writeJSON(b, v.Elem())
	case reflect.Struct:
		b.WriteByte('{')
		writeFields(b, v, true)
		b.WriteByte('}')
	case reflect.Map:
		if v.IsNil() {
			b.WriteString("null")
			return
		}
		items := mapItems(v)
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range items {
				if !yield(k) {
					return
				}
			}
		})
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Quote(k))
			b.WriteByte(':')
			writeJSON(b, items[k])
		}
		b.WriteByte('}')
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			b.WriteString("null")
			return
		}
		b.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, v.Index(i))
		}
		b.WriteByte(']')
	default:
		writeMarshalled(b, v)
	}
}

// writeFields writes a struct's fields as encoding/json would, honouring
// omitempty and flattening untagged embedded structs; it reports whether
// the next field is the first written.
func writeFields(b *strings.Builder, v reflect.Value, first bool) bool {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, ok := jsonName(f)
		if !ok {
			continue
		}
		fv := v.Field(i)
		if f.Anonymous && name == f.Name && f.Type.Kind() == reflect.Struct {
			first = writeFields(b, fv, first)
			continue
		}
		if strings.Contains(f.Tag.Get("json"), ",omitempty") && isEmptyJSON(fv) {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(strconv.Quote(name))
		b.WriteByte(':')
		writeJSON(b, fv)
	}
	return first
}

// isEmptyJSON is encoding/json's notion of an empty value for omitempty.
func isEmptyJSON(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

func writeMarshalled(b *strings.Builder, v reflect.Value) {
	out, err := json.Marshal(v.Interface())
	if err != nil {
		// Only values of the Engine API types reach here, and they marshal.
		panic(fmt.Sprintf("stackspec: render %s: %v", v.Type(), err))
	}
	b.Write(out)
}
