// Package podman implements runtime.Engine on Podman's REST API (the socket
// of `podman system service`), using the libpod endpoints: unlike Podman's
// Docker-compatible ones they take static addresses on every network at
// create and CDI device names, which berth needs for GPUs.
//
// It speaks plain HTTP over the socket with no Podman bindings, whose
// module pulls in most of Podman; the subset of libpod's JSON it uses is
// declared in this package.
package podman

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/voidnxlabs/berth/runtime"
)

// apiPrefix is the libpod API version berth speaks. Podman 4.0 is the
// oldest release whose libpod API has the network endpoints used here
// (netavark/CNI networks with static_ips per network); later releases
// still answer this prefix.
const apiPrefix = "/v4.0.0/libpod"

// DefaultUlimits are the limits berth gives every Podman container that
// does not name its own, so that a container starts where the sandbox
// berth runs in caps them: Podman 4.3 otherwise asks runc for its own
// defaults (nofile 1048576) and fails with "error setting rlimit type 7:
// operation not permitted" where the hard limit is lower. 4096 fits under
// the limits of common sandboxes and systemd's defaults (nofile 524288).
var DefaultUlimits = []runtime.Ulimit{
	{Name: "nofile", Soft: 4096, Hard: 4096},
	{Name: "nproc", Soft: 4096, Hard: 4096},
}

// Options configures the engine.
type Options struct {
	// Socket is the API socket's path. Empty means $CONTAINER_HOST when it
	// names a unix socket, else /run/podman/podman.sock for root and
	// $XDG_RUNTIME_DIR/podman/podman.sock for others.
	Socket string
	// Ulimits are added to every container spec that does not set a limit
	// of the same name. Nil means DefaultUlimits; an empty, non-nil slice
	// adds none.
	Ulimits []runtime.Ulimit
}

// Engine is a Podman engine.
type Engine struct {
	socket  string
	hc      *http.Client
	ulimits []runtime.Ulimit
}

var _ runtime.Engine = (*Engine)(nil)

// DefaultSocket returns the socket New uses when Options.Socket is empty.
func DefaultSocket() string {
	if h := os.Getenv("CONTAINER_HOST"); strings.HasPrefix(h, "unix://") {
		return strings.TrimPrefix(h, "unix://")
	}
	if os.Geteuid() != 0 {
		if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
			return d + "/podman/podman.sock"
		}
	}
	return "/run/podman/podman.sock"
}

// New connects to Podman's API socket and checks that it answers.
func New(ctx context.Context, opts Options) (*Engine, error) {
	sock := opts.Socket
	if sock == "" {
		sock = DefaultSocket()
	}
	e := &Engine{socket: sock, ulimits: opts.Ulimits}
	if e.ulimits == nil {
		e.ulimits = DefaultUlimits
	}
	e.hc = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConns:    16,
		IdleConnTimeout: 30 * time.Second,
	}}
	if _, err := e.Info(ctx); err != nil {
		e.Close()
		return nil, fmt.Errorf("connecting to podman at %s: %w", sock, err)
	}
	return e, nil
}

// Close releases idle connections.
func (e *Engine) Close() error {
	e.hc.CloseIdleConnections()
	return nil
}

// apiError is libpod's error body.
type apiError struct {
	Cause    string `json:"cause"`
	Message  string `json:"message"`
	Response int    `json:"response"`
}

func (a *apiError) Error() string { return a.Message }

// mapErr turns libpod's status codes and messages into runtime's sentinels
// so callers can decide without knowing the engine.
func mapErr(status int, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "is being used"),
		strings.Contains(msg, "has associated containers"):
		return fmt.Errorf("%w: %v", runtime.ErrInUse, err)
	case status == http.StatusNotFound,
		strings.Contains(msg, "no such"),
		strings.Contains(msg, "network not found"),
		strings.Contains(msg, "image not known"):
		return fmt.Errorf("%w: %v", runtime.ErrNotFound, err)
	case status == http.StatusConflict,
		strings.Contains(msg, "already exists"),
		strings.Contains(msg, "already used"),
		strings.Contains(msg, "already in use"),
		strings.Contains(msg, "is not available in range"),
		strings.Contains(msg, "already allocated"),
		strings.Contains(msg, "address already in use"):
		return fmt.Errorf("%w: %v", runtime.ErrConflict, err)
	}
	return err
}

// do sends a request and decodes a JSON answer into out (when not nil).
// A status of 300 or more is an error built from libpod's error body.
func (e *Engine) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	resp, err := e.send(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding %s %s: %w", method, path, err)
	}
	return nil
}

// send sends a request and returns the response of a successful one; the
// caller closes its body. 304 (already started or stopped) is success.
func (e *Engine) send(ctx context.Context, method, path string, query url.Values, body any) (*http.Response, error) {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd, ctype = b, "application/x-tar"
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd, ctype = bytes.NewReader(buf), "application/json"
	}
	u := "http://podman" + apiPrefix + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %v", runtime.ErrUnreachable, err)
	}
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotModified {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var ae apiError
		if json.Unmarshal(data, &ae) != nil || ae.Message == "" {
			ae.Message = strings.TrimSpace(string(data))
			if ae.Message == "" {
				ae.Message = resp.Status
			}
		}
		return nil, mapErr(resp.StatusCode, &ae)
	}
	return resp, nil
}

// filters encodes libpod's filters query parameter.
func filters(f map[string][]string) url.Values {
	if len(f) == 0 {
		return url.Values{}
	}
	b, _ := json.Marshal(f)
	return url.Values{"filters": {string(b)}}
}

func labelFilter(labels map[string]string) map[string][]string {
	if len(labels) == 0 {
		return nil
	}
	var ls []string
	for k, v := range labels {
		if v == "" {
			ls = append(ls, k)
		} else {
			ls = append(ls, k+"="+v)
		}
	}
	return map[string][]string{"label": ls}
}

// Info describes the engine. It asks /_ping, whose headers carry the
// versions: /info and /version run the OCI runtime and conmon to report
// theirs and take a second or more. Podman reads CDI specs from /etc/cdi
// and /var/run/cdi on every create, so CDI is reported as enabled when
// either directory exists.
func (e *Engine) Info(ctx context.Context) (runtime.Info, error) {
	resp, err := e.send(ctx, http.MethodGet, "/_ping", nil, nil)
	if err != nil {
		return runtime.Info{}, fmt.Errorf("getting podman info: %w", err)
	}
	resp.Body.Close()
	api := resp.Header.Get("Libpod-Api-Version")
	if api == "" {
		return runtime.Info{}, fmt.Errorf("getting podman info: %w: no Libpod-Api-Version header: not podman", runtime.ErrUnreachable)
	}
	version := api
	if s, ok := strings.CutPrefix(resp.Header.Get("Server"), "Libpod/"); ok {
		version, _, _ = strings.Cut(s, " ")
	}
	cdi := false
	for _, d := range []string{"/etc/cdi", "/var/run/cdi"} {
		if _, err := os.Stat(d); err == nil {
			cdi = true
		}
	}
	return runtime.Info{
		Name:       "podman",
		Version:    version,
		APIVersion: api,
		CDIEnabled: cdi,
		// Podman has no nvidia runtime of its own: GPUs go through CDI or
		// the nvidia hook, both of which are device names here.
		NvidiaRuntime: e.hasHook(),
		// Podman reads CDI specs on every create and has no nvidia device
		// driver.
		GPUDrivers: []string{"cdi"},
	}, nil
}

// hasHook reports whether the nvidia container toolkit's OCI hook is
// installed where Podman looks for hooks.
func (e *Engine) hasHook() bool {
	for _, p := range []string{"/usr/share/containers/oci/hooks.d/oci-nvidia-hook.json", "/etc/containers/oci/hooks.d/oci-nvidia-hook.json"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// isNotFound is errors.Is(err, runtime.ErrNotFound), short.
func isNotFound(err error) bool { return errors.Is(err, runtime.ErrNotFound) }
