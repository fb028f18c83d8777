package volume_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/fake"
	"github.com/voidnxlabs/berth/volume"
)

func load(t *testing.T, dir string) *config.Config {
	t.Helper()
	src := "project: vt\nvolumesPath: " + dir + "\nlab:\n  network: {subnet: 192.168.221.0/24}\n  a: {image: x, mounts: [models:/m, /srv/x:/x]}\n  b: {image: x, mounts: ['models:/m:ro', cache:/c]}\n"
	cfg, err := config.Parse("berth.yaml", []byte(src), config.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestListAndRemove(t *testing.T) {
	dir := t.TempDir()
	cfg := load(t, dir)
	os.MkdirAll(filepath.Join(dir, "vt", "models", "sub"), 0o755)
	os.MkdirAll(filepath.Join(dir, "vt", "old"), 0o755)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "keep"), []byte("x"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "vt", "models", "link"))

	vs, err := volume.List(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]volume.Volume{}
	for _, v := range vs {
		got[v.Name] = v
	}
	if len(vs) != 3 || !got["models"].Exists || len(got["models"].UsedBy) != 2 || got["cache"].Exists || got["old"].InConfig {
		t.Errorf("list = %+v", vs)
	}

	e := fake.New()
	e.AddImage("x", "sha256:1")
	ctx := t.Context()
	id, err := e.CreateContainer(ctx, runtime.ContainerSpec{Name: "lab-a", Image: "x", Labels: map[string]string{runtime.LabelProject: "vt"},
		Mounts: []runtime.Mount{{Source: filepath.Join(dir, "vt", "models"), Target: "/m"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := volume.Remove(ctx, cfg, e, "models"); !errors.Is(err, volume.ErrInUse) {
		t.Errorf("remove of a mounted volume: %v, want ErrInUse", err)
	}
	e.RemoveContainer(ctx, id)
	if err := volume.Remove(ctx, cfg, e, "models"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "vt", "models")); !os.IsNotExist(err) {
		t.Errorf("models still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Errorf("a file behind a link inside the volume was removed: %v", err)
	}
	for _, bad := range []string{"../vt", "missing", ""} {
		if err := volume.Remove(ctx, cfg, e, bad); !errors.Is(err, volume.ErrUnknown) {
			t.Errorf("remove %q: %v, want ErrUnknown", bad, err)
		}
	}
}
