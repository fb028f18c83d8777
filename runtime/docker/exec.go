package docker

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/client"

	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/stream"
)

// Exec runs a command in a running container and returns its exit code.
// With TTY, output is raw and Resize events reach the terminal; without,
// stdout and stderr are demultiplexed.
//
// With TTY and a size already waiting on Resize, that size is the
// terminal's from the start: engines from API 1.42 take it with the
// create and start calls; older ones (Docker 20.10) only through a resize
// once the process runs, so stdin is held back until that resize is done.
// Otherwise input typed ahead (a shell's first command) could run on a
// 0x0 terminal.
func (e *Engine) Exec(ctx context.Context, ctr string, opts runtime.ExecOptions) (int, error) {
	var initial *[2]uint
	if opts.TTY && opts.Resize != nil {
		select {
		case sz, ok := <-opts.Resize:
			if ok {
				initial = &sz
			}
		default:
		}
	}
	var console client.ConsoleSize
	if initial != nil {
		console = client.ConsoleSize{Height: initial[0], Width: initial[1]}
	}
	cr, err := e.c.ExecCreate(ctx, ctr, client.ExecCreateOptions{
		User:         opts.User,
		TTY:          opts.TTY,
		ConsoleSize:  console,
		AttachStdin:  opts.Stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
		Env:          opts.Env,
		Cmd:          opts.Cmd,
	})
	if err != nil {
		return -1, fmt.Errorf("creating exec in %q: %w", ctr, mapErr(err))
	}
	att, err := e.c.ExecAttach(ctx, cr.ID, client.ExecAttachOptions{TTY: opts.TTY, ConsoleSize: console})
	if err != nil {
		return -1, fmt.Errorf("attaching exec in %q: %w", ctr, mapErr(err))
	}
	defer att.Close()

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resize := func(sz [2]uint) error {
		_, err := e.c.ExecResize(rctx, cr.ID, client.ExecResizeOptions{Height: sz[0], Width: sz[1]})
		return err
	}
	sized := make(chan struct{})
	if initial != nil {
		go func() {
			defer close(sized)
			// The process may not be running yet; the engine then refuses
			// the resize, so try again for a moment, as docker's CLI does.
			for i := range 10 {
				if resize(*initial) == nil {
					return
				}
				select {
				case <-rctx.Done():
					return
				case <-time.After(time.Duration(i+1) * 10 * time.Millisecond):
				}
			}
		}()
	} else {
		close(sized)
	}
	if opts.Stdin != nil {
		go func() {
			<-sized
			_, _ = io.Copy(att.Conn, opts.Stdin)
			_ = att.CloseWrite()
		}()
	}
	if opts.TTY && opts.Resize != nil {
		go func() {
			<-sized
			stream.Resizes(rctx, opts.Resize, func(sz [2]uint) { _ = resize(sz) })
		}()
	}
	return stream.Run(ctx, ctr, opts.TTY, att.Reader, opts.Stdout, opts.Stderr, func(ctx context.Context) (bool, int, error) {
		in, err := e.c.ExecInspect(ctx, cr.ID, client.ExecInspectOptions{})
		if err != nil {
			return false, 0, mapErr(err)
		}
		return in.Running, in.ExitCode, nil
	})
}
