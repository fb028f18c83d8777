package project_test

import (
	"context"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/backup"
	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/doctor"
	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/hostnet"
	"github.com/voidnxlabs/berth/kits"
	"github.com/voidnxlabs/berth/ollama"
	"github.com/voidnxlabs/berth/project"
	"github.com/voidnxlabs/berth/proxy"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/fake"
	"github.com/voidnxlabs/berth/systemd"
	"github.com/voidnxlabs/berth/volume"
)

// noGPU is a host without any GPU: an empty tree.
func noGPU(t *testing.T) *gpu.Host { return &gpu.Host{Root: t.TempDir()} }

// podman is the fake engine telling it is a Podman of a version.
type podman struct {
	*fake.Engine
	version string
}

func (p podman) Info(ctx context.Context) (runtime.Info, error) {
	i, err := p.Engine.Info(ctx)
	i.Name, i.Version = "podman", p.version
	return i, err
}

func (e *env) openWith(o project.Options) *project.Project {
	e.t.Helper()
	o.ConfigFile = filepath.Join(e.dir, "berth.yaml")
	o.StateDir = e.state
	o.Getenv = func(string) string { return "" }
	if o.Engine == nil {
		o.Engine = e.eng
	}
	p, err := project.Open(e.t.Context(), o)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { p.Close() })
	return p
}

func TestSystemdGenerate(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	p := e.openWith(project.Options{Runtime: "docker"})
	res, err := p.SystemdGenerate(ctx, project.SystemdOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range res.Files {
		got = append(got, f.Name)
	}
	if res.Runtime != "docker" || res.Target != "berth-libtest.target" ||
		!slices.Equal(got, []string{"berth-libtest.target", "berth-lt-api.service", "berth-lt-web.service"}) {
		t.Fatalf("units of the whole project: %s %s %v", res.Runtime, res.Target, got)
	}
	if e.eng.Calls("Info") != 0 {
		t.Errorf("the engine was asked although the runtime is named")
	}

	// A selection must hold what it depends on.
	_, err = p.SystemdGenerate(ctx, project.SystemdOptions{Targets: []string{"lt/api"}})
	if err == nil || !strings.Contains(err.Error(), "depends on lt-web") || project.Hint(err) == "" {
		t.Errorf("units of api alone: %v (hint %q)", err, project.Hint(err))
	}
	if _, err := p.SystemdGenerate(ctx, project.SystemdOptions{Quadlet: "maybe"}); !errors.Is(err, project.ErrInvalidOption) {
		t.Errorf("quadlet maybe: %v, want ErrInvalidOption", err)
	}

	// Written: one file each, world-readable.
	dir := filepath.Join(e.dir, "units")
	res, err = p.SystemdGenerate(ctx, project.SystemdOptions{Targets: []string{"lt/web"}, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Written) != 2 {
		t.Fatalf("written: %v", res.Written)
	}
	for _, path := range res.Written {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: %v %v", path, fi.Mode(), err)
		}
	}

	// Podman with auto: Quadlet files from 4.4 on, units before.
	for _, c := range []struct {
		version string
		want    string
	}{{"4.9.3", "berth-lt-web.container"}, {"4.3.1", "berth-lt-web.service"}} {
		p := e.openWith(project.Options{Runtime: "podman", Engine: podman{e.eng, c.version}})
		res, err := p.SystemdGenerate(ctx, project.SystemdOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(res.Files, func(f systemd.File) bool { return f.Name == c.want }) {
			t.Errorf("podman %s: files %+v, want %s", c.version, res.Files, c.want)
		}
	}
}

func TestHostProblems(t *testing.T) {
	e := newEnv(t)
	e.write(configV1 + `  train:
    image: example.org/web:1
    gpu: all
  infer:
    image: example.org/web:1
    gpu: { devices: all, optional: true }
`)
	// This host has the kit's subnet already (a route), and no GPU.
	nets := func() ([]hostnet.Network, error) {
		return []hostnet.Network{{Iface: "eth9", Prefix: netip.MustParsePrefix("10.77.0.0/16")}}, nil
	}
	p := e.openWith(project.Options{GPUHost: noGPU(t), HostNetworks: nets})
	probs, err := p.HostProblems(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, pr := range probs {
		paths = append(paths, pr.Path)
		if pr.Pos.Line == 0 || pr.Hint == "" {
			t.Errorf("problem without position or hint: %+v", pr)
		}
	}
	if len(probs) != 2 || paths[0] != "lt.train.gpu" || !strings.HasPrefix(paths[1], "lt.network") {
		t.Fatalf("host problems: %v", probs)
	}

	// Validate reports them in its result; --offline leaves them out.
	o := project.Options{ConfigFile: filepath.Join(e.dir, "berth.yaml"), GPUHost: noGPU(t), HostNetworks: nets, Getenv: func(string) string { return "" }}
	res, err := project.Validate(t.Context(), o, project.ValidateOptions{})
	if err != nil || res.Valid() || len(res.Problems()) != 2 {
		t.Fatalf("validate: %v %+v", err, res)
	}
	res, err = project.Validate(t.Context(), o, project.ValidateOptions{Offline: true})
	if err != nil || !res.Valid() || res.Services != 4 || res.Kits != 1 {
		t.Fatalf("validate --offline: %v %+v", err, res)
	}
	// A broken file: its problems, no error.
	e.write(strings.Replace(configV1, "10.77.1.0/24", "10.77.1.0/33", 1))
	res, err = project.Validate(t.Context(), o, project.ValidateOptions{})
	if err != nil || res.Valid() || res.Problems()[0].Line != 3 || res.Services != 0 {
		t.Fatalf("validate of a broken file: %v %+v", err, res)
	}
	o.ConfigFile = filepath.Join(e.dir, "none.yaml")
	if _, err := project.Validate(t.Context(), o, project.ValidateOptions{}); !errors.Is(err, config.ErrNoConfig) {
		t.Errorf("validate without a file: %v", err)
	}
}

func TestInit(t *testing.T) {
	dir := t.TempDir()
	o := project.Options{ConfigFile: filepath.Join(dir, "etc", "berth.yaml"), GPUHost: noGPU(t), Getenv: func(string) string { return "" }}
	res, err := project.Init(t.Context(), o, project.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.File != o.ConfigFile || !slices.Equal(res.Disabled, []string{"ml.comfyui", "ml.vllm"}) {
		t.Fatalf("init on a host without GPU: %+v", res)
	}
	data, _ := os.ReadFile(res.File)
	if !strings.Contains(string(data), "comfyui.enable: false  # berth init:") {
		t.Errorf("comfyui is not written disabled with a comment")
	}
	// The file it wrote passes the GPU check here.
	cfg, err := config.Parse(res.File, data, config.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if probs := project.FromConfig(cfg, o).GPUProblems(t.Context()); len(probs) != 0 {
		t.Errorf("the written seed still has GPU problems: %v", probs)
	}
	if _, err := project.Init(t.Context(), o, project.InitOptions{}); !errors.Is(err, fs.ErrExist) || project.Hint(err) == "" {
		t.Errorf("init over a file: %v", err)
	}
	res, err = project.Init(t.Context(), o, project.InitOptions{Force: true, Offline: true})
	if data, _ := os.ReadFile(o.ConfigFile); err != nil || len(res.Disabled) != 0 || string(data) != string(kits.Seed()) {
		t.Errorf("init --force --offline: %v %+v", err, res)
	}
}

func TestSkippedGPUs(t *testing.T) {
	e := newEnv(t)
	e.write(configV1 + `  infer:
    image: example.org/web:1
    gpu: { devices: all, optional: true }
`)
	p := e.openWith(project.Options{GPUHost: noGPU(t)})
	st, _, err := p.Desired(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.SkippedGPUs(t.Context(), st); len(got) != 1 || !got["lt-infer"] {
		t.Errorf("skipped: %v, want lt-infer", got)
	}
}

// TestServiceHelpers: the helpers that talk to a service check it first;
// the Jupyter URL needs no engine.
func TestServiceHelpers(t *testing.T) {
	e := newEnv(t)
	e.write(configV1 + `ml:
  network: { subnet: 10.77.2.0/24 }
  jupyter: { enable: true, notebooksPath: DATA/nb, gpu: { devices: all, optional: true } }
  ollama: { enable: true, modelsPath: DATA/models, gpu: { devices: all, optional: true } }
`)
	p := e.openWith(project.Options{GPUHost: noGPU(t)})
	ctx := t.Context()
	u, err := p.JupyterURL(project.JupyterOptions{})
	tok, _ := p.SecretShow("jupyter-token")
	if err != nil || tok == "" || u.URL != "http://10.77.2.12:8888/tree?token="+tok || u.Token != tok {
		t.Fatalf("jupyter url: %v %+v", err, u)
	}
	if _, err := p.JupyterURL(project.JupyterOptions{Service: "jupyter"}); !errors.Is(err, project.ErrInvalidOption) {
		t.Errorf("jupyter url of a service without kit: %v", err)
	}
	if _, err := p.JupyterURL(project.JupyterOptions{Service: "ml/comfyui"}); !errors.Is(err, project.ErrNotEnabled) {
		t.Errorf("jupyter url of a disabled service: %v", err)
	}

	// Ollama exists nowhere yet: every model use case says so.
	if _, err := p.OllamaModels(ctx, false); !errors.Is(err, runtime.ErrNotFound) || !strings.Contains(project.Hint(err), "berth up ml/ollama") {
		t.Errorf("models of an ollama never created: %v (hint %q)", err, project.Hint(err))
	}
	if err := p.OllamaCreate(ctx, "tiny", filepath.Join(e.dir, "nosuch.gguf"), ollama.CreateOptions{}, nil); !errors.Is(err, fs.ErrNotExist) || project.Hint(err) != "name an existing GGUF file" {
		t.Errorf("create from a missing file: %v", err)
	}
	if err := p.OllamaRemove(ctx, "tiny"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("remove with no ollama: %v", err)
	}
	// psql: dev/postgres is not enabled.
	if err := p.Psql(ctx, project.PsqlOptions{}); !errors.Is(err, project.ErrNotEnabled) {
		t.Errorf("psql without postgres: %v", err)
	}
}

// TestBackupInfos: the JSON shape of a backup both adapters print, with a
// service's own totals and a damaged backup listed by its error.
func TestBackupInfos(t *testing.T) {
	m := &backup.Manifest{ID: "20260101-000000-abcd", Project: "p", Generation: 3, Services: []backup.Service{
		{Container: "dev-postgres", Method: "pg_dumpall", Dump: &backup.File{Type: backup.TypeFile, Size: 100}},
		{Container: "ml-ollama", Method: "files", Paths: []backup.Path{{Files: []backup.File{{Type: backup.TypeFile, Size: 5}, {Type: backup.TypeFile, Size: 7}}}}},
	}}
	infos := project.BackupInfos([]backup.Entry{{ID: m.ID, Manifest: m}, {ID: "20260102-000000-ffff", Err: errors.New("bad mac")}})
	if len(infos) != 2 || infos[0].Files != 3 || infos[0].Bytes != 112 || infos[0].Services[1].Files != 2 || infos[0].Services[1].Bytes != 12 {
		t.Fatalf("infos: %+v", infos)
	}
	if infos[1].Error != "bad mac" || infos[1].Services == nil {
		t.Errorf("damaged: %+v", infos[1])
	}
	info := project.NewBackupInfo(m, &backup.Result{Stored: 42, Reused: 2})
	if info.Stored == nil || *info.Stored != 42 || *info.Reused != 2 {
		t.Errorf("just taken: %+v", info)
	}
}

// TestWatch: the first look is reported, then each change, nothing while
// nothing changes, and an engine that fails a look.
func TestWatch(t *testing.T) {
	e := newEnv(t)
	p := e.open()
	ctx := t.Context()
	if _, err := p.Up(ctx, project.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	ch := p.Watch(ctx, project.WatchOptions{Interval: 5 * time.Millisecond})
	next := func(what string) project.Change {
		t.Helper()
		select {
		case c := <-ch:
			return c
		case <-time.After(5 * time.Second):
			t.Fatalf("no change reported: %s", what)
		}
		return project.Change{}
	}
	if c := next("first look"); c.Err != nil || len(c.Containers) != 2 {
		t.Fatalf("first look: %+v", c)
	}
	select {
	case c := <-ch:
		t.Fatalf("a change reported while nothing changed: %+v", c)
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := p.Stop(ctx, project.LifecycleOptions{Targets: []string{"lt/api"}}); err != nil {
		t.Fatal(err)
	}
	c := next("a stop")
	for c.Err == nil && !slices.ContainsFunc(c.Containers, func(c runtime.Container) bool { return c.Name == "lt-api" && c.State != runtime.StateRunning }) {
		c = next("api stopped")
	}
	e.eng.Fail("ListContainers", 1, runtime.ErrUnreachable)
	if c := next("a failed look"); !errors.Is(c.Err, runtime.ErrUnreachable) || project.Hint(c.Err) == "" {
		t.Fatalf("failed look: %+v", c)
	}
	if c := next("the engine back"); c.Err != nil || len(c.Containers) != 2 {
		t.Fatalf("after the failure: %+v", c)
	}
}

// TestProxyAndVolumes: the proxy's routes and config from the config, a
// reload of a proxy that does not run, and named volumes listed and
// removed (not while mounted).
func TestProxyAndVolumes(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	p := e.openWith(project.Options{GPUHost: noGPU(t)})
	if _, err := p.ProxyRoutes(); !errors.Is(err, project.ErrNoProxy) || project.Hint(err) == "" {
		t.Errorf("routes without a proxy: %v", err)
	}
	e.write(configV1 + `  cache:
    image: example.org/web:1
    mounts: ["models:/models"]
dev:
  network: { subnet: 10.77.3.0/24 }
  dev-ml.enable: false
  chat-ui.enable: false
  code-server.enable: false
  postgres.enable: false
  proxy: { enable: true, dataPath: DATA/proxy, httpPort: 18080, httpsPort: 18443 }
volumesPath: DATA/volumes
`)
	p = e.openWith(project.Options{GPUHost: noGPU(t)})
	rs, err := p.ProxyRoutes()
	if err != nil || !slices.ContainsFunc(rs, func(r proxy.Route) bool { return r.Host == "web.lt.localhost" && r.Upstream == "10.77.1.13:8080" }) {
		t.Fatalf("routes: %v %+v", err, rs)
	}
	cfg, err := p.ProxyConfig()
	if err != nil || !strings.Contains(string(cfg), `"dial":"10.77.1.13:8080"`) && !strings.Contains(string(cfg), `"dial": "10.77.1.13:8080"`) {
		t.Errorf("proxy config: %v\n%s", err, cfg)
	}
	res, err := p.ProxyReload(ctx, time.Second)
	if err != nil || res.Running || res.Container != "dev-proxy" {
		t.Errorf("reload of a proxy that does not run: %v %+v", err, res)
	}

	vs, err := p.Volumes()
	if err != nil || len(vs) != 1 || vs[0].Name != "models" || !slices.Equal(vs[0].UsedBy, []string{"lt/cache"}) {
		t.Fatalf("volumes: %v %+v", err, vs)
	}
	if _, err := p.VolumeRemove(ctx, "nope"); !errors.Is(err, volume.ErrUnknown) || project.Hint(err) == "" {
		t.Errorf("remove of an unknown volume: %v", err)
	}
	os.MkdirAll(filepath.Join(vs[0].Path, "m"), 0o755)
	if done, err := p.VolumeRemove(ctx, "models"); err != nil || !slices.Equal(done, []string{"models"}) {
		t.Fatalf("remove: %v %v", done, err)
	}
	if _, err := os.Stat(vs[0].Path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the volume's directory is still there: %v", err)
	}
}

// TestDoctorValues: a project without a config checks the values it is
// given and the host, not a config's; the engine check is the fake's.
func TestDoctorValues(t *testing.T) {
	e := newEnv(t)
	data := t.TempDir()
	p := project.Bare(project.Options{StateDir: e.state, Engine: e.eng, GPUHost: noGPU(t), Getenv: func(string) string { return "" }})
	rep, err := p.Doctor(t.Context(), project.DoctorOptions{Paths: []doctor.Path{{Name: "models", Path: data}}})
	if err != nil {
		t.Fatal(err)
	}
	text := rep.String()
	if !strings.Contains(text, "models:") || !strings.Contains(text, "fake") {
		t.Errorf("doctor with a path and the fake engine:\n%s", text)
	}
	// A project with a config checks the config's values instead.
	rep, err = e.openWith(project.Options{GPUHost: noGPU(t)}).Doctor(t.Context(), project.DoctorOptions{NoEngine: true})
	if err != nil || strings.Contains(rep.String(), "models:") || !strings.Contains(rep.String(), "10.77.1.0/24") {
		t.Errorf("doctor of the config: %v\n%s", err, rep.String())
	}
}
