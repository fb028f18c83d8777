package nspawn_test

import (
	"context"
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
	Kill: func(ctx context.Context, name string) error {
		// What a crash does: the payload, PID 1 of the machine, dies
		// with SIGKILL behind the engine's back.
		out, err := exec.CommandContext(ctx, "pgrep", "-f", "systemd-nspawn .*--machine="+name+" ").Output()
		if err != nil {
			return err
		}
		return exec.CommandContext(ctx, "pkill", "-KILL", "-P", strings.Fields(string(out))[0]).Run()
	},
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
