package nspawn_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/internal/fixture"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/nspawn"
	"github.com/voidnxlabs/berth/runtime/runtimetest"
	"github.com/voidnxlabs/berth/runtime/scenariotest"
)

// root is the engine's directory for the whole test binary: images loaded
// by one test are found by the next, as on a host.
var root string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-nspawn-")
	if err != nil {
		panic(err)
	}
	root = filepath.Join(dir, "nspawn")
	code := m.Run()
	// Machines are removed by the tests; layers are plain files.
	os.RemoveAll(dir)
	os.Exit(code)
}

// engine opens the engine. Outside CI a host without systemd-nspawn or
// root skips the test; with CI=true it fails it (scripts/ci-podman.sh
// installs systemd-container).
func engine(t testing.TB) *nspawn.Engine {
	t.Helper()
	e, err := nspawn.New(t.Context(), nspawn.Options{Root: root})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no nspawn engine: %v", err)
		}
		t.Skipf("no nspawn engine: %v", err)
	}
	return e
}

func TestConformance(t *testing.T) {
	runtimetest.Run(t, func(t *testing.T) runtime.Engine { return engine(t) }, runtimetest.Options{
		// 10.215.128.0/17: podman's tests have the lower half.
		Subnets:   netip.MustParsePrefix("10.215.128.0/17"),
		Reachable: true,
	})
}

// scenarios is 10.215.243.0/24 and up: +1…+3, +11, +12.
var scenarios = scenariotest.Options{
	Base: netip.MustParsePrefix("10.215.243.0/24"),
	// Kill is left to the engine's stop without grace, as `docker kill`
	// is: a machine that crashes behind berth's back is restarted by its
	// restart policy (TestRestart), as Docker restarts a crashed container.
	HealthTimeout: 30 * time.Second,
}

func TestScenarios(t *testing.T) { scenariotest.Run(t, engine(t), scenarios) }

func TestCancel(t *testing.T) { scenariotest.Cancel(t, engine(t), scenarios) }

// TestLimits checks that a machine's memory, CPU and pids limits are in
// force: its processes are in cgroups that carry them.
func TestLimits(t *testing.T) {
	e := engine(t)
	ref := fixture.Load(t, e)
	labels := map[string]string{runtime.LabelProject: "berthtest-limits"}
	t.Cleanup(func() { runtimetest.Cleanup(t, e, labels) })
	spec := runtime.ContainerSpec{
		Name: "berthtest-limits", Image: ref, Labels: labels,
		Resources: runtime.Resources{MemoryBytes: 96 << 20, NanoCPUs: 250_000_000, PidsLimit: 64},
	}
	id, err := e.CreateContainer(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.StartContainer(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	var out []byte
	runtimetest.Eventually(t, 10*time.Second, "the machine's nspawn to run", func() bool {
		out, err = exec.Command("pgrep", "-f", "systemd-nspawn .*--machine="+spec.Name+" ").Output()
		return err == nil
	})
	pid := strings.Fields(string(out))[0]
	data, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	v2 := false
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		v2 = true
	}
	want := map[string]string{"memory.limit_in_bytes": "100663296", "cpu.cfs_quota_us": "25000", "pids.max": "64"}
	ctrl := map[string]string{"memory.limit_in_bytes": "memory", "cpu.cfs_quota_us": "cpu", "pids.max": "pids"}
	if v2 {
		want = map[string]string{"memory.max": "100663296", "cpu.max": "25000 100000", "pids.max": "64"}
	}
	for file, value := range want {
		var dir string
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			f := strings.SplitN(line, ":", 3)
			if v2 && f[0] == "0" {
				dir = "/sys/fs/cgroup" + f[2]
			}
			if !v2 && slices.Contains(strings.Split(f[1], ","), ctrl[file]) {
				dir = filepath.Join("/sys/fs/cgroup", ctrl[file], f[2])
			}
		}
		got, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil || strings.TrimSpace(string(got)) != value {
			t.Errorf("%s/%s = %q, %v; want %s", dir, file, got, err, value)
		}
	}
	if err := e.StopContainer(t.Context(), id, time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestCDI gives a machine a "GPU" from a CDI spec, as the NVIDIA toolkit
// writes them: its device node, the libraries the spec mounts and its
// environment reach the machine. The device is /dev/null: there is no GPU
// here, and the mechanism is the same.
func TestCDI(t *testing.T) {
	engine(t) // skips or fails as the others do
	cdi := t.TempDir()
	lib := filepath.Join(t.TempDir(), "libcuda.so.1")
	if err := os.WriteFile(lib, []byte("not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := `cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
- name: GPU-fake-0
  containerEdits:
    deviceNodes:
    - path: /dev/nvidia0
      hostPath: /dev/null
- name: all
  containerEdits:
    deviceNodes:
    - path: /dev/nvidia0
      hostPath: /dev/null
containerEdits:
  env: [NVIDIA_VISIBLE_DEVICES=void, BERTH_CDI_TEST=1]
  deviceNodes:
  - path: /dev/nvidiactl
    hostPath: /dev/zero
  mounts:
  - hostPath: ` + lib + `
    containerPath: /usr/lib/x86_64-linux-gnu/libcuda.so.1
    options: [ro, nosuid, nodev, bind]
`
	if err := os.WriteFile(filepath.Join(cdi, "nvidia.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := nspawn.New(t.Context(), nspawn.Options{Root: root, CDIDirs: []string{cdi}})
	if err != nil {
		t.Fatal(err)
	}
	if info, err := e.Info(t.Context()); err != nil || !info.CDIEnabled {
		t.Errorf("Info = %+v, %v; want CDI enabled", info, err)
	}
	ref := fixture.Load(t, e)
	labels := map[string]string{runtime.LabelProject: "berthtest-cdi"}
	t.Cleanup(func() { runtimetest.Cleanup(t, e, labels) })

	missing := runtime.ContainerSpec{Name: "berthtest-cdi-missing", Image: ref, Labels: labels,
		GPUs: []runtime.GPURequest{{Driver: "cdi", DeviceIDs: []string{"nvidia.com/gpu=GPU-other"}}}}
	if _, err := e.CreateContainer(t.Context(), missing); !errors.Is(err, runtime.ErrNotFound) || !strings.Contains(err.Error(), "nvidia-ctk cdi generate") {
		t.Errorf("a device no spec has: err = %v, want ErrNotFound with a hint", err)
	}

	for _, req := range []runtime.GPURequest{
		{Driver: "cdi", DeviceIDs: []string{"nvidia.com/gpu=GPU-fake-0"}},
		{Driver: "nvidia", Count: -1}, // the nvidia driver's "all", through CDI
	} {
		s := runtime.ContainerSpec{Name: "berthtest-cdi-" + req.Driver, Image: ref, Labels: labels, GPUs: []runtime.GPURequest{req}, Env: []string{"BERTH_CDI_MACHINE=berthtest-cdi-" + req.Driver}}
		id, err := e.CreateContainer(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.StartContainer(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/dev/nvidia0", "/dev/nvidiactl", "/usr/lib/x86_64-linux-gnu/libcuda.so.1"} {
			if code, err := e.Exec(t.Context(), id, runtime.ExecOptions{Cmd: []string{fixture.Binary, "-stat", path}}); err != nil || code != 0 {
				t.Errorf("%s: %s in the machine: exit %d, %v", req.Driver, path, code, err)
			}
		}
		// The payload's environment, read from the host.
		var environ []byte
		runtimetest.Eventually(t, 10*time.Second, "the payload's environment", func() bool {
			// The payload: innermost PID 1, with the machine's own
			// variable.
			all, _ := filepath.Glob("/proc/[0-9]*/status")
			for _, st := range all {
				data, err := os.ReadFile(st)
				if err != nil || !strings.Contains(string(data), "\nNSpid:") {
					continue
				}
				for _, line := range strings.Split(string(data), "\n") {
					f := strings.Fields(strings.TrimPrefix(line, "NSpid:"))
					if strings.HasPrefix(line, "NSpid:") && len(f) == 2 && f[1] == "1" {
						env, err := os.ReadFile(filepath.Join(filepath.Dir(st), "environ"))
						// nspawn's own inner child also has the variable
						// until it runs the payload; the payload has
						// container=.
						if err == nil && strings.Contains(string(env), "BERTH_CDI_MACHINE="+s.Name+"\x00") && strings.Contains(string(env), "container=systemd-nspawn") {
							environ = env
							return true
						}
					}
				}
			}
			return false
		})
		if !strings.Contains(string(environ), "\x00BERTH_CDI_TEST=1\x00") {
			t.Errorf("%s: environment %q lacks the spec's BERTH_CDI_TEST=1", req.Driver, environ)
		}
	}
}

// TestState checks that what one berth run starts, the next sees: a
// second engine on the same root reports the machine running, stops it,
// and after a "reboot" (another boot ID in its state) reports it exited.
func TestState(t *testing.T) {
	first := engine(t)
	ref := fixture.Load(t, first)
	labels := map[string]string{runtime.LabelProject: "berthtest-state"}
	t.Cleanup(func() { runtimetest.Cleanup(t, first, labels) })
	id, err := first.CreateContainer(t.Context(), runtime.ContainerSpec{Name: "berthtest-state", Image: ref, Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.StartContainer(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	second := engine(t)
	c, err := second.InspectContainer(t.Context(), "berthtest-state")
	if err != nil || c.State != runtime.StateRunning || c.ID != id {
		t.Fatalf("second engine: %+v, %v; want %s running", c, err, id)
	}
	if err := second.StopContainer(t.Context(), id, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if c, _ := first.InspectContainer(t.Context(), id); c.State != runtime.StateExited {
		t.Errorf("first engine after the second stopped it: %s", c.State)
	}
	if err := first.StartContainer(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	// A reboot: the recorded boot is not this one; the pid means nothing.
	statePath := filepath.Join(root, "machines", id, "state.json")
	data, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	boot := st["bootId"]
	st["bootId"] = "00000000-0000-0000-0000-000000000000"
	data, _ = json.Marshal(st)
	if err := os.WriteFile(statePath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if c, _ := second.InspectContainer(t.Context(), id); c.State != runtime.StateExited {
		t.Errorf("after a reboot: state %s, want exited", c.State)
	}
	st["bootId"] = boot
	data, _ = json.Marshal(st)
	if err := os.WriteFile(statePath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if c, _ := second.InspectContainer(t.Context(), id); c.State != runtime.StateRunning {
		t.Errorf("back on this boot: state %s, want running", c.State)
	}
}

// TestLogTimes checks what the nspawn monitor's timestamps give: --since,
// --timestamps and --tail over both streams.
func TestLogTimes(t *testing.T) {
	e := engine(t)
	ref := fixture.Load(t, e)
	labels := map[string]string{runtime.LabelProject: "berthtest-logtimes"}
	t.Cleanup(func() { runtimetest.Cleanup(t, e, labels) })
	before := time.Now().Add(-time.Second)
	id, err := e.CreateContainer(t.Context(), runtime.ContainerSpec{Name: "berthtest-logtimes", Image: ref, Labels: labels, Cmd: []string{"-stdout", "to out", "-stderr", "to err", "-exit", "0"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.StartContainer(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	runtimetest.Eventually(t, 10*time.Second, "the machine to exit", func() bool {
		c, err := e.InspectContainer(t.Context(), id)
		return err == nil && c.State == runtime.StateExited
	})
	logs := func(o runtime.LogOptions) (string, string) {
		var out, errb strings.Builder
		if err := e.Logs(t.Context(), id, o, &out, &errb); err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String()
	}
	if out, errs := logs(runtime.LogOptions{Tail: -1, Since: before}); out != "to out\n" || errs != "to err\n" {
		t.Errorf("since before the start: %q %q", out, errs)
	}
	if out, errs := logs(runtime.LogOptions{Tail: -1, Since: time.Now().Add(time.Hour)}); out != "" || errs != "" {
		t.Errorf("since an hour from now: %q %q", out, errs)
	}
	if out, errs := logs(runtime.LogOptions{Tail: 0}); out != "" || errs != "" {
		t.Errorf("tail 0: %q %q", out, errs)
	}
	if out, errs := logs(runtime.LogOptions{Tail: 1}); len(out+errs) == 0 || out != "" && errs != "" {
		t.Errorf("tail 1: %q %q, want one line", out, errs)
	}
	out, _ := logs(runtime.LogOptions{Tail: -1, Timestamps: true})
	ts, rest, _ := strings.Cut(out, " ")
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || rest != "to out\n" || at.Before(before) || at.After(time.Now()) {
		t.Errorf("with timestamps: %q (%v)", out, err)
	}
}

// TestRestart checks the restart policy: a machine that exits on its own
// is started again, a crash too; one berth stops is not; "no" means no.
func TestRestart(t *testing.T) {
	e := engine(t)
	ref := fixture.Load(t, e)
	labels := map[string]string{runtime.LabelProject: "berthtest-restart"}
	t.Cleanup(func() { runtimetest.Cleanup(t, e, labels) })
	create := func(name, policy string, args ...string) string {
		id, err := e.CreateContainer(t.Context(), runtime.ContainerSpec{Name: name, Image: ref, Labels: labels, Restart: policy, Cmd: args})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.StartContainer(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	runs := func(id string) int {
		var out strings.Builder
		if err := e.Logs(t.Context(), id, runtime.LogOptions{Tail: -1}, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		return strings.Count(out.String(), "run\n")
	}

	// Exits with 3 after a moment, again and again.
	flaky := create("berthtest-restart-flaky", "unless-stopped", "-stdout", "run", "-exit", "3", "-exit-after", "200ms")
	runtimetest.Eventually(t, 20*time.Second, "the machine to be restarted twice", func() bool { return runs(flaky) >= 3 })
	if err := e.StopContainer(t.Context(), flaky, time.Second); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.InspectContainer(t.Context(), flaky); c.State != runtime.StateExited {
		t.Errorf("after stop: %s, want exited (and its monitor gone)", c.State)
	}

	// A crash behind berth's back: SIGKILL to the payload.
	steady := create("berthtest-restart-steady", "always", "-stdout", "run")
	runtimetest.Eventually(t, 10*time.Second, "the first run", func() bool { return runs(steady) == 1 })
	out, err := exec.Command("pgrep", "-f", "systemd-nspawn .*--machine=berthtest-restart-steady ").Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("pkill", "-KILL", "-P", strings.Fields(string(out))[0]).Run(); err != nil {
		t.Fatal(err)
	}
	runtimetest.Eventually(t, 10*time.Second, "the crashed machine to run again", func() bool {
		c, err := e.InspectContainer(t.Context(), steady)
		return err == nil && c.State == runtime.StateRunning && runs(steady) == 2
	})

	// "no": the exit stands.
	once := create("berthtest-restart-once", "no", "-stdout", "run", "-exit", "3")
	runtimetest.Eventually(t, 10*time.Second, "the machine to exit", func() bool {
		c, err := e.InspectContainer(t.Context(), once)
		return err == nil && c.State == runtime.StateExited && c.ExitCode == 3
	})
	if n := runs(once); n != 1 {
		t.Errorf("restart no: %d runs", n)
	}
}

// TestReconnect detaches a running machine from its first network and
// attaches it to a third: interface names must not collide, and the
// address answers.
func TestReconnect(t *testing.T) {
	e := engine(t)
	ref := fixture.Load(t, e)
	labels := map[string]string{runtime.LabelProject: "berthtest-reconnect"}
	t.Cleanup(func() { runtimetest.Cleanup(t, e, labels) })
	var nets []runtime.NetworkSpec
	for i, sub := range []string{"10.215.247.0/24", "10.215.248.0/24", "10.215.249.0/24"} {
		p := netip.MustParsePrefix(sub)
		gw := p.Addr().As4()
		gw[3] = 10
		n := runtime.NetworkSpec{Name: "berthtest-reconnect-" + string(rune('a'+i)), Subnet: p, Gateway: netip.AddrFrom4(gw), Labels: labels}
		if _, err := e.CreateNetwork(t.Context(), n); err != nil {
			t.Fatal(err)
		}
		nets = append(nets, n)
	}
	ip := func(n int) netip.Addr {
		a := nets[n].Subnet.Addr().As4()
		a[3] = 11
		return netip.AddrFrom4(a)
	}
	id, err := e.CreateContainer(t.Context(), runtime.ContainerSpec{Name: "berthtest-reconnect", Image: ref, Labels: labels,
		Networks: []runtime.Endpoint{{Network: nets[0].Name, IP: ip(0)}, {Network: nets[1].Name, IP: ip(1)}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.StartContainer(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if err := e.Disconnect(t.Context(), id, nets[0].Name); err != nil {
		t.Fatal(err)
	}
	if err := e.Connect(t.Context(), id, runtime.Endpoint{Network: nets[2].Name, IP: ip(2)}); err != nil {
		t.Fatal(err)
	}
	c, err := e.InspectContainer(t.Context(), id)
	if err != nil || len(c.Networks) != 2 || c.Networks[nets[2].Name] != ip(2) {
		t.Fatalf("networks = %v, %v", c.Networks, err)
	}
	for _, n := range []int{1, 2} {
		url := "http://" + ip(n).String() + ":8080/health"
		runtimetest.Eventually(t, 10*time.Second, "GET "+url, func() bool {
			resp, err := http.Get(url)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
	}
}
