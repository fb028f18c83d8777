package project

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/image"
)

// Errors of the image use cases.
var (
	// ErrNoRecipe: no built-in recipe or recipe of the config has the name.
	ErrNoRecipe = errors.New("no such recipe")
	// ErrNoImageNamed: an image use case got neither names nor All, or
	// both.
	ErrNoImageNamed = errors.New("no image named")
)

// Bare is a Project without a berth.yaml: the built-in recipes, with locks
// and built images in the state directory, and the engine Options name.
// The image use cases and Doctor work on it; those that need a config do
// not.
func Bare(o Options) *Project {
	return FromConfig(&config.Config{}, o)
}

// ImageStore is where built images are kept: images/ in the state
// directory shared by every project.
func (p *Project) ImageStore() *image.Store {
	return &image.Store{Dir: filepath.Join(p.StateRoot(), "images")}
}

// ImageInfo is a recipe and the image last built from it; its JSON form is
// what `berth image list --json` prints.
type ImageInfo struct {
	Name        string `json:"name"`
	Origin      string `json:"origin"` // builtin, or the config file
	Description string `json:"description"`
	Locked      bool   `json:"locked"`
	Ref         string `json:"ref,omitempty"`
	Digest      string `json:"digest,omitempty"`
	Size        int64  `json:"size,omitempty"`
}

// Images lists the recipes, sorted by name, with the images built from
// them.
func (p *Project) Images() ([]ImageInfo, error) {
	env, err := p.images()
	if err != nil {
		return nil, err
	}
	names, _ := env.names(nil, true)
	out := []ImageInfo{}
	for _, n := range names {
		r := ImageInfo{Name: n, Origin: env.origin[n], Description: env.recipes[n].Description}
		if l, _ := image.ReadLock(image.LockPath(env.lockDir, n)); l != nil {
			r.Locked = true
		}
		if rec, err := env.store.Record(n); err == nil {
			r.Ref, r.Digest, r.Size = rec.Ref, rec.Digest, rec.Size
		}
		out = append(out, r)
	}
	return out, nil
}

// ImageBuildOptions tune ImageBuild and ImageLock.
type ImageBuildOptions struct {
	// Names are the recipes; All means every one.
	Names []string
	All   bool
	// Load loads each image into the engine after building it.
	Load bool
	// NoStore keeps the images out of the state directory: with Load they
	// are only in the engine (tests that build, load and remove them).
	// The records returned have no Tarball.
	NoStore bool
	Builder BuilderOptions
	// Events receives the builds' steps (EventBuild) and each recipe's
	// note (EventNotice).
	Events func(Event)
}

// ImageBuild builds images from their recipes, verifying every index and
// package against the archive's signature and checksums, keeps them in the
// state directory and, with Load, loads them into the engine. A second
// build from the same lock gives the same digest.
func (p *Project) ImageBuild(ctx context.Context, o ImageBuildOptions) ([]image.Record, error) {
	env, err := p.images()
	if err != nil {
		return nil, err
	}
	names, err := env.names(o.Names, o.All)
	if err != nil {
		return nil, err
	}
	events := newSink(o.Events)
	recs := []image.Record{}
	for _, n := range names {
		b, err := p.builder(env, n, o.Builder, events)
		if err != nil {
			return recs, err
		}
		res, err := b.Build(ctx, env.recipes[n])
		if err != nil {
			return recs, imageError(err, o.Builder.Keyrings)
		}
		rec := image.RecordOf(res)
		if !o.NoStore {
			if rec, err = env.store.Save(res); err != nil {
				return recs, err
			}
		}
		if o.Load {
			e, err := p.Engine(ctx)
			if err != nil {
				return recs, err
			}
			if _, err := image.Load(ctx, e, res.Image, res.Ref); err != nil {
				return recs, fmt.Errorf("loading image %s: %w", res.Ref, err)
			}
		}
		if note := env.recipes[n].Note; note != "" {
			events.emit(Event{Kind: EventNotice, Image: n, Message: "note: " + n + ": " + note})
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// ImageLoad loads built images into the engine. An image not built yet is
// an error wrapping image.ErrNotBuilt.
func (p *Project) ImageLoad(ctx context.Context, names []string) ([]image.Record, error) {
	env, err := p.images()
	if err != nil {
		return nil, err
	}
	e, err := p.Engine(ctx)
	if err != nil {
		return nil, err
	}
	recs := []image.Record{}
	for _, n := range names {
		img, rec, err := env.store.Image(n)
		if errors.Is(err, image.ErrNotBuilt) {
			return recs, hinted(err, "run 'berth image build "+n+"' first")
		}
		if err != nil {
			return recs, err
		}
		if _, err := image.Load(ctx, e, img, rec.Ref); err != nil {
			return recs, fmt.Errorf("loading image %s: %w", rec.Ref, err)
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// ImagePush uploads a built image under ref with the credentials of the
// Docker config, or anonymously, and returns its record.
func (p *Project) ImagePush(ctx context.Context, name, ref string) (image.Record, error) {
	env, err := p.images()
	if err != nil {
		return image.Record{}, err
	}
	img, rec, err := env.store.Image(name)
	if errors.Is(err, image.ErrNotBuilt) {
		return rec, hinted(err, "run 'berth image build "+name+"' first")
	}
	if err != nil {
		return rec, err
	}
	return rec, image.Push(ctx, img, ref)
}

// LockResult is one recipe resolved again.
type LockResult struct {
	Name     string `json:"name"`
	Packages int    `json:"packages"`
	Path     string `json:"path"`
}

// ImageLock resolves recipes against the archive's current signed indexes
// and rewrites their locks; the next build uses the new lock.
func (p *Project) ImageLock(ctx context.Context, o ImageBuildOptions) ([]LockResult, error) {
	env, err := p.images()
	if err != nil {
		return nil, err
	}
	names, err := env.names(o.Names, o.All)
	if err != nil {
		return nil, err
	}
	events := newSink(o.Events)
	out := []LockResult{}
	for _, n := range names {
		b, err := p.builder(env, n, o.Builder, events)
		if err != nil {
			return out, err
		}
		lock, err := b.Resolve(ctx, env.recipes[n])
		if err != nil {
			return out, imageError(err, o.Builder.Keyrings)
		}
		out = append(out, LockResult{Name: n, Packages: len(lock.Packages), Path: image.LockPath(env.lockDir, n)})
	}
	return out, nil
}

// names picks the recipes a use case acts on.
func (env *images) names(args []string, all bool) ([]string, error) {
	if all {
		if len(args) > 0 {
			return nil, errorOf(ErrNoImageNamed, "give image names or --all, not both")
		}
		var out []string
		for n := range env.recipes {
			out = append(out, n)
		}
		sort.Strings(out)
		return out, nil
	}
	if len(args) == 0 {
		return nil, hinted(errorOf(ErrNoImageNamed, "no image named"), "name one or more images, or use --all; 'berth image list' shows them")
	}
	for _, a := range args {
		if _, ok := env.recipes[a]; !ok {
			return nil, hinted(errorOf(ErrNoRecipe, "no recipe named %q", a), "'berth image list' shows the recipes")
		}
	}
	return args, nil
}
