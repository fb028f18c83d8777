package systemd_test

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/internal/golden"
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
			checkGolden(t, filepath.Join("testdata", tc.name+".golden"), b.String())
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

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	golden.Check(t, path, []byte(got))
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

// unquote reads a value quote wrote, as systemd and Quadlet do: double
// quotes with C escapes, and $$ and %% for $ and %.
func unquote(t *testing.T, s string) string {
	t.Helper()
	if !strings.HasPrefix(s, `"`) {
		return s
	}
	if !strings.HasSuffix(s, `"`) || len(s) < 2 {
		t.Fatalf("unterminated %q", s)
	}
	s = s[1 : len(s)-1]
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'x':
				v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
				b.WriteByte(byte(v))
				i += 2
			case 'u':
				v, _ := strconv.ParseUint(s[i+1:i+5], 16, 32)
				b.WriteRune(rune(v))
				i += 4
			default:
				b.WriteByte(s[i])
			}
		case (c == '$' || c == '%') && i+1 < len(s) && s[i+1] == c:
			b.WriteByte(c)
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// TestQuoteRoundTrips: whatever the string, quote's output is one line
// that reads back as the string (issue 14 row 7: a newline made a
// directive of its own).
func TestQuoteRoundTrips(t *testing.T) {
	for _, s := range []string{"", "plain", "a b", `q"uote`, `back\slash`, "$HOME", "100%", "nginx:1\n[Service]\nExecStartPre=/usr/bin/id",
		"tab\there", "esc\x1b[2J", "nul\x00", "del\x7f", "c1\u0085", "semi;colon", "it's"} {
		q := systemd.Quote(s)
		if strings.ContainsAny(q, "\n\r\x00") || strings.IndexFunc(q, unicode.IsControl) >= 0 {
			t.Errorf("quote(%q) = %q holds a control character", s, q)
		}
		if got := unquote(t, q); got != s {
			t.Errorf("quote(%q) = %q reads back as %q", s, q, got)
		}
	}
}

// TestGenerateRefusesControlCharacters: a spec from elsewhere than the
// config (a generation file, a library caller) is checked again.
func TestGenerateRefusesControlCharacters(t *testing.T) {
	st := state()
	st.Containers[0].Spec.Image = "nginx:1\n[Service]\nExecStartPre=/usr/bin/id"
	for _, q := range []bool{false, true} {
		if _, err := systemd.Generate(st, systemd.Options{Runtime: "podman", Quadlet: q}); err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("quadlet=%v: err = %v", q, err)
		}
	}
}

// TestQuadletSecrets: no secret value is written into a Quadlet file
// (issue 14 row 4). A secret read from a file is mounted from berth's
// file; one read from the environment becomes a Podman secret made from
// berth's 0600 file when the unit starts.
func TestQuadletSecrets(t *testing.T) {
	st := state()
	const pw, tok = "pw-SECRET-VALUE-1", "tok-SECRET-VALUE-2"
	for i := range st.Containers {
		c := &st.Containers[i]
		switch c.Spec.Name {
		case "ml-jupyter":
			c.Spec.Env = append(c.Spec.Env, "PASSWORD="+pw)
			c.SecretRefs = []desired.SecretRef{{Name: "code-server-password", Env: "PASSWORD"}}
		case "ml-ollama":
			c.Spec.Env = append(c.Spec.Env, "JUPYTER_TOKEN_FILE=/run/secrets/jupyter-token")
			c.Spec.Mounts = append(c.Spec.Mounts, runtime.Mount{Source: "/var/lib/berth/projects/kernelcore/secrets/run/jupyter-token-1000", Target: "/run/secrets/jupyter-token", ReadOnly: true})
			c.SecretRefs = []desired.SecretRef{{Name: "jupyter-token", Env: "JUPYTER_TOKEN_FILE", File: "/run/secrets/jupyter-token"}}
			_ = tok
		}
	}
	files, err := systemd.Generate(st, systemd.Options{Runtime: "podman", Quadlet: true, SecretDir: "/var/lib/berth/projects/kernelcore/secrets"})
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, f := range files {
		all.WriteString(f.Text)
	}
	text := all.String()
	if strings.Contains(text, pw) {
		t.Errorf("a secret value is in a Quadlet file:\n%s", text)
	}
	for _, want := range []string{
		"Secret=berth-kernelcore-code-server-password,type=env,target=PASSWORD\n",
		"ExecStartPre=-/usr/bin/podman secret rm berth-kernelcore-code-server-password\n",
		"ExecStartPre=/usr/bin/podman secret create berth-kernelcore-code-server-password /var/lib/berth/projects/kernelcore/secrets/code-server-password\n",
		"Volume=/var/lib/berth/projects/kernelcore/secrets/run/jupyter-token-1000:/run/secrets/jupyter-token:ro\n",
		"Environment=JUPYTER_TOKEN_FILE=/run/secrets/jupyter-token\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("Quadlet files lack %q", want)
		}
	}
}

// TestPathsAreQuoted: a config path with a space stays one argument.
func TestPathsAreQuoted(t *testing.T) {
	files, err := systemd.Generate(state(), systemd.Options{Runtime: "nspawn", Config: "/srv/my configs/berth.yaml", Engine: "/opt/berth bin/berth"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f.Name, ".service") && !strings.Contains(f.Text, `ExecStart="/opt/berth bin/berth" --file "/srv/my configs/berth.yaml" --runtime nspawn start`) {
			t.Errorf("%s:\n%s", f.Name, f.Text)
		}
	}
}
