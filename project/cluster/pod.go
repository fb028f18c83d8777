package cluster

import (
	"context"
	"io"

	kube "github.com/voidnxlabs/berth/cluster"
	"github.com/voidnxlabs/berth/project"
)

// pod is where one service runs on the cluster: the namespace and project
// its pods carry, its container name (the pods' instance label) and the
// name of its container in the pod.
type pod struct {
	namespace, project, instance, container string
}

// service resolves a target to one service's pod and connects.
func (c *Cluster) service(ctx context.Context, target string) (pod, *kube.Client, error) {
	if c.p == nil {
		return pod{}, nil, errNoProject
	}
	m, err := c.Render(ctx, RenderOptions{})
	if err != nil {
		return pod{}, nil, err
	}
	sel, err := c.p.Config().Select([]string{target})
	if err != nil {
		return pod{}, nil, err
	}
	if len(sel) != 1 {
		return pod{}, nil, project.Errorf(project.ErrNotOne, "name one service, ml/ollama or ml-ollama", "%s names %d services", target, len(sel))
	}
	cl, err := c.Client(ctx)
	if err != nil {
		return pod{}, nil, err
	}
	return pod{m.Namespace, m.Project, sel[0].Container, sel[0].Name}, cl, nil
}

// Logs streams the log of a service's container in its pod (a ready pod
// first when there are several) to w, as the kubelet keeps it; with
// Follow until ctx is done. No pod is an error wrapping cluster.ErrNoPod.
func (c *Cluster) Logs(ctx context.Context, target string, o kube.LogOptions, w io.Writer) error {
	p, cl, err := c.service(ctx, target)
	if err != nil {
		return err
	}
	return hinted(cl.Logs(ctx, p.namespace, p.project, p.instance, p.container, o, w))
}

// Exec runs argv in a service's container in its pod (a ready pod first)
// over the API server. A command that exits non-zero is a
// *cluster.ExitError with its code.
func (c *Cluster) Exec(ctx context.Context, target string, argv []string, o kube.ExecOptions) error {
	p, cl, err := c.service(ctx, target)
	if err != nil {
		return err
	}
	return hinted(cl.Exec(ctx, p.namespace, p.project, p.instance, p.container, argv, o))
}
