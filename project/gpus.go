package project

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/runtime"
)

// gpuHost is the machine whose GPUs are detected.
func (p *Project) gpuHost() gpu.Host {
	if p.opts.GPUHost != nil {
		return *p.opts.GPUHost
	}
	return gpu.LocalHost()
}

func (p *Project) resolveGPUs(ctx context.Context, st *desired.State, e runtime.Engine) (map[string]gpu.Assignment, error) {
	return ResolveGPUs(ctx, st, e, p.gpuHost())
}

// ResolveGPUs decides what each container of st that asks for GPUs
// receives on host and adds it to its spec. The config hash is left as
// compiled: it covers the request, not how this host satisfies it.
func ResolveGPUs(ctx context.Context, st *desired.State, e runtime.Engine, host gpu.Host) (map[string]gpu.Assignment, error) {
	var need []int
	for i, c := range st.Containers {
		if c.GPU != nil {
			need = append(need, i)
		}
	}
	if len(need) == 0 {
		return nil, nil
	}
	inv, err := gpu.Detect(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("detecting gpus: %w", err)
	}
	info, err := e.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("asking the engine about gpu support: %w", err)
	}
	out := map[string]gpu.Assignment{}
	var errs []error
	var hint string
	for _, i := range need {
		c := &st.Containers[i]
		a, err := gpu.Resolve(*c.GPU, inv, info)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Spec.Name, err))
			var ge *gpu.Error
			if errors.As(err, &ge) && hint == "" {
				hint = ge.Hint
			}
			continue
		}
		a.Apply(&c.Spec)
		out[c.Spec.Name] = a
	}
	if len(errs) > 0 {
		if hint == "" {
			hint = "mark the request optional (gpu.optional: true), disable the service, or run 'berth doctor'"
		}
		return nil, hinted(errors.Join(errs...), hint)
	}
	return out, nil
}

// SkippedGPUs names the containers of st whose optional GPU request gets
// nothing on this host (what an export leaves out). It asks the engine;
// when the engine or the host's GPUs cannot be read it names none, so that
// nothing is left out on a guess.
func (p *Project) SkippedGPUs(ctx context.Context, st *desired.State) map[string]bool {
	if !slices.ContainsFunc(st.Containers, func(c desired.Container) bool { return c.GPU != nil && c.GPU.Optional }) {
		return nil
	}
	e, err := p.Engine(ctx)
	if err != nil {
		return nil
	}
	info, err := e.Info(ctx)
	if err != nil {
		return nil
	}
	inv, err := gpu.Detect(ctx, p.gpuHost())
	if err != nil {
		return nil
	}
	skip := map[string]bool{}
	for _, c := range st.Containers {
		if c.GPU != nil && c.GPU.Optional {
			if a, err := gpu.Resolve(*c.GPU, inv, info); err == nil && a.Skipped != "" {
				skip[c.Spec.Name] = true
			}
		}
	}
	return skip
}
