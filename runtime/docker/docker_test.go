package docker_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/voidnxlabs/berth/internal/testenv"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/docker"
	"github.com/voidnxlabs/berth/runtime/runtimetest"
)

func TestConformance(t *testing.T) {
	runtimetest.Run(t, func(t *testing.T) runtime.Engine { return testenv.Docker(t) }, runtimetest.Options{
		CountsRestarts: true,
		// 10.213.0.0/16 is the fake's; the daemon is shared with other
		// test packages running at the same time.
		Subnets:   netip.MustParsePrefix("10.212.0.0/16"),
		Reachable: true,
	})
}

func TestUnreachable(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/no.sock")
	_, err := docker.New(t.Context())
	if !errors.Is(err, runtime.ErrUnreachable) {
		t.Errorf("err = %v, want ErrUnreachable", err)
	}
}
