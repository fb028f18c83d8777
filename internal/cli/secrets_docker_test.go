package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/voidnxlabs/berth/internal/cli"
	"github.com/voidnxlabs/berth/internal/fixture"
	"github.com/voidnxlabs/berth/runtime/docker"
)

// TestSecretsReachContainersAsFiles runs dev-postgres, ml-jupyter and
// dev-code-server (the fixture image in their place) on a real Docker
// engine and checks issue 14 rows 14 and 11:
//   - PostgreSQL's password and Jupyter's token are mounted read-only files
//     named by POSTGRES_PASSWORD_FILE / JUPYTER_TOKEN_FILE, readable by the
//     image's user and nobody else; 'docker inspect' shows neither value.
//   - code-server reads its password from the environment only (documented
//     in docs/security.md): there it is.
//   - after 'secret rotate' and 'rollback' to a generation from before the
//     rotation, the containers have the new secrets, not the old ones.
//
// Subnets 10.219.14.0/24 and 10.219.15.0/24 are this test's (the range
// 10.219.14-19 belongs to the security tests).
func TestSecretsReachContainersAsFiles(t *testing.T) {
	if !dockerReachable() {
		if os.Getenv("CI") == "true" {
			t.Fatal("no Docker engine reachable and CI=true")
		}
		t.Skip("needs a Docker engine")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: secret files are given to the container's uid")
	}
	e, err := docker.New(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const image = "berth-fixture:seccfg-secrets"
	fixture.LoadAs(t, e, fixture.Image(t, ""), image)
	e.Close()

	dir := t.TempDir()
	cfg := filepath.Join(dir, "berth.yaml")
	src := strings.NewReplacer("IMAGE", image, "DIR", dir).Replace(`project: seccfg-secrets
# Its own container names: the demo (make demo) may be running the seed's.
containerPrefix: seccfg-
ml:
  network: { subnet: 10.219.14.0/24, host: 10.219.14.10 }
  ollama.enable: false
  comfyui.enable: false
  vllm.enable: false
  localai.enable: false
  jupyter: { image: IMAGE, gpu: none, command: [-listen, ":8888"], notebooksPath: DIR/nb }
dev:
  network: { subnet: 10.219.15.0/24, host: 10.219.15.10 }
  dev-ml.enable: false
  chat-ui.enable: false
  proxy.enable: false
  code-server: { image: IMAGE, command: [-listen, ":8443"], workspacePath: DIR/ws }
  postgres: { image: IMAGE, command: [-listen, ":5432"], dataPath: DIR/pg }
`)
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BERTH_STATE_DIR", filepath.Join(dir, "state"))
	berth := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := cli.Main(append([]string{"-f", cfg}, args...), strings.NewReader(""), &out, &errb); code != 0 {
			t.Fatalf("berth %v: exit %d\n%s%s", args, code, out.String(), errb.String())
		}
		return out.String()
	}
	t.Cleanup(func() {
		var out bytes.Buffer
		cli.Main([]string{"-f", cfg, "down"}, strings.NewReader(""), &out, &out)
	})
	berth("up")

	secret := func(name string) string { return strings.TrimSpace(berth("secret", "show", name)) }
	pw, token, csPass := secret("postgres-password"), secret("jupyter-token"), secret("code-server-password")

	inspect := func(name string) (string, struct {
		Config struct{ Env []string }
		Mounts []struct {
			Source, Destination string
			RW                  bool
		}
	}) {
		t.Helper()
		out, err := exec.Command("docker", "inspect", name).Output()
		if err != nil {
			t.Fatalf("docker inspect %s: %v", name, err)
		}
		var v []struct {
			Config struct{ Env []string }
			Mounts []struct {
				Source, Destination string
				RW                  bool
			}
		}
		if err := json.Unmarshal(out, &v); err != nil || len(v) != 1 {
			t.Fatalf("docker inspect %s: %v", name, err)
		}
		return string(out), v[0]
	}
	for _, c := range []struct{ name, secret, value, env, file string }{
		{"dev-postgres", "postgres-password", pw, "POSTGRES_PASSWORD_FILE", "/run/secrets/postgres-password"},
		{"ml-jupyter", "jupyter-token", token, "JUPYTER_TOKEN_FILE", "/run/secrets/jupyter-token"},
	} {
		raw, ins := inspect("seccfg-" + c.name)
		if strings.Contains(raw, c.value) {
			t.Errorf("docker inspect %s shows the %s", c.name, c.secret)
		}
		if !containsLine(ins.Config.Env, c.env+"="+c.file) {
			t.Errorf("%s env %v lacks %s=%s", c.name, ins.Config.Env, c.env, c.file)
		}
		var host string
		for _, m := range ins.Mounts {
			if m.Destination == c.file {
				host = m.Source
				if m.RW {
					t.Errorf("%s: %s is mounted read-write", c.name, c.file)
				}
			}
		}
		if host == "" {
			t.Fatalf("%s: no mount at %s: %+v", c.name, c.file, ins.Mounts)
		}
		fi, err := os.Stat(host)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o400 {
			t.Errorf("%s: host file %s has mode %o, want 0400", c.name, host, fi.Mode().Perm())
		}
		if dfi, _ := os.Stat(filepath.Dir(host)); dfi == nil || dfi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %s is not a 0700 directory", c.name, filepath.Dir(host))
		}
		uid := int(fi.Sys().(*syscall.Stat_t).Uid)
		// The image's user reads it; another user in the container does not.
		if got := dockerRead(t, "seccfg-"+c.name, uid, c.file); got != c.value {
			t.Errorf("%s as uid %d reads %q, want the secret", c.name, uid, got)
		}
		if out, err := exec.Command("docker", "exec", "-u", "4242", "seccfg-"+c.name, fixture.Binary, "-read", c.file).CombinedOutput(); err == nil {
			t.Errorf("%s: uid 4242 read the secret file: %q", c.name, out)
		}
	}
	// Where the program reads only its environment, the value is there
	// (and so in docker inspect): code-server.
	if _, ins := inspect("seccfg-dev-code-server"); !containsLine(ins.Config.Env, "PASSWORD="+csPass) {
		t.Errorf("dev-code-server env lacks its password")
	}

	// Row 11: rotate, roll back to generation 1, still the new secrets.
	berth("secret", "rotate", "jupyter-token", "--no-wait")
	berth("secret", "rotate", "code-server-password", "--no-wait")
	token2, csPass2 := secret("jupyter-token"), secret("code-server-password")
	if token2 == token || csPass2 == csPass {
		t.Fatal("rotate kept the old values")
	}
	berth("rollback", "1")
	if got := dockerRead(t, "seccfg-ml-jupyter", 1000, "/run/secrets/jupyter-token"); got != token2 {
		t.Errorf("after rollback ml-jupyter has token %q, want the rotated one", got)
	}
	if _, ins := inspect("seccfg-dev-code-server"); !containsLine(ins.Config.Env, "PASSWORD="+csPass2) {
		t.Errorf("after rollback dev-code-server has the old password back")
	}
	if _, ins := inspect("seccfg-dev-code-server"); containsLine(ins.Config.Env, "PASSWORD="+csPass) {
		t.Errorf("after rollback dev-code-server has the old password")
	}
}

func dockerRead(t *testing.T, container string, uid int, file string) string {
	t.Helper()
	out, err := exec.Command("docker", "exec", "-u", strconv.Itoa(uid), container, fixture.Binary, "-read", file).CombinedOutput()
	if err != nil {
		t.Errorf("reading %s in %s as uid %d: %v\n%s", file, container, uid, err, out)
	}
	return string(out)
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
