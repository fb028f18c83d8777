// Package golden compares what a test made with a file under testdata:
// the review of a golden file's diff is the review of the behaviour
// change. BERTH_UPDATE=1 rewrites the files instead of comparing.
package golden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Update reports whether BERTH_UPDATE=1 asks for the goldens to be
// rewritten. Only "1" does: a stray BERTH_UPDATE=0 must not rewrite them.
func Update() bool { return os.Getenv("BERTH_UPDATE") == "1" }

// Check compares got with the file at path. With Update it writes got
// there (making the directory) and passes.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if Update() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (BERTH_UPDATE=1 writes it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs (BERTH_UPDATE=1 rewrites it):\n%s", path, Diff(string(want), string(got)))
	}
}

// Diff lists the lines only in want (-) and only in got (+), in order.
func Diff(want, got string) string {
	ws, gs := strings.Split(want, "\n"), strings.Split(got, "\n")
	inW, inG := map[string]bool{}, map[string]bool{}
	for _, l := range ws {
		inW[l] = true
	}
	for _, l := range gs {
		inG[l] = true
	}
	var b strings.Builder
	for _, l := range ws {
		if !inG[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range gs {
		if !inW[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	if b.Len() == 0 {
		return "(the same lines in another order or number)\n--- got\n" + got
	}
	return b.String()
}
