package project

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/image"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/runtime"
)

// BuiltImage is an image built and loaded because the engine lacked it.
type BuiltImage struct {
	Ref      string        `json:"ref"`
	Recipe   string        `json:"recipe"`
	Digest   string        `json:"digest"`
	Size     int64         `json:"size"`
	Duration time.Duration `json:"duration"`
}

// RecipeError reports problems in the config's image recipes; Err joins
// them, each starting with line:col.
type RecipeError struct {
	File string
	Err  error
}

func (e *RecipeError) Error() string { return fmt.Sprintf("%s: images: %v", e.File, e.Err) }
func (e *RecipeError) Unwrap() error { return e.Err }

// images are the recipes the project can build, where their locks and
// images live.
type images struct {
	recipes map[string]image.Recipe
	origin  map[string]string // builtin or the config file
	store   *image.Store
	lockDir string
	cfgDir  string
}

func (p *Project) images() (*images, error) {
	env := &images{recipes: image.Builtin(), origin: map[string]string{}}
	for n := range env.recipes {
		env.origin[n] = "builtin"
	}
	root := p.StateRoot()
	env.store = p.ImageStore()
	env.lockDir = filepath.Join(root, "images")
	if file := p.cfg.File; file != "" {
		env.cfgDir = filepath.Dir(file)
		env.lockDir = filepath.Join(env.cfgDir, "images.lock")
	}
	if p.cfg.Images != nil {
		rs, err := image.DecodeRecipes(p.cfg.Images)
		if err != nil {
			return nil, &RecipeError{File: p.ConfigFile(), Err: err}
		}
		for n, r := range rs {
			env.recipes[n] = r
			env.origin[n] = p.ConfigFile()
		}
	}
	return env, nil
}

// recipeFor returns the name of the recipe that builds ref, when berth
// builds that image itself (ghcr.io/voidnxlabs/NAME:latest).
func (env *images) recipeFor(ref string) (string, bool) {
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

// BuilderOptions tune how recipes are resolved and built.
type BuilderOptions struct {
	Relock           bool     // resolve again instead of using the lock
	Locked           bool     // fail when a lock is missing or stale
	Offline          bool     // only the lock and the download cache
	IgnoreValidUntil bool     // accept expired Release files
	Keyrings         []string // OpenPGP keyrings that sign the archive
	// Repository prefixes the built images' references
	// (REPOSITORY/NAME:latest); empty means image.DefaultRepository. Tests
	// that run side by side each pass their own.
	Repository string
	// LockDir is where locks are read and written; empty means the
	// project's (images.lock beside the config, else the state
	// directory's images/).
	LockDir string
}

func (p *Project) builder(env *images, name string, o BuilderOptions, events *sink) (*image.Builder, error) {
	work, _ := os.Getwd()
	if env.origin[name] != "builtin" && env.cfgDir != "" {
		work = env.cfgDir
	}
	opts := image.Options{
		LockDir:          cmp.Or(o.LockDir, env.lockDir),
		Repository:       o.Repository,
		WorkDir:          work,
		Relock:           o.Relock,
		Locked:           o.Locked,
		Offline:          o.Offline,
		IgnoreValidUntil: o.IgnoreValidUntil,
		Keyrings:         o.Keyrings,
		Progress: func(ev image.Event) {
			events.emit(Event{Kind: EventBuild, Image: ev.Image, Build: &ev, Message: ev.Message})
		},
	}
	if s := p.opts.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: SOURCE_DATE_EPOCH=%q is not a number of seconds", ErrInvalidOption, s)
		}
		opts.SourceDateEpoch = time.Unix(n, 0)
	}
	return image.NewBuilder(opts)
}

// buildMissing builds and loads the images of st that the engine lacks
// and that berth has a recipe for, so up never tries to pull them from a
// registry.
func (p *Project) buildMissing(ctx context.Context, e runtime.Engine, st *desired.State, targets []string, obs plan.Observed, events *sink) ([]BuiltImage, error) {
	var missing []string
	for _, c := range st.Containers {
		if targets != nil && !slices.Contains(targets, c.Spec.Name) {
			continue
		}
		if _, ok := obs.Images[c.Spec.Image]; !ok {
			missing = append(missing, c.Spec.Image)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	env, err := p.images()
	if err != nil {
		return nil, err
	}
	var built []BuiltImage
	for _, ref := range missing {
		name, ok := env.recipeFor(ref)
		if !ok {
			continue // a registry image: the plan pulls it
		}
		began := time.Now()
		events.emit(Event{Kind: EventBuild, Image: ref, Message: fmt.Sprintf("building image %s from recipe %s (it is not in the engine)", ref, name)})
		b, err := p.builder(env, name, BuilderOptions{}, events)
		if err != nil {
			return built, err
		}
		res, err := b.Build(ctx, env.recipes[name])
		if err != nil {
			return built, imageError(err, nil)
		}
		if _, err := env.store.Save(res); err != nil {
			return built, err
		}
		if _, err := image.Load(ctx, e, res.Image, res.Ref); err != nil {
			return built, fmt.Errorf("loading image %s: %w", res.Ref, err)
		}
		bi := BuiltImage{Ref: res.Ref, Recipe: name, Digest: res.Digest.String(), Size: res.Size, Duration: time.Since(began)}
		built = append(built, bi)
		events.emit(Event{Kind: EventBuilt, Image: res.Ref, Message: fmt.Sprintf("built and loaded %s (%s) in %s",
			res.Ref, bi.Digest[:min(19, len(bi.Digest))], bi.Duration.Round(100*time.Millisecond))})
	}
	return built, nil
}
