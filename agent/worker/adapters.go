package worker

import (
	"context"

	"github.com/swarmops/swarmops/agent/docker"
	agentexec "github.com/swarmops/swarmops/agent/exec"
)

// Docker adapts the Docker engine runtime to Runtime.
func Docker(rt *docker.Runtime) Runtime { return dockerRuntime{rt} }

// Exec adapts the plain-process runtime to Runtime.
func Exec(rt *agentexec.Runtime) Runtime { return execRuntime{rt} }

type dockerRuntime struct{ *docker.Runtime }

func (r dockerRuntime) TaskIDs(ctx context.Context) ([]string, error) {
	owned, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(owned))
	for _, o := range owned {
		if o.TaskID != "" { // labelled as ours but not as a task's: not ours to remove
			ids = append(ids, o.TaskID)
		}
	}
	return ids, nil
}

type execRuntime struct{ *agentexec.Runtime }

func (r execRuntime) TaskIDs(ctx context.Context) ([]string, error) {
	owned, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(owned))
	for _, o := range owned {
		ids = append(ids, o.TaskID)
	}
	return ids, nil
}
