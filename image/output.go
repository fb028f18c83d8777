package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/voidnxlabs/berth/internal/extract"
)

// WriteTarball writes img as one tar stream that is both an OCI image
// layout (oci-layout, index.json, blobs/sha256/…) and a "docker save"
// archive (manifest.json pointing into the same blobs), so that OCI tools
// and every docker load, old or new, accept it. Entries are sorted and
// carry fixed times, so the same image gives the same bytes.
func WriteTarball(w io.Writer, img v1.Image, ref string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("writing image: %w", err)
	}
	blobs := map[string][]byte{}
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	md, _ := img.Digest()
	cd, _ := img.ConfigName()
	blobs[md.Hex] = manifest
	blobs[cd.Hex] = cfg
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	var layerPaths []string
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		blobs[d.Hex] = b
		layerPaths = append(layerPaths, "blobs/sha256/"+d.Hex)
	}
	mt, _ := img.MediaType()
	index := map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIImageIndex,
		"manifests": []map[string]any{{
			"mediaType": mt,
			"digest":    md.String(),
			"size":      len(manifest),
			"annotations": map[string]string{
				"io.containerd.image.name":          tag.Name(),
				"org.opencontainers.image.ref.name": tag.TagStr(),
			},
		}},
	}
	indexJSON, _ := json.Marshal(index)
	dockerJSON, _ := json.Marshal([]map[string]any{{
		"Config":   "blobs/sha256/" + cd.Hex,
		"RepoTags": []string{tag.Name()},
		"Layers":   layerPaths,
	}})
	files := map[string][]byte{
		"oci-layout":    []byte(`{"imageLayoutVersion":"1.0.0"}`),
		"index.json":    indexJSON,
		"manifest.json": dockerJSON,
	}
	for h, b := range blobs {
		files["blobs/sha256/"+h] = b
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	// The archive is a container for the image, not part of it; a fixed
	// time keeps its bytes stable too.
	t := time.Unix(0, 0)
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: t}); err != nil {
			return err
		}
	}
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(files[n])), ModTime: t}); err != nil {
			return err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return err
		}
	}
	return tw.Close()
}

// WriteTarballFile writes the tarball to path atomically. The file is
// 0600 and a directory it makes 0700: an image can hold what its recipe's
// files do, and its owner decides whom to give it.
func WriteTarballFile(path string, img v1.Image, ref string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("writing image: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing image: %w", err)
	}
	tmp := f.Name()
	if err := WriteTarball(f, img, ref); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing image: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing image: %w", err)
	}
	return os.Rename(tmp, path)
}

// ReadTarball reads an image back from a tarball written by WriteTarball.
func ReadTarball(path string) (v1.Image, error) {
	dir, err := os.MkdirTemp("", "berth-oci-")
	if err != nil {
		return nil, err
	}
	// The layout is read lazily by go-containerregistry, so the blobs are
	// read into memory before the directory goes.
	defer os.RemoveAll(dir)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading image: %w", err)
	}
	defer f.Close()
	// Only directories and regular files, beneath dir: a symlink in the
	// archive (blobs/sha256/x -> /etc/shadow) would make the layout read
	// a host file as a blob.
	t, err := extract.Open(dir, extract.Options{})
	if err != nil {
		return nil, err
	}
	defer t.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading image %s: %w", path, err)
		}
		name, err := extract.Clean(h.Name)
		if err != nil {
			return nil, fmt.Errorf("reading image %s: %w", path, err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = t.Mkdir(name)
		case tar.TypeReg:
			_, err = t.WriteFile(name, tr, nil)
		default:
			err = fmt.Errorf("entry %q is neither a file nor a directory", h.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("reading image %s: %w", path, err)
		}
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", path, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", path, err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) == 0 {
		return nil, fmt.Errorf("reading image %s: empty index", path)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", path, err)
	}
	return inMemory(img)
}

// inMemory copies an image's blobs so that it outlives its source.
func inMemory(img v1.Image) (v1.Image, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	var ls []*blobLayer
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		d, _ := l.Digest()
		diff, _ := l.DiffID()
		ls = append(ls, &blobLayer{compressed: b, digest: d, diffID: diff})
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	man, err := img.RawManifest()
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&memImage{manifest: man, config: cfg, layers: ls})
}

// Loader is the one engine call that load needs.
type Loader interface {
	LoadImage(ctx context.Context, tarball io.Reader) ([]string, error)
}

// Load loads img into the engine under ref.
func Load(ctx context.Context, eng Loader, img v1.Image, ref string) ([]string, error) {
	var buf bytes.Buffer
	if err := WriteTarball(&buf, img, ref); err != nil {
		return nil, err
	}
	tags, err := eng.LoadImage(ctx, &buf)
	if err != nil {
		return nil, err
	}
	return tags, nil
}

// Push uploads img to a registry under ref, with the credentials of the
// Docker config (or anonymously).
func Push(ctx context.Context, img v1.Image, ref string, opts ...remote.Option) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	opts = append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opts...)
	if err := remote.Write(r, img, opts...); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	return nil
}
