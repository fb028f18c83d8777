package project

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/kits"
)

// InitOptions tune Init.
type InitOptions struct {
	// Force overwrites an existing file.
	Force bool
	// Offline writes the seed as it is, without checking this host (for
	// another machine).
	Offline bool
}

// InitResult says where Init wrote the config and which services it
// wrote disabled.
type InitResult struct {
	File     string   `json:"file"`
	Disabled []string `json:"disabled,omitempty"`
}

// Init writes the seed's config to the file o names (config.InitFile:
// -f, $BERTH_CONFIG, else berth.yaml here). Unless Offline it checks this
// host first: a service that needs a GPU no GPU here matches is written
// disabled, with a comment that says how to turn it on. An existing file
// is an error matching fs.ErrExist unless Force.
func Init(ctx context.Context, o Options, opt InitOptions) (*InitResult, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	path := config.InitFile(config.LoadOptions{File: o.ConfigFile, Getenv: o.Getenv})
	if _, err := os.Stat(path); err == nil && !opt.Force {
		return nil, hinted(errorOf(fs.ErrExist, "%s already exists", path), "pass --force to overwrite it")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	data, off := kits.Seed(), []string(nil)
	if !opt.Offline {
		data, off = SeedForHost(ctx, path, o)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return nil, err
	}
	return &InitResult{File: path, Disabled: off}, nil
}

// SeedForHost returns the seed's config as this host can run it: a
// service that needs a GPU this host lacks is written disabled, with a
// comment that says how to turn it on, so that validate and up succeed on
// a laptop. It returns the names of the services it disabled.
func SeedForHost(ctx context.Context, path string, o Options) ([]byte, []string) {
	data := kits.Seed()
	cfg, err := config.Parse(path, data, config.ParseOptions{Getenv: o.Getenv})
	if err != nil {
		return data, nil
	}
	probs := FromConfig(cfg, o).GPUProblems(ctx)
	if len(probs) == 0 {
		return data, nil
	}
	lines := strings.Split(string(data), "\n")
	var off []string
	for _, p := range probs {
		// The problem sits at the service's key; its enable: true is on
		// that line (comfyui.enable: true, or { enable: true, … }) or on
		// a line below it, indented deeper.
		l := p.Pos.Line - 1
		if l < 0 || l >= len(lines) {
			continue
		}
		indent := len(lines[l]) - len(strings.TrimLeft(lines[l], " "))
		for i := l; i < len(lines); i++ {
			if i > l && len(lines[i])-len(strings.TrimLeft(lines[i], " ")) <= indent {
				break
			}
			if strings.Contains(lines[i], "enable: true") {
				svc := strings.TrimSuffix(p.Path, ".gpu")
				lines[i] = strings.Replace(lines[i], "enable: true", "enable: false", 1) +
					fmt.Sprintf("  # berth init: this host has no GPU it needs; on one that has, set %s.enable: true ('berth gpu' lists GPUs)", svc)
				off = append(off, svc)
				break
			}
		}
	}
	return []byte(strings.Join(lines, "\n")), off
}
