package cluster

import (
	"context"
	"fmt"

	kube "github.com/voidnxlabs/berth/cluster"
	"github.com/voidnxlabs/berth/desired"
)

// RenderOptions select what Render renders.
type RenderOptions struct {
	// Targets select services (a container, kit, service path or stack);
	// none means every enabled service.
	Targets []string
	// Secrets fills in the generated credentials from the state directory
	// (making those that are missing); without it placeholders stand in
	// for them. Either way they go into Secret objects, never into a pod's
	// spec.
	Secrets bool
}

// Render compiles the project's desired state and renders the selected
// services as Kubernetes objects, in apply order. The manifest's Notes say
// what was left out and why. An unknown target is a *config.TargetError.
func (c *Cluster) Render(ctx context.Context, o RenderOptions) (*kube.Manifest, error) {
	if c.p == nil {
		return nil, errNoProject
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg := c.p.Config()
	ro := kube.Options{Namespace: c.o.Namespace, Domain: c.o.Domain, StorageClass: c.o.StorageClass, VolumeSizes: c.o.VolumeSizes}
	if len(o.Targets) > 0 {
		sel, err := cfg.Select(o.Targets)
		if err != nil {
			return nil, err
		}
		ro.Only = map[string]bool{}
		for _, s := range sel {
			ro.Only[s.Container] = true
		}
	}
	if o.Secrets {
		sd, err := c.p.StateDir()
		if err != nil {
			return nil, err
		}
		ro.Secret = sd.Secret
	}
	st, err := desired.Compile(cfg, desired.Options{})
	if err != nil {
		return nil, fmt.Errorf("compiling the desired state: %w", err)
	}
	return kube.Render(st, ro)
}
