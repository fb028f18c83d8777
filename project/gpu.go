package project

import (
	"context"

	"github.com/voidnxlabs/berth/gpu"
)

// GPUReport is this host's GPUs and what each container that asks for
// GPUs receives on it; its JSON form is stable.
type GPUReport struct {
	Inventory gpu.Inventory `json:"inventory"`
	// Assignments are what each container receives (an optional request
	// the host cannot meet has Skipped set); Errors say why a request that
	// is not optional cannot be met.
	Assignments map[string]gpu.Assignment `json:"assignments"`
	Errors      map[string]string         `json:"errors,omitempty"`
}

// GPUInventory detects the host's GPUs (sysfs, procfs, nvidia-smi) and
// asks nothing else: no config, no engine.
func (p *Project) GPUInventory(ctx context.Context) (gpu.Inventory, error) {
	return gpu.Detect(ctx, p.gpuHost())
}

// GPUs detects the host's GPUs (sysfs, procfs, nvidia-smi) and resolves
// every container's GPU request against them and the engine, without
// changing anything. The engine is asked only when some container wants
// GPUs.
func (p *Project) GPUs(ctx context.Context) (*GPUReport, error) {
	inv, err := p.GPUInventory(ctx)
	if err != nil {
		return nil, err
	}
	rep := &GPUReport{Inventory: inv, Assignments: map[string]gpu.Assignment{}}
	st, err := p.DesiredOffline(nil)
	if err != nil {
		return nil, err
	}
	for _, c := range st.Containers {
		if c.GPU == nil {
			continue
		}
		e, err := p.Engine(ctx)
		if err != nil {
			return rep, err
		}
		info, err := e.Info(ctx)
		if err != nil {
			return rep, engineError(err)
		}
		a, err := gpu.Resolve(*c.GPU, inv, info)
		if err != nil {
			if rep.Errors == nil {
				rep.Errors = map[string]string{}
			}
			rep.Errors[c.Spec.Name] = err.Error()
			continue
		}
		rep.Assignments[c.Spec.Name] = a
	}
	return rep, nil
}
