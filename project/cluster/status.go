package cluster

import (
	"context"

	kube "github.com/voidnxlabs/berth/cluster"
)

// Status reads, for the selected services (none: all), each workload's
// rollout, each pod's state, each claim's binding, and why pods that are
// not ready are not.
func (c *Cluster) Status(ctx context.Context, targets []string) (*kube.Status, error) {
	m, err := c.Render(ctx, RenderOptions{Targets: targets})
	if err != nil {
		return nil, err
	}
	cl, err := c.Client(ctx)
	if err != nil {
		return nil, err
	}
	st, err := cl.Status(ctx, m)
	if err != nil {
		return nil, hinted(err)
	}
	return st, nil
}
