package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/docker/docker/pkg/stdcopy"

	"github.com/swarmops/swarmops/agent/runtime"
)

// LogOptions are agent/runtime's, shared with agent/docker, so that one
// executor serves `docker service logs` from either runtime.
type LogOptions = runtime.LogOptions

// Logs streams the task's stdout and stderr in the engine's multiplexed
// format (read it with stdcopy.StdCopy), as agent/docker does for a task
// without a TTY. The caller closes it; with Follow it ends when the process
// has exited and its files are drained, or ctx is cancelled.
//
// The files keep no per-line times and no order between the two streams,
// so Tail counts lines in each stream separately, stdout comes before
// stderr for lines already written, and Timestamps stamps a line with the
// file's modification time (already written) or the time it was read
// (followed). Since needs those times and is refused.
func (r *Runtime) Logs(ctx context.Context, taskID string, o LogOptions) (io.ReadCloser, error) {
	if o.Since != "" {
		return nil, errors.New("exec: logs since a time are not supported: the files keep no per-line times")
	}
	tail := -1
	if o.Tail != "" && o.Tail != "all" {
		n, err := strconv.Atoi(o.Tail)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("exec: logs tail %q: not a number of lines", o.Tail)
		}
		tail = n
	}
	if _, err := r.load(taskID); err != nil {
		return nil, err
	}
	dir := r.taskDir(taskID)
	streams := []*stream{
		{path: filepath.Join(dir, outFile)},
		{path: filepath.Join(dir, errFile)},
	}
	pr, pw := io.Pipe()
	streams[0].w = stdcopy.NewStdWriter(pw, stdcopy.Stdout)
	streams[1].w = stdcopy.NewStdWriter(pw, stdcopy.Stderr)
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		pw.CloseWithError(r.follow(ctx, taskID, streams, tail, o))
	}()
	return &logReader{PipeReader: pr, cancel: cancel}, nil
}

type logReader struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (l *logReader) Close() error {
	l.cancel()
	return l.PipeReader.Close()
}

// stream is one of a task's output files being read.
type stream struct {
	path    string
	w       io.Writer
	off     int64
	partial []byte // a last line not ended yet, held until it is
	stamps  bool
}

func (r *Runtime) follow(ctx context.Context, taskID string, streams []*stream, tail int, o LogOptions) error {
	for _, s := range streams {
		s.stamps = o.Timestamps
		b, mod, err := s.readNew()
		if err != nil {
			return err
		}
		lines := splitLines(b)
		if tail >= 0 && len(lines) > tail {
			lines = lines[len(lines)-tail:]
		}
		if err := s.emit(lines, mod, !o.Follow); err != nil {
			return err
		}
	}
	if !o.Follow {
		return nil
	}
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		// Read after checking, so that what the process wrote just before
		// exiting is still drained.
		_, alive := r.running(taskID)
		for _, s := range streams {
			b, _, err := s.readNew()
			if err != nil {
				return err
			}
			if err := s.emit(splitLines(b), time.Now(), !alive); err != nil {
				return err
			}
		}
		if !alive {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
	}
}

// readNew returns what the file gained since the last read, and its
// modification time. A file not created yet reads as empty.
func (s *stream) readNew() ([]byte, time.Time, error) {
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("exec: logs: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("exec: logs: %w", err)
	}
	b, err := io.ReadAll(io.NewSectionReader(f, s.off, fi.Size()-s.off))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("exec: logs: %w", err)
	}
	s.off += int64(len(b))
	return b, fi.ModTime(), nil
}

// emit writes whole lines; a trailing unended line waits for the rest of
// it unless final.
func (s *stream) emit(lines [][]byte, at time.Time, final bool) error {
	if len(s.partial) > 0 {
		if len(lines) == 0 {
			lines = [][]byte{nil}
		}
		lines[0] = append(s.partial, lines[0]...)
		s.partial = nil
	}
	if n := len(lines); n > 0 && !final && !bytes.HasSuffix(lines[n-1], []byte("\n")) {
		s.partial = lines[n-1]
		lines = lines[:n-1]
	}
	for _, l := range lines {
		if len(l) == 0 {
			continue
		}
		if s.stamps {
			l = append([]byte(at.UTC().Format(time.RFC3339Nano)+" "), l...)
		}
		if _, err := s.w.Write(l); err != nil {
			return err
		}
	}
	return nil
}

// splitLines cuts b after each newline, keeping them.
func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return append(out, b)
		}
		out = append(out, b[:i+1])
		b = b[i+1:]
	}
	return out
}
