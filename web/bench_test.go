package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/project"
	"github.com/voidnxlabs/berth/runtime/fake"
	"github.com/voidnxlabs/berth/web"
)

// BenchmarkOverview renders the overview of 50 containers on the fake
// engine (health probes answered at once): the server's own time and the
// page's size. Goal: under 50 ms and 100 KB.
//
//	go test -run '^$' -bench Overview -benchmem ./web
func BenchmarkOverview(b *testing.B) {
	const n = 50
	dir := b.TempDir()
	eng := fake.New()
	eng.AddImage("example.org/svc:1", "sha256:"+strings.Repeat("c", 64))
	var cfg strings.Builder
	cfg.WriteString("project: webbench\nbench:\n  network: { subnet: 10.78.2.0/24 }\n")
	for i := range n {
		fmt.Fprintf(&cfg, "  svc%02d:\n    image: example.org/svc:1\n    port: 8080\n    health: { http: /health }\n    resources: { memory: 1GiB, cpus: 2 }\n", i)
	}
	path := filepath.Join(dir, "berth.yaml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	// Every container answers its health check at once: the figure is the
	// server's own time, not the probes'.
	healthy := func(context.Context, netip.Addr, *desired.Health) error { return nil }
	p, err := project.Open(b.Context(), project.Options{ConfigFile: path, StateDir: filepath.Join(dir, "state"), Engine: eng, Probe: healthy})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := p.Up(b.Context(), project.UpOptions{}); err != nil {
		b.Fatal(err)
	}
	l, _ := web.ParseListen("127.0.0.1:7070", false)
	srv, err := web.New(web.Options{Project: p, Token: token, Listen: l, Names: l.Names(nil)})
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	req := httptest.NewRequest("GET", "http://127.0.0.1:7070/", nil)
	req.AddCookie(&http.Cookie{Name: "berth_7070", Value: token})
	var size int
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || strings.Count(w.Body.String(), `data-name="bench-svc`) != n {
			b.Fatalf("overview: %d, %d rows", w.Code, strings.Count(w.Body.String(), `data-name="bench-svc`))
		}
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/page")
	// The process's CPU time per page: on a loaded machine the wall time
	// per op includes waiting for a CPU, this does not.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
