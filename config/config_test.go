package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/kits"
)

func parse(t *testing.T, src string, env map[string]string) (*config.Config, error) {
	t.Helper()
	return config.Parse("berth.yaml", []byte(src), config.ParseOptions{
		Getenv:         func(k string) string { return env[k] },
		DefaultProject: "test",
	})
}

func mustParse(t *testing.T, src string) *config.Config {
	t.Helper()
	cfg, err := parse(t, src, nil)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return cfg
}

func TestSeedConfig(t *testing.T) {
	cfg := mustParse(t, string(kits.Seed()))
	if cfg.Project != "kernelcore" {
		t.Errorf("project = %q, want kernelcore", cfg.Project)
	}
	if got := len(cfg.Enabled()); got != 10 {
		t.Errorf("enabled services = %d, want 10", got)
	}
	pg := cfg.Service("dev", "postgres")
	if pg.Paths[0].Host != "/var/lib/postgres-dev" || pg.Ports[0].Port != 5432 {
		t.Errorf("postgres = %+v", pg)
	}
}

func TestDottedKeysMergeWithMappings(t *testing.T) {
	cfg := mustParse(t, "ml:\n  comfyui.enable: true\n  comfyui:\n    port: 9000\n  ollama.port: 1234\n")
	c := cfg.Service("ml", "comfyui")
	if !c.Enable || c.Ports[0].Port != 9000 {
		t.Errorf("comfyui enable=%v port=%d, want true 9000", c.Enable, c.Ports[0].Port)
	}
	if o := cfg.Service("ml", "ollama"); !o.Enable || o.Ports[0].Port != 1234 {
		t.Errorf("ollama enable=%v port=%d", o.Enable, o.Ports[0].Port)
	}
	// Dotted keys inside env are data, not paths.
	cfg = mustParse(t, "ml:\n  ollama:\n    env: { a.b: c }\n")
	if got := cfg.Service("ml", "ollama").Env["a.b"]; got != "c" {
		t.Errorf("env a.b = %q", got)
	}
}

func TestInterpolation(t *testing.T) {
	env := map[string]string{"PORT": "4321", "DIR": "/srv/models"}
	cfg, err := parse(t, "ml:\n  ollama:\n    port: ${PORT}\n    modelsPath: ${DIR}\n    env: { X: '$${NOT}', Y: '${UNSET:-fallback}' }\n", env)
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.Service("ml", "ollama")
	if o.Ports[0].Port != 4321 || o.Paths[0].Host != "/srv/models" {
		t.Errorf("port=%d path=%s", o.Ports[0].Port, o.Paths[0].Host)
	}
	if o.Env["X"] != "${NOT}" || o.Env["Y"] != "fallback" {
		t.Errorf("env = %v", o.Env)
	}
}

// TestEveryOptionExampleIsAccepted keeps the registry and the decoder in
// step: each declared option, set to its example, must load.
func TestEveryOptionExampleIsAccepted(t *testing.T) {
	for _, o := range config.Options() {
		if o.Example == "" || strings.HasPrefix(o.Path, "images.") {
			continue
		}
		doc := map[string]any{
			"lab": map[string]any{
				"network": map[string]any{"subnet": "192.168.220.0/24"},
				"svc":     map[string]any{"image": "x:1", "port": 80, "health": map[string]any{"tcp": true}},
				"other":   map[string]any{"image": "x:1"},
			},
			"ml": map[string]any{"ollama": map[string]any{}},
		}
		path := strings.NewReplacer("<kit>", "lab", "<service>", "svc", "<name>", "st").Replace(o.Path)
		var example any
		if err := yaml.Unmarshal([]byte(o.Example), &example); err != nil {
			t.Errorf("option %s: example %q is not YAML: %v", o.Path, o.Example, err)
			continue
		}
		if o.Path == "stacks.<name>" {
			example = []any{"lab/svc"}
		}
		if strings.HasPrefix(o.Path, "<kit>.<service>.health.exec") {
			// One kind per check: the exec example replaces the base tcp.
			delete(doc["lab"].(map[string]any)["svc"].(map[string]any)["health"].(map[string]any), "tcp")
		}
		segs := strings.Split(path, ".")
		m := doc
		for _, s := range segs[:len(segs)-1] {
			next, ok := m[s].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[s] = next
			}
			m = next
		}
		m[segs[len(segs)-1]] = example
		src, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		// The envFile example names a file relative to berth.yaml.
		os.MkdirAll(filepath.Join(dir, "secrets"), 0o755)
		os.WriteFile(filepath.Join(dir, "secrets", "app.env"), []byte("A=1\n"), 0o600)
		if _, err := config.Parse("berth.yaml", src, config.ParseOptions{DefaultProject: "test", Dir: dir}); err != nil {
			t.Errorf("option %s with its example %q:\n%s\n%v", o.Path, o.Example, src, err)
		}
	}
}

func TestErrorsAreAllReported(t *testing.T) {
	_, err := parse(t, "ml:\n  olama: {}\n  ollama: { port: x }\ndev:\n  postgres: { dataPath: rel }\n", nil)
	var ces config.Errors
	if !errors.As(err, &ces) {
		t.Fatalf("err = %v, want config.Errors", err)
	}
	if len(ces) != 3 {
		t.Fatalf("got %d errors, want 3:\n%v", len(ces), err)
	}
	for i, want := range []int{2, 3, 5} {
		if ces[i].Pos.Line != want {
			t.Errorf("error %d at line %d, want %d: %v", i, ces[i].Pos.Line, want, ces[i])
		}
	}
}

func TestSelect(t *testing.T) {
	cfg := mustParse(t, string(kits.Seed()))
	for _, tc := range []struct {
		targets []string
		want    string
	}{
		{nil, "dev-chat-ui dev-code-server dev-ml dev-postgres dev-proxy ml-comfyui ml-jupyter ml-localai ml-ollama ml-vllm"},
		{[]string{"ml-ollama"}, "ml-ollama"},
		{[]string{"ml/ollama", "dev"}, "dev-chat-ui dev-code-server dev-ml dev-postgres dev-proxy ml-ollama"},
		{[]string{"ai"}, "dev-chat-ui dev-proxy ml-ollama"},
		{[]string{"ai", "ml-ollama"}, "dev-chat-ui dev-proxy ml-ollama"},
	} {
		got, err := cfg.Select(tc.targets)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range got {
			names = append(names, s.Container)
		}
		if strings.Join(names, " ") != tc.want {
			t.Errorf("Select(%v) = %v, want %s", tc.targets, names, tc.want)
		}
	}
	// Under a containerPrefix, a container is named with or without it.
	pre := mustParse(t, "containerPrefix: test1-\n"+string(kits.Seed()))
	for _, tgt := range []string{"ml-ollama", "test1-ml-ollama"} {
		got, err := pre.Select([]string{tgt})
		if err != nil || len(got) != 1 || got[0].Container != "test1-ml-ollama" {
			t.Errorf("Select(%s) under a prefix = %v, %v; want test1-ml-ollama", tgt, got, err)
		}
	}
	_, err := cfg.Select([]string{"ml-olama"})
	var te *config.TargetError
	if !errors.As(err, &te) || !strings.Contains(te.Hint, `"ml-ollama"`) {
		t.Errorf("Select(ml-olama) = %v, want a TargetError suggesting ml-ollama", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"512m": 512 << 20, "8g": 8 << 30, "1GiB": 1 << 30, "1.5G": 3 << 29, "100": 100, "2kb": 2048} {
		got, err := config.ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "g", "-1m", "1x", "1e400g"} {
		if _, err := config.ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}

func TestAliasBombIsBounded(t *testing.T) {
	src := "a: &a [x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for i := range 20 {
		name := fmt.Sprintf("l%d", i)
		src += fmt.Sprintf("%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", name, name, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = name
	}
	if _, err := parse(t, src, nil); err == nil {
		t.Fatal("an alias bomb loaded without error")
	}
}

func TestFind(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	yes, no := true, false
	if got := config.SystemFile(env(nil), true); got != "/etc/berth/berth.yaml" {
		t.Errorf("root system file = %q", got)
	}
	if got := config.SystemFile(env(map[string]string{"HOME": "/home/u"}), false); got != "/home/u/.config/berth/berth.yaml" {
		t.Errorf("user system file without XDG_CONFIG_HOME = %q", got)
	}
	if got := config.SystemFile(env(map[string]string{"HOME": "/home/u", "XDG_CONFIG_HOME": "/x"}), false); got != "/x/berth/berth.yaml" {
		t.Errorf("user system file = %q", got)
	}

	dir := t.TempDir()
	xdg := filepath.Join(dir, "xdg")
	deep := filepath.Join(dir, "p", "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	e := env(map[string]string{"XDG_CONFIG_HOME": xdg})
	// nothing: ErrNoConfig naming the places
	_, err := config.Find(config.LoadOptions{Dir: deep, Getenv: e, Root: &no})
	if !errors.Is(err, config.ErrNoConfig) || !strings.Contains(err.Error(), xdg) {
		t.Fatalf("Find with no file: %v", err)
	}
	// the user's system file
	sys := filepath.Join(xdg, "berth", "berth.yaml")
	write(t, sys)
	if got, err := config.Find(config.LoadOptions{Dir: deep, Getenv: e, Root: &no}); err != nil || got != sys {
		t.Fatalf("Find = %q, %v; want %q", got, err, sys)
	}
	// as root the user's file is not looked at
	if got, err := config.Find(config.LoadOptions{Dir: deep, Getenv: e, Root: &yes}); got == sys || (err == nil && got != "/etc/berth/berth.yaml") {
		t.Fatalf("Find as root = %q, %v", got, err)
	}
	// a parent's berth.yaml beats the system file, a nearer one the parent's
	parent := filepath.Join(dir, "p", "berth.yaml")
	write(t, parent)
	if got, _ := config.Find(config.LoadOptions{Dir: deep, Getenv: e, Root: &no}); got != parent {
		t.Fatalf("Find = %q, want %q", got, parent)
	}
	near := filepath.Join(dir, "p", "a", "berth.yaml")
	write(t, near)
	if got, _ := config.Find(config.LoadOptions{Dir: deep, Getenv: e, Root: &no}); got != near {
		t.Fatalf("Find = %q, want %q", got, near)
	}
	// $BERTH_CONFIG, then -f, win without looking
	e2 := env(map[string]string{"BERTH_CONFIG": "/nonexistent/env.yaml"})
	if got, _ := config.Find(config.LoadOptions{Dir: deep, Getenv: e2}); got != "/nonexistent/env.yaml" {
		t.Fatalf("Find with BERTH_CONFIG = %q", got)
	}
	if got, _ := config.Find(config.LoadOptions{File: "x.yaml", Dir: deep, Getenv: e2}); got != "x.yaml" {
		t.Fatalf("Find with -f = %q", got)
	}
}

func write(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("lab: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestContainerPrefix: the prefix starts every container name, targets
// take the prefixed names, and a bad prefix is an error at its position.
func TestContainerPrefix(t *testing.T) {
	cfg, err := parse(t, "containerPrefix: t1-\nml:\n  network: {subnet: 10.233.1.0/24}\n  ollama: {gpu: none}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range cfg.Enabled() {
		names = append(names, s.Container)
	}
	if len(names) == 0 || !strings.HasPrefix(names[0], "t1-ml-") {
		t.Fatalf("container names %v lack the prefix", names)
	}
	found := false
	for _, n := range cfg.TargetNames() {
		found = found || n == "t1-ml-ollama"
	}
	if !found {
		t.Errorf("t1-ml-ollama is not a target: %v", cfg.TargetNames())
	}
	_, err = parse(t, "containerPrefix: Bad_\n", nil)
	if err == nil || !strings.Contains(err.Error(), "berth.yaml:1:18") || !strings.Contains(err.Error(), `invalid containerPrefix "Bad_"`) {
		t.Errorf("bad prefix: %v", err)
	}
}
