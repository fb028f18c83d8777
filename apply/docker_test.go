package apply_test

import (
	"context"
	"net/netip"
	"os/exec"
	"testing"

	"github.com/voidnxlabs/berth/internal/testenv"
	"github.com/voidnxlabs/berth/runtime/scenariotest"
)

// dockerScenarios run the engine scenarios (runtime/scenariotest) on the
// real Docker daemon, in 10.214.0.0/16, a range no other test package
// uses: the /24s at 10.214.1, .2, .3, .11 and .12.
var dockerScenarios = scenariotest.Options{
	Base: netip.MustParsePrefix("10.214.0.0/24"),
	// Behind berth's back, as a crash would.
	Kill: func(ctx context.Context, name string) error {
		return exec.CommandContext(ctx, "docker", "kill", name).Run()
	},
}

func TestDockerScenarios(t *testing.T) { scenariotest.Run(t, testenv.Docker(t), dockerScenarios) }

func TestDockerCancel(t *testing.T) { scenariotest.Cancel(t, testenv.Docker(t), dockerScenarios) }
