package api

// Kind is the kind of a cluster object a stack owns.
type Kind string

// Object kinds, in the order a plan applies their creations: networks,
// secrets and configs before the services that use them.
const (
	KindNetwork Kind = "network"
	KindSecret  Kind = "secret"
	KindConfig  Kind = "config"
	KindService Kind = "service"
)

// Action is what a change does to an object.
type Action string

// Actions of a change.
const (
	ActionCreate Action = "create"
	ActionUpdate Action = "update"
	ActionRemove Action = "remove"
)

// FieldChange is one field that differs between the actual and the desired
// spec. Path is dotted in the Engine API's JSON names
// ("TaskTemplate.ContainerSpec.Image"); Old and New are JSON renderings of
// the values, empty when the field is absent on that side.
type FieldChange struct {
	Path string `json:"path"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
}

// Change is one object to create, update or remove.
type Change struct {
	Kind   Kind   `json:"kind"`
	Name   string `json:"name"`
	Action Action `json:"action"`
	// Fields lists, for an update, every field that differs.
	Fields []FieldChange `json:"fields,omitempty"`
	// Restarts is true when applying the change replaces running tasks: a
	// change of the task template or endpoint or a force_update bump, as
	// Swarm decides. A replica count alone only scales; service labels only
	// touch the record.
	Restarts bool `json:"restarts,omitempty"`
	// Recreate is true when Swarm cannot update the object in place: a
	// network, a secret's or config's content, a service's mode. Applying
	// the change means removing the object and creating it again.
	Recreate bool `json:"recreate,omitempty"`
	// Note explains, in a few words, what the fields alone don't say (why
	// an object must be recreated, which tasks a placement change moves).
	Note string `json:"note,omitempty"`
}

// ChangeSet is what applying one stack's desired state to the actual state
// would do. Changes are ordered: creations and updates of networks, secrets
// and configs (in that order of kinds), then services (created and
// updated), then removals of services, then of the networks, secrets and
// configs they no longer use; by name within each kind.
type ChangeSet struct {
	Stack   string   `json:"stack"`
	Changes []Change `json:"changes"`
}

// Empty reports whether the change set changes nothing.
func (c ChangeSet) Empty() bool { return len(c.Changes) == 0 }
