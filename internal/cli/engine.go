package cli

import (
	"fmt"
	"net/netip"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/desired"
)

// previousAddresses returns the address table of the last applied
// generation, so first-free addresses stay stable across runs.
func (g *globals) previousAddresses(cfg *config.Config) map[string]netip.Addr {
	return nil
}

// planOnline compares the desired state with the engine.
func (g *globals) planOnline(cfg *config.Config, st *desired.State, targets []string) error {
	return withHint(fmt.Errorf("planning against an engine is not available yet"), ExitFailure, "use 'berth plan --offline'")
}
