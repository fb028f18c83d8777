package state

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestMain lets TestSecretRaceProcesses run this test binary as a berth
// that makes one secret and prints it.
func TestMain(m *testing.M) {
	if root := os.Getenv("BERTH_TEST_SECRET_ROOT"); root != "" {
		d, err := Open(root, "race")
		if err == nil {
			var v string
			if v, err = d.Secret("postgres-password"); err == nil {
				fmt.Println(v)
				os.Exit(0)
			}
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// TestSecretRaceGoroutines: many goroutines making the same secret at once
// all get one non-empty value (issue 14 row 6: 6 of 150 rounds of parallel
// 'systemd generate' used an empty password). Each round uses a fresh
// directory, so every round races on the creation itself.
func TestSecretRaceGoroutines(t *testing.T) {
	for round := range 50 {
		d := open(t)
		const n = 16
		vals := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				// Each goroutine opens the state on its own, like a berth.
				dd, err := Open(d.Root, d.Project)
				if err != nil {
					errs[i] = err
					return
				}
				vals[i], errs[i] = dd.Secret("postgres-password")
			}()
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d: %v", round, errs[i])
			}
			if vals[i] == "" || vals[i] != vals[0] {
				t.Fatalf("round %d: values disagree or are empty: %q", round, vals)
			}
		}
		checkNoTemp(t, d)
	}
}

// TestSecretRaceProcesses is the same race between separate processes,
// which share nothing but the directory.
func TestSecretRaceProcesses(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		root := t.TempDir()
		const n = 8
		cmds := make([]*exec.Cmd, n)
		outs := make([]strings.Builder, n)
		for i := range n {
			cmds[i] = exec.Command(exe)
			cmds[i].Env = append(os.Environ(), "BERTH_TEST_SECRET_ROOT="+root)
			cmds[i].Stdout = &outs[i]
			cmds[i].Stderr = &outs[i]
		}
		for _, c := range cmds {
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
		}
		var first string
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				t.Fatalf("round %d: process %d: %v\n%s", round, i, err, outs[i].String())
			}
			v := strings.TrimSpace(outs[i].String())
			if i == 0 {
				first = v
			}
			if v == "" || v != first {
				t.Fatalf("round %d: process %d got %q, process 0 %q", round, i, v, first)
			}
		}
		d, err := Open(root, "race")
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := d.LookupSecret("postgres-password"); got != first {
			t.Fatalf("round %d: file holds %q, processes got %q", round, got, first)
		}
	}
}

func checkNoTemp(t *testing.T, d *Dir) {
	t.Helper()
	ents, _ := os.ReadDir(d.path("secrets"))
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

// TestSecretEmptyIsAnError: an empty or whitespace-only secret file (by
// hand, or left by an older berth that crashed between create and write)
// is refused with ErrBadSecret, never used as an empty password, and not
// silently replaced either.
func TestSecretEmptyIsAnError(t *testing.T) {
	d := open(t)
	for _, content := range []string{"", "\n", "  \t\n", "two words\n", "a\x1bb\n"} {
		p, _ := d.SecretPath("jupyter-token")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if v, err := d.Secret("jupyter-token"); !errors.Is(err, ErrBadSecret) {
			t.Errorf("Secret with file %q = %q, %v; want ErrBadSecret", content, v, err)
		}
		if v, err := d.LookupSecret("jupyter-token"); !errors.Is(err, ErrBadSecret) {
			t.Errorf("LookupSecret with file %q = %q, %v; want ErrBadSecret", content, v, err)
		}
		if data, _ := os.ReadFile(p); string(data) != content {
			t.Errorf("the file was changed to %q", data)
		}
	}
	// Rotating is the way out.
	v, err := d.RotateSecret("jupyter-token")
	if err != nil || v == "" {
		t.Fatalf("rotate: %q, %v", v, err)
	}
	if got, err := d.Secret("jupyter-token"); err != nil || got != v {
		t.Errorf("after rotate: %q, %v; want %q", got, err, v)
	}
}

// TestSecretsArePrivate: 0600 files in 0700 directories, also when an
// older berth or a person left them open.
func TestSecretsArePrivate(t *testing.T) {
	root := t.TempDir()
	d, err := Open(root, "p")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Secret("a"); err != nil {
		t.Fatal(err)
	}
	p, _ := d.SecretPath("a")
	os.Chmod(p, 0o644)
	os.Chmod(filepath.Dir(p), 0o755)
	os.Chmod(d.Path(), 0o755)
	d, err = Open(root, "p")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Secret("a"); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{p: 0o600, filepath.Dir(p): 0o700, d.Path(): 0o700} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %o, want %o", path, fi.Mode().Perm(), want)
		}
	}
	// A symlink planted as a secret is not followed.
	target := filepath.Join(t.TempDir(), "elsewhere")
	os.WriteFile(target, []byte("planted\n"), 0o644)
	link, _ := d.SecretPath("b")
	os.Symlink(target, link)
	if v, err := d.Secret("b"); err == nil {
		t.Errorf("a symlinked secret was read: %q", v)
	}
}
