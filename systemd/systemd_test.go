package systemd_test

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/plan/plantest"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/systemd"
)

// state is two kits where chat-ui waits for ollama to be healthy and
// joins the ml network, with ports, data, GPUs and limits to render.
func state() desired.State {
	st := plantest.State("kernelcore",
		plantest.Kit{Name: "ml", Subnet: "192.168.200.0/24", Services: []plantest.Service{
			{Name: "ollama", Image: "berth/ollama:0.17.4", IP: 11, Port: 11434, Health: true, Data: []string{"/var/lib/ollama/models"}, Publish: 11434, Memory: 8 << 30},
			{Name: "jupyter", Image: "berth/python-ml:1", IP: 12, Port: 8888, Cmd: []string{"jupyter", "notebook", "--ip=0.0.0.0"}, Env: []string{"TOKEN=a b$c"}},
		}},
		plantest.Kit{Name: "dev", Subnet: "192.168.210.0/24", Services: []plantest.Service{
			{Name: "chat-ui", Image: "berth/chat-ui:1", IP: 12, Port: 3000, Connect: []string{"ml"}, DependsOn: []desired.Dependency{
				{Name: "ml-ollama", Condition: desired.ConditionHealthy},
			}},
		}},
	)
	for i := range st.Containers {
		c := &st.Containers[i]
		if c.Spec.Name == "ml-ollama" {
			c.Spec.GPUs = []runtime.GPURequest{{Driver: "cdi", DeviceIDs: []string{"nvidia.com/gpu=all"}}}
			c.Spec.Ulimits = []runtime.Ulimit{{Name: "memlock", Soft: -1, Hard: -1}}
			c.Spec.Init = true
		}
		if c.Spec.Name == "ml-jupyter" {
			c.Spec.Ports = []runtime.Port{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8888, ContainerPort: 8888, Protocol: "tcp"}}
		}
	}
	return st
}

func TestGenerate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts systemd.Options
	}{
		{"docker", systemd.Options{Runtime: "docker"}},
		{"podman", systemd.Options{Runtime: "podman"}},
		{"quadlet", systemd.Options{Runtime: "podman", Quadlet: true}},
		{"nspawn", systemd.Options{Runtime: "nspawn", Config: "/etc/berth/berth.yaml", StateDir: "/var/lib/berth"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := systemd.Generate(state(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, f := range files {
				b.WriteString("-- " + f.Name + " --\n" + f.Text)
			}
			golden(t, filepath.Join("testdata", tc.name+".golden"), b.String())
		})
	}
}

func TestGenerateErrors(t *testing.T) {
	st := state()
	for _, tc := range []struct {
		opts systemd.Options
		st   desired.State
		want string
	}{
		{systemd.Options{Runtime: "kubernetes"}, st, `runtime "kubernetes"`},
		{systemd.Options{Runtime: "docker", Quadlet: true}, st, "quadlet files are for podman"},
		{systemd.Options{Runtime: "nspawn"}, st, "absolute path of berth.yaml"},
		{systemd.Options{Runtime: "docker"}, desired.State{Project: "p", Containers: st.Containers[:1]}, "depends on ml-ollama, which is not in the selection"},
	} {
		_, err := systemd.Generate(tc.st, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Generate(%+v) = %v, want an error with %q", tc.opts, err, tc.want)
		}
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if os.Getenv("BERTH_UPDATE") != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (BERTH_UPDATE=1 writes it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (BERTH_UPDATE=1 rewrites it):\n%s", path, got)
	}
}

// TestVerify checks the units with systemd's own parser: unknown keys,
// bad dependencies and commands that are not executable fail it.
func TestVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no systemd-analyze (scripts/ci-podman.sh installs systemd-container): %v", err)
		}
		t.Skip("no systemd-analyze")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	// The engine's path must be executable for verify; any program is.
	for _, rt := range []string{"docker", "podman", "nspawn"} {
		t.Run(rt, func(t *testing.T) {
			files, err := systemd.Generate(state(), systemd.Options{Runtime: rt, Engine: sh, Config: "/etc/berth/berth.yaml"})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			var paths []string
			for _, f := range files {
				p := filepath.Join(dir, f.Name)
				if err := os.WriteFile(p, []byte(f.Text), 0o644); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, p)
			}
			cmd := exec.Command(analyze, append([]string{"verify"}, paths...)...)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("systemd-analyze verify: %v\n%s", err, out)
			}
		})
	}
}
