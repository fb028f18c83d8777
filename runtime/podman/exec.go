package podman

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"

	"github.com/moby/moby/api/pkg/stdcopy"

	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/stream"
)

// hijack sends a request that upgrades the connection to a raw stream, as
// exec start does, and returns the connection and a reader of the stream.
func (e *Engine) hijack(ctx context.Context, path string, body any) (net.Conn, *bufio.Reader, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", e.socket)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", runtime.ErrUnreachable, err)
	}
	buf, err := json.Marshal(body)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	req, err := http.NewRequest(http.MethodPost, "http://podman"+apiPrefix+path, bytes.NewReader(buf))
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "tcp")
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("%w: %v", runtime.ErrUnreachable, err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("reading the answer to %s: %w", path, err)
	}
	if resp.StatusCode >= 300 {
		defer conn.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var ae apiError
		if json.Unmarshal(data, &ae) != nil || ae.Message == "" {
			ae.Message = resp.Status
		}
		return nil, nil, mapErr(resp.StatusCode, &ae)
	}
	return conn, br, nil
}

// Exec runs a command in a running container and returns its exit code.
// With TTY, output is raw and Resize events reach the terminal; without,
// stdout and stderr are demultiplexed.
func (e *Engine) Exec(ctx context.Context, ctr string, opts runtime.ExecOptions) (int, error) {
	create := map[string]any{
		"AttachStdin":  opts.Stdin != nil,
		"AttachStdout": true,
		"AttachStderr": true,
		"Cmd":          opts.Cmd,
		"Env":          opts.Env,
		"Tty":          opts.TTY,
		"User":         opts.User,
	}
	var cr struct {
		ID string `json:"Id"`
	}
	if err := e.do(ctx, http.MethodPost, "/containers/"+url.PathEscape(ctr)+"/exec", nil, create, &cr); err != nil {
		return -1, fmt.Errorf("creating exec in %q: %w", ctr, err)
	}
	conn, br, err := e.hijack(ctx, "/exec/"+cr.ID+"/start", map[string]any{"Detach": false, "Tty": opts.TTY})
	if err != nil {
		return -1, fmt.Errorf("starting exec in %q: %w", ctr, err)
	}
	defer conn.Close()

	if opts.Stdin != nil {
		go func() {
			_, _ = io.Copy(conn, opts.Stdin)
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
		}()
	}
	if opts.TTY && opts.Resize != nil {
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go stream.Resizes(rctx, opts.Resize, func(sz [2]uint) {
			q := url.Values{"h": {strconv.Itoa(int(sz[0]))}, "w": {strconv.Itoa(int(sz[1]))}}
			_ = e.do(rctx, http.MethodPost, "/exec/"+cr.ID+"/resize", q, nil, nil)
		})
	}
	return stream.Run(ctx, ctr, opts.TTY, br, opts.Stdout, opts.Stderr, func(ctx context.Context) (bool, int, error) {
		var in struct {
			Running  bool `json:"Running"`
			ExitCode int  `json:"ExitCode"`
		}
		err := e.do(ctx, http.MethodGet, "/exec/"+cr.ID+"/json", nil, nil, &in)
		return in.Running, in.ExitCode, err
	})
}

// Logs copies a container's logs. libpod frames them as Docker does for a
// container without a TTY, and sends a TTY container's raw.
func (e *Engine) Logs(ctx context.Context, ctr string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	c, err := e.InspectContainer(ctx, ctr)
	if err != nil {
		return err
	}
	q := url.Values{"stdout": {"true"}, "stderr": {"true"}, "follow": {strconv.FormatBool(opts.Follow)}, "timestamps": {strconv.FormatBool(opts.Timestamps)}}
	if !opts.Since.IsZero() {
		q.Set("since", strconv.FormatInt(opts.Since.Unix(), 10))
	}
	if opts.Tail >= 0 {
		q.Set("tail", strconv.Itoa(opts.Tail))
	}
	resp, err := e.send(ctx, http.MethodGet, "/containers/"+url.PathEscape(c.ID)+"/logs", q, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("reading logs of %q: %w", ctr, err)
	}
	defer resp.Body.Close()
	if c.TTY {
		_, err = io.Copy(stdout, resp.Body)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, resp.Body)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("reading logs of %q: %w", ctr, err)
	}
	return nil
}
