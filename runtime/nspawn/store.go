package nspawn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/voidnxlabs/berth/internal/extract"
	"github.com/voidnxlabs/berth/runtime"
)

// imageRecord is ROOT/images/<id>.json.
type imageRecord struct {
	ID     string        `json:"id"`     // sha256:<config digest>
	Layers []string      `json:"layers"` // diff IDs, bottom first
	Size   int64         `json:"size"`
	Config v1.ConfigFile `json:"config"`
}

func hexOf(id string) string { return strings.TrimPrefix(id, "sha256:") }

func (e *Engine) imagePath(id string) string {
	return filepath.Join(e.root, "images", hexOf(id)+".json")
}

func (e *Engine) layerPath(diffID string) string {
	return filepath.Join(e.root, "layers", hexOf(diffID))
}

// tags reads ROOT/tags.json: reference → image ID.
func (e *Engine) tags() (map[string]string, error) {
	m := map[string]string{}
	data, err := os.ReadFile(filepath.Join(e.root, "tags.json"))
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("reading tags: %w", err)
	}
	return m, nil
}

func (e *Engine) saveTags(m map[string]string) error {
	return writeJSON(filepath.Join(e.root, "tags.json"), m)
}

// writeJSON writes v to path atomically.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// canonical is the fully qualified form of a reference, so that
// "berth-fixture:x" and "docker.io/library/berth-fixture:x" are one.
func canonical(ref string) string {
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return ref
	}
	return r.Name()
}

// resolve finds an image by reference or ID.
func (e *Engine) resolve(ref string) (imageRecord, error) {
	var rec imageRecord
	tags, err := e.tags()
	if err != nil {
		return rec, err
	}
	id, ok := tags[ref]
	if !ok {
		want := canonical(ref)
		for t, i := range tags {
			if canonical(t) == want {
				id, ok = i, true
				break
			}
		}
	}
	if !ok && (strings.HasPrefix(ref, "sha256:") || len(ref) >= 12) {
		h := hexOf(ref)
		ents, _ := os.ReadDir(filepath.Join(e.root, "images"))
		for _, en := range ents {
			if strings.HasPrefix(en.Name(), h) && strings.HasSuffix(en.Name(), ".json") {
				id, ok = "sha256:"+strings.TrimSuffix(en.Name(), ".json"), true
				break
			}
		}
	}
	if !ok {
		return rec, fmt.Errorf("%w: image %s", runtime.ErrNotFound, ref)
	}
	if err := readJSON(e.imagePath(id), &rec); err != nil {
		return rec, fmt.Errorf("reading image %s: %w", id, err)
	}
	return rec, nil
}

// InspectImage reports an image in the store.
func (e *Engine) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	rec, err := e.resolve(ref)
	if err != nil {
		return runtime.Image{}, fmt.Errorf("inspecting image %q: %w", ref, err)
	}
	tags, err := e.tags()
	if err != nil {
		return runtime.Image{}, err
	}
	img := runtime.Image{ID: rec.ID, Size: rec.Size}
	for t, id := range tags {
		if id == rec.ID {
			img.RepoTags = append(img.RepoTags, t)
		}
	}
	slices.Sort(img.RepoTags)
	return img, nil
}

// LoadImage loads a docker-load tarball (the form berth's builder and
// `docker save` write) and returns the references it loaded.
func (e *Engine) LoadImage(ctx context.Context, r io.Reader) ([]string, error) {
	f, err := os.CreateTemp(filepath.Join(e.root, "tmp"), "load-")
	if err != nil {
		return nil, fmt.Errorf("loading image: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		return nil, fmt.Errorf("loading image: reading the tarball: %w", err)
	}
	opener := func() (io.ReadCloser, error) { return os.Open(f.Name()) }
	// Held from the first layer to the tag, so that a concurrent gc does
	// not take an image that has no tag yet.
	unlock, err := e.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("loading image: %w", err)
	}
	var refs []string
	for _, desc := range m {
		tags := desc.RepoTags
		if len(tags) == 0 {
			tags = []string{""}
		}
		for _, t := range tags {
			var tag *name.Tag
			if t != "" {
				tg, err := name.NewTag(t, name.WeakValidation)
				if err != nil {
					return nil, fmt.Errorf("loading image: %w", err)
				}
				tag = &tg
			}
			img, err := tarball.Image(opener, tag)
			if err != nil {
				return nil, fmt.Errorf("loading image %s: %w", t, err)
			}
			id, err := e.store(ctx, img, nil)
			if err != nil {
				return nil, fmt.Errorf("loading image %s: %w", t, err)
			}
			if t == "" {
				refs = append(refs, id)
				continue
			}
			if err := e.tag(t, id); err != nil {
				return nil, err
			}
			refs = append(refs, t)
		}
	}
	return refs, nil
}

// PullImage pulls ref from its registry; one on loopback is reached over
// plain HTTP, as Docker does.
func (e *Engine) PullImage(ctx context.Context, ref string, progress func(runtime.ProgressEvent)) error {
	var opts []name.Option
	if loopback(ref) {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return fmt.Errorf("pulling image %q: %w", ref, err)
	}
	img, err := remote.Image(r, remote.WithContext(ctx), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		return fmt.Errorf("pulling image %q: %w", ref, err)
	}
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	id, err := e.store(ctx, img, progress)
	if err != nil {
		return fmt.Errorf("pulling image %q: %w", ref, err)
	}
	return e.tag(ref, id)
}

func loopback(ref string) bool {
	host, _, ok := strings.Cut(ref, "/")
	if !ok {
		return false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// tag points ref at id. The caller holds the lock.
func (e *Engine) tag(ref, id string) error {
	tags, err := e.tags()
	if err != nil {
		return err
	}
	tags[ref] = id
	if err := e.saveTags(tags); err != nil {
		return fmt.Errorf("tagging %s: %w", ref, err)
	}
	return e.gc()
}

// store unpacks the layers the store lacks and records the image.
func (e *Engine) store(ctx context.Context, img v1.Image, progress func(runtime.ProgressEvent)) (string, error) {
	cfgName, err := img.ConfigName()
	if err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	layers, err := img.Layers()
	if err != nil {
		return "", err
	}
	rec := imageRecord{ID: cfgName.String(), Config: *cf}
	for _, l := range layers {
		diff, err := l.DiffID()
		if err != nil {
			return "", err
		}
		rec.Layers = append(rec.Layers, diff.String())
		size, _ := l.Size()
		rec.Size += size
		if _, err := os.Stat(e.layerPath(diff.String())); err == nil {
			if progress != nil {
				progress(runtime.ProgressEvent{ID: diff.Hex[:12], Status: "Already exists"})
			}
			continue
		}
		if progress != nil {
			progress(runtime.ProgressEvent{ID: diff.Hex[:12], Status: "Pulling fs layer", Total: size})
		}
		if err := e.unpack(ctx, l, diff.String()); err != nil {
			return "", err
		}
		if progress != nil {
			progress(runtime.ProgressEvent{ID: diff.Hex[:12], Status: "Pull complete", Current: size, Total: size})
		}
	}
	if err := writeJSON(e.imagePath(rec.ID), rec); err != nil {
		return "", err
	}
	return rec.ID, nil
}

// unpack extracts a layer into ROOT/layers/<diffid>, turning OCI whiteouts
// into overlayfs ones. Every name is resolved beneath the layer's
// directory (see internal/extract): a layer is someone else's input, and
// this runs as root.
func (e *Engine) unpack(ctx context.Context, l v1.Layer, diffID string) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tmp, err := os.MkdirTemp(filepath.Join(e.root, "tmp"), "layer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "root")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	if err := extract.Tar(ctx, dir, rc, extract.Options{Overlay: true}); err != nil {
		return fmt.Errorf("unpacking layer %s: %w", diffID, err)
	}
	if err := os.Rename(dir, e.layerPath(diffID)); err != nil && !errors.Is(err, os.ErrExist) {
		// Another process unpacked it meanwhile: theirs is as good.
		if _, serr := os.Stat(e.layerPath(diffID)); serr != nil {
			return err
		}
	}
	return nil
}

// RemoveImage removes a reference. An image a machine uses stays
// (ErrConflict); an image without references goes with the layers no
// other image has.
func (e *Engine) RemoveImage(ctx context.Context, ref string) error {
	rec, err := e.resolve(ref)
	if err != nil {
		return fmt.Errorf("removing image %q: %w", ref, err)
	}
	unlock, err := e.lock()
	if err != nil {
		return err
	}
	defer unlock()
	ms, err := e.machines()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.ImageID == rec.ID {
			return fmt.Errorf("removing image %q: %w: machine %s uses it", ref, runtime.ErrConflict, m.Spec.Name)
		}
	}
	tags, err := e.tags()
	if err != nil {
		return err
	}
	removed := false
	for t, id := range tags {
		if id == rec.ID && (t == ref || canonical(t) == canonical(ref)) {
			delete(tags, t)
			removed = true
		}
	}
	if !removed && ref != rec.ID && !strings.HasPrefix(rec.ID, "sha256:"+hexOf(ref)) {
		return fmt.Errorf("removing image %q: %w", ref, runtime.ErrNotFound)
	}
	if !removed {
		// Removal by ID takes every tag.
		for t, id := range tags {
			if id == rec.ID {
				delete(tags, t)
			}
		}
	}
	if err := e.saveTags(tags); err != nil {
		return fmt.Errorf("removing image %q: %w", ref, err)
	}
	return e.gc()
}

// gc removes images that no tag names and no machine uses, then layers no
// image has. The caller holds the lock.
func (e *Engine) gc() error {
	tags, err := e.tags()
	if err != nil {
		return err
	}
	ms, err := e.machines()
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, id := range tags {
		keep[id] = true
	}
	for _, m := range ms {
		keep[m.ImageID] = true
	}
	layers := map[string]bool{}
	ents, err := os.ReadDir(filepath.Join(e.root, "images"))
	if err != nil {
		return err
	}
	for _, en := range ents {
		if !strings.HasSuffix(en.Name(), ".json") {
			continue
		}
		id := "sha256:" + strings.TrimSuffix(en.Name(), ".json")
		if !keep[id] {
			if err := os.Remove(filepath.Join(e.root, "images", en.Name())); err != nil {
				return err
			}
			continue
		}
		var rec imageRecord
		if err := readJSON(e.imagePath(id), &rec); err != nil {
			return err
		}
		for _, l := range rec.Layers {
			layers[hexOf(l)] = true
		}
	}
	lents, err := os.ReadDir(filepath.Join(e.root, "layers"))
	if err != nil {
		return err
	}
	for _, en := range lents {
		if !layers[en.Name()] {
			if err := os.RemoveAll(filepath.Join(e.root, "layers", en.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
