package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/config"
)

// The options Compose users expect: .env, envFile, named volumes, exec
// health checks.

func TestDotEnvFillsInterpolation(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "berth.yaml")
	os.WriteFile(file, []byte("lab:\n  network: {subnet: 192.168.221.0/24}\n  app: {image: 'x:${TAG}', env: {A: '${A}'}}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("# comment\nTAG=1.2\nexport A=\"from file\"\n"), 0o644)
	env := map[string]string{"A": "from shell"}
	cfg, err := config.Load(config.LoadOptions{File: file, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Service("lab", "app")
	if s.Image != "x:1.2" || s.Env["A"] != "from shell" {
		t.Errorf("image=%q A=%q, want x:1.2 and the shell's value", s.Image, s.Env["A"])
	}
}

func TestDotEnvErrorsHaveLines(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "berth.yaml")
	os.WriteFile(file, []byte("project: p\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("OK=1\nnot a line\nQ='open\n"), 0o644)
	_, err := config.Load(config.LoadOptions{File: file})
	if err == nil || !strings.Contains(err.Error(), ".env:2:1") || !strings.Contains(err.Error(), ".env:3:1") {
		t.Errorf("err = %v, want both bad lines with their positions", err)
	}
}

func TestEnvFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.env"), []byte("A=1\nB=from-a\nC='x # y'\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "b.env"), []byte("B=from-b # comment\nD=\"tab\\\\tkept\"\n"), 0o600)
	src := "lab:\n  network: {subnet: 192.168.221.0/24}\n  app: {image: x, envFile: [a.env, b.env], env: {A: explicit}}\n"
	cfg, err := config.Parse("berth.yaml", []byte(src), config.ParseOptions{DefaultProject: "p", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Service("lab", "app")
	want := map[string]string{"A": "explicit", "B": "from-b", "C": "x # y", "D": "tab\\tkept"}
	if !reflect.DeepEqual(s.Env, want) {
		t.Errorf("env = %q, want %q", s.Env, want)
	}
	if len(s.EnvFiles) != 2 || s.EnvFiles[0] != filepath.Join(dir, "a.env") {
		t.Errorf("EnvFiles = %v", s.EnvFiles)
	}
}

func TestEnvFileStaysBeneathConfigDir(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "cfg")
	os.Mkdir(sub, 0o755)
	os.WriteFile(filepath.Join(dir, "outside.env"), []byte("X=1\n"), 0o600)
	os.Symlink(filepath.Join(dir, "outside.env"), filepath.Join(sub, "link.env"))
	for _, name := range []string{"../outside.env", "link.env", "missing.env"} {
		src := "lab:\n  network: {subnet: 192.168.221.0/24}\n  app: {image: x, envFile: " + name + "}\n"
		_, err := config.Parse("berth.yaml", []byte(src), config.ParseOptions{DefaultProject: "p", Dir: sub})
		if err == nil || !strings.Contains(err.Error(), "berth.yaml:3:28: lab.app.envFile: reading env file") {
			t.Errorf("envFile %s: err = %v, want a refusal with its position", name, err)
		}
	}
}

func TestNamedVolumes(t *testing.T) {
	src := "volumesPath: /srv/vols\nproject: demo\nlab:\n  network: {subnet: 192.168.221.0/24}\n  app:\n    image: x\n    mounts: [models:/models, {volume: cache, target: /cache, readOnly: true}, /srv/a:/a]\n"
	cfg := mustParse(t, src)
	got := cfg.Service("lab", "app").Mounts
	want := []config.Mount{
		{Source: "/srv/vols/demo/models", Target: "/models", Volume: "models"},
		{Source: "/srv/vols/demo/cache", Target: "/cache", ReadOnly: true, Volume: "cache"},
		{Source: "/srv/a", Target: "/a"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mounts = %+v, want %+v", got, want)
	}
	_, err := parse(t, "lab:\n  network: {subnet: 192.168.221.0/24}\n  app: {image: x, mounts: ['../x:/a', {volume: v, source: /s, target: /t}]}\n", nil)
	if err == nil || !strings.Contains(err.Error(), `invalid volume name "../x"`) || !strings.Contains(err.Error(), "both source and volume") {
		t.Errorf("err = %v", err)
	}
}

func TestExecHealth(t *testing.T) {
	cfg := mustParse(t, "lab:\n  network: {subnet: 192.168.221.0/24}\n  a: {image: x, health: {exec: [pg_isready, -q], retries: 5}}\n  b: {image: x, health: {exec: 'curl -f localhost || exit 1'}}\n")
	a, b := cfg.Service("lab", "a").Health, cfg.Service("lab", "b").Health
	if a.Kind != "exec" || !reflect.DeepEqual(a.Command, []string{"pg_isready", "-q"}) || a.Shell || a.Retries != 5 {
		t.Errorf("a = %+v", a)
	}
	if b.Kind != "exec" || !b.Shell || b.Command[0] != "curl -f localhost || exit 1" || b.Retries != 3 {
		t.Errorf("b = %+v", b)
	}
	_, err := parse(t, "lab:\n  network: {subnet: 192.168.221.0/24}\n  a: {image: x, port: 1, health: {exec: [x], http: /}}\n", nil)
	if err == nil || !strings.Contains(err.Error(), "both exec and a host-side kind") {
		t.Errorf("err = %v", err)
	}
}
