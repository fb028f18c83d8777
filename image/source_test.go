package image

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Issue 14, row 12: a recipe's files.source could be absolute or "../…",
// and a 0600 host file went into a 0644 layer.
func TestFileSourceBeneathRecipe(t *testing.T) {
	dir := t.TempDir()
	wd := filepath.Join(dir, "recipe")
	outside := filepath.Join(dir, "outside")
	os.MkdirAll(wd, 0o755)
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "hostkey"), []byte("host secret"), 0o644)
	os.WriteFile(filepath.Join(wd, "ok.conf"), []byte("ok"), 0o644)
	os.WriteFile(filepath.Join(wd, "key"), []byte("private"), 0o600)
	os.Symlink(filepath.Join(outside, "hostkey"), filepath.Join(wd, "abs-link"))
	os.Symlink("../outside/hostkey", filepath.Join(wd, "rel-link"))
	b, err := NewBuilder(Options{CacheDir: filepath.Join(dir, "cache"), WorkDir: wd, NoLayerCache: true})
	if err != nil {
		t.Fatal(err)
	}
	build := func(f File) (map[string]*tar.Header, error) {
		r := Recipe{Name: "src", Files: []File{f}, Entrypoint: []string{"/x"}}
		res, err := b.Build(t.Context(), r)
		if err != nil {
			return nil, err
		}
		hs := map[string]*tar.Header{}
		tr := tar.NewReader(mutate.Extract(res.Image))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return hs, nil
			}
			if err != nil {
				return nil, err
			}
			hs[h.Name] = h
		}
	}
	for _, src := range []string{"/etc/passwd", filepath.Join(outside, "hostkey"), "../outside/hostkey", "a/../../outside/hostkey", "abs-link", "rel-link"} {
		if _, err := build(File{Path: "/etc/x", Source: src, Mode: 0o644}); err == nil {
			t.Errorf("source %q: built", src)
		}
		r := Recipe{Name: "src", Files: []File{{Path: "/etc/x", Source: src}}}
		if strings.HasPrefix(src, "/") || strings.Contains(src, "..") {
			if err := r.Validate(); err == nil || !strings.Contains(err.Error(), "beneath the recipe's directory") {
				t.Errorf("validating source %q: %v", src, err)
			}
		}
	}
	if _, err := build(File{Path: "/etc/key", Source: "key"}); err == nil || !strings.Contains(err.Error(), `mode: "0600"`) {
		t.Errorf("a 0600 source without a mode: %v, want an error asking for the mode", err)
	}
	hs, err := build(File{Path: "/etc/key", Source: "key", Mode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	if h := hs["etc/key"]; h == nil || h.Mode&0o777 != 0o600 {
		t.Errorf("etc/key with mode 0600: %+v", h)
	}
	hs, err = build(File{Path: "/etc/ok.conf", Source: "ok.conf"})
	if err != nil {
		t.Fatal(err)
	}
	if h := hs["etc/ok.conf"]; h == nil || h.Mode&0o777 != 0o644 {
		t.Errorf("etc/ok.conf: %+v", h)
	}
}

// Image tarballs are written 0600 in a directory made 0700.
func TestTarballFileMode(t *testing.T) {
	dir := t.TempDir()
	b, err := NewBuilder(Options{CacheDir: filepath.Join(dir, "cache"), WorkDir: dir, NoLayerCache: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Build(t.Context(), Recipe{Name: "m", Files: []File{{Path: "/x", Content: "x"}}, Entrypoint: []string{"/x"}})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "out", "m.tar")
	if err := WriteTarballFile(p, res.Image, "berth.local/m:latest"); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]os.FileMode{p: 0o600, filepath.Dir(p): 0o700 | os.ModeDir} {
		if fi, err := os.Stat(f); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v, want %v", f, fi.Mode(), want)
		}
	}
	if _, err := ReadTarball(p); err != nil {
		t.Errorf("reading it back: %v", err)
	}
}
