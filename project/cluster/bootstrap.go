package cluster

import (
	"context"

	kube "github.com/voidnxlabs/berth/cluster"
)

// BootstrapOptions say what Bootstrap renders and whether it applies it.
type BootstrapOptions struct {
	kube.BootstrapOptions
	// Apply applies the add-ons to the running cluster (server-side apply,
	// as Apply does).
	Apply bool
}

// BootstrapResult is the rendered k3s configs and add-ons; with Apply,
// also what applying the add-ons changed.
type BootstrapResult struct {
	*kube.Bootstrap
	Changes []kube.Change `json:"changes,omitempty"`
}

// Bootstrap renders what a k3s cluster needs to run berth's kits: server
// and agent configs and the Longhorn and NVIDIA add-ons; with Apply it
// applies the add-ons. It needs no project. With Apply the changes made
// until a failure come back with it.
func (c *Cluster) Bootstrap(ctx context.Context, o BootstrapOptions) (*BootstrapResult, error) {
	b, err := kube.RenderBootstrap(o.BootstrapOptions)
	if err != nil {
		return nil, err
	}
	res := &BootstrapResult{Bootstrap: b}
	if !o.Apply {
		return res, nil
	}
	cl, err := c.Client(ctx)
	if err != nil {
		return res, err
	}
	res.Changes, err = cl.Apply(ctx, b.Manifest, kube.ApplyOptions{})
	return res, hinted(err)
}
