package image

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// heartbeat is how often a long subprocess (a cgo build, an npm install)
// reports that it is still running, with the last line it wrote: a cold
// build must never look stalled.
var heartbeat = 10 * time.Second

// stepDirs makes a private working area for one build step inside the
// cache: tmp (the step's TMPDIR) and home (its HOME, for npm and
// node-gyp). Nothing a step reads comes from the machine's /tmp or the
// user's home, so a missing step cannot hide behind a file left there,
// and nothing it writes is left behind: the caller removes the area.
func (b *Builder) stepDirs(kind string) (root, tmp, home string, err error) {
	base := filepath.Join(b.opts.CacheDir, "tmp")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", "", "", err
	}
	root, err = os.MkdirTemp(base, kind+"-")
	if err != nil {
		return "", "", "", err
	}
	tmp, home = filepath.Join(root, "tmp"), filepath.Join(root, "home")
	for _, d := range []string{tmp, home} {
		if err := os.Mkdir(d, 0o700); err != nil {
			os.RemoveAll(root)
			return "", "", "", err
		}
	}
	return root, tmp, home, nil
}

var ansiEscape = regexp.MustCompile("\x1b\\[[0-9;?]*[A-Za-z]")

// outputTail keeps what a subprocess writes: the last line for progress
// and the last bytes for an error message.
type outputTail struct {
	mu    sync.Mutex
	buf   bytes.Buffer // whole output, trimmed to its last max bytes
	max   int
	last  string // last complete non-empty line
	part  []byte // an unfinished line
	lines int
	watch func(line string) // sees every complete line, e.g. to spot a substitution
}

func (o *outputTail) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	if o.max > 0 && o.buf.Len() > 2*o.max {
		keep := append([]byte(nil), o.buf.Bytes()[o.buf.Len()-o.max:]...)
		o.buf.Reset()
		o.buf.Write(keep)
	}
	o.part = append(o.part, p...)
	for {
		i := bytes.IndexAny(o.part, "\r\n")
		if i < 0 {
			break
		}
		// Colour codes of scripts are for a terminal, not for a summary.
		line := strings.TrimSpace(ansiEscape.ReplaceAllString(string(o.part[:i]), ""))
		o.part = o.part[i+1:]
		if line != "" {
			o.last = line
			o.lines++
			if o.watch != nil {
				o.watch(line)
			}
		}
	}
	return len(p), nil
}

func (o *outputTail) lastLine() (string, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last, o.lines
}

func (o *outputTail) tail(n int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := strings.TrimSpace(o.buf.String())
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// runStep runs cmd, reporting progress every heartbeat: the step, the
// time it has run, and the last line the command wrote (shortened), so
// that the CLI can show a long cgo build or npm install as alive. The
// returned error carries the end of the output.
func (b *Builder) runStep(ctx context.Context, cmd *exec.Cmd, ev Event, out *outputTail) error {
	if out == nil {
		out = &outputTail{}
	}
	if out.max == 0 {
		out.max = 64 << 10
	}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out.tail(3000))
			}
			return nil
		case <-t.C:
			e := ev
			e.Elapsed = time.Since(start).Round(time.Second)
			if last, n := out.lastLine(); last != "" {
				if len(last) > 100 {
					last = last[:99] + "…"
				}
				e.Output = fmt.Sprintf("%s (%d lines)", last, n)
			}
			b.event(e)
		case <-ctx.Done():
			// exec.CommandContext kills the process; wait for it.
			<-done
			return ctx.Err()
		}
	}
}
