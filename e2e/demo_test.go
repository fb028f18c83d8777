// Package e2e runs the demo's stack for real: the images berth builds
// (Ollama, Jupyter, PostgreSQL, Caddy, code-server), brought up by the
// berth command on Docker, and each acceptance check of the stack through
// the command or the proxy's published loopback ports.
//
// The test's containers carry a prefix of their own (containerPrefix:
// e2e<random>-ml-ollama, …), its networks the subnets 10.217.1.0/24 and
// 10.217.2.0/24 (used by no other test and not by the demo), its ports
// are free loopback ports and its state a temporary directory: it runs
// beside the demo (`make demo` then `make test`) without touching it.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/internal/cli"
	"github.com/voidnxlabs/berth/internal/testenv"
	"github.com/voidnxlabs/berth/project"
	"github.com/voidnxlabs/berth/proxy"
	brt "github.com/voidnxlabs/berth/runtime"
)

// stack is one run of the demo's services under a project of the test's own.
type stack struct {
	t        *testing.T
	dir      string // config and data
	state    string
	config   string
	http     int // the proxy's published ports
	https    int
	images   map[string]string
	repoRoot string
	prefix   string // containerPrefix: every container name starts with it
}

// name is the test's container of a catalog service: ml-ollama → e2e…-ml-ollama.
func (s *stack) name(catalog string) string { return s.prefix + catalog }

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// buildImages builds the built-in recipes with berth's own build use case
// and the user's cache and locks (a warm cache builds in seconds; a cold
// one takes minutes: Ollama's cgo build is the longest), and loads them
// under a repository of this run's own (berth-e2e-<random>/NAME:latest),
// so that concurrent runs never share or remove each other's images.
func buildImages(t *testing.T, eng brt.Engine, names ...string) map[string]string {
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 4)
	rand.Read(id)
	p := project.Bare(project.Options{StateDir: t.TempDir(), Engine: eng})
	start := time.Now()
	recs, err := p.ImageBuild(t.Context(), project.ImageBuildOptions{Names: names, Load: true, NoStore: true,
		Builder: project.BuilderOptions{Repository: "berth-e2e-" + hex.EncodeToString(id), LockDir: filepath.Join(cache, "berth", "locks")}})
	for _, rec := range recs {
		t.Cleanup(func() { eng.RemoveImage(context.Background(), rec.Ref) })
	}
	if err != nil {
		t.Fatalf("building %v: %v", names, err)
	}
	refs := map[string]string{}
	for _, rec := range recs {
		t.Logf("image %s: %s, %.1f MB", rec.Name, rec.Ref, float64(rec.Size)/1e6)
		refs[rec.Name] = rec.Ref
	}
	t.Logf("images built and loaded in %s", time.Since(start).Round(time.Second))
	return refs
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

const configTemplate = `project: {{project}}
containerPrefix: {{project}}-
runtime: docker
ml:
  network: { subnet: 10.217.1.0/24, host: 10.217.1.10 }
  ollama:
    image: {{ollama}}
    modelsPath: {{data}}/ollama
    gpu: none
  jupyter:
    image: {{jupyterlab}}
    notebooksPath: {{data}}/notebooks
    gpu: none
  comfyui.enable: false
  vllm.enable: false
  localai.enable: false
dev:
  network: { subnet: 10.217.2.0/24, host: 10.217.2.10 }
  dev-ml.enable: false
  chat-ui.enable: false
  code-server:
    image: {{code-server}}
    workspacePath: {{data}}/workspace
  proxy:
    image: {{caddy}}
    httpPort: {{http}}
    httpsPort: {{https}}
    dataPath: {{data}}/proxy
  postgres:
    image: {{postgres-dev}}
    dataPath: {{data}}/postgres
`

func newStack(t *testing.T, images map[string]string) *stack {
	return newStackFrom(t, configTemplate, images)
}

// newStackFrom is newStack with a config template of the caller's.
func newStackFrom(t *testing.T, template string, images map[string]string) *stack {
	s := &stack{t: t, dir: t.TempDir(), http: freePort(t), https: freePort(t), images: images, repoRoot: repoRoot(t)}
	s.state = filepath.Join(s.dir, "state")
	s.config = filepath.Join(s.dir, "berth.yaml")
	id := make([]byte, 3)
	rand.Read(id)
	s.prefix = "e2e" + hex.EncodeToString(id) + "-"
	repl := []string{"{{project}}", "e2e" + hex.EncodeToString(id), "{{data}}", filepath.Join(s.dir, "data"),
		"{{http}}", strconv.Itoa(s.http), "{{https}}", strconv.Itoa(s.https)}
	for n, ref := range images {
		repl = append(repl, "{{"+n+"}}", ref)
	}
	if err := os.WriteFile(s.config, []byte(strings.NewReplacer(repl...).Replace(template)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BERTH_STATE_DIR", s.state)
	t.Cleanup(func() {
		if _, errOut, code := s.berth("", "down", "--no-wait"); code != 0 {
			t.Errorf("cleanup: berth down: %s", errOut)
		}
	})
	return s
}

// berth runs the berth command in-process on the stack's config.
func (s *stack) berth(stdin string, args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = cli.Main(append([]string{"--file", s.config}, args...), strings.NewReader(stdin), &o, &e)
	return o.String(), e.String(), code
}

// must runs berth and fails the test unless it exits with 0.
func (s *stack) must(args ...string) string {
	s.t.Helper()
	out, errOut, code := s.berth("", args...)
	if code != 0 {
		s.t.Fatalf("berth %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// fails runs berth, wants exit code 1 and each of wants on stderr.
func (s *stack) fails(wants []string, args ...string) {
	s.t.Helper()
	out, errOut, code := s.berth("", args...)
	if code != 1 {
		s.t.Fatalf("berth %s: exit %d, want 1\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	for _, w := range wants {
		if !strings.Contains(errOut, w) {
			s.t.Errorf("berth %s: stderr lacks %q:\n%s", strings.Join(args, " "), w, errOut)
		}
	}
}

// up brings the stack up the way `make demo` does.
func (s *stack) up() {
	s.t.Helper()
	start := time.Now()
	// up writes the proxy's config before it starts and loads it into
	// the running proxy after the apply: no separate reload.
	s.must("up", "--wait", "--timeout", "3m")
	s.t.Logf("up --wait: %s", time.Since(start).Round(100*time.Millisecond))
}

// viaProxy sends a request to the proxy's published HTTP port for host.
func (s *stack) viaProxy(method, host, path string, header http.Header, body io.Reader) (*http.Response, []byte) {
	s.t.Helper()
	req, err := http.NewRequestWithContext(s.t.Context(), method, fmt.Sprintf("http://127.0.0.1:%d%s", s.http, path), body)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header[k] = v
	}
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatalf("%s http://%s%s through the proxy: %v", method, host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestDemoStack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo's five services; run without -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: data paths are made with the services' owners")
	}
	eng := testenv.Docker(t)
	sweepStale(t, eng)
	s := newStack(t, buildImages(t, eng, "ollama", "jupyterlab", "postgres-dev", "caddy", "code-server"))
	s.up()

	var rows []struct{ Name, State, Health string }
	if err := json.Unmarshal([]byte(s.must("status", "--json")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("status has %d rows, want 5: %+v", len(rows), rows)
	}
	for _, r := range rows {
		if r.State != "running" || r.Health != "healthy" {
			t.Errorf("%s: %s, %s; want running, healthy", r.Name, r.State, r.Health)
		}
	}

	t.Run("psql", func(t *testing.T) { s.t = t; testPsql(s) })
	t.Run("ollama", func(t *testing.T) { s.t = t; testOllama(s) })
	t.Run("jupyter", func(t *testing.T) { s.t = t; testJupyter(s) })
	t.Run("code-server", func(t *testing.T) { s.t = t; testCodeServer(s) })
	t.Run("https", func(t *testing.T) { s.t = t; testHTTPS(s) })
	t.Run("secrets", func(t *testing.T) { s.t = t; testSecrets(s, eng) })
	t.Run("aliases", func(t *testing.T) { s.t = t; testAliases(s) })
	t.Run("errors", func(t *testing.T) { s.t = t; testErrors(s) })
	t.Run("restart-keeps-data", func(t *testing.T) { s.t = t; testRestart(s) })
	// Last: the examples stop, restore, roll back and take down the stack.
	t.Run("help-examples", func(t *testing.T) { s.t = t; testHelpExamples(s) })
	s.t = t
}

func testPsql(s *stack) {
	out := s.must("psql", "--", "-At", "-c", "create table notes (x int); insert into notes values (42); select x, current_database() from notes")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); lines[len(lines)-1] != "42|dev" {
		s.t.Errorf("psql answered %q, want 42|dev", out)
	}
	out, _, code := s.berth("select 6*7;\n", "psql", "postgres", "--", "-At")
	if code != 0 || strings.TrimSpace(out) != "42" {
		s.t.Errorf("psql from stdin: exit %d, %q", code, out)
	}
}

func (s *stack) gguf() string {
	s.t.Helper()
	dir := s.t.TempDir()
	bin := filepath.Join(dir, "gguf")
	cmd := exec.CommandContext(s.t.Context(), "go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(s.repoRoot, "internal/fixture/gguf")
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("building the gguf generator: %v\n%s", err, out)
	}
	model := filepath.Join(dir, "tiny.gguf")
	if out, err := exec.Command(bin, "-o", model).CombinedOutput(); err != nil {
		s.t.Fatalf("writing the model: %v\n%s", err, out)
	}
	return model
}

func testOllama(s *stack) {
	s.must("ollama", "create", "tiny", s.gguf())
	if out := s.must("ollama", "list"); !strings.Contains(out, "tiny:latest") {
		s.t.Errorf("ollama list lacks tiny:\n%s", out)
	}
	run := func() string {
		return strings.TrimSpace(s.must("ollama", "run", "tiny", "--temperature", "0", "--seed", "7", "--num-predict", "16", "hello world"))
	}
	a, b := run(), run()
	if a == "" {
		s.t.Fatalf("the model answered nothing")
	}
	if a != b {
		s.t.Errorf("two generations at temperature 0 differ: %q and %q", a, b)
	}
	s.t.Logf("tiny answered %q", a)
	if out := s.must("ollama", "ps", "--json"); !strings.Contains(out, `"tiny:latest"`) {
		s.t.Errorf("ollama ps lacks the loaded model:\n%s", out)
	}
	// The same API through the proxy's path route.
	resp, body := s.viaProxy("GET", "127.0.0.1", "/ml/ollama/api/tags", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "tiny:latest") {
		s.t.Errorf("/ml/ollama/api/tags through the proxy: %s %s", resp.Status, body)
	}
	// A DNS-rebinding page sends its own name as Host: refused (issue 14).
	if resp, body := s.viaProxy("GET", "rebind.example", "/ml/ollama/api/tags", nil, nil); resp.StatusCode != 421 || strings.Contains(string(body), "tiny") {
		s.t.Errorf("a foreign Host reached Ollama through the proxy: %s %s", resp.Status, body)
	}
}

func (s *stack) jupyterToken() string {
	var u struct{ URL, Token string }
	if err := json.Unmarshal([]byte(s.must("jupyter", "url", "--json")), &u); err != nil {
		s.t.Fatal(err)
	}
	if u.Token == "" || !strings.Contains(u.URL, "jupyter.ml.localhost") {
		s.t.Fatalf("jupyter url: %+v", u)
	}
	return u.Token
}

const jupyterHost = "jupyter.ml.localhost"

func testJupyter(s *stack) {
	token := s.jupyterToken()
	auth := http.Header{"Authorization": {"token " + token}}
	resp, body := s.viaProxy("GET", jupyterHost, "/api", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"version"`) {
		s.t.Fatalf("/api through the proxy: %s %s", resp.Status, body)
	}
	if resp, _ := s.viaProxy("GET", jupyterHost, "/api/kernels", nil, nil); resp.StatusCode != 403 {
		s.t.Errorf("kernels without the token: %s, want 403", resp.Status)
	}
	resp, body = s.viaProxy("POST", jupyterHost, "/api/kernels", auth, strings.NewReader(`{"name":"python3"}`))
	if resp.StatusCode != 201 {
		s.t.Fatalf("starting a kernel: %s %s", resp.Status, body)
	}
	var k struct{ ID string }
	json.Unmarshal(body, &k)
	ws, err := wsDial(fmt.Sprintf("127.0.0.1:%d", s.http), jupyterHost, "/api/kernels/"+k.ID+"/channels?token="+url.QueryEscape(token), nil)
	if err != nil {
		s.t.Fatalf("kernel websocket through the proxy: %v", err)
	}
	defer ws.Close()
	if got := kernelEval(s, ws, "6*7"); got != "42" {
		s.t.Errorf("the kernel answered %q to 6*7", got)
	}
	// A config change reaches the proxy without dropping the kernel's
	// connection: the same WebSocket answers after the reload.
	reloadWithExtraRoute(s)
	if resp, body := s.viaProxy("GET", "extra.e2e.localhost", "/api/version", nil, nil); resp.StatusCode != 200 {
		s.t.Errorf("the new route after a reload: %s %s", resp.Status, body)
	}
	if got := kernelEval(s, ws, "6*7+1"); got != "43" {
		s.t.Errorf("after the reload the kernel answered %q to 6*7+1", got)
	}
	// A notebook saved through the API lands in notebooksPath.
	nb := `{"type":"notebook","content":{"cells":[{"cell_type":"code","source":"6*7","metadata":{},"outputs":[],"execution_count":null}],"metadata":{},"nbformat":4,"nbformat_minor":5}}`
	resp, body = s.viaProxy("PUT", jupyterHost, "/api/contents/e2e.ipynb", auth, strings.NewReader(nb))
	if resp.StatusCode/100 != 2 {
		s.t.Fatalf("saving a notebook: %s %s", resp.Status, body)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "data/notebooks/e2e.ipynb")); err != nil {
		s.t.Errorf("the notebook is not in notebooksPath: %v", err)
	}
}

// reloadWithExtraRoute loads the project's proxy config plus one route
// (extra.e2e.localhost to Ollama) through the admin API, as an apply that
// adds a service does.
func reloadWithExtraRoute(s *stack) {
	s.t.Helper()
	var routes []proxy.Route
	if err := json.Unmarshal([]byte(s.must("proxy", "routes", "--json")), &routes); err != nil {
		s.t.Fatal(err)
	}
	var up string
	for _, r := range routes {
		if r.Container == s.name("ml-ollama") {
			up = r.Upstream
		}
	}
	routes = append(routes, proxy.Route{Kit: "e2e", Service: "extra", Container: s.name("ml-ollama"), Host: "extra.e2e.localhost", Path: "/e2e/extra/", Upstream: up})
	cfg, err := proxy.Config(routes, uint16(s.http), uint16(s.https))
	if err != nil {
		s.t.Fatal(err)
	}
	a := proxy.Admin{Socket: filepath.Join(s.dir, "data/proxy", proxy.SocketName)}
	if err := a.Load(s.t.Context(), cfg); err != nil {
		s.t.Fatal(err)
	}
}

// kernelEval runs code in a kernel over its WebSocket channels, through
// the proxy, and returns the text of its execute_result.
func kernelEval(s *stack, ws *wsConn, code string) string {
	s.t.Helper()
	return kernelEvalWithin(s, ws, code, 60*time.Second)
}

// kernelEvalWithin is kernelEval with a deadline of the caller's.
func kernelEvalWithin(s *stack, ws *wsConn, code string, limit time.Duration) string {
	s.t.Helper()
	msgID := fmt.Sprintf("berth-%d", time.Now().UnixNano())
	req, _ := json.Marshal(map[string]any{
		"header":        map[string]any{"msg_id": msgID, "msg_type": "execute_request", "username": "berth", "session": "e2e", "version": "5.3"},
		"parent_header": map[string]any{}, "metadata": map[string]any{}, "channel": "shell",
		"content": map[string]any{"code": code, "silent": false, "store_history": false, "user_expressions": map[string]any{}, "allow_stdin": false},
	})
	if err := ws.WriteText(req); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(limit)
	for {
		b, err := ws.ReadText(deadline)
		if err != nil {
			s.t.Fatalf("reading the kernel's answer: %v", err)
		}
		var m struct {
			Header struct {
				MsgType string `json:"msg_type"`
			}
			ParentHeader struct {
				MsgID string `json:"msg_id"`
			} `json:"parent_header"`
			Content struct {
				Data      map[string]string `json:"data"`
				Ename     string            `json:"ename"`
				Evalue    string            `json:"evalue"`
				Traceback []string          `json:"traceback"`
			}
		}
		if json.Unmarshal(b, &m) != nil || m.ParentHeader.MsgID != msgID {
			continue
		}
		switch m.Header.MsgType {
		case "execute_result":
			return m.Content.Data["text/plain"]
		case "error":
			s.t.Fatalf("the kernel failed: %s: %s\n%s", m.Content.Ename, m.Content.Evalue, strings.Join(m.Content.Traceback, "\n"))
		}
	}
}

func testCodeServer(s *stack) {
	const host = "code-server.dev.localhost"
	resp, body := s.viaProxy("GET", host, "/", nil, nil)
	if resp.StatusCode != 302 || !strings.Contains(resp.Header.Get("Location"), "login") {
		s.t.Errorf("code-server without a login: %s %q, want a redirect to login", resp.Status, body)
	}
	pw := strings.TrimSpace(s.must("secret", "show", "code-server-password"))
	resp, body = s.viaProxy("POST", host, "/login", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, strings.NewReader("password="+url.QueryEscape(pw)))
	if resp.StatusCode != 302 || len(resp.Cookies()) == 0 {
		s.t.Fatalf("login with the generated password: %s %q", resp.Status, body)
	}
	cookie := resp.Cookies()[0]
	// The editor redirects to its default folder first.
	path := "/"
	for range 3 {
		resp, body = s.viaProxy("GET", host, path, http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}, nil)
		loc := resp.Header.Get("Location")
		if resp.StatusCode/100 != 3 || strings.Contains(loc, "login") {
			break
		}
		u, err := url.Parse(loc)
		if err != nil {
			s.t.Fatal(err)
		}
		path = (&url.URL{Path: "/"}).ResolveReference(u).RequestURI()
	}
	if resp.StatusCode != 200 || !strings.Contains(string(body), "workbench") {
		s.t.Errorf("the editor page after login: %s (%d bytes) at %s", resp.Status, len(body), path)
	}
	// A real browser loads the page through the proxy by its name.
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			s.t.Fatal("no chromium: scripts/services-setup.sh installs it")
		}
		s.t.Skip("no chromium on this machine (apt-get install chromium)")
	}
	ctx, cancel := context.WithTimeout(s.t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--user-data-dir="+s.t.TempDir(), "--virtual-time-budget=15000", "--dump-dom",
		fmt.Sprintf("http://%s:%d/", host, s.http))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("chromium: %v\n%s", err, errOut.String())
	}
	dom := out.String()
	if !strings.Contains(dom, "code-server") || !strings.Contains(dom, `type="password"`) {
		s.t.Errorf("chromium did not render code-server's login page through the proxy:\n%.2000s", dom)
	}
}

func testSecrets(s *stack, eng brt.Engine) {
	names := []string{"postgres-password", "jupyter-token", "code-server-password"}
	values := map[string]string{}
	for _, n := range names {
		values[n] = strings.TrimSpace(s.must("secret", "show", n))
		if len(values[n]) < 20 {
			s.t.Fatalf("secret %s is %q", n, values[n])
		}
		matches, _ := filepath.Glob(filepath.Join(s.state, "projects", "*", "secrets", n))
		if len(matches) != 1 {
			s.t.Fatalf("secret %s: no single file in the state directory: %v", n, matches)
		}
		if fi, err := os.Stat(matches[0]); err != nil || fi.Mode().Perm() != 0o600 {
			s.t.Errorf("secret %s: mode %v, want 0600", n, fi.Mode().Perm())
		}
	}
	// Never in plan, status, the labels or the logs.
	planOut, planErr, _ := s.berth("", "plan")
	offline, _, _ := s.berth("", "plan", "--offline")
	status := s.must("status", "--json")
	var shown strings.Builder
	shown.WriteString(planOut + planErr + offline + status)
	for _, c := range []string{"ml-ollama", "ml-jupyter", "dev-postgres", "dev-proxy", "dev-code-server"} {
		c = s.name(c)
		oc, err := eng.InspectContainer(s.t.Context(), c)
		if err != nil {
			s.t.Fatal(err)
		}
		for k, v := range oc.Labels {
			shown.WriteString(k + "=" + v + "\n")
		}
		var logs bytes.Buffer
		eng.Logs(s.t.Context(), c, brt.LogOptions{Tail: -1}, &logs, &logs)
		shown.WriteString(logs.String())
	}
	for n, v := range values {
		if strings.Contains(shown.String(), v) {
			s.t.Errorf("secret %s appears in plan, status, labels or logs", n)
		}
	}

	// Rotation recreates the users; the old Jupyter token stops working.
	old := values["jupyter-token"]
	s.must("secret", "rotate", "jupyter-token")
	if nt := s.jupyterToken(); nt == old {
		s.t.Fatalf("the token did not change")
	}
	if resp, _ := s.viaProxy("GET", jupyterHost, "/api/kernels", http.Header{"Authorization": {"token " + old}}, nil); resp.StatusCode != 403 {
		s.t.Errorf("the old token still works: %s", resp.Status)
	}
	if resp, body := s.viaProxy("GET", jupyterHost, "/api/kernels", http.Header{"Authorization": {"token " + s.jupyterToken()}}, nil); resp.StatusCode != 200 {
		s.t.Errorf("the new token: %s %s", resp.Status, body)
	}
	// PostgreSQL's password is changed in the server too.
	s.must("secret", "rotate", "postgres-password")
	if out := s.must("psql", "--", "-At", "-c", "select x from notes"); strings.TrimSpace(out) != "42" {
		s.t.Errorf("psql after rotation: %q", out)
	}
}

func testAliases(s *stack) {
	dir := s.t.TempDir()
	bin := filepath.Join(dir, "berth")
	cmd := exec.CommandContext(s.t.Context(), "go", "build", "-o", bin, "./cmd/berth")
	cmd.Dir = s.repoRoot
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("building berth: %v\n%s", err, out)
	}
	script := s.must("aliases", "bash")
	bash := func(line string) string {
		s.t.Helper()
		c := exec.CommandContext(s.t.Context(), "bash", "-c", "set -e\neval \"$BERTH_ALIASES\"\n"+line)
		c.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "BERTH_ALIASES="+script, "BERTH_STATE_DIR="+s.state)
		out, err := c.CombinedOutput()
		if err != nil {
			s.t.Fatalf("bash: %s: %v\n%s", line, err, out)
		}
		return string(out)
	}
	cases := []struct{ line, want string }{
		{"ollama-list", "tiny:latest"},                                   // models via the API
		{"echo 'select count(*) from notes;' | dev-pg-psql -- -At", "1"}, // psql, no prompt
		{"ml-status-all", "ml-jupyter"},                                  // status of the kit
		{"ml-ollama-status", "ml-ollama"},                                // one container
		{"dev-status-all | grep dev-code-server", "healthy"},             // the dev kit
		{"dev-pg-stop && dev-pg-status", "exited"},                       // stop
		{"dev-pg-start && dev-pg-status", "running"},                     // start
		{"ml-ollama-logs --tail 200 2>&1", "Listening on"},               // logs
	}
	for _, c := range cases {
		if out := bash(c.line); !strings.Contains(out, c.want) {
			s.t.Errorf("%s: output lacks %q:\n%s", c.line, c.want, out)
		}
	}

	// Every alias of the seed, against berth's own images: none of them has
	// bash, Ollama's and Caddy's have no shell at all, so the enter aliases
	// run on berth's toolbox where needed, with commands from a pipe and
	// after the alias. Aliases of services the demo disables say that there
	// is nothing there (an error with a hint, or "nothing to do").
	var list []struct{ Name string }
	if err := json.Unmarshal([]byte(s.must("aliases", "--json")), &list); err != nil {
		s.t.Fatal(err)
	}
	enabled := map[string]bool{"ml-ollama": true, "ml-jupyter": true, "dev-code": true, "dev-proxy": true, "dev-pg": true}
	ran := 0
	for _, a := range list {
		prefix, verb, ok := cutVerb(a.Name)
		if !ok {
			continue // ollama-list, dev-pg-psql, KIT-*-all: above
		}
		if !enabled[prefix] {
			c := exec.CommandContext(s.t.Context(), "bash", "-c", "eval \"$BERTH_ALIASES\"\n"+a.Name+" </dev/null")
			c.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "BERTH_ALIASES="+script, "BERTH_STATE_DIR="+s.state)
			out, err := c.CombinedOutput()
			said := false
			for _, w := range []string{"berth: hint:", "nothing to do", "no containers"} {
				said = said || strings.Contains(string(out), w)
			}
			if !said {
				s.t.Errorf("%s of a disabled service: %v\n%s", a.Name, err, out)
			}
			ran++
			continue
		}
		var line, want string
		switch verb {
		case "enter":
			line = "echo 'ls -la /dev | grep -c null; echo in-$((6*7))' | " + a.Name + " && " + a.Name + " ls -la /dev"
			want = "in-42"
		case "status":
			line, want = a.Name, "running"
		case "logs":
			line, want = a.Name+" --tail 5 2>&1; echo logs-done", "logs-done"
		case "restart":
			line, want = a.Name+" --wait && "+prefix+"-status", "healthy"
		case "stop":
			line, want = a.Name+" && "+prefix+"-status", "exited"
		case "start":
			line, want = prefix+"-stop && "+a.Name+" --wait && "+prefix+"-status", "healthy"
		}
		out := bash(line)
		if !strings.Contains(out, want) {
			s.t.Errorf("%s: output lacks %q:\n%s", line, want, out)
		}
		if verb == "stop" {
			bash(prefix + "-start --wait")
		}
		if verb == "enter" && !strings.Contains(out, " null") {
			s.t.Errorf("%s ls -la /dev: no /dev/null:\n%s", a.Name, out)
		}
		ran++
	}
	if ran < 30 {
		s.t.Errorf("ran %d per-service aliases, want every one of the 10 services' six", ran)
	}
	// The seed's troubleshooting commands in a shell-less image. ping
	// needs root (a raw socket), as the seed's `nixos-container run` is.
	if out := bash("ml-ollama-enter ps"); !strings.Contains(out, "ollama serve") {
		s.t.Errorf("ps in ml-ollama:\n%s", out)
	}
	if out := s.must("enter", "-u", "0", "ml/ollama", "ping", "-c1", "-W5", s.kitHost("ml")); !strings.Contains(out, "1 packets received") {
		s.t.Errorf("ping from ml-ollama:\n%s", out)
	}
	for _, kit := range []string{"ml", "dev"} {
		bash(kit + "-stop-all && " + kit + "-start-all --wait")
		if out := bash(kit + "-status-all"); strings.Contains(out, "exited") || !strings.Contains(out, "healthy") {
			s.t.Errorf("%s-start-all:\n%s", kit, out)
		}
	}
}

// cutVerb splits a per-service alias (ml-ollama-enter) into its prefix and
// verb.
func cutVerb(name string) (prefix, verb string, ok bool) {
	for _, v := range []string{"enter", "status", "start", "stop", "restart", "logs"} {
		if p, found := strings.CutSuffix(name, "-"+v); found && !strings.HasSuffix(p, "-all") && p != "ml" && p != "dev" {
			return p, v, true
		}
	}
	return "", "", false
}

// kitHost is the host's address on the test's kit network.
func (s *stack) kitHost(kit string) string {
	if kit == "ml" {
		return "10.217.1.10"
	}
	return "10.217.2.10"
}

func testErrors(s *stack) {
	// A wrong password: the stored secret no longer matches the server's.
	matches, _ := filepath.Glob(filepath.Join(s.state, "projects", "*", "secrets", "postgres-password"))
	if len(matches) != 1 {
		s.t.Fatalf("no postgres-password file: %v", matches)
	}
	good, _ := os.ReadFile(matches[0])
	os.WriteFile(matches[0], []byte("wrong-password\n"), 0o600)
	s.fails([]string{"refused the generated password", "berth: hint:"}, "psql", "--", "-c", "select 1")
	os.WriteFile(matches[0], good, 0o600)

	// A stopped service.
	pg := s.name("dev-postgres")
	s.must("stop", pg)
	s.fails([]string{pg + " is exited", "berth start " + pg}, "psql", "--", "-c", "select 1")
	s.must("start", pg)

	// A service whose container is gone.
	s.must("down", "dev/postgres")
	s.fails([]string{pg + " does not exist", "berth up dev/postgres"}, "psql")
	s.must("up", "dev/postgres", "--wait")

	// A model that is not there, a helper whose service is disabled.
	s.fails([]string{"model not found", "berth ollama list"}, "ollama", "run", "nosuch", "hi")
	off := filepath.Join(s.dir, "no-ollama.yaml")
	cfg, _ := os.ReadFile(s.config)
	os.WriteFile(off, []byte(strings.Replace(string(cfg), "  ollama:\n", "  ollama:\n    enable: false\n", 1)), 0o644)
	var o, e bytes.Buffer
	if code := cli.Main([]string{"--file", off, "ollama", "list"}, strings.NewReader(""), &o, &e); code != 1 ||
		!strings.Contains(e.String(), "ml/ollama is not enabled") || !strings.Contains(e.String(), "berth: hint:") {
		s.t.Errorf("ollama list with ollama disabled: exit %d\n%s", code, e.String())
	}
}

func testRestart(s *stack) {
	s.must("down")
	if out := s.must("status", "--json"); strings.Contains(out, `"running"`) {
		s.t.Fatalf("containers still run after down:\n%s", out)
	}
	s.up()
	if out := s.must("psql", "--", "-At", "-c", "select x from notes"); strings.TrimSpace(out) != "42" {
		s.t.Errorf("the table is gone after down and up: %q", out)
	}
	if out := s.must("ollama", "list"); !strings.Contains(out, "tiny:latest") {
		s.t.Errorf("the model is gone after down and up:\n%s", out)
	}
	resp, body := s.viaProxy("GET", jupyterHost, "/api/contents/e2e.ipynb", http.Header{"Authorization": {"token " + s.jupyterToken()}}, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "6*7") {
		s.t.Errorf("the notebook is gone after down and up: %s", resp.Status)
	}
}

// testHTTPS checks the proxy's TLS side against the root of Caddy's
// internal CA, which it keeps in its data path.
func testHTTPS(s *stack) {
	pem, err := os.ReadFile(filepath.Join(s.dir, "data/proxy/caddy/pki/authorities/local/root.crt"))
	if err != nil {
		s.t.Fatalf("the internal CA's root: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		s.t.Fatal("the root is not PEM")
	}
	for _, c := range []struct{ name, path, want string }{
		{"jupyter.ml.localhost", "/api", `"version"`},
		{"ollama.ml.localhost", "/api/version", "0.17.4"},
		{"localhost", "/ml/ollama/api/version", "0.17.4"}, // path routes over HTTPS
	} {
		tr := &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: c.name},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", s.https))
			}}
		cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		// The certificate is issued on first use: allow it a few seconds.
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := cl.Get(fmt.Sprintf("https://%s:%d%s", c.name, s.https, c.path))
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(b), c.want) {
					s.t.Errorf("https://%s%s: %s %s", c.name, c.path, resp.Status, b)
				}
				break
			}
			if time.Now().After(deadline) {
				s.t.Errorf("https://%s%s: %v", c.name, c.path, err)
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
}

// e2eSubnets holds the subnets this test alone uses (see the config above).
var e2eSubnets = netip.MustParsePrefix("10.217.0.0/16")

// sweepStale removes what an earlier run of this test left behind when it
// was killed before its cleanup (a test timeout panics past t.Cleanup): its
// networks keep 10.217.x and every later run would fail on "Pool overlaps".
// Only berth-owned resources of an e2e project on this test's subnets go,
// and each is named in the log; a running demo or user stack is never on
// these subnets, and a second e2e run at the same time could not share them
// anyway.
func sweepStale(t *testing.T, eng brt.Engine) { sweepStaleIn(t, eng, e2eSubnets) }

// sweepStaleIn is sweepStale for the subnets of another test of this package.
func sweepStaleIn(t *testing.T, eng brt.Engine, subnets netip.Prefix) {
	t.Helper()
	ctx := t.Context()
	nets, err := eng.ListNetworks(ctx, map[string]string{brt.LabelProject: ""})
	if err != nil {
		t.Fatalf("listing networks: %v", err)
	}
	for _, n := range nets {
		if !strings.HasPrefix(n.Labels[brt.LabelProject], "e2e") || !n.Subnet.IsValid() || !subnets.Overlaps(n.Subnet) {
			continue
		}
		cs, err := eng.ListContainers(ctx, map[string]string{brt.LabelProject: n.Labels[brt.LabelProject]})
		if err != nil {
			t.Fatalf("listing containers of %s: %v", n.Labels[brt.LabelProject], err)
		}
		for _, c := range cs {
			t.Logf("removing container %s left by an earlier, killed run", c.Name)
			if err := eng.RemoveContainer(ctx, c.ID); err != nil {
				t.Fatalf("removing stale container %s: %v", c.Name, err)
			}
		}
		t.Logf("removing network %s (%s) left by an earlier, killed run", n.Name, n.Subnet)
		if err := eng.RemoveNetwork(ctx, n.ID); err != nil {
			t.Fatalf("removing stale network %s: %v (hint: a daemon restart clears moby#42119)", n.Name, err)
		}
	}
}
