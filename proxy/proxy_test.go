package proxy

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/runtime"
)

func state() *desired.State {
	c := func(kit, svc string, addr string, h *desired.Health, ports ...uint16) desired.Container {
		name := kit + "-" + svc
		return desired.Container{Kit: kit, Service: svc, Address: netip.MustParseAddr(addr), Listen: ports, Health: h,
			Spec: runtime.ContainerSpec{Name: name}}
	}
	httpCheck := &desired.Health{Kind: "http", Path: "/"}
	px := c("dev", "proxy", "10.217.2.14", &desired.Health{Kind: "tcp"}, 8080, 8443)
	px.DataPaths = []desired.DataPath{{Host: "/srv/proxy", Target: "/data"}}
	return &desired.State{Project: "t", Containers: []desired.Container{
		c("ml", "ollama", "10.217.1.11", httpCheck, 11434),
		c("ml", "jupyter", "10.217.1.12", httpCheck, 8888),
		c("dev", "postgres", "10.217.2.15", &desired.Health{Kind: "postgres"}, 5432),
		c("dev", "code-server", "10.217.2.13", httpCheck, 8443),
		c("lab", "worker", "10.217.3.11", nil), // no port: nothing to proxy
		px,
	}}
}

func TestRoutes(t *testing.T) {
	st := state()
	px := Find(st)
	if px == nil || px.Spec.Name != "dev-proxy" {
		t.Fatalf("Find: %+v", px)
	}
	var got []string
	for _, r := range Routes(st, px.Spec.Name) {
		got = append(got, r.Host+" "+r.Path+" "+r.Upstream)
	}
	want := []string{
		"code-server.dev.localhost /dev/code-server/ 10.217.2.13:8443",
		"jupyter.ml.localhost /ml/jupyter/ 10.217.1.12:8888",
		"ollama.ml.localhost /ml/ollama/ 10.217.1.11:11434",
	}
	if len(got) != len(want) {
		t.Fatalf("routes:\n%q\nwant:\n%q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("route %d: %q, want %q", i, got[i], want[i])
		}
	}
	if s, err := Socket(px); err != nil || s != "/srv/proxy/admin.sock" {
		t.Errorf("Socket: %q, %v", s, err)
	}
	if h, s := Ports(px); h != 8080 || s != 8443 {
		t.Errorf("Ports: %d, %d", h, s)
	}
}

// TestConfigGolden pins the Caddy config made for the state above;
// BERTH_UPDATE=1 rewrites testdata/caddy.json.
func TestConfigGolden(t *testing.T) {
	st := state()
	cfg, err := Config(Routes(st, "dev-proxy"), 8080, 8443)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(cfg, &v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	golden := filepath.Join("testdata", "caddy.json")
	if os.Getenv("BERTH_UPDATE") == "1" {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, cfg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (BERTH_UPDATE=1 writes it)", err)
	}
	if string(want) != string(cfg) {
		t.Errorf("config differs from %s (BERTH_UPDATE=1 rewrites it):\n%s", golden, cfg)
	}
	again, _ := Config(Routes(st, "dev-proxy"), 8080, 8443)
	if string(again) != string(cfg) {
		t.Error("two configs from one state differ")
	}
}

func TestConfigNoHTTPS(t *testing.T) {
	cfg, err := Config(nil, 80, 0)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Apps map[string]json.RawMessage
	}
	json.Unmarshal(cfg, &v)
	if _, ok := v.Apps["tls"]; ok {
		t.Error("a config without an HTTPS port has a tls app")
	}
	if _, err := Config(nil, 0, 0); err == nil {
		t.Error("a config without an HTTP port was made")
	}
}

func TestPrepare(t *testing.T) {
	st := state()
	dir := t.TempDir()
	Find(st).DataPaths[0].Host = dir
	p, err := Prepare(st)
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(dir, AutosavePath) {
		t.Errorf("Prepare wrote %s", p)
	}
	got, _ := os.ReadFile(p)
	want, _ := Config(Routes(st, "dev-proxy"), 8080, 8443)
	if string(got) != string(want) {
		t.Error("the autosave file is not the config")
	}
	if _, err := Prepare(&desired.State{}); err != nil {
		t.Errorf("no proxy: %v", err)
	}
}

// TestRoutesAreBoundToHosts: no route of the config matches every Host
// but the last, which refuses; the admin socket is 0660 (issue 14 row 9).
func TestRoutesAreBoundToHosts(t *testing.T) {
	cfg, err := Config(Routes(state(), "dev-proxy"), 8080, 8443)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Admin struct{ Listen string }
		Apps  struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Match  []map[string]any
						Handle []map[string]any
					}
				}
			}
		}
	}
	if err := json.Unmarshal(cfg, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Admin.Listen != "unix//data/admin.sock|0660" {
		t.Errorf("admin listen = %q", doc.Admin.Listen)
	}
	for name, srv := range doc.Apps.HTTP.Servers {
		for i, r := range srv.Routes {
			last := i == len(srv.Routes)-1
			hasHost := len(r.Match) > 0
			for _, m := range r.Match {
				hasHost = hasHost && m["host"] != nil
			}
			switch {
			case !last && !hasHost:
				t.Errorf("server %s route %d matches any Host: %v", name, i, r.Match)
			case last && (hasHost || r.Handle[0]["status_code"] != float64(421)):
				t.Errorf("server %s: the last route is not the 421 refusal: %v %v", name, r.Match, r.Handle)
			}
		}
	}
}
