package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1"

	"github.com/voidnxlabs/berth/image/deb"
	"github.com/voidnxlabs/berth/internal/atomicfile"
)

// layerFormat names the way package layers are written. It is part of
// every layer cache key: a change to how a layer is made must change it,
// or a warm build would reuse layers a cold build no longer makes.
const layerFormat = "berth-package-layer-v1"

// layerCache keeps, per package and filter, what unpacking the package
// told the builder and the compressed layer made of it alone, so that a
// warm build neither decompresses the .deb nor compresses the layer again.
type layerCache struct {
	dir string
}

// pkgMeta is what the builder needs of a package besides its files.
type pkgMeta struct {
	Name     string            `json:"name"`
	Control  string            `json:"control"`
	MD5Sums  string            `json:"md5sums,omitempty"`
	Postinst string            `json:"postinst,omitempty"`
	Size     int64             `json:"size"`
	Newest   time.Time         `json:"newest"`
	Paths    []string          `json:"paths"`
	CACerts  map[string][]byte `json:"caCerts,omitempty"`
	// Layer, once made: the package alone in a layer.
	Digest string `json:"digest,omitempty"`
	DiffID string `json:"diffID,omitempty"`
}

func (c *layerCache) key(lp LockedPackage, flt *filter) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n", layerFormat, lp.SHA256, strings.Join(flt.drop, "\x00"), strings.Join(flt.keep, "\x00"))
	return hex.EncodeToString(h.Sum(nil))
}

func (c *layerCache) path(key, ext string) string {
	return filepath.Join(c.dir, "layers", key[:2], key+ext)
}

func (c *layerCache) meta(key string) *pkgMeta {
	if c == nil {
		return nil
	}
	b, err := os.ReadFile(c.path(key, ".json"))
	if err != nil {
		return nil
	}
	var m pkgMeta
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return &m
}

func (c *layerCache) putMeta(key string, m *pkgMeta) {
	if c == nil {
		return
	}
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	// The cache is an optimisation: a failure to write it is not an error
	// of the build.
	_ = writeAtomic(c.path(key, ".json"), b)
}

// layer returns the cached layer of a package, checked against the
// digest recorded when it was made.
func (c *layerCache) layer(key string, m *pkgMeta) *blobLayer {
	if c == nil || m == nil || m.Digest == "" {
		return nil
	}
	b, err := os.ReadFile(c.path(key, ".tar.gz"))
	if err != nil {
		return nil
	}
	l := &blobLayer{compressed: b, digest: sha(b)}
	if l.digest.String() != m.Digest {
		return nil
	}
	diff, err := v1.NewHash(m.DiffID)
	if err != nil {
		return nil
	}
	l.diffID = diff
	return l
}

func (c *layerCache) putLayer(key string, m *pkgMeta, l *blobLayer) {
	if c == nil {
		return
	}
	if writeAtomic(c.path(key, ".tar.gz"), l.compressed) != nil {
		return
	}
	m.Digest, m.DiffID = l.digest.String(), l.diffID.String()
	c.putMeta(key, m)
}

// writeAtomic writes a cache entry whole or not at all, so that a build
// killed midway leaves no half entry for the next one to trust.
func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o600)
}

// metaOf records an unpacked package.
func metaOf(u *unpacked) *pkgMeta {
	return &pkgMeta{Name: u.name, Control: string(u.control), MD5Sums: string(u.md5sums), Postinst: u.postinst,
		Size: u.size, Newest: u.newest, Paths: u.paths, CACerts: u.caCerts}
}

// fromMeta restores a package's metadata without its files; load fills
// them in if a layer has to be made after all.
func fromMeta(m *pkgMeta, file string, lp LockedPackage, flt *filter) (*unpacked, error) {
	paras, err := deb.ParseParagraphs(m.Control)
	if err != nil || len(paras) == 0 {
		return nil, fmt.Errorf("cached control of %s: %v", m.Name, err)
	}
	pk, err := deb.PackageFromParagraph(paras[0])
	if err != nil {
		return nil, err
	}
	return &unpacked{name: m.Name, depends: pk.Depends, provides: pk.Provides, control: []byte(m.Control), md5sums: []byte(m.MD5Sums),
		postinst: m.Postinst, size: m.Size, newest: m.Newest, paths: m.Paths, caCerts: m.CACerts, file: file, lp: lp, flt: flt}, nil
}
