package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// fakeT records failures instead of failing the test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) Fatalf(string, ...any) { f.failed = true }
func (f *fakeT) Fatal(...any)          { f.failed = true }

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.golden")
	t.Setenv("BERTH_UPDATE", "0") // only 1 rewrites
	ft := &fakeT{TB: t}
	Check(ft, path, []byte("a\n"))
	if !ft.failed {
		t.Error("a missing golden passed")
	}
	t.Setenv("BERTH_UPDATE", "1")
	Check(t, path, []byte("a\nb\n"))
	if data, _ := os.ReadFile(path); string(data) != "a\nb\n" {
		t.Errorf("update wrote %q", data)
	}
	t.Setenv("BERTH_UPDATE", "")
	Check(t, path, []byte("a\nb\n"))
	ft = &fakeT{TB: t}
	Check(ft, path, []byte("a\nc\n"))
	if !ft.failed {
		t.Error("a different output passed")
	}
	if d := Diff("a\nb\n", "a\nc\n"); d != "- b\n+ c\n" {
		t.Errorf("Diff = %q", d)
	}
}
