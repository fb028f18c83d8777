package web_test

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/project"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/fake"
	"github.com/voidnxlabs/berth/web"
)

// The fake engine keeps networks in memory: 10.78.0.0/16 collides with
// nothing real.
const fakeConfig = `project: webtest
wt:
  network: { subnet: 10.78.1.0/24 }
  front:
    image: example.org/front:1
    port: 8080
    env: { FIXTURE_STDOUT: "hello from front" }
    health: { http: /health }
  back:
    image: example.org/back:1
    port: 8080
`

const token = "test-token-0123456789abcdef"

type env struct {
	t    *testing.T
	dir  string
	eng  *fake.Engine
	p    *project.Project
	srv  *web.Server
	http *httptest.Server
	host string // host:port
}

// newEnv opens a project on the fake engine and serves it on loopback.
func newEnv(t *testing.T, up bool) *env {
	t.Helper()
	return newEnvConfig(t, fakeConfig, up)
}

// newEnvConfig is newEnv with another config; "{{dir}}" in it stands for
// the test's directory.
func newEnvConfig(t *testing.T, config string, up bool) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), eng: fake.New()}
	e.eng.AddImage("example.org/front:1", "sha256:"+strings.Repeat("a", 64))
	e.eng.AddImage("example.org/back:1", "sha256:"+strings.Repeat("b", 64))
	cfg := filepath.Join(e.dir, "berth.yaml")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(config, "{{dir}}", e.dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := project.Options{ConfigFile: cfg, StateDir: filepath.Join(e.dir, "state"), Engine: e.eng, Probe: e.eng.Probe}
	p, err := project.Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	if up {
		if _, err := p.Up(t.Context(), project.UpOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.http = httptest.NewUnstartedServer(nil)
	port := e.http.Listener.Addr().(*net.TCPAddr).Port
	l, err := web.ParseListen("127.0.0.1:"+strconv.Itoa(port), false)
	if err != nil {
		t.Fatal(err)
	}
	e.srv, err = web.New(web.Options{Project: p, Token: token, Listen: l, Names: l.Names(nil), Poll: 20 * time.Millisecond,
		Reopen: func(ctx context.Context) (*project.Project, error) { return project.Open(ctx, opts) }})
	if err != nil {
		t.Fatal(err)
	}
	e.http.Config.Handler = e.srv.Handler()
	e.http.Start()
	t.Cleanup(e.http.Close)
	e.host = "127.0.0.1:" + strconv.Itoa(port)
	return e
}

// do sends a request; auth is "cookie", "bearer" or "".
func (e *env) do(method, path, auth string, header map[string]string, body string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.http.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	switch auth {
	case "cookie":
		req.AddCookie(&http.Cookie{Name: "berth_" + strings.Split(e.host, ":")[1], Value: token})
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

func TestNoTokenIsRefused(t *testing.T) {
	e := newEnv(t, false)
	for _, path := range []string{"/", "/plan", "/api/status", "/metrics", "/events", "/api/openapi.json", "/static/app.js"} {
		resp, body := e.do("GET", path, "", nil, "")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %s, want 401", path, resp.Status)
		}
		if strings.Contains(body, "webtest") {
			t.Errorf("GET %s without a token shows the project: %s", path, body)
		}
	}
	resp, _ := e.do("GET", "/?token=wrong-token-0123456789", "", nil, "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong token: %s, want 401", resp.Status)
	}
	resp, _ = e.do("POST", "/api/stop", "", map[string]string{"Origin": "http://" + e.host}, `{}`)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST without a token: %s, want 401", resp.Status)
	}
}

func TestTokenURLSetsCookie(t *testing.T) {
	e := newEnv(t, false)
	resp, _ := e.do("GET", "/logs?token="+token+"&x=1", "", nil, "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET ?token=: %s, want 303", resp.Status)
	}
	if loc := resp.Header.Get("Location"); loc != "/logs?x=1" {
		t.Errorf("redirect to %q, want the same page without the token", loc)
	}
	cs := resp.Cookies()
	if len(cs) != 1 {
		t.Fatalf("cookies: %v", cs)
	}
	c := cs[0]
	if c.Value != token || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Errorf("cookie %+v: want the token, HttpOnly, SameSite=Strict, Path=/", c)
	}
	resp, body := e.do("GET", "/", "cookie", nil, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "webtest") {
		t.Errorf("GET / with the cookie: %s", resp.Status)
	}
	resp, _ = e.do("GET", "/api/status", "bearer", nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /api/status with a bearer token: %s", resp.Status)
	}
}

func TestForeignHostIsRefused(t *testing.T) {
	e := newEnv(t, false)
	port := strings.Split(e.host, ":")[1]
	for _, host := range []string{"evil.example:" + port, "evil.example", "127.0.0.1:1", "192.168.1.10:" + port} {
		resp, body := e.do("GET", "/api/status", "bearer", map[string]string{"Host": host}, "")
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("Host %s: %s, want 403", host, resp.Status)
		}
		if strings.Contains(body, "webtest") {
			t.Errorf("Host %s: the answer shows the project", host)
		}
		// Not even the token exchange works for a rebinding page.
		resp, _ = e.do("GET", "/?token="+token, "", map[string]string{"Host": host}, "")
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) > 0 {
			t.Errorf("Host %s with ?token=: %s, cookies %v", host, resp.Status, resp.Cookies())
		}
	}
	for _, host := range []string{"localhost:" + port, "LOCALHOST:" + port, "[::1]:" + port} {
		if resp, _ := e.do("GET", "/api/status", "bearer", map[string]string{"Host": host}, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("Host %s: %s, want 200", host, resp.Status)
		}
	}
}

func TestForeignOriginIsRefused(t *testing.T) {
	e := newEnv(t, true)
	for _, o := range []string{"http://evil.example", "http://" + e.host + ".evil.example", "https://" + e.host, "null"} {
		resp, _ := e.do("POST", "/api/stop", "cookie", map[string]string{"Origin": o}, `{"targets":["wt-back"]}`)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST with Origin %s: %s, want 403", o, resp.Status)
		}
	}
	// A browser always sends Origin on a POST; a cookie without one is
	// not trusted.
	if resp, _ := e.do("POST", "/api/stop", "cookie", nil, `{"targets":["wt-back"]}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cookie POST without Origin: %s, want 403", resp.Status)
	}
	c, err := e.eng.InspectContainer(t.Context(), "wt-back")
	if err != nil || c.State != runtime.StateRunning {
		t.Fatalf("a refused stop stopped the container: %v %v", c.State, err)
	}
	// The WebSocket of the terminal is a GET, and is checked as well.
	resp, _ := e.do("GET", "/api/terminal?target=wt-back&confirm=wt-back", "cookie", map[string]string{
		"Origin": "http://evil.example", "Upgrade": "websocket", "Connection": "Upgrade",
		"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}, "")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("terminal from another origin: %s, want 403", resp.Status)
	}
	resp, body := e.do("POST", "/api/stop", "cookie", map[string]string{"Origin": "http://" + e.host}, `{"targets":["wt-back"]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("same-origin stop: %s %s", resp.Status, body)
	}
	if c, _ := e.eng.InspectContainer(t.Context(), "wt-back"); c.State != runtime.StateExited {
		t.Errorf("after stop: %s", c.State)
	}
	// A client sending the token itself makes no cross-site request.
	if resp, body := e.do("POST", "/api/start", "bearer", nil, `{"targets":["wt-back"]}`); resp.StatusCode != http.StatusOK {
		t.Errorf("bearer start without Origin: %s %s", resp.Status, body)
	}
}

func TestDestructiveNeedsConfirmation(t *testing.T) {
	e := newEnv(t, true)
	origin := map[string]string{"Origin": "http://" + e.host}
	resp, body := e.do("POST", "/api/down", "cookie", origin, `{"targets":["wt-back"]}`)
	if resp.StatusCode != http.StatusPreconditionRequired || !strings.Contains(body, "confirm") {
		t.Errorf("down without confirm: %s %s", resp.Status, body)
	}
	resp, _ = e.do("POST", "/api/down", "cookie", origin, `{"targets":["wt-back"], "confirm": "wt-front"}`)
	if resp.StatusCode != http.StatusPreconditionRequired {
		t.Errorf("down with the wrong confirm: %s", resp.Status)
	}
	if _, err := e.eng.InspectContainer(t.Context(), "wt-back"); err != nil {
		t.Fatalf("an unconfirmed down removed the container: %v", err)
	}
	resp, body = e.do("POST", "/api/down", "cookie", origin, `{"targets":["wt-back"], "confirm": "wt-back"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("confirmed down: %s %s", resp.Status, body)
	}
	if _, err := e.eng.InspectContainer(t.Context(), "wt-back"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("after a confirmed down: %v", err)
	}
	resp, _ = e.do("POST", "/api/rollback", "cookie", origin, `{"generation": 1}`)
	if resp.StatusCode != http.StatusPreconditionRequired {
		t.Errorf("rollback without confirm: %s", resp.Status)
	}
	resp, _ = e.do("GET", "/api/terminal?target=wt-back", "cookie", map[string]string{"Origin": "http://" + e.host}, "")
	if resp.StatusCode != http.StatusPreconditionRequired {
		t.Errorf("terminal without confirm: %s", resp.Status)
	}
	resp, body = e.do("GET", "/api/terminal?target=wt-front&confirm=wt-front&user=root%20x", "cookie", map[string]string{"Origin": "http://" + e.host}, "")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "user") {
		t.Errorf("terminal with a bad user: %s %s", resp.Status, body)
	}
}

func TestListen(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:7070", "localhost:7070", "[::1]:7070", "127.0.0.2:0"} {
		if l, err := web.ParseListen(ok, false); err != nil || !l.Loopback {
			t.Errorf("ParseListen(%s): %+v %v", ok, l, err)
		}
	}
	for _, exposed := range []string{"0.0.0.0:7070", ":7070", "192.168.1.2:7070", "[::]:7070"} {
		if _, err := web.ParseListen(exposed, false); !errors.Is(err, web.ErrExposed) {
			t.Errorf("ParseListen(%s) without expose: %v, want ErrExposed", exposed, err)
		}
		if l, err := web.ParseListen(exposed, true); err != nil || l.Loopback {
			t.Errorf("ParseListen(%s, expose): %+v %v", exposed, l, err)
		}
	}
	for _, bad := range []string{"7070", "example.org:7070", "127.0.0.1:http", "127.0.0.1:70000"} {
		if _, err := web.ParseListen(bad, true); err == nil || errors.Is(err, web.ErrExposed) {
			t.Errorf("ParseListen(%s): %v, want a format error", bad, err)
		}
	}
}

func TestInternalCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	tc, caPath, err := web.InternalCA(dir, []string{"192.168.1.2", "workstation.lan"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.key", "ca.crt"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", f, fi.Mode(), err)
		}
	}
	data, _ := os.ReadFile(caPath)
	b, _ := pem.Decode(data)
	ca, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	leaf, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"192.168.1.2", "workstation.lan"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("the certificate does not verify for %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "other.lan"}); err == nil {
		t.Error("the certificate verifies for a name it was not made for")
	}
	// The CA is kept: a second start signs with the same one.
	_, _, err = web.InternalCA(dir, []string{"workstation.lan"})
	data2, _ := os.ReadFile(caPath)
	if err != nil || string(data) != string(data2) {
		t.Errorf("a second start made a new CA: %v", err)
	}
}

func TestTokenFile(t *testing.T) {
	e := newEnv(t, false)
	sd, err := e.p.StateDir()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := web.Token(sd)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) < 32 {
		t.Errorf("token %q is short", tok)
	}
	again, _ := web.Token(sd)
	if again != tok {
		t.Error("the token changed between starts")
	}
	fi, err := os.Stat(filepath.Join(sd.Path(), "secrets", web.TokenSecret))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v %v, want mode 0600", fi, err)
	}
}

func TestOverviewAndStatus(t *testing.T) {
	e := newEnv(t, true)
	resp, body := e.do("GET", "/", "cookie", nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %s\n%s", resp.Status, body)
	}
	for _, want := range []string{`id="c-wt-front"`, `id="c-wt-back"`, "running", "10.78.1."} {
		if !strings.Contains(body, want) {
			t.Errorf("the overview lacks %q", want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP: %q", csp)
	}
	resp, body = e.do("GET", "/api/status", "bearer", nil, "")
	var rows []project.ContainerStatus
	if err := json.Unmarshal([]byte(body), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("/api/status: %s %v\n%s", resp.Status, err, body)
	}
	want, _ := e.p.Status(t.Context(), project.StatusOptions{})
	if rows[0].Name != want[0].Name || rows[0].State != want[0].State || rows[0].Address != want[0].Address {
		t.Errorf("/api/status differs from Status: %+v vs %+v", rows[0], want[0])
	}
	resp, body = e.do("GET", "/api/status?target=nosuch", "bearer", nil, "")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "hint") {
		t.Errorf("unknown target: %s %s", resp.Status, body)
	}
}

// TestLiveRows: a container stopped behind the server's back shows up as
// a changed row on the event stream.
func TestLiveRows(t *testing.T) {
	e := newEnv(t, true)
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.http.URL+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- d
			}
		}
		close(events)
	}()
	wait := func(what func(string) bool) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case d := <-events:
				if what(d) {
					return
				}
			case <-deadline:
				t.Fatal("no such event within 5 s")
			}
		}
	}
	wait(func(d string) bool { return strings.Contains(d, `"name":"wt-back"`) && strings.Contains(d, "running") })
	if err := e.eng.StopContainer(t.Context(), "wt-back", time.Second); err != nil {
		t.Fatal(err)
	}
	wait(func(d string) bool {
		var ev struct{ Name, HTML string }
		return json.Unmarshal([]byte(d), &ev) == nil && ev.Name == "wt-back" && strings.Contains(ev.HTML, "s-exited")
	})
}

func TestRunStreamsEvents(t *testing.T) {
	e := newEnv(t, false)
	resp, body := e.do("POST", "/api/up", "cookie", map[string]string{"Origin": "http://" + e.host, "Accept": "application/x-ndjson"}, `{}`)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("up: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	lines := strings.Split(strings.TrimSpace(body), "\n")
	var last struct {
		Result *project.RunResult `json:"result"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Result == nil || last.Result.Generation != 1 {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	if len(lines) < 4 || !strings.Contains(body, `"kind":"apply"`) {
		t.Errorf("up streamed %d lines, want its apply events:\n%s", len(lines), body)
	}
	pl, err := e.p.Plan(t.Context(), project.PlanOptions{})
	if err != nil || !pl.Empty() {
		t.Errorf("plan after up through the API: %v %v", pl, err)
	}
	resp, body = e.do("GET", "/api/generations", "bearer", nil, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"number": 1`) {
		t.Errorf("generations: %s %s", resp.Status, body)
	}
}

func TestLogsNDJSON(t *testing.T) {
	e := newEnv(t, true)
	resp, body := e.do("GET", "/api/logs?target=wt-front&tail=10", "bearer", nil, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"text":"hello from front\n"`) || !strings.Contains(body, `"container":"wt-front"`) {
		t.Fatalf("logs: %s %s", resp.Status, body)
	}
	resp, body = e.do("GET", "/api/logs?target=wt-front&since=yesterday", "bearer", nil, "")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "since") {
		t.Errorf("a bad since: %s %s", resp.Status, body)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, true)
	resp, body := e.do("GET", "/metrics", "bearer", nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	for _, want := range []string{
		`berth_container_up{container="wt-front",kit="wt",state="running"} 1`,
		`berth_container_healthy{container="wt-front",health="healthy",kit="wt"} 1`,
		`berth_generation 1`,
		`berth_container_restarts_total{container="wt-front",kit="wt"} 0`,
		`berth_container_memory_bytes{container="wt-front",kit="wt"} 6.7108864e+07`,
		`berth_container_pids{container="wt-front",kit="wt"} 1`,
		`berth_container_cpu_seconds_total{container="wt-front",kit="wt"} `,
		`berth_backups 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestMetricsBackupAge: after a backup, /metrics says when the newest
// backup of each container was taken, and how many backups there are.
func TestMetricsBackupAge(t *testing.T) {
	e := newEnvConfig(t, `project: webbackup
wt:
  network: { subnet: 10.78.2.0/24 }
  back:
    image: example.org/back:1
    port: 8080
    mounts: ["{{dir}}/data:/data"]
`, true)
	if err := os.MkdirAll(filepath.Join(e.dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(e.dir, "data", "f"), []byte("x"), 0o644)
	before := time.Now().Add(-time.Second)
	if _, _, err := e.p.Backup(t.Context(), project.BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	_, body := e.do("GET", "/metrics", "bearer", nil, "")
	if !strings.Contains(body, "berth_backups 1\n") {
		t.Errorf("/metrics lacks berth_backups 1:\n%s", grepLines(body, "berth_backup"))
	}
	var ts float64
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, `berth_backup_last_timestamp_seconds{container="wt-back"} `); ok {
			ts, _ = strconv.ParseFloat(v, 64)
		}
	}
	if ts < float64(before.Unix()) || ts > float64(time.Now().Unix()+1) {
		t.Errorf("last backup of wt-back at %v, want about now:\n%s", ts, grepLines(body, "berth_backup"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestUnknownAPI(t *testing.T) {
	e := newEnv(t, false)
	resp, body := e.do("GET", "/api/nosuch", "bearer", nil, "")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "openapi") {
		t.Errorf("%s %s", resp.Status, body)
	}
}

// TestEngineDown: a page whose engine does not answer says so, with the
// hint, and the API answers 503.
func TestEngineDown(t *testing.T) {
	e := newEnv(t, true)
	e.eng.Fail("ListContainers", 1, fmt.Errorf("dial unix /var/run/docker.sock: %w", runtime.ErrUnreachable))
	resp, body := e.do("GET", "/", "cookie", nil, "")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `role="alert"`) || !strings.Contains(body, "engine unreachable") {
		t.Errorf("overview with the engine down: %s\n%s", resp.Status, body)
	}
	e.eng.Fail("ListContainers", 1, fmt.Errorf("dial unix /var/run/docker.sock: %w", runtime.ErrUnreachable))
	resp, body = e.do("GET", "/api/status", "bearer", nil, "")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "engine unreachable") {
		t.Errorf("/api/status with the engine down: %s %s", resp.Status, body)
	}
}

// TestConfigReload: an edit of berth.yaml shows in the plan without a
// restart; a broken edit keeps the last good config and says why.
func TestConfigReload(t *testing.T) {
	e := newEnv(t, true)
	cfg := filepath.Join(e.dir, "berth.yaml")
	if err := os.WriteFile(cfg, []byte(fakeConfig+"  extra: { image: example.org/back:1, port: 8080 }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, body := e.do("GET", "/api/plan", "bearer", nil, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"target": "wt-extra"`) {
		t.Errorf("plan after adding a service: %s %s", resp.Status, body)
	}
	if err := os.WriteFile(cfg, []byte(fakeConfig+"  broken: { port: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, body = e.do("GET", "/", "cookie", nil, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "berth.yaml changed and has problems") || !strings.Contains(body, `id="c-wt-extra"`) {
		t.Errorf("overview after a broken edit: %s\n%s", resp.Status, body)
	}
}
