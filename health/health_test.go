package health

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/desired"
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
	h := &desired.Health{Kind: "tcp", Port: port, Interval: 50 * time.Millisecond}
	if err := Wait(t.Context(), addr, h, 5*time.Second); err != nil {
		t.Errorf("Wait: %v", err)
	}
	<-started
	if err := Wait(t.Context(), addr, &desired.Health{Kind: "http", Port: port, Path: "/x", Interval: 50 * time.Millisecond}, 300*time.Millisecond); err == nil {
		t.Errorf("Wait on a 404 passed")
	}
}
