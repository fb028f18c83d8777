package fake_test

import (
	"net/netip"
	"testing"

	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/fake"
	"github.com/voidnxlabs/berth/runtime/runtimetest"
)

func TestConformance(t *testing.T) {
	runtimetest.Run(t, func(t *testing.T) runtime.Engine { return fake.New() }, runtimetest.Options{
		Subnets: netip.MustParsePrefix("10.213.0.0/16"),
	})
}
