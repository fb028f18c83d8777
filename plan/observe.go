package plan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/runtime"
)

// Observed is what the engine and the host hold of a project.
type Observed struct {
	// Containers and Networks are those labelled with the project.
	Containers []runtime.Container
	Networks   []runtime.Network
	// Images maps each desired image reference present in the engine to
	// its image ID; a missing reference has no entry.
	Images map[string]string
	// Paths maps each desired data path to whether it exists.
	Paths map[string]bool
}

// Observe finds what the project owns by label, the IDs of the desired
// images and which data paths exist. It reads only.
func Observe(ctx context.Context, e runtime.Engine, d desired.State) (Observed, error) {
	obs := Observed{Images: map[string]string{}, Paths: map[string]bool{}}
	owned := map[string]string{runtime.LabelProject: d.Project}
	// The three reads are independent; doing them at once keeps a no-op
	// plan fast.
	errc := make(chan error, 3)
	go func() {
		cs, err := e.ListContainers(ctx, owned)
		obs.Containers = cs
		errc <- err
	}()
	go func() {
		ns, err := e.ListNetworks(ctx, owned)
		obs.Networks = ns
		errc <- err
	}()
	images := map[string]string{}
	go func() {
		var refs []string
		for _, c := range d.Containers {
			refs = append(refs, c.Spec.Image)
		}
		slices.Sort(refs)
		for _, ref := range slices.Compact(refs) {
			img, err := e.InspectImage(ctx, ref)
			if errors.Is(err, runtime.ErrNotFound) {
				continue
			}
			if err != nil {
				errc <- err
				return
			}
			images[ref] = img.ID
		}
		errc <- nil
	}()
	var errs []error
	for range 3 {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Observed{}, fmt.Errorf("observing project %q: %w", d.Project, err)
	}
	obs.Images = images
	for _, c := range d.Containers {
		for _, p := range c.DataPaths {
			_, err := os.Stat(p.Host)
			obs.Paths[p.Host] = err == nil
		}
	}
	return obs, nil
}
