// Package stream moves an exec session's bytes for the engines that speak
// Docker's attach protocol (Docker and Podman): output, raw with a
// terminal and demultiplexed without, and terminal size changes.
package stream

import (
	"context"
	"io"

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
