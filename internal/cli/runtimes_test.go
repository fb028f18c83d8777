package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/internal/cli"
	"github.com/voidnxlabs/berth/internal/fixture"
	"github.com/voidnxlabs/berth/runtime/nspawn"
	"github.com/voidnxlabs/berth/runtime/runtimetest"
)

// TestNspawnCLI runs the daily commands against nspawn machines: up,
// status, logs, exec, stop, start, plan, systemd generate, down. The
// fixture is loaded through the engine, as `berth up` would load a built
// image; nothing else reaches the machines.
func TestNspawnCLI(t *testing.T) {
	root := filepath.Join(t.TempDir(), "nspawn")
	e, err := nspawn.New(t.Context(), nspawn.Options{Root: root})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no nspawn engine: %v", err)
		}
		t.Skipf("no nspawn engine: %v", err)
	}
	const ref = "berth-fixture:nspawn-cli"
	fixture.LoadAs(t, e, fixture.Image(t, ""), ref)
	t.Setenv("BERTH_NSPAWN_ROOT", root)
	t.Setenv("BERTH_CONFIG", "")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "berth.yaml")
	data := strings.ReplaceAll(`project: nspcli
nsp:
  network: { subnet: 10.215.202.0/24 }
  web:
    image: REF
    port: 8080
    env: { FIXTURE_STDOUT: "web says hello" }
    health: { http: /health }
    mounts: ["DIR/data:/data"]
  api:
    image: REF
    port: 8080
    health: { http: /health }
    dependsOn: { web: healthy }
`, "REF", ref)
	data = strings.ReplaceAll(data, "DIR", dir)
	if err := os.WriteFile(cfg, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	berth := func(want int, args ...string) (string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		args = append([]string{"--file", cfg, "--state-dir", filepath.Join(dir, "state"), "--runtime", "nspawn"}, args...)
		if code := cli.Main(args, strings.NewReader(""), &out, &errb); code != want {
			t.Fatalf("berth %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args[6:], " "), code, want, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}
	t.Cleanup(func() { berth(0, "down") })

	_, stderr := berth(0, "up", "--wait")
	if !strings.Contains(stderr, "create container nsp-web at 10.215.202.12") {
		t.Errorf("up:\n%s", stderr)
	}
	berth(0, "plan")
	out, _ := berth(0, "status", "--json")
	if strings.Count(out, `"state": "running"`) != 2 {
		t.Errorf("status:\n%s", out)
	}
	var logs string
	runtimetest.Eventually(t, 10e9, "the machine's output in its logs", func() bool {
		logs, _ = berth(0, "logs", "nsp-web")
		return strings.Contains(logs, "web says hello")
	})
	out, _ = berth(0, "exec", "nsp-web", "--", fixture.Binary, "-stdout", "from exec", "-exit", "0")
	if out != "from exec\n" {
		t.Errorf("exec: %q", out)
	}
	berth(1, "exec", "nsp-web", "--", fixture.Binary, "-stat", "/nonexistent")
	berth(0, "exec", "nsp-web", "--", fixture.Binary, "-stat", "/data")

	berth(0, "stop", "nsp/web")
	out, _ = berth(0, "status", "nsp-web", "--json")
	if !strings.Contains(out, `"state": "exited"`) {
		t.Errorf("after stop:\n%s", out)
	}
	berth(2, "plan")
	berth(0, "start", "nsp-web", "--wait")
	berth(0, "plan")

	out, _ = berth(0, "systemd", "generate")
	if !strings.Contains(out, "--runtime nspawn start --wait nsp-web\n") || !strings.Contains(out, "Environment=BERTH_STATE_DIR="+filepath.Join(dir, "state")+"\n") {
		t.Errorf("systemd generate:\n%s", out)
	}

	// A reboot: everything stopped; each unit's ExecStart, in dependency
	// order, brings its machine back.
	berth(0, "stop", "nsp")
	units := filepath.Join(dir, "units")
	berth(0, "systemd", "generate", "-o", units)
	for _, name := range []string{"nsp-web", "nsp-api"} {
		data, err := os.ReadFile(filepath.Join(units, "berth-"+name+".service"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if kv, ok := strings.CutPrefix(line, "Environment="); ok {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			cmdline, ok := strings.CutPrefix(line, "ExecStart=")
			if !ok {
				continue
			}
			args := strings.Fields(cmdline)[1:] // the berth binary is this test
			var o, e bytes.Buffer
			if code := cli.Main(args, strings.NewReader(""), &o, &e); code != 0 {
				t.Fatalf("%s: %s: exit %d\n%s", name, cmdline, code, e.String())
			}
		}
	}
	out, _ = berth(0, "status", "--json")
	if strings.Count(out, `"state": "running"`) != 2 {
		t.Errorf("after the units' starts:\n%s", out)
	}
	berth(0, "plan")

	berth(0, "down")
	out, _ = berth(0, "status", "--json")
	if strings.Contains(out, `"state": "running"`) {
		t.Errorf("after down:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		t.Errorf("data after down: %v", err)
	}
}
