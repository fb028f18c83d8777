package compose

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/kits"
)

func fixedSecret(name string) (string, error) { return "s3cret $" + name + " 'x'", nil }

// TestRoundTripSeed: import(export(seed)) compiles to the seed's desired
// state: the same containers with the same specs (and so config hashes),
// addresses, health checks, GPU requests and dependencies.
func TestRoundTripSeed(t *testing.T) {
	dir := t.TempDir()
	seed, err := config.Parse("berth.yaml", kits.Seed(), config.ParseOptions{DefaultProject: "x"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := desired.Compile(seed, desired.Options{Secret: fixedSecret})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := Export(seed, want, ExportOptions{SecretsDir: filepath.Join(dir, "secrets")})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range ex.SecretFiles {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("secret file %s: %v, mode %v; want 0600", f, err, fi.Mode())
		}
	}
	if strings.Contains(string(ex.YAML), "s3cret") {
		t.Errorf("a secret value is in the compose file")
	}
	composeFile := filepath.Join(dir, "compose.yaml")
	os.WriteFile(composeFile, ex.YAML, 0o644)
	res, err := Import(t.Context(), ImportOptions{Files: []string{composeFile}, Config: filepath.Join(dir, "berth.yaml")})
	if err != nil {
		if res != nil {
			t.Logf("imported:\n%s", res.YAML)
		}
		t.Fatal(err)
	}
	got, err := desired.Compile(res.Config, desired.Options{Secret: fixedSecret})
	if err != nil {
		t.Fatal(err)
	}
	compareStates(t, want, got)
	if t.Failed() {
		t.Logf("compose:\n%s\nimported:\n%s", ex.YAML, res.YAML)
	}
}

func compareStates(t *testing.T, want, got *desired.State) {
	t.Helper()
	if want.Project != got.Project {
		t.Errorf("project = %s, want %s", got.Project, want.Project)
	}
	if !reflect.DeepEqual(want.Networks, got.Networks) {
		t.Errorf("networks differ:\n got %+v\nwant %+v", got.Networks, want.Networks)
	}
	if len(want.Containers) != len(got.Containers) {
		t.Fatalf("%d containers, want %d:\n%s\nwant\n%s", len(got.Containers), len(want.Containers), got, want)
	}
	for i := range want.Containers {
		w, g := want.Containers[i], got.Containers[i]
		// Which generated secrets a container has is the catalog's business;
		// after a round trip the values come from an env file instead.
		w.Secrets, g.Secrets = nil, nil
		// Data path options name the option that set them (a catalog path
		// or a mount); the paths themselves must match.
		w.DataPaths, g.DataPaths = stripOptions(w.DataPaths), stripOptions(g.DataPaths)
		if d := cmp.Diff(w, g, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); d != "" {
			t.Errorf("container %s differs (-want +got):\n%s", w.Spec.Name, d)
		}
	}
}

func stripOptions(ds []desired.DataPath) []desired.DataPath {
	var out []desired.DataPath
	for _, d := range ds {
		d.Option = ""
		out = append(out, d)
	}
	return out
}
