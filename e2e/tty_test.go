package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The docker CLI draws a service's progress — one line per slot, "1/4:
// running [====>]" — only on a terminal; into a pipe it prints the overall
// line alone. dockerTTY runs it on a pseudo-terminal, as an operator does,
// so the tests see what the seeds' transcripts show.

// openPTY opens a pseudo-terminal pair of 50 rows and 160 columns.
func openPTY() (master, tty *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlock the pseudo-terminal: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("number the pseudo-terminal: %w", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: 160}); err != nil {
		master.Close()
		tty.Close()
		return nil, nil, fmt.Errorf("size the pseudo-terminal: %w", err)
	}
	return master, tty, nil
}

// ansi matches the terminal control sequences the CLI moves its cursor
// with.
var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// dockerTTY is testCluster.Docker with the CLI's output on a terminal. It
// returns every line the CLI drew, control sequences removed, in the
// order drawn (a progress line redrawn appears once per drawing).
func (c *testCluster) dockerTTY(t *testing.T, via *node, args ...string) (string, error) {
	t.Helper()
	requireDockerCLI(t)
	master, tty, err := openPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal for the docker CLI's progress display: %v", err)
	}
	defer master.Close()
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = c.dockerEnv(via)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		tty.Close()
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	tty.Close()
	var buf bytes.Buffer
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(&buf, master)
		copied <- err
	}()
	runErr := cmd.Wait()
	// Once the CLI is gone the terminal's last reader fails with EIO,
	// which is its end of file.
	if err := <-copied; err != nil && !errors.Is(err, syscall.EIO) {
		t.Fatalf("docker %s: read its terminal: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("docker %s via %s: no answer in %s\n%s", strings.Join(args, " "), via.Name, dockerTimeout, buf.String())
	}
	var lines []string
	for _, l := range strings.FieldsFunc(ansi.ReplaceAllString(buf.String(), ""), func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimRight(l, " "); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n") + "\n", runErr
}

// progressKey is what a progress line redraws: the overall line, a
// slot's line ("1/4"), the verdict, a rollback notice.
var progressKey = regexp.MustCompile(`^(overall progress|verify|rollback|\d+/\d+):`)

// finalScreen is what an operator sees once the CLI exited: each progress
// line as last drawn, in the place it was first drawn; other lines (the
// service's name, warnings) as printed.
func finalScreen(drawn string) string {
	var order []string
	last := map[string]string{}
	for i, l := range strings.Split(strings.TrimRight(drawn, "\n"), "\n") {
		key := fmt.Sprintf("line %d", i)
		if m := progressKey.FindStringSubmatch(l); m != nil {
			key = m[1]
		}
		if _, ok := last[key]; !ok {
			order = append(order, key)
		}
		last[key] = l
	}
	var out []string
	for _, k := range order {
		out = append(out, last[k])
	}
	return strings.Join(out, "\n") + "\n"
}
