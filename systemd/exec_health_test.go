package systemd_test

import (
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/systemd"
)

// TestExecHealthWait: a unit whose dependents want it healthy, with an
// exec check (no port to probe), waits for the engine's own health check,
// which berth sets to the same command, without "$" or "%" for systemd.
func TestExecHealthWait(t *testing.T) {
	st := state()
	for i := range st.Containers {
		if c := &st.Containers[i]; c.Spec.Name == "ml-ollama" {
			c.Health = &desired.Health{Kind: "exec", Container: c.Spec.Name, Command: []string{"ollama", "list"}}
		}
	}
	files, err := systemd.Generate(st, systemd.Options{Runtime: "docker", Engine: "/usr/bin/docker"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.Contains(f.Name, "ml-ollama") {
			continue
		}
		s := f.Text
		want := "ExecStartPost=/bin/bash -c 'for i in {1..300}; do [ \"`/usr/bin/docker inspect --format {{.State.Health.Status}} ml-ollama`\" = healthy ] && exit 0; sleep 1; done; exit 1'"
		if !strings.Contains(s, want) {
			t.Errorf("unit lacks the engine health wait:\n%s", s)
		}
		return
	}
	t.Fatal("no ml-ollama unit")
}
