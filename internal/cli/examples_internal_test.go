package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/project"
)

// example is one berth command line from a command's Example section.
type example struct {
	cmd  string // the command whose help shows it
	line string // the whole line as the help shows it
	args []string
	env  []string // VAR=value before berth
}

// helpExamples collects every berth invocation of every command's
// Example: the line's comment, redirections and the other commands of a
// pipeline or && chain left out.
func helpExamples(t *testing.T) []example {
	t.Helper()
	var out []example
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, l := range strings.Split(c.Example, "\n") {
			l = strings.TrimSpace(l)
			if l == "" {
				continue
			}
			code := l
			if i := strings.Index(code, " #"); i >= 0 {
				code = code[:i]
			}
			n := 0
			all, err := shellWords(code)
			if err != nil {
				t.Fatalf("%s: example %q: %v", c.CommandPath(), l, err)
			}
			var segs [][]string
			start := 0
			for i, w := range append(all, "|") {
				if w == "|" || w == "&&" {
					segs = append(segs, all[start:i])
					start = i + 1
				}
			}
			for _, words := range segs {
				var env []string
				for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
					env, words = append(env, words[0]), words[1:]
				}
				if len(words) > 0 && words[0] == "eval" && len(words) == 2 {
					// eval "$(berth aliases bash)"
					inner := strings.TrimSuffix(strings.TrimPrefix(words[1], "$("), ")")
					if words, err = shellWords(inner); err != nil {
						t.Fatal(err)
					}
				}
				if len(words) == 0 || words[0] != "berth" {
					continue
				}
				// Redirections belong to the shell.
				var args []string
				for i := 1; i < len(words); i++ {
					if words[i] == ">" || words[i] == "<" {
						i++
						continue
					}
					args = append(args, words[i])
				}
				out = append(out, example{cmd: c.CommandPath(), line: l, args: args, env: env})
				n++
			}
			if n == 0 && slices.Contains(all, "berth") {
				t.Errorf("%s: example %q runs no berth command this test can read", c.CommandPath(), l)
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRoot(&globals{}))
	return out
}

// shellWords splits a command line as sh would for the simple lines of
// help examples: words, '…' and "…" quoting.
func shellWords(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out, in = append(out, cur.String()), false
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, os.ErrInvalid
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}

// TestHelpExamples checks every Example line of every command's help.
// Each one must name a command that exists, with flags it has, values of
// their types and the number of arguments it takes (cobra's own parsing
// and argument checks, nothing run). The examples that need no engine,
// cluster or network (init, validate, options, schema, plan --offline,
// aliases, cluster render and bootstrap, systemd generate, export
// compose, gpu, image list, completion) are then run for real, each in a
// directory of its own holding the seed's config, and must succeed.
func TestHelpExamples(t *testing.T) {
	exs := helpExamples(t)
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
		args := hoistFile(ex.args)
		c, rest, err := root.Find(args)
		if err != nil {
			t.Errorf("%s: %q: %v", ex.cmd, ex.line, err)
			continue
		}
		if err := c.ParseFlags(rest); err != nil {
			t.Errorf("%s: %q: %v", ex.cmd, ex.line, err)
			continue
		}
		if c.Args != nil {
			if err := c.ValidateArgs(c.Flags().Args()); err != nil {
				t.Errorf("%s: %q: %v", ex.cmd, ex.line, err)
				continue
			}
		}
		if !offlineExample(c.CommandPath(), ex.args) {
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
		for _, e := range ex.env {
			k, v, _ := strings.Cut(e, "=")
			t.Setenv(k, v)
		}
		var stdout, stderr bytes.Buffer
		code := Main(ex.args, strings.NewReader(""), &stdout, &stderr)
		ok := code == ExitOK || (c.CommandPath() == "berth plan" && code == ExitChanges)
		if !ok {
			t.Errorf("%s: %q exited %d:\n%s", ex.cmd, ex.line, code, stderr.String())
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
