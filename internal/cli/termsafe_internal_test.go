package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoRawEscapesReachTheTerminal: text from outside berth (a table cell
// an engine filled, an argument echoed in an error) is printed with its
// escape sequences made visible, never sent to the terminal as they are.
func TestNoRawEscapesReachTheTerminal(t *testing.T) {
	var b bytes.Buffer
	writeRows(&b, [][]string{{"NAME", "HEALTH"}, {"ml-x", "unhealthy: \x1b]0;owned\x07\x1b[2J\u202eevil"}})
	if strings.ContainsAny(b.String(), "\x1b\x07\u202e") {
		t.Errorf("a table printed raw control characters: %q", b.String())
	}
	if !strings.Contains(b.String(), `\x1b]0;owned\a\x1b[2J\u202eevil`) {
		t.Errorf("the escaped cell is not shown: %q", b.String())
	}

	dir := t.TempDir()
	cfg := filepath.Join(dir, "berth.yaml")
	os.WriteFile(cfg, []byte("project: t\nruntime: docker\nml:\n  network: { subnet: 10.250.9.0/24, host: 10.250.9.10 }\n  ollama: { gpu: none }\n"), 0o644)
	t.Setenv("BERTH_STATE_DIR", filepath.Join(dir, "state"))
	var out, errb bytes.Buffer
	code := Main([]string{"-f", cfg, "plan", "--offline", "ml-\x1b[31mred\x1b[0m"}, strings.NewReader(""), &out, &errb)
	if code == ExitOK {
		t.Fatalf("plan of an unknown target succeeded: %s", out.String())
	}
	if strings.ContainsRune(errb.String()+out.String(), '\x1b') {
		t.Errorf("an error printed a raw escape: %q", errb.String())
	}
	if !strings.Contains(errb.String(), `ml-\x1b[31mred\x1b[0m`) {
		t.Errorf("the error does not show the argument escaped: %q", errb.String())
	}
}
