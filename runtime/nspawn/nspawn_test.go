package nspawn_test

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
