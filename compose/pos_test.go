package compose

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPositions: a field is found where it is written: through a "<<"
// merge at its anchor, through extends in another file, and in the last
// file that sets it.
func TestPositions(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) { os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644) }
	write("base.yaml", `x-d: &d
  privileged: true
services:
  a:
    <<: *d
    image: x
  b:
    extends: {file: common.yaml, service: tmpl}
    image: y
`)
	write("common.yaml", "services:\n  tmpl:\n    cap_add: [SYS_ADMIN]\n")
	write("over.yaml", "services:\n  a:\n    image: z\n")
	p := newPositions([]string{"base.yaml", "over.yaml"}, dir)
	for _, c := range []struct {
		path []string
		want string
	}{
		{[]string{"services", "a", "privileged"}, "base.yaml:2:3"},
		{[]string{"services", "b", "cap_add"}, "common.yaml:3:5"},
		{[]string{"services", "a", "image"}, "over.yaml:3:5"},
		{[]string{"services", "a", "nothere"}, "over.yaml:2:3"},
	} {
		if got := p.at(c.path...).String(); got != c.want {
			t.Errorf("%v at %s, want %s", c.path, got, c.want)
		}
	}
	if got := p.first("services", "a").String(); got != "base.yaml:4:3" {
		t.Errorf("first services.a at %s, want base.yaml:4:3", got)
	}
}
