// Package stream moves an exec session's bytes for the engines that speak
// Docker's attach protocol (Docker and Podman): output, raw with a
// terminal and demultiplexed without, and terminal size changes.
package stream

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// Output copies what the session writes until it ends or ctx does: raw to
// stdout with a terminal (one stream), else split into stdout and stderr
// from the engine's multiplexed frames. When ctx ends first its error is
// returned and the copy is left to end with the connection.
func Output(ctx context.Context, tty bool, r io.Reader, stdout, stderr io.Writer) error {
	done := make(chan error, 1)
	go func() {
		var err error
		if tty {
			_, err = io.Copy(stdout, r)
		} else {
			_, err = stdcopy.StdCopy(stdout, stderr, r)
		}
		done <- err
	}()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-done:
		return err
	}
}

// Resizes passes each terminal size from sizes (rows, cols) to resize
// until ctx ends or sizes is closed.
func Resizes(ctx context.Context, sizes <-chan [2]uint, resize func([2]uint)) {
	for {
		select {
		case <-ctx.Done():
			return
		case sz, ok := <-sizes:
			if !ok {
				return
			}
			resize(sz)
		}
	}
}

// Inspect asks the engine whether an exec session still runs, and its
// exit code once it does not.
type Inspect func(ctx context.Context) (running bool, code int, err error)

// Run copies an exec session's output (Output; a nil writer discards its
// stream) and returns the command's exit code, which can trail the end of
// output by a moment: inspect is asked every 20 ms for up to 10 s. ctr
// names the container in errors; ctx's end is returned as it is.
func Run(ctx context.Context, ctr string, tty bool, r io.Reader, stdout, stderr io.Writer, inspect Inspect) (int, error) {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if err := Output(ctx, tty, r, stdout, stderr); err != nil {
		if ctx.Err() != nil {
			return -1, ctx.Err()
		}
		return -1, fmt.Errorf("reading exec output in %q: %w", ctr, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		running, code, err := inspect(ctx)
		if err != nil {
			return -1, fmt.Errorf("inspecting exec in %q: %w", ctr, err)
		}
		if !running {
			return code, nil
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("exec in %q: output ended but the process still runs", ctr)
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
