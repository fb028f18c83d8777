package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/project"
)

// TestHelpExamples checks every Example line of every command's help.
// Each one must name a command that exists, with flags it has, values of
// their types and the number of arguments it takes (cobra's own parsing
// and argument checks, nothing run). The examples that need no engine,
// cluster or network (init, validate, options, schema, plan --offline,
// aliases, cluster render and bootstrap, systemd generate, export
// compose, gpu, image list, completion) are then run for real, each in a
// directory of its own holding the seed's config, and must succeed.
func TestHelpExamples(t *testing.T) {
	exs, err := Examples()
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) < 100 {
		t.Fatalf("only %d examples found", len(exs))
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := project.SeedForHost(context.Background(), "berth.yaml", project.Options{Getenv: os.Getenv})
	ran := 0
	for _, ex := range exs {
		// Parse as Main does, without running.
		root := newRoot(&globals{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: os.Getenv, ctx: t.Context()})
		args := hoistFile(ex.Args)
		c, rest, err := root.Find(args)
		if err != nil {
			t.Errorf("%s: %q: %v", ex.Cmd, ex.Line, err)
			continue
		}
		if err := c.ParseFlags(rest); err != nil {
			t.Errorf("%s: %q: %v", ex.Cmd, ex.Line, err)
			continue
		}
		if c.Args != nil {
			if err := c.ValidateArgs(c.Flags().Args()); err != nil {
				t.Errorf("%s: %q: %v", ex.Cmd, ex.Line, err)
				continue
			}
		}
		if !offlineExample(c.CommandPath(), ex.Args) {
			continue
		}
		dir := t.TempDir()
		if c.CommandPath() != "berth init" {
			if err := os.WriteFile(filepath.Join(dir, "berth.yaml"), seed, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		os.MkdirAll(filepath.Join(dir, "examples"), 0o755)
		if data, err := os.ReadFile(filepath.Join(repo, "examples/demo.yaml")); err == nil {
			os.WriteFile(filepath.Join(dir, "examples/demo.yaml"), data, 0o644)
		}
		t.Chdir(dir)
		t.Setenv("BERTH_CONFIG", "")
		t.Setenv("BERTH_STATE_DIR", filepath.Join(dir, ".state"))
		for _, e := range ex.Env {
			k, v, _ := strings.Cut(e, "=")
			t.Setenv(k, v)
		}
		var stdout, stderr bytes.Buffer
		code := Main(ex.Args, strings.NewReader(""), &stdout, &stderr)
		ok := code == ExitOK || (c.CommandPath() == "berth plan" && code == ExitChanges)
		if !ok {
			t.Errorf("%s: %q exited %d:\n%s", ex.Cmd, ex.Line, code, stderr.String())
		}
		ran++
	}
	t.Logf("%d examples parsed, %d of them run", len(exs), ran)
	if ran < 20 {
		t.Errorf("only %d examples ran", ran)
	}
}

// offlineExample reports whether an example needs no engine, cluster or
// network and writes nothing outside its directory, so the test can run it.
func offlineExample(path string, args []string) bool {
	for i, a := range args {
		// Absolute paths are the host's (/etc/systemd/system, /mnt/usb):
		// not for a test to write.
		if strings.HasPrefix(a, "/") && i > 0 {
			return false
		}
	}
	switch path {
	case "berth init", "berth validate", "berth options", "berth schema", "berth aliases",
		"berth cluster render", "berth systemd generate", "berth export compose", "berth gpu",
		"berth image list", "berth completion":
		return true
	case "berth plan":
		return slices.Contains(args, "--offline")
	case "berth cluster bootstrap":
		return !slices.Contains(args, "--apply")
	}
	return false
}
