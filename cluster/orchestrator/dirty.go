package orchestrator

import (
	"reflect"

	"github.com/docker/docker/api/types/swarm"
)

// Dirty reports whether t was made from another spec than svc's current
// task template, as SwarmKit's IsTaskDirty judges it: such a task is out
// of date, and an update replaces it. The Engine API's "_up-to-date" task
// filter, which `docker service create` and `update` watch, keeps the
// tasks that are not dirty.
func Dirty(svc *swarm.Service, t *swarm.Task) bool {
	return !reflect.DeepEqual(svc.Spec.TaskTemplate, t.Spec)
}
