package exec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	osexec "os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/swarmops/swarmops/agent/runtime"
)

// ExitError is agent/runtime's, shared with agent/docker, so that an
// executor tells a task's non-zero exit apart the same way under both.
type ExitError = runtime.ExitError

var (
	// ErrNotFound: no task directory of this runtime holds the task ID.
	ErrNotFound = errors.New("no process for task")
	// ErrLost: the process is gone and nobody recorded how it ended, as
	// when the host rebooted under it.
	ErrLost = errors.New("exec: process gone, exit code unknown")
)

// defaultGrace is the engine's stop timeout, used when the service sets none.
const defaultGrace = 10 * time.Second

// pollEvery paces the waits on processes this agent did not start, and
// followed logs: neither gives an event to block on.
const pollEvery = 50 * time.Millisecond

// Files of a task directory.
const (
	specFile  = "spec.json"
	stateFile = "state.json"
	exitFile  = "exitcode"
	outFile   = "stdout.log"
	errFile   = "stderr.log"
	workDir   = "work"
)

// spec is what Prepare records: everything Start and Stop need. It holds
// where the task's secrets and configs are, never their data.
type spec struct {
	TaskID     string
	ServiceID  string
	NodeID     string
	Name       string
	Args       []string
	Env        []string
	Dir        string
	StopSignal string
	StopGrace  time.Duration
	SecretsDir string `json:",omitempty"`
	ConfigsDir string `json:",omitempty"`
}

// state identifies the running process: the pid alone could be recycled.
type state struct {
	Pid   int
	Start uint64 // clock ticks since boot, from /proc/<pid>/stat
}

// Environment variables that tell a process where its files are.
const (
	EnvSecretsDir = "SWARMOPS_SECRETS_DIR"
	EnvConfigsDir = "SWARMOPS_CONFIGS_DIR"
)

// Runtime runs the tasks of one node as processes, keeping them under
// stateDir. Runtimes of different nodes may share a state dir.
type Runtime struct {
	dir    string
	nodeID string
	node   runtime.Node
	files  *runtime.FileDir

	mu       sync.Mutex
	children map[string]chan struct{} // closed once the child is reaped
}

// Options are a runtime's settings beyond its state dir and node.
type Options struct {
	// SecretsDir is where the files of the tasks' secrets and configs are
	// written; it must be on tmpfs, and is mounted with one when it is not
	// and the agent runs as root (see runtime.FileDir). Empty, or not on
	// tmpfs and not mountable, a task that references a secret or config
	// is refused, never written to a disk.
	SecretsDir string
	// Node is what {{.Node.*}} templates see; empty fields are this
	// machine's (runtime.ThisNode).
	Node runtime.Node
}

// New returns the runtime of node nodeID keeping its tasks under stateDir,
// with the options given, if any (at most one).
func New(stateDir, nodeID string, opts ...Options) *Runtime {
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
	return &Runtime{
		dir: stateDir, nodeID: nodeID, node: node,
		// The process runs as the agent's user, who owns the files and
		// reads them whatever owner the reference asks for.
		files:    runtime.NewFileDir(o.SecretsDir, nodeID, false),
		children: map[string]chan struct{}{},
	}
}

// Owned is a task directory this runtime created.
type Owned struct {
	TaskID    string
	ServiceID string
	Name      string
	Pid       int    // 0 if never started
	State     string // created, running or exited, as the engine says
}

func (r *Runtime) taskDir(taskID string) string { return filepath.Join(r.dir, taskID) }

// Prepare records the task's command, environment and stop settings in a
// new task directory, with Swarm's templates of its Env expanded, and
// writes its secrets and configs to the secrets dir (tmpfs). Auth is
// unused: there is nothing to pull. Preparing a prepared task succeeds.
func (r *Runtime) Prepare(_ context.Context, ts runtime.Spec) error {
	t, svcName := ts.Task, ts.Service
	if t.Spec.ContainerSpec == nil {
		return errors.New("exec: task has no container spec")
	}
	cs, err := ts.ContainerSpec(r.node)
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	args := append(append([]string{}, cs.Command...), cs.Args...)
	if len(args) == 0 {
		return errors.New("exec: the service has no command to run")
	}
	if _, err := parseSignal(cs.StopSignal); err != nil {
		return err
	}
	s := spec{
		TaskID: t.ID, ServiceID: t.ServiceID, NodeID: r.nodeID,
		Name: runtime.TaskName(t, svcName), Args: args, Env: cs.Env, Dir: cs.Dir,
		StopSignal: cs.StopSignal, StopGrace: defaultGrace,
	}
	if cs.StopGracePeriod != nil {
		s.StopGrace = *cs.StopGracePeriod
	}
	dir := r.taskDir(t.ID)
	if _, err := os.Stat(filepath.Join(dir, specFile)); err == nil {
		return nil
	}
	files, err := ts.Files()
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	if err := r.writeFiles(&s, files); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, workDir), 0o755); err != nil {
		_ = r.files.Remove(t.ID)
		return fmt.Errorf("exec: prepare %s: %w", t.ID, err)
	}
	if err := writeJSON(filepath.Join(dir, specFile), s); err != nil {
		_ = r.files.Remove(t.ID)
		return err
	}
	return nil
}

// writeFiles writes the task's secret and config files to its directories
// of the secrets dir, each named by its target's base name, and records
// those directories in s.
func (r *Runtime) writeFiles(s *spec, files []runtime.File) error {
	if len(files) == 0 {
		return nil
	}
	if err := r.files.Ready(); err != nil {
		return fmt.Errorf("exec: task %s references %s %s: %w", s.TaskID, files[0].Kind, files[0].Name, err)
	}
	seen := map[string]string{}
	for _, f := range files {
		rel := f.Kind + "s/" + path.Base(f.Target)
		if other, dup := seen[rel]; dup {
			_ = r.files.Remove(s.TaskID)
			return fmt.Errorf("exec: task %s: %s %s and %s both become %s: plain processes find their files by base name, so give one another target",
				s.TaskID, f.Kind, f.Name, other, rel)
		}
		seen[rel] = f.Name
		if _, err := r.files.Write(s.TaskID, rel, f); err != nil {
			_ = r.files.Remove(s.TaskID)
			return fmt.Errorf("exec: task %s: %w", s.TaskID, err)
		}
		dir := filepath.Join(r.files.TaskDir(s.TaskID), f.Kind+"s")
		if f.Kind == runtime.KindSecret {
			s.SecretsDir = dir
		} else {
			s.ConfigsDir = dir
		}
	}
	return nil
}

func (r *Runtime) load(taskID string) (spec, error) {
	var s spec
	b, err := os.ReadFile(filepath.Join(r.taskDir(taskID), specFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s, fmt.Errorf("%w %s", ErrNotFound, taskID)
	}
	if err != nil {
		return s, fmt.Errorf("exec: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("exec: task %s: %w", taskID, err)
	}
	if s.NodeID != r.nodeID {
		return s, fmt.Errorf("%w %s", ErrNotFound, taskID)
	}
	return s, nil
}

// running returns the task's recorded process and whether it still runs.
func (r *Runtime) running(taskID string) (state, bool) {
	var st state
	b, err := os.ReadFile(filepath.Join(r.taskDir(taskID), stateFile))
	if err != nil || json.Unmarshal(b, &st) != nil {
		return state{}, false
	}
	start, alive := procStart(st.Pid)
	return st, alive && start == st.Start
}

// exitCode returns the code the wrapper recorded, if it did.
func (r *Runtime) exitCode(taskID string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(r.taskDir(taskID), exitFile))
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}

// wrapper runs the command, then writes its exit code where a restarted
// agent finds it. It traps the stop signals with a no-op so that it
// outlives the command it forwards them to (the whole group gets them);
// the command itself starts with default handlers.
const wrapper = `trap : 1 2 3 10 12 15 28 30 %d; "$@"; c=$?; echo $c >"$0.tmp" && mv "$0.tmp" "$0"; exit $c`

// List returns every task directory of this node, so that a restarted
// agent can adopt the tasks that still exist and remove the others.
func (r *Runtime) List(_ context.Context) ([]Owned, error) {
	ents, err := os.ReadDir(r.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("exec: list: %w", err)
	}
	var out []Owned
	for _, e := range ents {
		s, err := r.load(e.Name())
		if err != nil || !e.IsDir() {
			continue // another node's task, or not a task dir at all
		}
		st, alive := r.running(s.TaskID)
		o := Owned{TaskID: s.TaskID, ServiceID: s.ServiceID, Name: s.Name, Pid: st.Pid, State: "created"}
		switch {
		case alive:
			o.State = "running"
		case st.Pid != 0:
			o.State = "exited"
		}
		out = append(out, o)
	}
	return out, nil
}

// Start starts the task's process in its own process group, appending its
// stdout and stderr to the task dir. Starting a running task succeeds; an
// exited one runs again, as a container would.
func (r *Runtime) Start(_ context.Context, taskID string) error {
	s, err := r.load(taskID)
	if err != nil {
		return err
	}
	if _, alive := r.running(taskID); alive {
		return nil
	}
	dir := r.taskDir(taskID)
	_ = os.Remove(filepath.Join(dir, exitFile))
	sig, _ := parseSignal(s.StopSignal)
	argv := append([]string{"-c", fmt.Sprintf(wrapper, int(sig)), filepath.Join(dir, exitFile)}, s.Args...)
	cmd := osexec.Command("/bin/sh", argv...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, s.Env...)
	if s.SecretsDir != "" {
		cmd.Env = append(cmd.Env, EnvSecretsDir+"="+s.SecretsDir)
	}
	if s.ConfigsDir != "" {
		cmd.Env = append(cmd.Env, EnvConfigsDir+"="+s.ConfigsDir)
	}
	cmd.Dir = s.Dir
	if cmd.Dir == "" {
		cmd.Dir = filepath.Join(dir, workDir)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	stdout, err := os.OpenFile(filepath.Join(dir, outFile), flags, 0o644)
	if err != nil {
		return fmt.Errorf("exec: start %s: %w", taskID, err)
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(filepath.Join(dir, errFile), flags, 0o644)
	if err != nil {
		return fmt.Errorf("exec: start %s: %w", taskID, err)
	}
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec: start %s: %w", taskID, err)
	}
	// The reaper is registered before the state file is written, so that
	// whoever sees the process through that file also finds the channel
	// that tells when its exit code is recorded.
	done := make(chan struct{})
	r.mu.Lock()
	r.children[taskID] = done
	r.mu.Unlock()
	go r.reap(taskID, cmd, done)
	start, _ := procStart(cmd.Process.Pid)
	if err := writeJSON(filepath.Join(dir, stateFile), state{Pid: cmd.Process.Pid, Start: start}); err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return err
	}
	return nil
}

// reap waits for a child this runtime started and records its exit code if
// the wrapper could not: killed with it (SIGKILL to the group), the command
// left none, so the shell's 128+signal convention is applied here.
func (r *Runtime) reap(taskID string, cmd *osexec.Cmd, done chan struct{}) {
	err := cmd.Wait()
	if _, ok := r.exitCode(taskID); !ok {
		var ee *osexec.ExitError
		if errors.As(err, &ee) {
			code := ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
			_ = os.WriteFile(filepath.Join(r.taskDir(taskID), exitFile), []byte(strconv.Itoa(code)), 0o644)
		}
	}
	r.mu.Lock()
	if r.children[taskID] == done {
		delete(r.children, taskID)
	}
	r.mu.Unlock()
	close(done)
}

func (r *Runtime) child(taskID string) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.children[taskID]
}

// Wait blocks until the task's process exits and returns nil for exit code
// 0, an *ExitError otherwise, ErrLost when it is gone without a recorded
// code, or ctx's error. A process that exited while no agent ran returns at
// once with the code its wrapper recorded. onHealth sees "none" once the
// process has started: plain processes have no healthcheck.
func (r *Runtime) Wait(ctx context.Context, taskID string, onHealth func(status string)) error {
	if _, err := r.load(taskID); err != nil {
		return err
	}
	// A task not started yet is waited for, as a created container is.
	started := func() bool {
		st, _ := r.running(taskID)
		return r.child(taskID) != nil || st.Pid != 0
	}
	if err := r.poll(ctx, started); err != nil {
		return err
	}
	// A process has no healthcheck: it counts as healthy once started.
	if onHealth != nil {
		onHealth("none")
	}
	ended := func() bool {
		st, alive := r.running(taskID)
		return r.child(taskID) != nil || (st.Pid != 0 && !alive)
	}
	if err := r.poll(ctx, ended); err != nil {
		return err
	}
	if done := r.child(taskID); done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	code, ok := r.exitCode(taskID)
	if !ok {
		return fmt.Errorf("exec: task %s: %w", taskID, ErrLost)
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}

// poll calls cond every pollEvery until it holds or ctx ends.
func (r *Runtime) poll(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for !cond() {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Stop sends the task's stop signal to its process group and SIGKILL once
// grace has passed; a nil grace uses the service's stop_grace_period (10s
// when it had none). It returns once the process is gone. Stopping a
// stopped or missing task succeeds.
func (r *Runtime) Stop(ctx context.Context, taskID string, grace *time.Duration) error {
	s, err := r.load(taskID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	st, alive := r.running(taskID)
	if !alive {
		return nil
	}
	sig, err := parseSignal(s.StopSignal)
	if err != nil {
		return err
	}
	g := s.StopGrace
	if grace != nil {
		g = *grace
	}
	if err := syscall.Kill(-st.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("exec: stop %s: %w", taskID, err)
	}
	gone := func() bool { _, alive := r.running(taskID); return !alive }
	gctx, cancel := context.WithTimeout(ctx, g)
	err = r.poll(gctx, gone)
	cancel()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return r.kill(ctx, taskID, st.Pid)
}

// kill sends SIGKILL to the group and waits for the process to be gone; the
// wrapper dies too, so the code is recorded here for an adopted process.
func (r *Runtime) kill(ctx context.Context, taskID string, pid int) error {
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("exec: kill %s: %w", taskID, err)
	}
	if err := r.poll(ctx, func() bool { _, alive := r.running(taskID); return !alive }); err != nil {
		return err
	}
	if done := r.child(taskID); done != nil {
		<-done // our reaper records the code itself
		return nil
	}
	if _, ok := r.exitCode(taskID); !ok {
		code := strconv.Itoa(128 + int(syscall.SIGKILL))
		_ = os.WriteFile(filepath.Join(r.taskDir(taskID), exitFile), []byte(code), 0o644)
	}
	return nil
}

// Remove kills the task's process if it still runs and deletes its
// directory, logs included, and its secret and config files. Removing a
// missing task succeeds.
func (r *Runtime) Remove(ctx context.Context, taskID string) error {
	if _, err := r.load(taskID); errors.Is(err, ErrNotFound) {
		return nil
	}
	if st, alive := r.running(taskID); alive {
		if err := r.kill(ctx, taskID, st.Pid); err != nil {
			return err
		}
	}
	// A child of this agent has its exit code recorded by the reaper:
	// let it finish before the directory goes.
	if done := r.child(taskID); done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := r.files.Remove(taskID); err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	// The wrapper of a process this agent did not start may still write
	// the exit code as the directory is removed: try until it is gone.
	var rmErr error
	if err := r.poll(ctx, func() bool {
		rmErr = os.RemoveAll(r.taskDir(taskID))
		return rmErr == nil
	}); err != nil {
		return fmt.Errorf("exec: remove %s: %w", taskID, errors.Join(rmErr, err))
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	return nil
}
