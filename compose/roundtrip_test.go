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
	// Secrets in the environment (offline) and as *_FILE mounts of
	// berth's secret files (as berth up compiles them).
	t.Run("env", func(t *testing.T) { roundTripSeed(t, desired.Options{Secret: fixedSecret}) })
	t.Run("files", func(t *testing.T) {
		dir := t.TempDir()
		roundTripSeed(t, desired.Options{Secret: fixedSecret, SecretFile: func(name string, uid, gid int) (string, error) {
			return filepath.Join(dir, name), nil
		}})
	})
}

func roundTripSeed(t *testing.T, copts desired.Options) {
	dir := t.TempDir()
	seed, err := config.Parse("berth.yaml", kits.Seed(), config.ParseOptions{DefaultProject: "x"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := desired.Compile(seed, copts)
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
	got, err := desired.Compile(res.Config, copts)
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

// TestRoundTripRich: the same for a config with what the seed lacks:
// named volumes, exec and host-side health checks, a dependency on a
// host-checked service, GPUs by UUID and optional, limits, labels, an
// envFile, '$' in values, a second kit reached through connect.
func TestRoundTripRich(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.env"), []byte("TOKEN='a $b'\n"), 0o600)
	src := `project: rich
volumesPath: ` + dir + `/vols
publishAddress: 127.0.0.1
lab:
  network: {subnet: 10.77.1.0/24, host: 10.77.1.1}
  api:
    image: example/api:1
    ip: 10.77.1.20
    port: 8080
    ports: [9090]
    publish: ["127.0.0.1:18080:8080"]
    command: [serve, --price, "$$5"]
    entrypoint: [/bin/app]
    user: "1000:1000"
    workdir: /srv
    env: {MODE: prod, GREETING: "hi $${USER}"}
    envFile: [app.env]
    mounts: [models:/models, "` + dir + `/conf:/conf:ro"]
    resources: {memory: 512m, cpus: 1.5, shmSize: 128m, pids: 200}
    health: {exec: "wget -qO- localhost:8080/health || exit 1", interval: 3s, retries: 2}
    labels: {team: ml, cost: "$$0"}
    restart: always
  web:
    image: example/web:1
    port: 3000
    health: {http: /ready, startPeriod: 30s}
    dependsOn: {api: healthy}
    connect: [gpu]
  gpuw:
    image: example/gpu:1
    gpu: {devices: [GPU-0a1b2c3d-0000-1111-2222-333344445555], capabilities: [gpu, compute]}
    dependsOn: {web: healthy}
gpu:
  network: {subnet: 10.77.2.0/24}
  trainer:
    image: example/train:1
    gpu: {devices: 2, optional: true}
    restart: "no"
    dependsOn: [lab/api]
`
	cfgFile := filepath.Join(dir, "in.yaml")
	os.WriteFile(cfgFile, []byte(src), 0o644)
	cfg, err := config.Parse(cfgFile, []byte(src), config.ParseOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	want, err := desired.Compile(cfg, desired.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := Export(cfg, want, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	composeFile := filepath.Join(dir, "compose.yaml")
	os.WriteFile(composeFile, ex.YAML, 0o644)
	res, err := Import(t.Context(), ImportOptions{Files: []string{composeFile}, Config: filepath.Join(dir, "berth.yaml")})
	if err != nil {
		if res != nil {
			t.Logf("imported:\n%s", res.YAML)
		}
		t.Fatalf("%v\ncompose:\n%s", err, ex.YAML)
	}
	got, err := desired.Compile(res.Config, desired.Options{})
	if err != nil {
		t.Fatal(err)
	}
	compareStates(t, want, got)
	if t.Failed() {
		t.Logf("compose:\n%s\nimported:\n%s", ex.YAML, res.YAML)
	}
	for _, n := range []string{"lab-web: berth's http health check runs from the host", "lab-gpuw: waits for lab-web to start, not to be healthy"} {
		if !strings.Contains(strings.Join(ex.Notes, "\n"), n) {
			t.Errorf("export notes %q lack %q", ex.Notes, n)
		}
	}
}
