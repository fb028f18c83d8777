package cluster

import (
	"context"

	kube "github.com/voidnxlabs/berth/cluster"
	"github.com/voidnxlabs/berth/project"
)

// DiffOptions tune Diff.
type DiffOptions struct {
	// Force diffs as an apply that takes over fields of other managers.
	Force bool
}

// DiffResult is what apply and prune would change.
type DiffResult struct {
	Changes []kube.Change `json:"changes"`
	// Pending counts the changes that are not Unchanged.
	Pending int `json:"pending"`
}

// Diff asks the API server for a dry run of applying the whole project
// and of pruning, and compares the result with the live objects.
func (c *Cluster) Diff(ctx context.Context, o DiffOptions) (*DiffResult, error) {
	m, err := c.Render(ctx, RenderOptions{Secrets: true})
	if err != nil {
		return nil, err
	}
	cl, err := c.Client(ctx)
	if err != nil {
		return nil, err
	}
	chs, err := cl.Diff(ctx, m, kube.ApplyOptions{Force: o.Force})
	if err != nil {
		return nil, hinted(err)
	}
	return &DiffResult{Changes: chs, Pending: changed(chs)}, nil
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Targets select services; none means the whole project.
	Targets []string
	// Force takes over fields that other field managers own.
	Force bool
	// Prune then removes the objects berth owns and no longer renders;
	// refused with Targets (a partial render would prune the rest).
	Prune bool
	// Volumes, with Prune, removes claims (and their data) too.
	Volumes bool
}

// ApplyResult is what an apply did. Apply returns it also when it fails
// part way, with the changes made until then.
type ApplyResult struct {
	// Manifest is what was rendered (its Notes say what was left out).
	Manifest *kube.Manifest `json:"-"`
	// Host is the API server's URL.
	Host string `json:"host"`
	// Namespace the objects went to.
	Namespace string `json:"namespace"`
	// Objects counts the objects rendered.
	Objects int `json:"objects"`
	// Changes are the applied objects, then the pruned ones.
	Changes []kube.Change `json:"changes"`
	// Changed counts the changes that are not Unchanged.
	Changed int `json:"changed"`
}

// Apply renders the selected services and applies every object with
// server-side apply as field manager "berth", namespace first; with Prune
// it then removes what berth owns and no longer renders. A field another
// manager owns stops it with a *cluster.ConflictError.
func (c *Cluster) Apply(ctx context.Context, o ApplyOptions) (*ApplyResult, error) {
	if o.Prune && len(o.Targets) > 0 {
		return nil, project.Errorf(project.ErrInvalidOption, "apply the targets, then run 'berth cluster prune' on its own",
			"--prune with TARGETs would remove every other service")
	}
	m, err := c.Render(ctx, RenderOptions{Targets: o.Targets, Secrets: true})
	if err != nil {
		return nil, err
	}
	res := &ApplyResult{Manifest: m, Namespace: m.Namespace, Objects: len(m.Objects), Changes: []kube.Change{}}
	cl, err := c.Client(ctx)
	if err != nil {
		return res, err
	}
	res.Host = cl.Host
	chs, err := cl.Apply(ctx, m, kube.ApplyOptions{Force: o.Force})
	res.Changes = append(res.Changes, chs...)
	res.Changed = changed(res.Changes)
	if err != nil {
		return res, hinted(err)
	}
	if o.Prune {
		pr, err := cl.Prune(ctx, m, kube.PruneOptions{Volumes: o.Volumes})
		res.Changes = append(res.Changes, pr...)
		res.Changed = changed(res.Changes)
		if err != nil {
			return res, hinted(err)
		}
	}
	return res, nil
}

// PruneOptions tune Prune.
type PruneOptions struct {
	// Volumes removes claims no longer rendered, and their data.
	Volumes bool
	// DryRun lists what would be removed and removes nothing.
	DryRun bool
}

// Prune removes the objects in the namespace that carry berth's labels
// for this project and that the config no longer renders. The namespace
// is never removed. The changes made until a failure come back with it.
func (c *Cluster) Prune(ctx context.Context, o PruneOptions) ([]kube.Change, error) {
	m, err := c.Render(ctx, RenderOptions{})
	if err != nil {
		return nil, err
	}
	cl, err := c.Client(ctx)
	if err != nil {
		return nil, err
	}
	pr, err := cl.Prune(ctx, m, kube.PruneOptions{Volumes: o.Volumes, DryRun: o.DryRun})
	return pr, hinted(err)
}
