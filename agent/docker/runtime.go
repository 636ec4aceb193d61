package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/swarmops/swarmops/agent/runtime"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

// Runtime runs the tasks of one node on a Docker engine. Several runtimes
// (several agents) may share an engine: each sees only containers labelled
// with its node ID.
type Runtime struct {
	cli    *client.Client
	nodeID string
	node   runtime.Node
	files  *runtime.FileDir
}

// Options are a runtime's settings beyond its engine and node.
type Options struct {
	// SecretsDir is where the files of the tasks' secrets and configs are
	// written, to be bind-mounted read-only into their containers; it must
	// be on tmpfs, and is mounted with one when it is not and the agent
	// runs as root (see runtime.FileDir). The engine must see the same
	// directory, so it has to run on this host, in this mount namespace.
	// Empty, or not on tmpfs and not mountable, a task that references a
	// secret or config is refused, never written to a disk.
	SecretsDir string
	// Node is what {{.Node.*}} templates see; empty fields are this
	// machine's (runtime.ThisNode).
	Node runtime.Node
}

// New returns the runtime of node nodeID on the engine cli talks to, with
// the options given, if any (at most one).
func New(cli *client.Client, nodeID string, opts ...Options) *Runtime {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	node, this := o.Node, runtime.ThisNode(nodeID)
	node.ID = nodeID
	if node.Hostname == "" {
		node.Hostname = this.Hostname
	}
	if node.Platform == (runtime.Platform{}) {
		node.Platform = this.Platform
	}
	return &Runtime{cli: cli, nodeID: nodeID, node: node, files: runtime.NewFileDir(o.SecretsDir, nodeID, true)}
}

// Owned is a container this runtime created, as found on the engine.
type Owned struct {
	TaskID      string
	ServiceID   string
	ContainerID string
	Name        string
	State       string // the engine's: created, running, exited, ...
}

// Prepare creates the task's container, pulling its image first only when
// the engine does not have it, with the registry credentials of ts.Auth.
// The task's secrets and configs are written to the secrets dir (tmpfs)
// and bind-mounted read-only where Swarm puts them. Preparing a task whose
// container already exists succeeds, so an executor may retry it.
//
// A failed pull is not returned by itself: as in Swarm, the create that
// follows fails with the error the user sees ("No such image: ..."); the
// pull's own error is still reachable with errors.Is/As.
func (r *Runtime) Prepare(ctx context.Context, ts runtime.Spec) error {
	t := ts.Task
	cfg, hc, err := containerConfig(ts, r.node)
	if err != nil {
		return err
	}
	files, err := ts.Files()
	if err != nil {
		return err
	}
	if len(files) > 0 {
		mounts, err := r.writeFiles(t.ID, files)
		if err != nil {
			return err
		}
		hc.Mounts = append(slices.Clone(hc.Mounts), mounts...)
	}
	var pullErr error
	if _, err := r.cli.ImageInspect(ctx, cfg.Image); cerrdefs.IsNotFound(err) {
		pullErr = r.pull(ctx, cfg.Image, ts.Auth)
	}
	name := TaskName(t, ts.Service)
	_, err = r.cli.ContainerCreate(ctx, cfg, hc, nil, nil, name)
	if cerrdefs.IsConflict(err) {
		if c, ierr := r.cli.ContainerInspect(ctx, name); ierr == nil && c.Config.Labels[LabelTaskID] == t.ID {
			return nil
		}
	}
	if err != nil {
		// The files go with the failure, unless a container of the task
		// (made by an earlier Prepare) may still need them.
		if _, ferr := r.find(ctx, t.ID); len(files) > 0 && errors.Is(ferr, ErrNotFound) {
			_ = r.files.Remove(t.ID)
		}
		return engineError{err: err, pull: pullErr}
	}
	return nil
}

// writeFiles writes the task's secret and config files, named by ID, and
// returns their mounts. A secret mounted twice with different owners or
// modes gets a file per mount.
func (r *Runtime) writeFiles(taskID string, files []runtime.File) ([]mount.Mount, error) {
	if err := r.files.Ready(); err != nil {
		return nil, fmt.Errorf("task %s references %s %s: %w", taskID, files[0].Kind, files[0].Name, err)
	}
	var mounts []mount.Mount
	seen := map[string]int{}
	for _, f := range files {
		rel := f.Kind + "s/" + f.ID
		if n := seen[rel]; n > 0 {
			rel += "." + strconv.Itoa(n)
		}
		seen[f.Kind+"s/"+f.ID]++
		src, err := r.files.Write(taskID, rel, f)
		if err != nil {
			_ = r.files.Remove(taskID)
			return nil, fmt.Errorf("task %s: %w", taskID, err)
		}
		target := configTarget(f.Target)
		if f.Kind == runtime.KindSecret {
			target = secretTarget(f.Target)
		}
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: src, Target: target, ReadOnly: true})
	}
	return mounts, nil
}

// pull drains the engine's pull stream, whose failures arrive as an
// "error" member of a message rather than as an HTTP status.
func (r *Runtime) pull(ctx context.Context, ref, auth string) error {
	body, err := r.cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err != nil {
		return err
	}
	defer body.Close()
	dec := json.NewDecoder(body)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("pull %s: %w", ref, err)
		}
		if m.Error != "" {
			return fmt.Errorf("pull %s: %s", ref, m.Error)
		}
	}
}

// find returns the container of a task this runtime owns.
func (r *Runtime) find(ctx context.Context, taskID string) (string, error) {
	cs, err := r.list(ctx, filters.Arg("label", LabelTaskID+"="+taskID))
	if err != nil {
		return "", err
	}
	if len(cs) == 0 {
		return "", fmt.Errorf("task %s: %w", taskID, ErrNotFound)
	}
	return cs[0].ID, nil
}

func (r *Runtime) list(ctx context.Context, extra ...filters.KeyValuePair) ([]container.Summary, error) {
	args := filters.NewArgs(append(extra,
		filters.Arg("label", LabelOwner+"="+ownerValue),
		filters.Arg("label", LabelNodeID+"="+r.nodeID))...)
	cs, err := r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	return cs, nil
}

// List returns every container of this node, running or not, so that a
// restarted agent can adopt the ones whose tasks still exist and remove
// the others.
func (r *Runtime) List(ctx context.Context) ([]Owned, error) {
	cs, err := r.list(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Owned, 0, len(cs))
	for _, c := range cs {
		o := Owned{
			TaskID:      c.Labels[LabelTaskID],
			ServiceID:   c.Labels[LabelServiceID],
			ContainerID: c.ID,
			State:       c.State,
		}
		if len(c.Names) > 0 {
			o.Name = c.Names[0][1:] // the engine prefixes names with "/"
		}
		out = append(out, o)
	}
	return out, nil
}

// Start starts the task's container. Starting a running one succeeds.
func (r *Runtime) Start(ctx context.Context, taskID string) error {
	id, err := r.find(ctx, taskID)
	if err != nil {
		return err
	}
	return taskErr(r.cli.ContainerStart(ctx, id, container.StartOptions{}))
}

// Wait follows the task's container through engine events until it exits
// and returns nil for exit code 0, an *ExitError otherwise, ErrUnhealthy
// when its healthcheck fails (the container is left running: stopping it
// is the executor's call) and ErrContainerDestroyed if it disappears.
// onHealth, if not nil, sees the container's health first ("none" when it
// has no healthcheck, from the image or the task; else "starting",
// "healthy" or "unhealthy"), then every health status as it is reported,
// so the executor holds a task with a healthcheck in state starting until
// it is healthy, as Swarm does. A container already exited returns at
// once, which is what an adopting agent needs; one created but never
// started blocks until it starts and exits, or ctx ends.
func (r *Runtime) Wait(ctx context.Context, taskID string, onHealth func(status string)) error {
	id, err := r.find(ctx, taskID)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Subscribe before looking so an exit between the two is not lost.
	msgs, errs := r.cli.Events(ctx, events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("container", id),
		filters.Arg("event", string(events.ActionDie)),
		filters.Arg("event", string(events.ActionDestroy)),
		filters.Arg("event", string(events.ActionHealthStatus)),
	)})
	done, health, err := r.state(ctx, id)
	if done {
		return err
	}
	if onHealth != nil {
		onHealth(health)
	}
	if health == "unhealthy" {
		return ErrUnhealthy
	}
	for {
		select {
		case m := <-msgs:
			switch {
			case m.Action == events.ActionDie:
				_, _, err := r.state(ctx, id)
				return err
			case m.Action == events.ActionDestroy:
				return ErrContainerDestroyed
			case m.Action == events.ActionHealthStatusUnhealthy:
				if onHealth != nil {
					onHealth("unhealthy")
				}
				return ErrUnhealthy
			default:
				if onHealth != nil {
					onHealth(healthOf(m.Action))
				}
			}
		case err := <-errs:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("follow container %s: %w", id, err)
		}
	}
}

func healthOf(a events.Action) string {
	const p = "health_status: "
	if len(a) > len(p) {
		return string(a[len(p):])
	}
	return string(a)
}

// exited reports whether the container has run and stopped, with its
// outcome as Wait returns it.
func (r *Runtime) state(ctx context.Context, id string) (done bool, health string, err error) {
	c, err := r.cli.ContainerInspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return true, "", ErrContainerDestroyed
	}
	if err != nil {
		return true, "", fmt.Errorf("inspect container %s: %w", id, err)
	}
	st := c.State
	if st.Running || st.Restarting || st.Status == "created" {
		health = "none"
		if st.Health != nil {
			health = st.Health.Status
		}
		return false, health, nil
	}
	if st.ExitCode != 0 {
		return true, "", &ExitError{Code: st.ExitCode, Cause: st.Error}
	}
	return true, "", nil
}

// Stop sends the container its stop signal and kills it once grace has
// passed; a nil grace uses the one recorded at create from the service's
// stop_grace_period (the engine's 10s when it had none). Stopping a stopped
// or missing container succeeds.
func (r *Runtime) Stop(ctx context.Context, taskID string, grace *time.Duration) error {
	id, err := r.find(ctx, taskID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var opts container.StopOptions
	if grace != nil {
		secs := int(grace.Seconds())
		opts.Timeout = &secs
	}
	if err := r.cli.ContainerStop(ctx, id, opts); err != nil && !cerrdefs.IsNotFound(err) {
		return taskErr(err)
	}
	return nil
}

// Remove removes the task's container and its anonymous volumes, killing it
// if it still runs, and deletes the task's secret and config files.
// Removing a missing container succeeds, and still deletes the files.
func (r *Runtime) Remove(ctx context.Context, taskID string) error {
	id, err := r.find(ctx, taskID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err == nil {
		err = r.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			return taskErr(err)
		}
	}
	return r.files.Remove(taskID)
}

// Ports returns the task's published host-mode ports as the engine bound
// them, with the port the engine picked where the service gave none: what
// Swarm reports as the task's PortStatus. They are known once the
// container runs.
func (r *Runtime) Ports(ctx context.Context, taskID string) ([]swarm.PortConfig, error) {
	id, err := r.find(ctx, taskID)
	if err != nil {
		return nil, err
	}
	c, err := r.cli.ContainerInspect(ctx, id)
	if err != nil {
		return nil, taskErr(err)
	}
	if c.NetworkSettings == nil {
		return nil, nil
	}
	var out []swarm.PortConfig
	seen := map[swarm.PortConfig]bool{}
	for port, bs := range c.NetworkSettings.Ports {
		for _, b := range bs {
			published, err := strconv.ParseUint(b.HostPort, 10, 16)
			if err != nil {
				continue
			}
			p := swarm.PortConfig{
				Protocol:      swarm.PortConfigProtocol(port.Proto()),
				TargetPort:    uint32(port.Int()),
				PublishedPort: uint32(published),
				PublishMode:   swarm.PortConfigPublishModeHost,
			}
			if !seen[p] { // the engine lists a port once per address family
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	slices.SortFunc(out, func(a, b swarm.PortConfig) int {
		if a.TargetPort != b.TargetPort {
			return int(a.TargetPort) - int(b.TargetPort)
		}
		return strings.Compare(string(a.Protocol), string(b.Protocol))
	})
	return out, nil
}

// LogOptions are the runtimes' shared log options (agent/runtime).
type LogOptions = runtime.LogOptions

// Logs streams the task's stdout and stderr. Unless the task has a TTY the
// stream is the engine's multiplexed format: read it with stdcopy.StdCopy.
// The caller closes it; with Follow it ends when the container stops or
// ctx is cancelled.
func (r *Runtime) Logs(ctx context.Context, taskID string, o LogOptions) (io.ReadCloser, error) {
	id, err := r.find(ctx, taskID)
	if err != nil {
		return nil, err
	}
	rc, err := r.cli.ContainerLogs(ctx, id, container.LogsOptions{
		ShowStdout: true, ShowStderr: true,
		Follow: o.Follow, Tail: o.Tail, Timestamps: o.Timestamps, Since: o.Since,
	})
	if err != nil {
		return nil, taskErr(err)
	}
	return rc, nil
}
