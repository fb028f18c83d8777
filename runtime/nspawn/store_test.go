package nspawn_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/voidnxlabs/berth/internal/extract"
	"github.com/voidnxlabs/berth/runtime/nspawn"
)

// TestLoadHostileLayer loads the layers of issue 14, row 1 into a store of
// its own: a setuid file through a symlinked parent, a regular file over a
// symlink to a host file, a hard link to a host file through a symlink
// followed by a chmod. Each load fails and the host files stay as they
// were.
func TestLoadHostileLayer(t *testing.T) {
	engine(t) // skips or fails as the other engine tests do
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	os.Mkdir(outside, 0o755)
	victim := filepath.Join(outside, "victim")
	os.WriteFile(victim, []byte("host"), 0o600)
	e, err := nspawn.New(t.Context(), nspawn.Options{Root: filepath.Join(dir, "store")})
	if err != nil {
		t.Fatal(err)
	}
	layers := map[string][]*tar.Header{
		"setuid through a symlink": {
			{Name: "a", Typeflag: tar.TypeSymlink, Linkname: outside},
			{Name: "a/pwned", Typeflag: tar.TypeReg, Mode: 0o4755},
		},
		"file over a symlink": {
			{Name: "b", Typeflag: tar.TypeSymlink, Linkname: victim},
			{Name: "b", Typeflag: tar.TypeReg, Mode: 0o4777},
			{Name: "c", Typeflag: tar.TypeLink, Linkname: "../outside/victim", Mode: 0o4777},
		},
		"hard link through a symlink": {
			{Name: "a", Typeflag: tar.TypeSymlink, Linkname: outside},
			{Name: "h", Typeflag: tar.TypeLink, Linkname: "a/victim", Mode: 0o4777, Uid: 1234},
		},
	}
	for what, hs := range layers {
		t.Run(what, func(t *testing.T) {
			var lt bytes.Buffer
			tw := tar.NewWriter(&lt)
			for _, h := range hs {
				tw.WriteHeader(h)
			}
			tw.Close()
			layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(lt.Bytes())), nil })
			if err != nil {
				t.Fatal(err)
			}
			img, err := mutate.AppendLayers(empty.Image, layer)
			if err != nil {
				t.Fatal(err)
			}
			var it bytes.Buffer
			if err := tarball.Write(name.MustParseReference("berth-test/hostile:1"), img, &it); err != nil {
				t.Fatal(err)
			}
			_, err = e.LoadImage(t.Context(), &it)
			if !errors.Is(err, extract.ErrOutside) {
				t.Errorf("LoadImage: %v, want a refusal", err)
			}
			ents, _ := os.ReadDir(outside)
			fi, _ := os.Stat(victim)
			data, _ := os.ReadFile(victim)
			if len(ents) != 1 || string(data) != "host" || fi.Mode() != 0o600 {
				t.Errorf("outside changed: %d entries, victim %q %v", len(ents), data, fi.Mode())
			}
		})
	}
}
