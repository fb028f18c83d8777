package config_test

import (
	"testing"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/kits"
)

// BenchmarkLoadSeed measures load + validate + compile of the seed config
// (goal: under 5 ms). Run: go test -bench LoadSeed -benchmem ./config
func BenchmarkLoadSeed(b *testing.B) {
	data := kits.Seed()
	for b.Loop() {
		cfg, err := config.Parse("berth.yaml", data, config.ParseOptions{DefaultProject: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := desired.Compile(cfg, desired.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
