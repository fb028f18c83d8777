package project_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/project"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/fake"
	"github.com/voidnxlabs/berth/state"
)

// The configs of the fast use-case tests. The fake engine keeps its
// networks in memory, so 10.77.0.0/16 collides with nothing real.
const configV1 = `project: libtest
lt:
  network: { subnet: 10.77.1.0/24 }
  web:
    image: example.org/web:1
    port: 8080
    env: { FIXTURE_STDOUT: "hello from web" }
    health: { http: /health }
    mounts: ["DATA/web:/data"]
  api:
    image: example.org/api:1
    port: 8080
    health: { http: /health }
    dependsOn: { web: healthy }
`

// configV2 changes web's environment: exactly web is recreated.
var configV2 = strings.Replace(configV1, "hello from web", "hello again", 1)

// env is a project directory, a state directory and a fake engine whose
// containers are healthy while they run.
type env struct {
	t     *testing.T
	dir   string
	state string
	eng   *fake.Engine
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), eng: fake.New()}
	e.state = filepath.Join(e.dir, "state")
	e.eng.AddImage("example.org/web:1", "sha256:"+strings.Repeat("a", 64))
	e.eng.AddImage("example.org/api:1", "sha256:"+strings.Repeat("b", 64))
	e.write(configV1)
	return e
}

func (e *env) write(cfg string) {
	e.t.Helper()
	cfg = strings.ReplaceAll(cfg, "DATA", filepath.Join(e.dir, "data"))
	if err := os.WriteFile(filepath.Join(e.dir, "berth.yaml"), []byte(cfg), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) open() *project.Project {
	e.t.Helper()
	p, err := project.Open(e.t.Context(), project.Options{
		ConfigFile: filepath.Join(e.dir, "berth.yaml"), StateDir: e.state, Engine: e.eng, Probe: e.eng.Probe,
		Getenv: func(string) string { return "" },
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { p.Close() })
	return p
}

// recorder collects events.
type recorder struct {
	mu  sync.Mutex
	evs []project.Event
}

func (r *recorder) event(ev project.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
}

// applied lists "phase kind target" of the apply events.
func (r *recorder) applied() []string {
	var out []string
	for _, ev := range r.evs {
		if ev.Kind == project.EventApply && ev.Phase == "done" {
			out = append(out, string(ev.Op.Kind)+" "+ev.Op.Target)
		}
	}
	return out
}

func states(t *testing.T, p *project.Project) map[string]string {
	t.Helper()
	rows, err := p.Status(t.Context(), project.StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		s := r.State + "/" + r.Health
		if !r.UpToDate && r.State != project.StateMissing {
			s += "*"
		}
		out[r.Name] = s
	}
	return out
}

func wantStates(t *testing.T, p *project.Project, want map[string]string) {
	t.Helper()
	got := states(t, p)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("status of %s: %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("status: %v, want %v", got, want)
	}
}

// TestUpChangeKillUp is the full cycle against the fake engine: a first up
// creates everything and records generation 1; a changed port recreates
// exactly that container (generation 2); a container killed behind
// berth's back is started again by the next up, which records nothing;
// rollback, stop, start and down do what they say; the data stays.
func TestUpChangeKillUp(t *testing.T) {
	began := time.Now()
	e := newEnv(t)
	p := e.open()
	ctx := t.Context()

	pl, err := p.Plan(ctx, project.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pl.Empty() || !strings.Contains(pl.String(), "create container lt-web at 10.77.1.") {
		t.Fatalf("first plan:\n%s", pl)
	}

	var rec recorder
	res, err := p.Up(ctx, project.UpOptions{Wait: true, Events: rec.event})
	if err != nil {
		t.Fatal(err)
	}
	if res.Generation != 1 || res.Counts[plan.CreateContainer] != 2 || res.Counts[plan.WaitHealthy] != 2 {
		t.Errorf("first up: generation %d, counts %v", res.Generation, res.Counts)
	}
	if !slices.Contains(rec.applied(), "create lt-web") || !slices.Contains(rec.applied(), "wait lt-api") {
		t.Errorf("events: %v", rec.applied())
	}
	if i, j := slices.Index(rec.applied(), "wait lt-web"), slices.Index(rec.applied(), "create lt-api"); i < 0 || j < i {
		t.Errorf("api started before web was healthy: %v", rec.applied())
	}
	if _, err := os.Stat(filepath.Join(e.dir, "data", "web")); err != nil {
		t.Errorf("data path: %v", err)
	}
	wantStates(t, p, map[string]string{"lt-web": "running/healthy", "lt-api": "running/healthy"})
	if pl, err := p.Plan(ctx, project.PlanOptions{}); err != nil || !pl.Empty() {
		t.Fatalf("plan after up: %v\n%s", err, pl)
	}

	// Change: only web is recreated.
	e.write(configV2)
	p = e.open()
	wantStates(t, p, map[string]string{"lt-web": "running/healthy*", "lt-api": "running/healthy"})
	res, err = p.Up(ctx, project.UpOptions{Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary != "1 recreated, 1 healthy" || res.Generation != 2 {
		t.Errorf("up after change: %q, generation %d\n%s", res.Summary, res.Generation, res.Plan)
	}

	// Kill: the next up starts api again and records nothing new.
	if err := e.eng.Kill("lt-api", 137); err != nil {
		t.Fatal(err)
	}
	wantStates(t, p, map[string]string{"lt-web": "running/healthy", "lt-api": "exited/-"})
	res, err = p.Up(ctx, project.UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts[plan.StartContainer] != 1 || res.Counts[plan.Recreate] != 0 || res.Generation != 0 {
		t.Errorf("up after kill: %q, generation %d\n%s", res.Summary, res.Generation, res.Plan)
	}
	wantStates(t, p, map[string]string{"lt-web": "running/healthy", "lt-api": "running/healthy"})
	if res, err := p.Up(ctx, project.UpOptions{}); err != nil || !res.Empty() {
		t.Fatalf("second up: %v %v", err, res.Plan)
	}

	// Rollback applies generation 1 again as generation 3.
	res, err = p.Rollback(ctx, project.RollbackOptions{Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.RolledBackTo != 1 || res.Generation != 3 || res.Counts[plan.Recreate] != 1 {
		t.Errorf("rollback: to %d, generation %d, %q", res.RolledBackTo, res.Generation, res.Summary)
	}
	gens, err := p.Generations()
	if err != nil || len(gens) != 3 || gens[2].Command != "rollback 1" {
		t.Errorf("generations: %v %+v", err, gens)
	}

	// Stop and start by target; down keeps the data.
	if _, err := p.Stop(ctx, project.LifecycleOptions{Targets: []string{"lt/api"}}); err != nil {
		t.Fatal(err)
	}
	if got := states(t, p)["lt-api"]; !strings.HasPrefix(got, "exited/") {
		t.Errorf("after stop: %s", got)
	}
	if _, err := p.Start(ctx, project.LifecycleOptions{Targets: []string{"lt-api"}, Wait: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Restart(ctx, project.LifecycleOptions{Targets: []string{"lt"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Down(ctx, project.DownOptions{}); err != nil {
		t.Fatal(err)
	}
	wantStates(t, p, map[string]string{"lt-web": "missing/-", "lt-api": "missing/-"})
	if nets, _ := e.eng.ListNetworks(ctx, nil); len(nets) != 0 {
		t.Errorf("networks after down: %v", nets)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "data", "web")); err != nil {
		t.Errorf("data after down: %v", err)
	}
	t.Logf("whole cycle: %s", time.Since(began))
}

// TestUpCancelled: an up whose context ends midway stops starting
// operations, returns the context's error, and the next up converges.
func TestUpCancelled(t *testing.T) {
	e := newEnv(t)
	p := e.open()
	ctx, cancel := context.WithCancel(t.Context())
	e.eng.Hook = func(op, target string) error {
		if op == "StartContainer" && target == "lt-web" {
			cancel()
		}
		return nil
	}
	res, err := p.Up(ctx, project.UpOptions{Wait: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled up: %v", err)
	}
	var ae *project.ApplyError
	if !errors.As(err, &ae) || res == nil || res.Generation != 0 {
		t.Errorf("cancelled up: %T %v, result %+v", err, err, res)
	}
	if c, err := e.eng.InspectContainer(t.Context(), "lt-api"); err == nil && c.State == runtime.StateRunning {
		t.Errorf("api started after the cancel")
	}
	e.eng.Hook = nil

	// Cancelled before it starts: nothing happens at all.
	done, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if _, err := p.Up(done, project.UpOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("up on a done context: %v", err)
	}

	res, err = p.Up(t.Context(), project.UpOptions{Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Generation != 1 {
		t.Errorf("up after the cancel recorded generation %d", res.Generation)
	}
	wantStates(t, p, map[string]string{"lt-web": "running/healthy", "lt-api": "running/healthy"})
}

// TestUpLocked: with NoLockWait, an up fails at once while another holds
// the lock; without, it waits and says so.
func TestUpLocked(t *testing.T) {
	e := newEnv(t)
	p := e.open()
	sd, err := p.StateDir()
	if err != nil {
		t.Fatal(err)
	}
	l, err := sd.Lock(t.Context(), state.LockOptions{Command: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(t.Context(), project.UpOptions{NoLockWait: true}); !errors.Is(err, state.ErrLocked) || project.Hint(err) == "" {
		t.Errorf("locked up: %v (hint %q)", err, project.Hint(err))
	}
	waiting := make(chan struct{})
	var once sync.Once
	go func() {
		<-waiting
		l.Unlock()
	}()
	res, err := p.Up(t.Context(), project.UpOptions{Events: func(ev project.Event) {
		if ev.Kind == project.EventWaitLock {
			once.Do(func() { close(waiting) })
		}
	}})
	if err != nil || res.Generation != 1 {
		t.Fatalf("up after waiting: %v", err)
	}
}

// TestApplyError: a failed step gives an *ApplyError naming it, with a
// hint by its kind, and the next up picks up.
func TestApplyError(t *testing.T) {
	e := newEnv(t)
	p := e.open()
	e.eng.Fail("CreateContainer", 1, errors.New("no space left on device"))
	_, err := p.Up(t.Context(), project.UpOptions{})
	var ae *project.ApplyError
	if !errors.As(err, &ae) || len(ae.Failed) != 1 || ae.Failed[0].Op.Kind != plan.CreateContainer {
		t.Fatalf("failed up: %T %v", err, err)
	}
	if !strings.Contains(ae.Error(), "no space left on device") || !strings.Contains(ae.Hint(), "berth up' again") {
		t.Errorf("apply error %q, hint %q", ae.Error(), ae.Hint())
	}
	if _, err := p.Up(t.Context(), project.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	wantStates(t, p, map[string]string{"lt-web": "running/healthy", "lt-api": "running/healthy"})
}

// TestLogsExec reads a container's logs and runs commands in it.
func TestLogsExec(t *testing.T) {
	e := newEnv(t)
	p := e.open()
	ctx := t.Context()
	if _, err := p.Exec(ctx, project.ExecOptions{Target: "lt-web", Cmd: []string{"true"}}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("exec before up: %v", err)
	}
	if _, err := p.Up(ctx, project.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	var lines []project.LogLine
	var notices []string
	res, err := p.Logs(ctx, project.LogsOptions{Targets: []string{"lt"}, Tail: -1,
		Line:   func(l project.LogLine) { lines = append(lines, l) },
		Events: func(ev project.Event) { notices = append(notices, ev.Message) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Read) != 2 || len(lines) != 1 || lines[0].Container != "lt-web" || lines[0].Text != "hello from web\n" {
		t.Errorf("logs: %+v %+v", res, lines)
	}

	// Follow ends with the context, without an error.
	fctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := p.Logs(fctx, project.LogsOptions{Targets: []string{"lt-web"}, Follow: true, Tail: 0, Line: func(project.LogLine) {}}); err != nil {
		t.Errorf("follow: %v", err)
	}

	var out strings.Builder
	r, err := p.Exec(ctx, project.ExecOptions{Target: "lt/web", Cmd: []string{"fixture", "-stdout", "hi", "-exit", "3"}, Stdout: &out})
	if err != nil || r.ExitCode != 3 || out.String() != "hi\n" || r.Container != "lt-web" {
		t.Errorf("exec: %v %+v %q", err, r, out.String())
	}
	if _, err := p.Exec(ctx, project.ExecOptions{Target: "lt"}); !errors.Is(err, project.ErrNotOne) {
		t.Errorf("exec on a kit: %v", err)
	}
	if _, err := p.Stop(ctx, project.LifecycleOptions{Targets: []string{"lt-api"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(ctx, project.ExecOptions{Target: "lt-api", Cmd: []string{"true"}}); !errors.Is(err, project.ErrNotRunning) || project.Hint(err) != "start it with 'berth start lt-api'" {
		t.Errorf("exec in a stopped container: %v, hint %q", err, project.Hint(err))
	}
}

// TestRuntimesListedOnce: the runtime option accepts exactly the engines
// the project package connects to, and auto.
func TestRuntimesListedOnce(t *testing.T) {
	want := append([]string{"auto"}, project.Runtimes()...)
	got := slices.Clone(config.Runtimes)
	slices.Sort(got[1:])
	if !slices.Equal(got, want) {
		t.Errorf("config.Runtimes = %v, project.Runtimes = %v", config.Runtimes, project.Runtimes())
	}
	_, err := project.Connect(t.Context(), "lxc", project.ConnectOptions{})
	if !errors.Is(err, project.ErrUnknownRuntime) || !strings.Contains(project.Hint(err), "auto, docker, nspawn, podman") {
		t.Errorf("unknown runtime: %v (hint %q)", err, project.Hint(err))
	}
}

func TestParseUlimits(t *testing.T) {
	us, err := project.ParseUlimits("nofile=4096:8192, nproc=2048")
	if err != nil || len(us) != 2 || us[0] != (runtime.Ulimit{Name: "nofile", Soft: 4096, Hard: 8192}) || us[1] != (runtime.Ulimit{Name: "nproc", Soft: 2048, Hard: 2048}) {
		t.Errorf("ParseUlimits: %v %+v", err, us)
	}
	if us, err := project.ParseUlimits("none"); err != nil || us == nil || len(us) != 0 {
		t.Errorf("none: %v %+v", err, us)
	}
	for _, bad := range []string{"nofile", "nofile=a:b", "nofile=10:5", "=1"} {
		if _, err := project.ParseUlimits(bad); err == nil {
			t.Errorf("ParseUlimits(%q) accepted it", bad)
		}
	}
}

// TestGPUs: on a host without GPUs an optional request is skipped and one
// that is not optional is reported, without failing the report.
func TestGPUs(t *testing.T) {
	e := newEnv(t)
	e.write(configV1 + `  infer:
    image: example.org/web:1
    gpu: { devices: all, optional: true }
  train:
    image: example.org/web:1
    gpu: all
`)
	host := gpu.Host{Root: t.TempDir()} // an empty tree: no GPUs at all
	p, err := project.Open(t.Context(), project.Options{ConfigFile: filepath.Join(e.dir, "berth.yaml"), StateDir: e.state, Engine: e.eng, GPUHost: &host})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.GPUs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := rep.Assignments["lt-infer"]; !ok || a.Skipped == "" {
		t.Errorf("optional request: %+v (%v)", a, ok)
	}
	if rep.Errors["lt-train"] == "" || len(rep.Inventory.GPUs) != 0 {
		t.Errorf("report: %+v", rep)
	}
	// Up refuses the request that cannot be met, with a hint.
	if _, err := p.Up(t.Context(), project.UpOptions{}); !errors.Is(err, gpu.ErrNoGPU) || project.Hint(err) == "" {
		t.Errorf("up with an unmet gpu request: %v (hint %q)", err, project.Hint(err))
	}
}

// TestSecretsAndURLs: the catalog's Jupyter gets a generated token; the
// project lists who uses it, shows it, gives the service's address, and a
// rotation recreates exactly the container that receives it.
func TestSecretsAndURLs(t *testing.T) {
	e := newEnv(t)
	e.write(configV1 + `ml:
  network: { subnet: 10.77.2.0/24 }
  jupyter: { enable: true, notebooksPath: DATA/nb, gpu: { devices: all, optional: true } }
`)
	host := gpu.Host{Root: t.TempDir()}
	p, err := project.Open(t.Context(), project.Options{ConfigFile: filepath.Join(e.dir, "berth.yaml"), StateDir: e.state, Engine: e.eng, Probe: e.eng.Probe, GPUHost: &host})
	if err != nil {
		t.Fatal(err)
	}
	// The catalog's image, whichever it is, is in the engine: nothing is
	// built or pulled.
	off, err := p.DesiredOffline([]string{"ml/jupyter"})
	if err != nil || len(off.Containers) != 1 {
		t.Fatalf("desired: %v", err)
	}
	e.eng.AddImage(off.Containers[0].Spec.Image, "sha256:"+strings.Repeat("c", 64))
	secrets, err := p.Secrets()
	if err != nil || len(secrets) != 1 || secrets[0].Name != "jupyter-token" || !slices.Equal(secrets[0].UsedBy, []string{"ml-jupyter"}) {
		t.Fatalf("secrets: %v %+v", err, secrets)
	}
	before, err := p.SecretShow("jupyter-token")
	if err != nil || len(before) < 20 {
		t.Fatalf("secret show: %v %q", err, before)
	}
	if _, err := p.SecretShow("nope"); !errors.Is(err, project.ErrUnknownSecret) || !strings.Contains(project.Hint(err), "jupyter-token") {
		t.Errorf("unknown secret: %v (hint %q)", err, project.Hint(err))
	}
	us, err := p.URLs([]string{"ml/jupyter"})
	if err != nil || len(us) != 1 || us[0].Direct != "http://10.77.2.12:8888/" {
		t.Errorf("urls: %v %+v", err, us)
	}
	if _, err := p.Up(t.Context(), project.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := p.SecretRotate(t.Context(), project.SecretRotateOptions{Name: "jupyter-token"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts[plan.Recreate] != 1 || res.Plan.Ops[0].Target != "ml-jupyter" {
		t.Errorf("rotate: %q\n%s", res.Summary, res.Plan)
	}
	if after, _ := p.SecretShow("jupyter-token"); after == before || len(after) < 20 {
		t.Errorf("rotate kept the value")
	}
}

// TestImagesBare: without a berth.yaml the built-in recipes are listed,
// and naming none, or one that does not exist, is a typed error.
func TestImagesBare(t *testing.T) {
	p := project.Bare(project.Options{StateDir: t.TempDir(), Getenv: func(string) string { return "" }})
	imgs, err := p.Images()
	if err != nil || !slices.ContainsFunc(imgs, func(i project.ImageInfo) bool { return i.Name == "redis" && i.Origin == "builtin" }) {
		t.Fatalf("images: %v %+v", err, imgs)
	}
	if _, err := p.ImageBuild(t.Context(), project.ImageBuildOptions{}); !errors.Is(err, project.ErrNoImageNamed) {
		t.Errorf("build of nothing: %v", err)
	}
	if _, err := p.ImageBuild(t.Context(), project.ImageBuildOptions{Names: []string{"nope"}}); !errors.Is(err, project.ErrNoRecipe) {
		t.Errorf("build of an unknown recipe: %v", err)
	}
	if _, err := p.ImageLoad(t.Context(), []string{"redis"}); err == nil {
		t.Errorf("load of an image never built succeeded")
	}
}
