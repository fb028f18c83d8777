package toolbox

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/image"
	"github.com/voidnxlabs/berth/internal/fixture"
	"github.com/voidnxlabs/berth/internal/testenv"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/nspawn"
	"github.com/voidnxlabs/berth/runtime/podman"
)

func TestLookPath(t *testing.T) {
	root := t.TempDir()
	mk := func(p string, mode os.FileMode) {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
	}
	link := func(p, target string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	mk("usr/bin/dash", 0o755)
	mk("usr/bin/notes", 0o644)
	link("bin", "usr/bin")
	link("usr/bin/sh", "dash")
	// An absolute link means the container's root, never the host's.
	link("usr/local/bin/bash", "/usr/bin/dash")
	link("usr/local/bin/escape", "../../../../../../etc/passwd")
	link("usr/local/bin/loop", "loop")
	const p = "/usr/local/bin:/usr/bin:/bin"
	for prog, want := range map[string]bool{
		"sh": true, "bash": true, "dash": true, "/bin/sh": true, "/bin/dash": true,
		"notes": false, "ls": false, "escape": false, "loop": false, "/usr/bin": false,
	} {
		if got := lookPath(root, p, prog); got != want {
			t.Errorf("lookPath(%q) = %v, want %v", prog, got, want)
		}
	}
}

var (
	boxOnce sync.Once
	theBox  *Box
	boxErr  error
)

// provider gets busybox-static through a real builder, from the Debian
// archive into the user's cache (so that repeated runs download nothing),
// with a fresh lock.
func provider(t *testing.T) Provider {
	return func(ctx context.Context) (*Box, error) {
		boxOnce.Do(func() {
			cache, err := os.UserCacheDir()
			if err != nil {
				boxErr = err
				return
			}
			b, err := image.NewBuilder(image.Options{CacheDir: filepath.Join(cache, "berth"), LockDir: t.TempDir()})
			if err != nil {
				boxErr = err
				return
			}
			theBox, boxErr = FromBuilder(b, image.Builtin()[RecipeName])(ctx)
		})
		return theBox, boxErr
	}
}

type engineCase struct {
	name string
	open func(t *testing.T) runtime.Engine
}

var engines = []engineCase{
	{"docker", func(t *testing.T) runtime.Engine { return testenv.Docker(t) }},
	{"podman", func(t *testing.T) runtime.Engine {
		e, err := podman.New(t.Context(), podman.Options{})
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true but no podman service: %v (run scripts/ci-podman.sh)", err)
			}
			t.Skipf("no podman service: %v", err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}},
	{"nspawn", func(t *testing.T) runtime.Engine {
		e, err := nspawn.New(t.Context(), nspawn.Options{Root: filepath.Join(t.TempDir(), "nspawn")})
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true but no nspawn engine: %v", err)
			}
			t.Skipf("no nspawn engine: %v", err)
		}
		return e
	}},
}

// TestSessions brings the toolbox into a container of an image that holds
// one static program and nothing else (no shell, no ls), on each engine:
// the seed's troubleshooting commands run, a shell reads commands from a
// pipe, and nothing of the toolbox is left in the container afterwards.
func TestSessions(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but not root: the toolbox mounts into containers as root")
		}
		t.Skip("needs root")
	}
	for _, ec := range engines {
		t.Run(ec.name, func(t *testing.T) {
			e := ec.open(t)
			ref := fixture.Load(t, e)
			name := fmt.Sprintf("berth-toolbox-%s-%d", ec.name, time.Now().UnixNano()%1e6)
			if _, err := e.CreateContainer(t.Context(), runtime.ContainerSpec{Name: name, Image: ref,
				Cmd: []string{"-listen", "127.0.0.1:0"}, Labels: map[string]string{"io.berth.test": "toolbox"}}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.RemoveContainer(context.Background(), name) })
			if err := e.StartContainer(t.Context(), name); err != nil {
				t.Fatal(err)
			}
			run := func(s *Session, stdin string) (string, int) {
				t.Helper()
				var out bytes.Buffer
				opts := runtime.ExecOptions{Cmd: s.Cmd, Env: s.Env, Stdout: &out, Stderr: &out}
				if stdin != "" {
					opts.Stdin = strings.NewReader(stdin)
				}
				code, err := e.Exec(t.Context(), name, opts)
				if err != nil {
					t.Fatal(err)
				}
				return out.String(), code
			}

			// ls -la /dev: the image has no ls.
			s, err := Open(t.Context(), e, Request{Container: name, Cmd: []string{"ls", "-la", "/dev"}}, provider(t))
			if err != nil {
				t.Fatal(err)
			}
			if !s.Used || !strings.Contains(s.Reason, "has no ls") || !strings.HasPrefix(s.Mount, "/dev/.berth-toolbox-") {
				t.Fatalf("session = %+v, want the toolbox for ls", s)
			}
			out, code := run(s, "")
			if code != 0 || !strings.Contains(out, "null") || !strings.Contains(out, filepath.Base(s.Mount)) {
				t.Fatalf("ls -la /dev: exit %d\n%s", code, out)
			}
			// Read-only: not even root in the container writes to it.
			w := &Session{Cmd: []string{s.Mount + "/sh", "-c", "echo x > " + s.Mount + "/new"}, Env: s.Env}
			if out, code := run(w, ""); code == 0 {
				t.Fatalf("writing into the toolbox worked:\n%s", out)
			}
			pid, err := e.(runtime.HostPIDer).HostPID(t.Context(), name)
			if err != nil {
				t.Fatal(err)
			}
			mnt := s.Mount
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(fmt.Sprintf("/proc/%d/root%s", pid, mnt)); !os.IsNotExist(err) {
				t.Fatalf("%s is still in the container after the session: %v", mnt, err)
			}

			// A shell fed from a pipe, as `berth exec -i NAME -- sh` and
			// `echo … | ml-ollama-enter` do.
			s, err = Open(t.Context(), e, Request{Container: name}, provider(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if !s.Used || !strings.Contains(s.Reason, "has no shell") {
				t.Fatalf("session = %+v, want the toolbox's shell", s)
			}
			out, code = run(s, "echo $((6*7)); id -u; ps | grep -c server; ping -c1 -W2 127.0.0.1 >/dev/null && echo pinged; exit 3\n")
			if code != 3 || !strings.Contains(out, "42\n0\n") {
				t.Fatalf("shell: exit %d\n%s", code, out)
			}
			if ec.name == "docker" && !strings.Contains(out, "pinged") {
				t.Errorf("ping did not answer in the container:\n%s", out)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			// What the image has runs as it is, without the toolbox …
			s, err = Open(t.Context(), e, Request{Container: name, Cmd: []string{fixture.Binary, "-stat", "/server"}}, provider(t))
			if err != nil {
				t.Fatal(err)
			}
			if s.Used {
				t.Fatalf("the toolbox came for a program the image has: %+v", s)
			}
			if out, code := run(s, ""); code != 0 {
				t.Fatalf("%v: exit %d\n%s", s.Cmd, code, out)
			}
			// … unless asked for.
			s, err = Open(t.Context(), e, Request{Container: name, Cmd: []string{"sh", "-c", "which wget"}, Force: true}, provider(t))
			if err != nil {
				t.Fatal(err)
			}
			if out, code := run(s, ""); !s.Used || code != 0 || !strings.Contains(out, s.Mount+"/wget") {
				t.Fatalf("--toolbox: used %v, exit %d\n%s", s.Used, code, out)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
