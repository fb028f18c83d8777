// Package health runs berth's readiness checks from the host against a
// container's private address, so images need no probe tools inside.
package health

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/voidnxlabs/berth/desired"
)

// DefaultTimeout bounds one probe when the check names none.
const DefaultTimeout = 2 * time.Second

// DefaultInterval is the pause between probes when the check names none.
const DefaultInterval = 500 * time.Millisecond

// ProbeFunc checks a health check once against an address. Prober(e) is
// the real one; tests whose engine runs no programs pass another to the
// callers that take one (apply, the project layer).
type ProbeFunc func(ctx context.Context, addr netip.Addr, h *desired.Health) error

// Probe checks h once against addr: an HTTP GET that answers 2xx or 3xx,
// a TCP connect, or a PostgreSQL startup handshake. An exec check needs
// an engine: use Prober; Probe returns ErrNeedsEngine for one.
func Probe(ctx context.Context, addr netip.Addr, h *desired.Health) error {
	if h == nil {
		return nil
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hostPort := net.JoinHostPort(addr.String(), strconv.Itoa(int(h.Port)))
	switch h.Kind {
	case "tcp":
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", hostPort)
		if err != nil {
			return fmt.Errorf("probing tcp %s: %w", hostPort, err)
		}
		return c.Close()
	case "postgres":
		return probePostgres(ctx, hostPort)
	case "exec":
		return fmt.Errorf("probing %s: %w", h.Container, ErrNeedsEngine)
	case "http", "":
		path := h.Path
		if path == "" {
			path = "/"
		}
		url := "http://" + hostPort + path
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("probing %s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("probing %s: %w", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			return fmt.Errorf("probing %s: status %s", url, resp.Status)
		}
		return nil
	default:
		return fmt.Errorf("unknown health check kind %q", h.Kind)
	}
}

// client does not follow redirects: a 3xx already says the service answers.
var client = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
}
