package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/runtime"
)

// Execer runs a command in a container; every runtime.Engine is one.
type Execer interface {
	Exec(ctx context.Context, container string, opts runtime.ExecOptions) (int, error)
}

// ErrNeedsEngine is returned by Probe for an exec check, which only a
// Prober with an engine can run.
var ErrNeedsEngine = errors.New("exec health checks run through the engine")

// Prober returns a probe like Probe that also runs exec checks: the
// check's command inside its container through e, healthy when it exits 0.
// Everything else goes to Probe.
func Prober(e Execer) ProbeFunc {
	return func(ctx context.Context, addr netip.Addr, h *desired.Health) error {
		if h == nil || h.Kind != "exec" {
			return Probe(ctx, addr, h)
		}
		return probeExec(ctx, e, h)
	}
}

// maxOutput is how much of a failing check's output an error keeps: enough
// for pg_isready's or curl's one line, never a flood.
const maxOutput = 200

func probeExec(ctx context.Context, e Execer, h *desired.Health) error {
	if e == nil {
		return fmt.Errorf("probing %s: %w", h.Container, ErrNeedsEngine)
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out bytes.Buffer
	w := &capped{b: &out, n: maxOutput}
	code, err := e.Exec(ctx, h.Container, runtime.ExecOptions{Cmd: h.Command, Stdout: w, Stderr: w})
	if err != nil {
		return fmt.Errorf("running %s in %s: %w", strings.Join(h.Command, " "), h.Container, err)
	}
	if code != 0 {
		msg := strings.TrimSpace(out.String())
		if msg != "" {
			msg = ": " + msg
		}
		return fmt.Errorf("%s in %s exited %d%s", strings.Join(h.Command, " "), h.Container, code, msg)
	}
	return nil
}

// capped keeps the first n bytes written and discards the rest.
type capped struct {
	b *bytes.Buffer
	n int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.n - c.b.Len(); room > 0 {
		c.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
