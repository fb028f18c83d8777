package cluster

import (
	"context"
	"errors"

	kube "github.com/voidnxlabs/berth/cluster"
	"github.com/voidnxlabs/berth/image"
	"github.com/voidnxlabs/berth/project"
)

// LoadOptions say which images Load imports, and where.
type LoadOptions struct {
	// Images are names of built images; none means every built image an
	// enabled service uses (which needs the project's config).
	Images []string
	// Node is the containerd to import into; nil means this node's
	// default (k3s ctr on a k3s node, else ctr).
	Node *kube.NodeImages
}

// Loaded is one image Load handled.
type Loaded struct {
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
	// Loaded is false when the node held the image at this digest already.
	Loaded bool `json:"loaded"`
}

// Load imports images that berth built into a node's containerd, in the
// namespace the kubelet reads, so that pods start without a registry. An
// image not built is an error wrapping image.ErrNotBuilt; with no Images
// and no built image in use, the result is empty. The images loaded until
// a failure come back with it.
func (c *Cluster) Load(ctx context.Context, o LoadOptions) ([]Loaded, error) {
	if c.p == nil {
		return nil, errNoProject
	}
	store := c.p.ImageStore()
	var recs []image.Record
	if len(o.Images) > 0 {
		for _, name := range o.Images {
			rec, err := store.Record(name)
			if errors.Is(err, image.ErrNotBuilt) {
				return nil, &project.Error{Err: err, Hint: "run 'berth image build " + name + "' first"}
			}
			if err != nil {
				return nil, err
			}
			recs = append(recs, rec)
		}
	} else {
		m, err := c.Render(ctx, RenderOptions{})
		if err != nil {
			return nil, err
		}
		used := map[string]bool{}
		for _, ref := range m.Images() {
			used[ref] = true
		}
		all, err := store.Records()
		if err != nil {
			return nil, err
		}
		for _, rec := range all {
			if used[rec.Ref] {
				recs = append(recs, rec)
			}
		}
	}
	n := o.Node
	if n == nil {
		n = &kube.NodeImages{}
	}
	out := []Loaded{}
	for _, rec := range recs {
		loaded, err := n.Load(ctx, rec.Tarball, rec.Ref, rec.Digest)
		if err != nil {
			return out, &project.Error{Err: err, Hint: "is containerd running? pass --containerd SOCKET for another one"}
		}
		out = append(out, Loaded{Ref: rec.Ref, Digest: rec.Digest, Loaded: loaded})
	}
	return out, nil
}
