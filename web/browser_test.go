package web_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/voidnxlabs/berth/image"
	"github.com/voidnxlabs/berth/internal/fixture"
	"github.com/voidnxlabs/berth/internal/testenv"
	"github.com/voidnxlabs/berth/ollama"
	"github.com/voidnxlabs/berth/project"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/web"
)

// The browser tests run berth serve over a project on the real Docker
// engine and drive Debian's Chromium against it. Their networks come from
// 10.230.0.0/16, which no other test of berth uses.
const browserConfig = `project: {{project}}
runtime: docker
srvt:
  network: { subnet: 10.230.1.0/24 }
  web:
    image: {{image}}
    port: 8080
    env: { FIXTURE_STDOUT: "hello from web" }
    health: { http: /health }
  db:
    image: {{image}}
    port: 8080
    health: { http: /health }
`

// chromium finds the browser; with CI=true a missing one fails the test.
func chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but no chromium; scripts/services-setup.sh installs it")
	}
	t.Skip("no chromium")
	return ""
}

// browserEnv is a project on Docker served on loopback, and a browser.
type browserEnv struct {
	t      testing.TB
	dir    string
	config string
	state  string
	eng    runtime.Engine
	p      *project.Project
	url    string          // with the token
	base   string          // without
	ctx    context.Context // the browser tab
}

func newBrowserEnv(t testing.TB, config string, images map[string]string) *browserEnv {
	t.Helper()
	path := chromium(t)
	eng := testenv.Docker(t)
	b := &browserEnv{t: t, dir: t.TempDir(), eng: eng}
	b.config = filepath.Join(b.dir, "berth.yaml")
	b.state = filepath.Join(b.dir, "state")
	id := make([]byte, 3)
	rand.Read(id)
	repl := []string{"{{project}}", "servetest" + hex.EncodeToString(id), "{{data}}", filepath.Join(b.dir, "data")}
	for k, v := range images {
		repl = append(repl, "{{"+k+"}}", v)
	}
	if err := os.WriteFile(b.config, []byte(strings.NewReplacer(repl...).Replace(config)), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := project.Options{ConfigFile: b.config, StateDir: b.state, Engine: eng}
	p, err := project.Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	b.p = p
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		q, err := project.Open(ctx, opts)
		if err == nil {
			_, err = q.Down(ctx, project.DownOptions{})
		}
		if err != nil {
			t.Errorf("cleanup: down: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if _, err := p.Up(ctx, project.UpOptions{Wait: true}); err != nil {
		t.Fatalf("up: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, _ := web.ParseListen(ln.Addr().String(), false)
	srv, err := web.New(web.Options{Project: p, Token: token, Listen: l, Names: l.Names(nil),
		Reopen: func(ctx context.Context) (*project.Project, error) { return project.Open(ctx, opts) }})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { srv.Serve(sctx, ln); close(served) }()
	t.Cleanup(func() { stop(); <-served })
	b.url = srv.URL()
	b.base = strings.Split(b.url, "/?")[0]

	actx, acancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1280, 860))...)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() { bcancel(); acancel() })
	b.ctx = bctx
	// The first action starts the browser and must not have a deadline:
	// the browser lives as long as that call's context.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	// Sign in: the token address sets the cookie and drops the token.
	b.run(chromedp.Navigate(b.url))
	loc := get(b, chromedp.Location())
	if strings.Contains(loc, "token") {
		t.Errorf("the address still carries the token: %s", loc)
	}
	return b
}

// run runs browser actions with a deadline.
func (b *browserEnv) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fatal(err)
	}
}

func (b *browserEnv) fatal(err error) {
	b.t.Helper()
	html, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("main")))
	b.t.Fatalf("browser: %v\npage: %.3000s", err, html)
}

// get runs one action that returns a value.
func get[T any](b *browserEnv, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fatal(err)
	}
	return v
}

// waitJS waits until the expression is true in the page. A poll that
// started while the page was still loading loses its execution context;
// it is started again.
func (b *browserEnv) waitJS(expr string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, time.Until(deadline)+5*time.Second)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(time.Until(deadline)), chromedp.WithPollingInterval(50*time.Millisecond)))
		cancel()
		if err == nil {
			return
		}
		if time.Now().Before(deadline) && (strings.Contains(err.Error(), "Cannot find context") || strings.Contains(err.Error(), "context was destroyed") || strings.Contains(err.Error(), "navigated or closed")) {
			continue
		}
		b.fatal(fmt.Errorf("waiting for %s: %w", expr, err))
	}
}

// screenshot writes the page as a PNG into the test's artifact directory
// (go test -artifacts keeps it), and into $BERTH_SCREENSHOTS when set (the
// pictures in docs/serve.md).
func (b *browserEnv) screenshot(name string) {
	b.t.Helper()
	png := get(b, chromedp.CaptureScreenshot())
	dirs := []string{b.t.ArtifactDir()}
	if d := os.Getenv("BERTH_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, name+".png"), png, 0o644); err != nil {
			b.t.Error(err)
		}
	}
}

func (b *browserEnv) engineState(name string) string {
	c, err := b.eng.InspectContainer(b.t.Context(), name)
	if err != nil {
		return err.Error()
	}
	return c.State
}

func shellImage(t testing.TB, eng runtime.Engine) string {
	ref := "berth-serve-test:sh"
	fixture.LoadAs(t, eng, fixture.WithPrograms(t, map[string]string{"/bin/sh": "/bin/dash", "/bin/stty": "/bin/stty"}), ref)
	return ref
}

// TestBrowser: the overview, a stop from the page, logs, the terminal, and
// plan and apply, in Chromium against Docker.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("a browser and containers")
	}
	eng := testenv.Docker(t)
	b := newBrowserEnv(t, browserConfig, map[string]string{"image": shellImage(t, eng)})

	t.Run("overview", func(t *testing.T) {
		b.t = t
		b.run(chromedp.Navigate(b.base + "/"))
		b.waitJS(`document.querySelector("#c-srvt-web .s-running") !== null && document.querySelector("#c-srvt-db .s-running") !== null`, 10*time.Second)
		b.waitJS(`document.querySelector("#live").textContent === "live"`, 10*time.Second)
		b.waitJS(`document.querySelector("#c-srvt-web .h-healthy") !== null`, 15*time.Second)
		text := get(b, chromedp.Text(chromedp.CSS("#c-srvt-web")))
		if !strings.Contains(text, "10.230.1.") {
			t.Errorf("the row lacks the address: %q", text)
		}
		b.screenshot("overview")
	})

	t.Run("stop", func(t *testing.T) {
		b.t = t
		// A reload would lose this mark.
		get(b, chromedp.Evaluate[int](`window.berthMark = 1`))
		b.run(chromedp.Click(chromedp.CSS(`#c-srvt-db button[data-action="stop"]`)))
		deadline := time.Now().Add(30 * time.Second)
		for b.engineState("srvt-db") != runtime.StateExited {
			if time.Now().After(deadline) {
				t.Fatalf("srvt-db is %s after Stop was clicked", b.engineState("srvt-db"))
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.waitJS(`document.querySelector("#c-srvt-db .s-exited") !== null`, 5*time.Second)
		b.waitJS(`window.berthMark === 1`, time.Second)
		b.waitJS(`document.querySelector("#c-srvt-db button[data-action=start]") !== null`, 5*time.Second)
		b.screenshot("overview-stopped")
		b.run(chromedp.Click(chromedp.CSS(`#c-srvt-db button[data-action="start"]`)))
		b.waitJS(`document.querySelector("#c-srvt-db .s-running") !== null`, 30*time.Second)
		if s := b.engineState("srvt-db"); s != runtime.StateRunning {
			t.Errorf("srvt-db is %s after Start", s)
		}
	})

	t.Run("logs", func(t *testing.T) {
		b.t = t
		b.run(chromedp.Navigate(b.base + "/logs"))
		b.waitJS(`document.querySelector("#log").textContent.includes("hello from web")`, 10*time.Second)
		// A line written after the page opened: to the stdout of the
		// container's first process, which is what the engine logs.
		if _, err := b.p.Exec(t.Context(), project.ExecOptions{Target: "srvt-web",
			Cmd: []string{"/bin/sh", "-c", "echo serve-log-$((40+2)) > /proc/1/fd/1"}}); err != nil {
			t.Fatal(err)
		}
		b.waitJS(`document.querySelector("#log").textContent.includes("serve-log-42")`, 10*time.Second)
		b.run(chromedp.SendKeys(chromedp.CSS("#log-search"), "serve-log"))
		b.waitJS(`document.querySelectorAll("#log .line:not([hidden])").length === 1`, 5*time.Second)
		b.waitJS(`/^1 of \d+ lines$/.test(document.querySelector("#log-count").textContent)`, 5*time.Second)
		b.screenshot("logs")
	})

	t.Run("terminal", func(t *testing.T) {
		b.t = t
		b.run(chromedp.Navigate(b.base+"/terminal"),
			chromedp.SetValue(chromedp.CSS("#term-target"), "srvt-web"),
			chromedp.Click(chromedp.CSS(`#term-form button[type=submit]`)),
			chromedp.Click(chromedp.CSS("#confirm-ok")))
		b.waitJS(`document.querySelector("#term-status").textContent === "connected to srvt-web"`, 10*time.Second)
		// What the shell prints is matched, never what the terminal
		// echoes: the typed line has $((6*7)), the output 42.
		b.run(chromedp.SendKeys(chromedp.CSS("#term"), "echo hello-$((6*7))\r"))
		b.waitJS(`document.querySelector("#term").textContent.includes("hello-42")`, 10*time.Second)
		// The shell's terminal has the page's size.
		size := get(b, chromedp.Evaluate[string](`(() => { const t = document.querySelector("#term"); return t.querySelectorAll(".row").length + " " + t.querySelector(".row").textContent.length; })()`))
		b.run(chromedp.SendKeys(chromedp.CSS("#term"), "stty size\r"))
		b.waitJS(`[...document.querySelectorAll("#term .row")].some(r => r.textContent.trim() === "`+size+`")`, 10*time.Second)
		// Ctrl-C reaches the shell: the read it waits in is interrupted.
		b.run(chromedp.SendKeys(chromedp.CSS("#term"), "read x\r"),
			chromedp.KeyEvent("c", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
		// The line typed next may reach the terminal before the shell has
		// handled the interrupt, and be flushed with it: type it until it
		// runs.
		for try := 0; ; try++ {
			b.run(chromedp.SendKeys(chromedp.CSS("#term"), "echo after-$((1+1))\r"))
			ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
			_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("#term").textContent.includes("after-2")`,
				chromedp.WithPollingTimeout(5*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
			cancel()
			if err == nil {
				break
			}
			if try == 3 {
				t.Fatal("the shell never ran a command after Ctrl-C")
			}
		}
		b.screenshot("terminal")
		b.run(chromedp.SendKeys(chromedp.CSS("#term"), "exit 3\r"))
		b.waitJS(`document.querySelector("#term-status").textContent === "session ended: exit 3"`, 10*time.Second)
	})

	t.Run("plan and apply", func(t *testing.T) {
		b.t = t
		b.run(chromedp.Navigate(b.base + "/plan"))
		b.waitJS(`document.querySelector("#steps").textContent.includes("nothing to do")`, 10*time.Second)
		data, err := os.ReadFile(b.config)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(b.config, []byte(strings.Replace(string(data), "hello from web", "hello again", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		b.run(chromedp.Click(chromedp.CSS("#refresh-plan")))
		b.waitJS(`document.querySelector("#steps").textContent.includes("srvt-web")`, 30*time.Second)
		steps := get(b, chromedp.Text(chromedp.CSS("#steps")))
		if !strings.Contains(steps, "recreate") || strings.Contains(steps, "srvt-db") {
			t.Errorf("the plan after the edit: %q, want srvt-web recreated and nothing else", steps)
		}
		b.screenshot("plan")
		b.run(chromedp.Click(chromedp.CSS("#apply")))
		b.waitJS(`document.querySelector("#events").textContent.includes("done:")`, 60*time.Second)
		b.waitJS(`document.querySelector("#steps").textContent.includes("nothing to do")`, 30*time.Second)
		b.waitJS(`document.querySelector("button[data-rollback='1']") !== null`, 30*time.Second)
		b.screenshot("apply")
		q, err := project.Open(t.Context(), project.Options{ConfigFile: b.config, StateDir: b.state, Engine: b.eng})
		if err != nil {
			t.Fatal(err)
		}
		pl, err := q.Plan(t.Context(), project.PlanOptions{})
		if err != nil || !pl.Empty() {
			t.Errorf("berth plan after Apply: %v %v", pl, err)
		}
	})

	t.Run("rollback", func(t *testing.T) {
		b.t = t
		b.run(chromedp.Click(chromedp.CSS("#diff")))
		b.waitJS(`document.querySelector("#diff-out").textContent.includes("-    env: { FIXTURE_STDOUT: \"hello from web\" }")`, 10*time.Second)
		b.run(chromedp.Click(chromedp.CSS("button[data-rollback='1']")), chromedp.Click(chromedp.CSS("#confirm-ok")))
		b.waitJS(`(t => t.includes("rolling back to 1") && t.includes("done:"))(document.querySelector("#events").textContent)`, 60*time.Second)
		gens, err := b.p.Generations()
		if err != nil || len(gens) != 3 || gens[2].Command != "rollback 1" {
			t.Fatalf("generations after the rollback: %+v %v", gens, err)
		}
		c, err := b.eng.InspectContainer(t.Context(), "srvt-web")
		if err != nil || !slices.Contains(c.Env, "FIXTURE_STDOUT=hello from web") {
			t.Errorf("srvt-web after the rollback: %v %v", c.Env, err)
		}
		b.screenshot("rollback")
	})

	t.Run("other pages", func(t *testing.T) {
		b.t = t
		for _, pg := range []string{"gpus", "images", "backups", "doctor"} {
			b.run(chromedp.Navigate(b.base+"/"+pg), chromedp.WaitVisible(chromedp.CSS("main h1")))
			b.screenshot(pg)
		}
		// The recipes, each with its Build button.
		b.run(chromedp.Navigate(b.base + "/images"))
		b.waitJS(`[...document.querySelectorAll("tbody tr")].some(r => r.textContent.includes("redis") && r.querySelector("button[data-post='/api/images/build']"))`, 10*time.Second)
		// The doctor's findings: the engine answers.
		b.run(chromedp.Navigate(b.base + "/doctor"))
		b.waitJS(`[...document.querySelectorAll(".finding")].some(f => f.textContent.includes("engine") && f.classList.contains("ok"))`, 30*time.Second)
	})

	t.Run("dark", func(t *testing.T) {
		b.t = t
		b.run(chromedp.Navigate(b.base + "/"))
		if bg := get(b, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`)); bg != "rgb(251, 251, 250)" {
			t.Errorf("light background: %s", bg)
		}
		b.run(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
			return err
		}))
		if bg := get(b, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`)); bg != "rgb(20, 22, 24)" {
			t.Errorf("dark background: %s", bg)
		}
		b.waitJS(`document.querySelector("#c-srvt-web .s-running") !== null`, 10*time.Second)
		b.screenshot("overview-dark")
	})
}

// BenchmarkEventLatency measures how long a container's state change
// takes to reach the overview in the browser: from the moment the engine
// has stopped (or started) the container, behind the server's back, to the
// moment the page's row shows it. Goal: under 500 ms.
//
//	go test -run '^$' -bench EventLatency -benchtime 10x ./web
func BenchmarkEventLatency(b *testing.B) {
	eng := testenv.Docker(b)
	env := newBrowserEnv(b, browserConfig, map[string]string{"image": shellImage(b, eng)})
	env.run(chromedp.Navigate(env.base + "/"))
	env.waitJS(`document.querySelector("#live").textContent === "live"`, 10*time.Second)
	// The page notes when the row last changed to the state asked for.
	get(env, chromedp.Evaluate[bool](`(() => {
		window.berthSeen = {};
		new MutationObserver(() => {
			const row = document.querySelector("#c-srvt-db");
			if (!row) return;
			for (const s of ["running", "exited"]) {
				if (row.querySelector(".s-" + s) && !window.berthSeen[s]) window.berthSeen[s] = Date.now();
			}
		}).observe(document.querySelector("#status"), {subtree: true, childList: true});
		return true;
	})()`))
	var total, worst time.Duration
	n := 0
	measure := func(state string, change func() error) {
		get(env, chromedp.Evaluate[bool](`(window.berthSeen = {}, true)`))
		if err := change(); err != nil {
			b.Fatal(err)
		}
		done := time.Now()
		env.waitJS(`window.berthSeen["`+state+`"] !== undefined`, 10*time.Second)
		seen := get(env, chromedp.Evaluate[float64](`window.berthSeen["`+state+`"]`))
		d := time.UnixMilli(int64(seen)).Sub(done)
		total += d
		worst = max(worst, d)
		n++
	}
	for b.Loop() {
		measure("exited", func() error { return eng.StopContainer(b.Context(), "srvt-db", 5*time.Second) })
		measure("running", func() error { return eng.StartContainer(b.Context(), "srvt-db") })
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(n), "ms/event")
	b.ReportMetric(float64(worst.Milliseconds()), "max-ms")
}

// BenchmarkServeRSS starts the berth binary's serve over a project on
// Docker and reads its resident memory: idle, and with a browser's
// overview (one page and its event stream) open. Goal: under 40 MB idle.
//
//	go test -run '^$' -bench ServeRSS -benchtime 1x ./web
func BenchmarkServeRSS(b *testing.B) {
	eng := testenv.Docker(b)
	dir := b.TempDir()
	bin := filepath.Join(dir, "berth")
	build := exec.Command("go", "build", "-o", bin, "github.com/voidnxlabs/berth/cmd/berth")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building berth: %v\n%s", err, out)
	}
	img := shellImage(b, eng)
	cfg := filepath.Join(dir, "berth.yaml")
	id := make([]byte, 3)
	rand.Read(id)
	text := strings.NewReplacer("{{project}}", "servebench"+hex.EncodeToString(id), "{{image}}", img, "10.230.1.0/24", "10.230.2.0/24", "srvt:", "srvb:").Replace(browserConfig)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		b.Fatal(err)
	}
	opts := project.Options{ConfigFile: cfg, StateDir: filepath.Join(dir, "state"), Engine: eng}
	p, err := project.Open(b.Context(), opts)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := p.Up(b.Context(), project.UpOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Down(context.Background(), project.DownOptions{}) })
	for b.Loop() {
		cmd := exec.Command(bin, "-f", cfg, "--state-dir", opts.StateDir, "serve", "--listen", "127.0.0.1:0")
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			cmd.Process.Kill()
			b.Fatalf("serve printed no address: %v", err)
		}
		time.Sleep(3 * time.Second) // idle: nobody has asked anything
		idle := rss(b, cmd.Process.Pid)
		u, _ := url.Parse(strings.TrimSpace(line))
		c := &http.Client{Jar: cookieJar()}
		if resp, err := c.Get(u.String()); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		ctx, cancel := context.WithCancel(b.Context())
		req, _ := http.NewRequestWithContext(ctx, "GET", u.Scheme+"://"+u.Host+"/events", nil)
		if resp, err := c.Do(req); err == nil {
			go func() { io.Copy(io.Discard, resp.Body); resp.Body.Close() }()
		}
		time.Sleep(3 * time.Second)
		busy := rss(b, cmd.Process.Pid)
		cancel()
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		b.ReportMetric(float64(idle)/1e6, "idle-MB")
		b.ReportMetric(float64(busy)/1e6, "overview-MB")
	}
}

// rss reads a process's resident set size.
func rss(t testing.TB, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1000
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func cookieJar() http.CookieJar {
	j, _ := cookiejar.New(nil)
	return j
}

// The chat test runs berth's own Ollama image with a tiny model made here
// (internal/fixture/gguf), as the end-to-end test does.
const chatConfig = `project: {{project}}
runtime: docker
chatt:
  network: { subnet: 10.230.3.0/24 }
  ollama:
    image: {{ollama}}
    port: 11434
    user: "0"
    env: { OLLAMA_HOST: "0.0.0.0:11434", OLLAMA_MODELS: /models }
    mounts: ["{{data}}/models:/models"]
    health: { http: /api/version }
`

// ollamaImage builds the ollama recipe with the user's build cache (a cold
// build compiles Ollama with cgo: minutes) and loads it.
func ollamaImage(t testing.TB, eng runtime.Engine) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs("..")
	b, err := image.NewBuilder(image.Options{CacheDir: filepath.Join(cache, "berth"), WorkDir: root})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := b.Build(t.Context(), image.Builtin()["ollama"])
	if err != nil {
		t.Fatalf("building ollama: %v", err)
	}
	ref := "berth-serve-test/ollama:" + res.Digest.Hex[:12]
	if _, err := image.Load(t.Context(), eng, res.Image, ref); err != nil {
		t.Fatalf("loading ollama: %v", err)
	}
	t.Logf("ollama image %s built and loaded in %s", ref, time.Since(start).Round(time.Second))
	return ref
}

// tinyModel writes the test model and returns its path.
func tinyModel(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "gguf")
	root, _ := filepath.Abs("..")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(root, "internal/fixture/gguf")
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the gguf generator: %v\n%s", err, out)
	}
	model := filepath.Join(dir, "tiny.gguf")
	if out, err := exec.Command(bin, "-o", model).CombinedOutput(); err != nil {
		t.Fatalf("writing the model: %v\n%s", err, out)
	}
	return model
}

// TestBrowserChat: the chat page lists the stack's Ollama model, streams
// an answer token by token, stops it with the Stop button, keeps the
// conversation across a reload, and deletes the model after a
// confirmation.
func TestBrowserChat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Ollama")
	}
	eng := testenv.Docker(t)
	b := newBrowserEnv(t, chatConfig, map[string]string{"ollama": ollamaImage(t, eng)})
	st, err := b.p.Status(t.Context(), project.StatusOptions{})
	if err != nil || len(st) != 1 || st[0].Health != "healthy" {
		t.Fatalf("ollama: %+v %v", st, err)
	}
	base := "http://" + net.JoinHostPort(st[0].Address.String(), "11434")
	if err := ollama.New(base).Create(t.Context(), "tiny", tinyModel(t), ollama.CreateOptions{}, nil); err != nil {
		t.Fatalf("creating the model: %v", err)
	}

	chatFlow(t, b, "chatt-ollama", "tiny:latest", base)
}

// chatFlow drives the chat page: the model is listed, an answer streams
// in while Stop is live, Stop ends it, the conversation survives a reload,
// and the model is deleted after a confirmation.
func chatFlow(t *testing.T, b *browserEnv, service, model, base string) {
	b.run(chromedp.Navigate(b.base + "/chat"))
	b.waitJS(`[...document.querySelectorAll("#chat-model option")].some(o => o.value === "`+service+`|`+model+`")`, 10*time.Second)
	b.run(chromedp.SetValue(chromedp.CSS("#chat-model"), service+"|"+model),
		chromedp.SendKeys(chromedp.CSS("#chat-input"), "hello world"),
		chromedp.Click(chromedp.CSS("#chat-send")))
	// Streamed: the answer grows while the Stop button is live.
	b.waitJS(`document.querySelector("#chat-log li.assistant") && document.querySelector("#chat-log li.assistant").textContent.length > 0 && !document.querySelector("#chat-stop").disabled`, 60*time.Second)
	first := get(b, chromedp.Evaluate[int](`document.querySelector("#chat-log li.assistant").textContent.length`))
	b.waitJS(`document.querySelector("#chat-log li.assistant").textContent.length > `+strconv.Itoa(first)+` || document.querySelector("#chat-stop").disabled`, 30*time.Second)
	b.screenshot("chat")
	b.run(chromedp.Click(chromedp.CSS("#chat-stop")))
	b.waitJS(`document.querySelector("#chat-stop").disabled`, 10*time.Second)
	answer := get(b, chromedp.Text(chromedp.CSS("#chat-log li.assistant")))
	if len(strings.TrimSuffix(answer, " [stopped]")) == 0 {
		t.Errorf("no answer: %q", answer)
	}
	t.Logf("%s answered %.80q…", model, answer)

	// The conversation is kept in the browser.
	b.run(chromedp.Reload())
	b.waitJS(`document.querySelectorAll("#chat-log li").length === 2`, 10*time.Second)

	// Delete, confirmed in the dialog.
	b.run(chromedp.Click(chromedp.CSS("details summary")),
		chromedp.SendKeys(chromedp.CSS("#model-name"), model),
		chromedp.Click(chromedp.CSS("#model-delete")),
		chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.waitJS(`document.querySelector("#model-status").textContent === "`+model+` deleted"`, 10*time.Second)
	ms, err := ollama.New(base).List(t.Context())
	if err != nil || len(ms) != 0 {
		t.Errorf("models after delete: %v %v", ms, err)
	}
}

// The fast chat test's model service: the fixture answering Ollama's API
// with a model that streams numbered tokens.
const chatFixtureConfig = `project: {{project}}
runtime: docker
chatf:
  network: { subnet: 10.230.4.0/24 }
  ollama:
    image: {{image}}
    port: 11434
    env: { FIXTURE_OLLAMA: "1", FIXTURE_LISTEN: ":11434" }
    health: { http: /api/version }
`

// TestBrowserChatFlow is the chat page's flow against the fixture, which
// streams slowly enough that Stop always has something to stop.
func TestBrowserChatFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("a browser and containers")
	}
	eng := testenv.Docker(t)
	b := newBrowserEnv(t, chatFixtureConfig, map[string]string{"image": fixture.Load(t, eng)})
	st, err := b.p.Status(t.Context(), project.StatusOptions{})
	if err != nil || len(st) != 1 {
		t.Fatalf("status: %+v %v", st, err)
	}
	chatFlow(t, b, "chatf-ollama", "fixture:latest", "http://"+net.JoinHostPort(st[0].Address.String(), "11434"))
	// What was kept is the answer as far as it came before Stop.
	if a := get(b, chromedp.Text(chromedp.CSS("#chat-log li.assistant"))); !strings.HasPrefix(a, "tok0 tok1 ") || strings.Contains(a, "tok199") {
		t.Errorf("the fixture's answer after Stop: %q", a)
	}
}
