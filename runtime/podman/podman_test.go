package podman_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/podman"
	"github.com/voidnxlabs/berth/runtime/runtimetest"
	"github.com/voidnxlabs/berth/runtime/scenariotest"
)

// engine connects to the local Podman service. Outside CI a missing one
// skips the test; with CI=true it fails it (scripts/ci-podman.sh starts
// it).
func engine(t testing.TB) *podman.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	e, err := podman.New(ctx, podman.Options{})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no podman service: %v (run scripts/ci-podman.sh)", err)
		}
		t.Skipf("no podman service: %v (run scripts/ci-podman.sh)", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestConformance(t *testing.T) {
	runtimetest.Run(t, func(t *testing.T) runtime.Engine { return engine(t) }, runtimetest.Options{
		CountsRestarts: true,
		// 10.215.0.0/16 is the podman and nspawn tests' range; .0–.99 here.
		Subnets:   netip.MustParsePrefix("10.215.0.0/16"),
		Reachable: true,
	})
}

func TestUnreachable(t *testing.T) {
	_, err := podman.New(t.Context(), podman.Options{Socket: t.TempDir() + "/no.sock"})
	if !errors.Is(err, runtime.ErrUnreachable) {
		t.Errorf("err = %v, want ErrUnreachable", err)
	}
}

// scenarios is 10.215.115.0/24 and up: +1…+3, +11, +12.
var scenarios = scenariotest.Options{
	Base: netip.MustParsePrefix("10.215.115.0/24"),
	Kill: func(ctx context.Context, name string) error {
		return exec.CommandContext(ctx, "podman", "kill", "--signal", "KILL", name).Run()
	},
}

func TestScenarios(t *testing.T) { scenariotest.Run(t, engine(t), scenarios) }

func TestCancel(t *testing.T) { scenariotest.Cancel(t, engine(t), scenarios) }
