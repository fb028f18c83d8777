package project

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/internal/atomicfile"
	"github.com/voidnxlabs/berth/systemd"
)

// SystemdOptions say which units SystemdGenerate renders, and where.
type SystemdOptions struct {
	// Targets select containers; none means the whole project. A
	// selection must hold what its containers depend on.
	Targets []string
	// Quadlet: "true" writes Podman Quadlet files, "false" units that call
	// podman, "auto" (or empty) decides by the Podman version (4.4 and
	// later have Quadlet). Only podman reads it.
	Quadlet string
	// EnginePath is the engine's CLI in the units; empty means
	// /usr/bin/docker or /usr/bin/podman, and for nspawn Executable.
	EnginePath string
	// Executable is berth's own path, which nspawn units run; empty means
	// this program (os.Executable).
	Executable string
	// Dir, when set, is where the files are written (made when missing);
	// otherwise they are only returned.
	Dir string
}

// SystemdResult is the rendered files and, with Dir, where they went.
type SystemdResult struct {
	// Runtime is the engine the units drive (docker, podman, nspawn).
	Runtime string `json:"runtime"`
	// Target is the unit that wants every other: enable it.
	Target string         `json:"target"`
	Files  []systemd.File `json:"files"`
	// Written are the paths written, with Dir.
	Written []string `json:"written,omitempty"`
}

// SystemdGenerate renders the units that start the selected containers at
// boot in dependency order: one per container and a target that wants
// them. The engine is asked only when the runtime is auto, when podman's
// Quadlet support must be read off its version, or when a container wants
// GPUs (the units carry what this host gives it). Written units are
// world-readable, as systemd expects, unless one holds a secret's value
// (berth writes none; this is the net under it): that one is 0600.
func (p *Project) SystemdGenerate(ctx context.Context, o SystemdOptions) (*SystemdResult, error) {
	st, names, err := p.Desired(o.Targets)
	if err != nil {
		return nil, err
	}
	sd, err := p.StateDir()
	if err != nil {
		return nil, err
	}
	switch o.Quadlet {
	case "":
		o.Quadlet = "auto"
	case "true", "false", "auto":
	default:
		return nil, hinted(errorOf(ErrInvalidOption, "--quadlet %q: want true, false or auto", o.Quadlet), "leave it out to decide by the Podman version")
	}
	opts := systemd.Options{Runtime: p.RuntimeName(), Engine: o.EnginePath, SecretDir: filepath.Join(sd.Path(), "secrets")}
	if opts.Runtime == "auto" || (opts.Runtime == "podman" && o.Quadlet == "auto") || wantsGPUs(st) {
		e, err := p.Engine(ctx)
		if err != nil {
			return nil, err
		}
		info, err := e.Info(ctx)
		if err != nil {
			return nil, engineError(err)
		}
		opts.Runtime = info.Name
		if opts.Runtime == "podman" && o.Quadlet == "auto" {
			opts.Quadlet = hasQuadlet(info.Version)
		}
		if _, err := p.resolveGPUs(ctx, st, e); err != nil {
			return nil, err
		}
	}
	opts.Quadlet = opts.Quadlet || o.Quadlet == "true"
	if opts.Runtime == "nspawn" {
		if opts.Config, err = filepath.Abs(p.ConfigFile()); err != nil {
			return nil, err
		}
		if opts.Engine == "" {
			opts.Engine = o.Executable
		}
		if opts.Engine == "" {
			if exe, err := os.Executable(); err == nil {
				opts.Engine = exe
			}
		}
		if opts.StateDir, err = filepath.Abs(p.StateRoot()); err != nil {
			return nil, err
		}
	}
	sel := *st
	if names != nil {
		sel.Containers = slices.DeleteFunc(slices.Clone(st.Containers), func(c desired.Container) bool {
			return !slices.Contains(names, c.Spec.Name)
		})
	}
	files, err := systemd.Generate(sel, opts)
	if err != nil {
		return nil, hinted(err, "select a container together with what it depends on, or all of them")
	}
	res := &SystemdResult{Runtime: opts.Runtime, Target: systemd.TargetName(st.Project), Files: files}
	if o.Dir == "" {
		return res, nil
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, hinted(err, "pick a writable directory with -o")
	}
	var secrets []string
	for _, c := range st.Containers {
		for _, name := range c.Secrets {
			if v, err := sd.LookupSecret(name); err == nil && v != "" {
				secrets = append(secrets, v)
			}
		}
	}
	for _, f := range files {
		path := filepath.Join(o.Dir, f.Name)
		mode := os.FileMode(0o644)
		for _, v := range secrets {
			if strings.Contains(f.Text, v) {
				mode = 0o600
			}
		}
		if err := atomicfile.Write(path, []byte(f.Text), mode); err != nil {
			return res, hinted(fmt.Errorf("writing %s: %w", path, err), "pick a writable directory with -o")
		}
		res.Written = append(res.Written, path)
	}
	return res, nil
}

func wantsGPUs(st *desired.State) bool {
	return slices.ContainsFunc(st.Containers, func(c desired.Container) bool { return c.GPU != nil })
}

// hasQuadlet reports whether a Podman version has Quadlet (4.4+).
func hasQuadlet(v string) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major > 4 || major == 4 && minor >= 4
}
