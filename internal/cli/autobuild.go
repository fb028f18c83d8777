package cli

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/image"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/runtime"
)

// recipeFor returns the name of the recipe that builds ref, when berth
// builds that image itself (ghcr.io/voidnxlabs/NAME:latest).
func recipeFor(env *imageEnv, ref string) (string, bool) {
	rest, ok := strings.CutPrefix(ref, image.DefaultRepository+"/")
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, ":latest")
	if !ok {
		return "", false
	}
	_, ok = env.recipes[name]
	return name, ok
}

// buildMissing builds and loads the images of st that the engine lacks and
// that berth has a recipe for, so up never tries to pull them from a
// registry. It reports whether it loaded any.
func (g *globals) buildMissing(e runtime.Engine, st *desired.State, targets []string, obs plan.Observed) (bool, error) {
	want := map[string]bool{}
	for _, t := range targets {
		want[t] = true
	}
	var missing []string
	for _, c := range st.Containers {
		if len(want) > 0 && !want[c.Spec.Name] {
			continue
		}
		if _, ok := obs.Images[c.Spec.Image]; !ok {
			missing = append(missing, c.Spec.Image)
		}
	}
	if len(missing) == 0 {
		return false, nil
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	env, err := g.imageEnv()
	if err != nil {
		return false, err
	}
	loaded := false
	for _, ref := range missing {
		name, ok := recipeFor(env, ref)
		if !ok {
			continue // a registry image: the plan pulls it
		}
		began := time.Now()
		fmt.Fprintf(g.stderr, "berth: building image %s from recipe %s (it is not in the engine)\n", ref, name)
		b, err := g.builder(env, name, &imageFlags{})
		if err != nil {
			return loaded, err
		}
		res, err := b.Build(g.ctx, env.recipes[name])
		if err != nil {
			return loaded, imageError(err)
		}
		if _, err := env.store.Save(res); err != nil {
			return loaded, err
		}
		if _, err := image.Load(g.ctx, e, res.Image, res.Ref); err != nil {
			return loaded, fmt.Errorf("loading image %s: %w", res.Ref, err)
		}
		loaded = true
		fmt.Fprintf(g.stderr, "berth: built and loaded %s (%s, %s) in %s\n", res.Ref, res.Digest.String()[:19], mb(res.Size), time.Since(began).Round(100*time.Millisecond))
	}
	return loaded, nil
}
