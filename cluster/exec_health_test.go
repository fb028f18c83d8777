package cluster_test

import (
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/cluster"
	"github.com/voidnxlabs/berth/config"
)

// TestRenderExecHealth: an exec health check becomes the kubelet's exec
// probe, readiness and (with a start period) startup.
func TestRenderExecHealth(t *testing.T) {
	src := "project: p\nlab:\n  network: {subnet: 192.168.221.0/24}\n  db: {image: x, port: 5432, health: {exec: [pg_isready, -q], startPeriod: 20s}}\n"
	cfg, err := config.Parse("berth.yaml", []byte(src), config.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cluster.Render(compile(t, cfg), cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	y, _ := m.YAML()
	s := string(y)
	if strings.Count(s, "exec:\n") != 2 || !strings.Contains(s, "- pg_isready\n") || !strings.Contains(s, "startupProbe:") {
		t.Errorf("no exec readiness and startup probes:\n%s", s)
	}
}
