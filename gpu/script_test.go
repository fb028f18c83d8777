package gpu_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/voidnxlabs/berth/gpu/gputest"
)

// TestGPUCheckScript runs scripts/gpu-check.sh against fake hosts, with a
// stand-in nvidia-smi that prints what a host's archive records, so that
// the script a GPU machine runs is known to work before it gets there.
func TestGPUCheckScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds berth")
	}
	for _, tool := range []string{"bash", "python3", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	bin := filepath.Join(t.TempDir(), "berth")
	build := exec.Command("go", "build", "-o", bin, "github.com/voidnxlabs/berth/cmd/berth")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building berth: %v\n%s", err, out)
	}
	for _, c := range []struct {
		host, smiFrom string
		want          string
		ok            bool
	}{
		{"nvidia-cdi", "nvidia-cdi", "11 passed, 0 failed", true},
		// The module says 550, nvidia-smi (of the other host) 560.
		{"nvidia-cdi", "nvidia-stale-cdi", "10 passed, 1 failed", false},
	} {
		t.Run(c.host+"/"+c.smiFrom, func(t *testing.T) {
			dir := t.TempDir()
			host, err := gputest.Extract(filepath.Join(gputest.Dir(), c.host+".txtar"), dir)
			if err != nil {
				t.Fatal(err)
			}
			ar, err := txtar.ParseFile(filepath.Join(gputest.Dir(), c.smiFrom+".txtar"))
			if err != nil {
				t.Fatal(err)
			}
			var smi []byte
			for _, f := range ar.Files {
				if f.Name == "cmd/nvidia-smi" {
					smi = f.Data
				}
			}
			binDir := filepath.Join(dir, "bin")
			os.MkdirAll(binDir, 0o755)
			os.WriteFile(filepath.Join(binDir, "nvidia-smi.out"), smi, 0o644)
			os.WriteFile(filepath.Join(binDir, "nvidia-smi"), []byte("#!/bin/sh\ncat \"$(dirname \"$0\")/nvidia-smi.out\"\n"), 0o755)

			cmd := exec.Command("bash", "../scripts/gpu-check.sh")
			cmd.Env = append(os.Environ(), "BERTH="+bin, "BERTH_GPU_ARGS=--root "+host.Root, "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			if (err == nil) != c.ok {
				t.Errorf("exit: %v, want ok=%v\n%s", err, c.ok, out)
			}
			if !strings.Contains(string(out), "\n"+c.want+"\n") {
				t.Errorf("output lacks %q:\n%s", c.want, out)
			}
		})
	}
}
