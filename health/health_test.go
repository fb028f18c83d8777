package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/runtime"
)

func hostPort(t *testing.T, raw string) (netip.Addr, uint16) {
	ap, err := netip.ParseAddrPort(raw)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Addr(), ap.Port()
}

func TestProbeHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addr, port := hostPort(t, srv.Listener.Addr().String())
	if err := Probe(t.Context(), addr, &desired.Health{Kind: "http", Port: port, Path: "/health"}); err != nil {
		t.Errorf("healthy: %v", err)
	}
	if err := Probe(t.Context(), addr, &desired.Health{Kind: "http", Port: port, Path: "/nope"}); err == nil {
		t.Errorf("404 passed")
	}
}

func TestProbeTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr, port := hostPort(t, l.Addr().String())
	h := &desired.Health{Kind: "tcp", Port: port, Timeout: time.Second}
	if err := Probe(t.Context(), addr, h); err != nil {
		t.Errorf("listening: %v", err)
	}
	l.Close()
	if err := Probe(t.Context(), addr, h); err == nil {
		t.Errorf("closed port passed")
	}
}

func TestWaitSlowStart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr, port := hostPort(t, l.Addr().String())
	l.Close() // nothing listens until the server below starts
	started := make(chan struct{})
	go func() {
		defer close(started)
		time.Sleep(300 * time.Millisecond) // simulates a slow start
		l2, err := net.Listen("tcp", net.JoinHostPort(addr.String(), strconv.Itoa(int(port))))
		if err != nil {
			return
		}
		go http.Serve(l2, http.NotFoundHandler())
		t.Cleanup(func() { l2.Close() })
	}()
	running := inspector{State: runtime.StateRunning}
	c := &desired.Container{Spec: runtime.ContainerSpec{Name: "svc"}, Health: &desired.Health{Kind: "tcp", Port: port, Interval: 50 * time.Millisecond}}
	if err := WaitContainer(t.Context(), running, c, WaitOptions{Address: addr, Timeout: 5 * time.Second}); err != nil {
		t.Errorf("WaitContainer: %v", err)
	}
	<-started
	c.Health = &desired.Health{Kind: "http", Port: port, Path: "/x", Interval: 50 * time.Millisecond}
	if err := WaitContainer(t.Context(), running, c, WaitOptions{Address: addr, Timeout: 300 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("WaitContainer on a 404: %v", err)
	}
	// A container that exits fails the wait at once, whatever its check.
	exited := inspector{State: runtime.StateExited, ExitCode: 3}
	began := time.Now()
	err = WaitContainer(t.Context(), exited, c, WaitOptions{Address: addr, Timeout: 5 * time.Second})
	var ee *ExitedError
	if !errors.As(err, &ee) || ee.Code != 3 || !errors.Is(err, ErrExited) || time.Since(began) > time.Second {
		t.Errorf("WaitContainer on an exited container: %v", err)
	}
	// The context's end is the error.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := WaitContainer(ctx, running, c, WaitOptions{Address: addr}); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitContainer on a cancelled context: %v", err)
	}
}

// inspector reports one state for every container.
type inspector runtime.Container

func (i inspector) InspectContainer(ctx context.Context, name string) (runtime.Container, error) {
	if err := ctx.Err(); err != nil {
		return runtime.Container{}, err
	}
	return runtime.Container(i), nil
}
