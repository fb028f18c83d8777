package cluster_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/cluster"
	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/kits"
)

func seedConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Parse("berth.yaml", kits.Seed(), config.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// compile is the desired state Render takes, without secrets (as the CLI
// compiles it).
func compile(t testing.TB, cfg *config.Config) *desired.State {
	t.Helper()
	st, err := desired.Compile(cfg, desired.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// golden compares got with testdata/name; BERTH_UPDATE=1 rewrites it.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if os.Getenv("BERTH_UPDATE") != "" {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (BERTH_UPDATE=1 writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (BERTH_UPDATE=1 rewrites it); got:\n%s", p, got)
	}
}

func TestRenderSeed(t *testing.T) {
	for _, kit := range []string{"ml", "dev"} {
		t.Run(kit, func(t *testing.T) {
			cfg := seedConfig(t)
			only := map[string]bool{}
			for _, s := range cfg.Kit(kit).Services {
				only[s.Container] = true
			}
			m, err := cluster.Render(compile(t, cfg), cluster.Options{Only: only})
			if err != nil {
				t.Fatal(err)
			}
			y, err := m.YAML()
			if err != nil {
				t.Fatal(err)
			}
			var notes string
			for _, n := range m.Notes {
				notes += "# note: " + n + "\n"
			}
			golden(t, "seed-"+kit+".yaml", append([]byte(notes), y...))
		})
	}
}

func TestRenderDeterministic(t *testing.T) {
	cfg := seedConfig(t)
	var first []byte
	for i := range 5 {
		m, err := cluster.Render(compile(t, cfg), cluster.Options{})
		if err != nil {
			t.Fatal(err)
		}
		y, err := m.YAML()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = y
		} else if !bytes.Equal(first, y) {
			t.Fatal("two renders of the same config differ")
		}
	}
}

func TestRenderSecretsAndURLs(t *testing.T) {
	cfg := seedConfig(t)
	m, err := cluster.Render(compile(t, cfg), cluster.Options{Secret: func(name string) (string, error) { return "s3cret-" + name, nil }})
	if err != nil {
		t.Fatal(err)
	}
	y, _ := m.YAML()
	s := string(y)
	if !strings.Contains(s, "value: s3cret-postgres-password") {
		t.Error("the postgres password is not in its Secret")
	}
	if strings.Contains(s, "192.168.") {
		t.Error("a container address leaked into the cluster objects (pods have no fixed addresses)")
	}
	if !strings.Contains(s, "value: http://ml-ollama:11434") {
		t.Error("chat-ui's OLLAMA_BASE_URL does not name the ml-ollama Service")
	}
}

func TestWriteDir(t *testing.T) {
	m, err := cluster.Render(compile(t, seedConfig(t)), cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	paths, err := m.WriteDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != len(m.Objects) {
		t.Fatalf("wrote %d files for %d objects", len(paths), len(m.Objects))
	}
	if filepath.Base(paths[0]) != "00-namespace-kernelcore.yaml" {
		t.Errorf("first file %s, want the namespace", paths[0])
	}
	for i, p := range paths {
		if m.Objects[i].Kind() == "Secret" {
			fi, _ := os.Stat(p)
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", p, fi.Mode().Perm())
			}
		}
	}
}

// BenchmarkRenderSeed measures `berth cluster render` of the seed: loading
// the config, compiling and rendering both kits, and encoding the YAML.
func BenchmarkRenderSeed(b *testing.B) {
	data := kits.Seed()
	for b.Loop() {
		cfg, err := config.Parse("berth.yaml", data, config.ParseOptions{})
		if err != nil {
			b.Fatal(err)
		}
		m, err := cluster.Render(compile(b, cfg), cluster.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.YAML(); err != nil {
			b.Fatal(err)
		}
	}
}

// A partial render (cluster apply TARGET) must not narrow the kit's
// NetworkPolicy to the selected services.
func TestRenderOnlyKeepsKitPolicy(t *testing.T) {
	cfg := seedConfig(t)
	policy := func(only map[string]bool) string {
		m, err := cluster.Render(compile(t, cfg), cluster.Options{Only: only})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range m.Objects {
			if o.Ref() == "NetworkPolicy/ml-network" {
				y, _ := o.YAML()
				return string(y)
			}
		}
		t.Fatal("no NetworkPolicy/ml-network")
		return ""
	}
	if full, one := policy(nil), policy(map[string]bool{"ml-ollama": true}); full != one {
		t.Errorf("ml-network rendered for ml-ollama alone differs from the full render:\n%s\nvs\n%s", one, full)
	}
}

func TestRenderBadNames(t *testing.T) {
	cfg := seedConfig(t)
	if _, err := cluster.Render(compile(t, cfg), cluster.Options{Namespace: "My_NS"}); err == nil {
		t.Error("namespace My_NS was accepted")
	}
	// A container name over 63 characters no longer gets this far: the
	// config refuses it, for every runtime.
	long := strings.Repeat("x", 60)
	_, err := config.Parse("berth.yaml", []byte("project: p\nlab:\n  enable: true\n  network: { subnet: 192.168.220.0/24 }\n  "+long+": { image: busybox, port: 80 }\n"), config.ParseOptions{})
	if err == nil || !strings.Contains(err.Error(), "container name is 64 characters long") {
		t.Errorf("a 64-character container name: %v", err)
	}
}
