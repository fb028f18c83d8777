package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCaddyRefusesForeignHosts runs the config Config makes in a real
// Caddy (the caddy on PATH: Debian's, or the one berth builds) in front of
// a stand-in for Ollama, and sends what a DNS-rebinding page would send
// (issue 14 row 9): its own name as Host, on 127.0.0.1. Path routes and
// the index answer only the proxy's own names; name routes only their
// name; everything else gets 421 and never reaches the service.
func TestCaddyRefusesForeignHosts(t *testing.T) {
	bin, err := exec.LookPath("caddy")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("caddy is not installed and CI=true (scripts/services-setup.sh installs it)")
		}
		t.Skip("needs caddy on PATH (apt-get install caddy)")
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ollama saw %s", r.URL.Path)
	}))
	defer upstream.Close()
	routes := []Route{{Kit: "ml", Service: "ollama", Container: "ml-ollama", Host: HostName("ml", "ollama"), Path: "/ml/ollama/",
		Upstream: strings.TrimPrefix(upstream.URL, "http://")}}
	port := freePort(t)
	cfg, err := Config(routes, uint16(port), 0)
	if err != nil {
		t.Fatal(err)
	}
	// The admin socket goes into this test's directory instead of the
	// container's /data; Debian's Caddy 2.6 takes no "|mode" suffix.
	dir := t.TempDir()
	var doc map[string]any
	if err := json.Unmarshal(cfg, &doc); err != nil {
		t.Fatal(err)
	}
	doc["admin"] = map[string]any{"listen": "unix/" + filepath.Join(dir, "admin.sock")}
	cfg, _ = json.Marshal(doc)
	// Nor stream_close_delay (Caddy 2.7): it only keeps WebSockets open
	// across reloads, and routing is what is tested here.
	cfg = []byte(strings.ReplaceAll(string(cfg), `"stream_close_delay":"24h",`, ""))
	file := filepath.Join(dir, "caddy.json")
	if err := os.WriteFile(file, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cmd := exec.CommandContext(ctx, bin, "run", "--config", file)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cancel(); <-exited })

	get := func(host, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _ := get("localhost", "/"); code == 200 {
			break
		}
		select {
		case <-exited:
			t.Fatalf("caddy exited:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy did not answer:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, tc := range []struct {
		host, path string
		code       int
		body       string
	}{
		{"127.0.0.1", "/ml/ollama/api/tags", 200, "ollama saw /api/tags"},
		{fmt.Sprintf("127.0.0.1:%d", port), "/ml/ollama/api/tags", 200, "ollama saw /api/tags"},
		{"localhost", "/ml/ollama/api/tags", 200, "ollama saw /api/tags"},
		{"[::1]", "/ml/ollama/api/tags", 200, "ollama saw /api/tags"},
		{"ollama.ml.localhost", "/api/tags", 200, "ollama saw /api/tags"},
		// A rebinding page's own name: refused, whatever the path.
		{"evil.example", "/ml/ollama/api/tags", 421, "unknown host"},
		{"evil.example", "/api/tags", 421, "unknown host"},
		{"evil.example", "/", 421, "unknown host"},
		{"ollama.ml.localhost.evil.example", "/api/tags", 421, "unknown host"},
		{"localhost.evil.example", "/ml/ollama/api/tags", 421, "unknown host"},
	} {
		code, body := get(tc.host, tc.path)
		if code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("Host %s GET %s = %d %q; want %d %q", tc.host, tc.path, code, body, tc.code, tc.body)
		}
		if tc.code != 200 && strings.Contains(body, "ollama saw") {
			t.Errorf("Host %s reached the service", tc.host)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
