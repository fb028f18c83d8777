package project

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/hostnet"
	"github.com/voidnxlabs/berth/image"
	"github.com/voidnxlabs/berth/runtime"
)

// ValidateOptions tune Validate.
type ValidateOptions struct {
	// Offline checks the file only, not this host (GPUs, networks), to
	// validate a file meant for another machine.
	Offline bool
}

// ValidateResult is what Validate found. Config holds the problems of the
// file and of this host, each with its position and hint; Recipes the
// problems of the file's image recipes (joined, each "line:col: …").
type ValidateResult struct {
	File    string
	Config  config.Errors
	Recipes error
	// Kits and Services count the enabled kits (of the file) and services;
	// zero when the file has problems.
	Kits, Services int
}

// Valid reports whether nothing was found.
func (r *ValidateResult) Valid() bool { return len(r.Config) == 0 && r.Recipes == nil }

// Problem is one problem in the JSON form of a validation.
type Problem struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Path   string `json:"path,omitempty"`
	Error  string `json:"error"`
	Hint   string `json:"hint,omitempty"`
}

// Problems lists every problem, config and host first, then recipes.
func (r *ValidateResult) Problems() []Problem {
	out := []Problem{}
	for _, e := range r.Config {
		out = append(out, Problem{e.Pos.File, e.Pos.Line, e.Pos.Column, e.Path, e.Msg, e.Hint})
	}
	for _, e := range flatten(r.Recipes) {
		pr := Problem{File: r.File, Error: e.Error()}
		// Recipe errors start with line:col.
		if a, b, ok := strings.Cut(e.Error(), ": "); ok {
			if l, c, ok := strings.Cut(a, ":"); ok {
				pr.Line, _ = strconv.Atoi(l)
				pr.Column, _ = strconv.Atoi(c)
				pr.Error = b
			}
		}
		out = append(out, pr)
	}
	return out
}

// Validate loads the config of o and checks it without touching any
// engine: the file's options, references and cycles, its image recipes,
// and, unless Offline, what only this host can tell (HostProblems). The
// problems come back in the result; the error is for what stops the check
// itself (no config file: config.ErrNoConfig; a host whose networks cannot
// be read).
func Validate(ctx context.Context, o Options, vo ValidateOptions) (*ValidateResult, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	lo := config.LoadOptions{File: o.ConfigFile, Getenv: o.Getenv}
	res := &ValidateResult{File: config.Resolve(lo)}
	cfg, err := config.Load(lo)
	if err != nil && !errors.As(err, &res.Config) {
		return nil, err
	}
	if cfg == nil {
		return res, nil
	}
	if cfg.Images != nil {
		_, res.Recipes = image.DecodeRecipes(cfg.Images)
	}
	if !vo.Offline {
		probs, err := FromConfig(cfg, o).HostProblems(ctx)
		if err != nil {
			return nil, err
		}
		res.Config = append(res.Config, probs...)
	}
	for _, k := range cfg.Kits {
		if k.Enable && k.Pos.File != "" {
			res.Kits++
		}
	}
	res.Services = len(cfg.Enabled())
	return res, nil
}

// HostProblems reports what this host cannot give the config: GPUs for
// services whose request is not optional (GPUProblems), and kit subnets
// that overlap a network the host already has (docker0, a route). The
// error is for a host whose networks cannot be read.
func (p *Project) HostProblems(ctx context.Context) (config.Errors, error) {
	probs := p.GPUProblems(ctx)
	list := p.opts.HostNetworks
	if list == nil {
		list = hostnet.List
	}
	nets, err := list()
	if err != nil {
		return nil, fmt.Errorf("listing this host's networks: %w (--offline skips host checks)", err)
	}
	return append(probs, config.CheckHostNetworks(p.cfg, nets)...), nil
}

// GPUProblems reports the services whose GPU request is not optional and
// that no GPU of this host matches, each at the service's position with a
// hint. A host whose GPUs cannot be detected has none to report.
func (p *Project) GPUProblems(ctx context.Context) config.Errors {
	st, err := desired.Compile(p.cfg, desired.Options{})
	if err != nil {
		return nil // compile problems are reported by the use cases that compile
	}
	var need []*desired.Container
	for i := range st.Containers {
		if c := &st.Containers[i]; c.GPU != nil && !c.GPU.Optional {
			need = append(need, c)
		}
	}
	if len(need) == 0 {
		return nil
	}
	inv, err := gpu.Detect(ctx, p.gpuHost())
	if err != nil {
		return nil
	}
	svc := map[string]*config.Service{}
	kitPos := map[string]config.Pos{}
	for _, k := range p.cfg.Kits {
		kitPos[k.Name] = k.Pos
		for _, s := range k.Services {
			svc[s.Container] = s
		}
	}
	var out config.Errors
	for _, c := range need {
		_, err := gpu.Resolve(*c.GPU, inv, runtime.Info{})
		if !errors.Is(err, gpu.ErrNoGPU) {
			continue
		}
		pos := kitPos[c.Kit]
		if s := svc[c.Spec.Name]; s != nil && s.Pos.Line > 0 {
			pos = s.Pos
		}
		if pos.File == "" {
			pos.File = p.cfg.File
		}
		out = append(out, &config.Error{Pos: pos, Path: c.Kit + "." + c.Service + ".gpu",
			Msg:  fmt.Sprintf("%s needs a GPU and this host has none that matches (%v)", c.Spec.Name, err),
			Hint: fmt.Sprintf("set %s.%s.gpu.optional: true to run it without, disable it with %s.%s.enable: false, or use --offline for another host", c.Kit, c.Service, c.Kit, c.Service)})
	}
	return out
}
