// Package cluster holds the use cases of `berth cluster`: a project's
// services rendered as Kubernetes objects and applied to, read from and
// run on a k3s cluster. It is the use-case layer as package project is,
// kept beside it so that only programs that ask for a cluster link
// Kubernetes' client (internal/depcheck): the web server does not.
//
// Methods, one file each:
//
//	New, Client              cluster.go
//	Render                   render.go
//	Diff, Apply, Prune       apply.go
//	Status                   status.go
//	Bootstrap                bootstrap.go
//	Load                     load.go
//	Logs, Exec               pod.go
//
// Errors carry a hint for people as *project.Error; the sentinels and
// types of package cluster (ErrUnreachable, ErrNoPod, *ConflictError,
// *ImmutableError, *ExitError) stay matchable with errors.Is/As.
package cluster

import (
	"context"
	"errors"
	"sync"

	kube "github.com/voidnxlabs/berth/cluster"
	"github.com/voidnxlabs/berth/project"
)

// Options say which cluster and how the project's objects are named.
type Options struct {
	// Kubeconfig is the kubeconfig file; empty means $KUBECONFIG, else
	// k3s's admin kubeconfig, else ~/.kube/config (cluster.Kubeconfig).
	Kubeconfig string
	// Namespace of every object; empty means the project name.
	Namespace string
	// Domain is the DNS suffix of Ingress hosts; empty means localhost.
	Domain string
	// StorageClass of every claim; empty means cluster.StorageClass.
	StorageClass string
	// VolumeSizes sizes data paths' claims, by option path
	// (ml.ollama.modelsPath → 200Gi).
	VolumeSizes map[string]string
	// Getenv reads the environment (KUBECONFIG, HOME); os.Getenv when nil.
	Getenv func(string) string
}

// Cluster is a project bound to a cluster. It connects on first use and is
// safe for concurrent use.
type Cluster struct {
	p *project.Project
	o Options

	mu     sync.Mutex
	client *kube.Client
}

// New binds p to the cluster o names. p may be nil for the use cases that
// need no config (Bootstrap, Client).
func New(p *project.Project, o Options) *Cluster {
	return &Cluster{p: p, o: o}
}

// errNoProject: a use case that renders the config was called on a
// Cluster made without one.
var errNoProject = errors.New("cluster use case needs a project")

// Client connects to the cluster of the kubeconfig berth finds, once.
func (c *Cluster) Client(ctx context.Context) (*kube.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		return c.client, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	kc, err := kube.Kubeconfig(c.o.Kubeconfig, c.o.Getenv)
	if err != nil {
		return nil, &project.Error{Err: err, Hint: "pass --kubeconfig FILE or set KUBECONFIG; on a k3s server, run as root to read " + kube.K3sKubeconfig}
	}
	cl, err := kube.Connect(kc)
	if err != nil {
		return nil, &project.Error{Err: err, Hint: "check the file: 'kubectl --kubeconfig " + kc + " cluster-info' reads it the same way"}
	}
	c.client = cl
	return cl, nil
}

// hinted adds the hint for the cluster's errors a person can act on.
func hinted(err error) error {
	if err == nil || project.Hint(err) != "" {
		return err
	}
	var ce *kube.ConflictError
	var ie *kube.ImmutableError
	var hint string
	switch {
	case errors.As(err, &ie):
		hint = "delete " + ie.Ref + " (kubectl delete), then apply again; deleting a claim deletes its data"
	case errors.As(err, &ce):
		hint = "another field manager changed these fields (kubectl scale or edit?); re-run with --force-conflicts to take them back, or drop the change there"
	case errors.Is(err, kube.ErrNoPod):
		hint = "is it applied? 'berth cluster status' shows its pods"
	case errors.Is(err, kube.ErrUnreachable):
		hint = "is the cluster up? on a k3s server: 'systemctl status k3s'"
	default:
		return err
	}
	return &project.Error{Err: err, Hint: hint}
}

// changed counts the changes that are not Unchanged.
func changed(chs []kube.Change) int {
	n := 0
	for _, ch := range chs {
		if ch.Action != kube.Unchanged {
			n++
		}
	}
	return n
}
