package config_test

import (
	"testing"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/kits"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must return a config or
// an error, never panic.
func FuzzLoad(f *testing.F) {
	f.Add(kits.Seed())
	f.Add([]byte("ml:\n  comfyui.enable: true\n  ollama: { port: ${PORT:-1}, gpu: [GPU-1] }\n"))
	f.Add([]byte("lab:\n  network: { subnet: 10.0.0.0/24 }\n  a: { image: x, dependsOn: {b: healthy}, publish: [8080] }\n  b: { image: x, dependsOn: [a] }\n"))
	f.Add([]byte("a: &a [1]\nb: *a\n"))
	f.Add([]byte("- 1\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse("berth.yaml", data, config.ParseOptions{DefaultProject: "fuzz"})
		if err == nil && cfg == nil {
			t.Fatal("nil config without error")
		}
		if err == nil {
			cfg.Enabled()
			cfg.TargetNames()
		}
	})
}
