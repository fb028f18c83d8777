package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// readmeBlock returns the lines of the first ```sh block under heading in
// README.md, so that a test runs what the README says, not a copy of it.
func readmeBlock(t *testing.T, heading string) []string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(data), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no %q section", heading)
	}
	_, after, ok = strings.Cut(after, "```sh\n")
	if !ok {
		t.Fatalf("README.md's %q section has no ```sh block", heading)
	}
	block, _, ok := strings.Cut(after, "```")
	if !ok {
		t.Fatalf("README.md's %q block is not closed", heading)
	}
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestReadmeQuickStart runs the README's quick-start block, line by line
// and verbatim through bash, on this host (no GPU: init must write a
// config that validates), in a directory of its own, with the real engine
// for status. `berth up --wait` would pull the seed's images from their
// registries, which this machine cannot reach, and would take the seed's
// container names and subnets, which a running demo holds: for it the
// test checks that the command line parses and runs the online plan,
// which reads the real engine and changes nothing.
func TestReadmeQuickStart(t *testing.T) {
	lines := readmeBlock(t, "## Quick start")
	var script strings.Builder
	script.WriteString("# generated from README.md's quick start by TestReadmeQuickStart\n[!exec:bash] skip 'needs bash'\n")
	sawUp := false
	for _, l := range lines {
		cmd, _, _ := strings.Cut(l, "  #") // the README's comments
		cmd = strings.TrimSpace(cmd)
		fmt.Fprintf(&script, "\n# %s\n", l)
		switch {
		case strings.HasPrefix(cmd, "berth up"):
			sawUp = true
			fmt.Fprintf(&script, "exec bash -c %s\n", tsQuote(cmd+" --help"))
			script.WriteString("[docker] code 2 berth plan\n[docker] stdout 'create container ml-ollama'\n")
		case strings.HasPrefix(cmd, "eval "):
			// The aliases must be defined in the shell that ran the line.
			fmt.Fprintf(&script, "exec bash -c %s\n", tsQuote(cmd+" && declare -F ollama-list dev-pg-psql ml-ollama-enter"))
			script.WriteString("stdout '^ollama-list$'\nstdout '^dev-pg-psql$'\n")
		case strings.HasPrefix(cmd, "berth status"):
			fmt.Fprintf(&script, "[docker] exec bash -c %s\n[docker] stdout 'ml-ollama +ml +missing'\n", tsQuote(cmd))
		default:
			fmt.Fprintf(&script, "exec bash -c %s\n", tsQuote(cmd))
		}
		if strings.HasPrefix(cmd, "berth init") {
			script.WriteString("exists berth.yaml\n")
		}
	}
	if !sawUp || len(lines) < 4 {
		t.Fatalf("the quick start changed shape (%d lines, up: %v): update this test with it", len(lines), sawUp)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "quickstart.txtar"), []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p := params(dir)
	p.UpdateScripts = false
	testscript.Run(t, p)
}

// tsQuote quotes s as one testscript argument.
func tsQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
