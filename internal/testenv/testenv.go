// Package testenv gates tests on the environment they need: a reachable
// Docker daemon. Outside CI a missing daemon skips the test; with CI=true it
// fails it, so that CI never passes by silently testing nothing.
package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/runtime/docker"
)

// Docker returns an engine connected to the local Docker daemon, closed when
// the test ends.
func Docker(t testing.TB) *docker.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	e, err := docker.New(ctx)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no docker daemon: %v", err)
		}
		t.Skipf("no docker daemon: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}
