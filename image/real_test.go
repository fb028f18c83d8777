package image

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/internal/testenv"
	"github.com/voidnxlabs/berth/runtime"
)

// realCase is a built-in recipe run for real: how to start it and what it
// must answer.
type realCase struct {
	name  string
	heavy bool // a long build: left out of -short runs (CI runs them)
	port  uint16
	env   []string
	check func(t *testing.T, ctx context.Context, eng runtime.Engine, ctr string, port uint16) error
}

var realCases = []realCase{
	{name: "redis", port: 6379, check: func(t *testing.T, ctx context.Context, _ runtime.Engine, _ string, port uint16) error {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprintf(c, "PING\r\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return err
		}
		if line != "+PONG\r\n" {
			return fmt.Errorf("PING answered %q", line)
		}
		return nil
	}},
	// PostgreSQL's initdb and server refuse to run as root, so a query
	// answered proves the cluster was initialised by the postgres user.
	{name: "postgres-dev", port: 5432, env: []string{"POSTGRES_PASSWORD=berth-test"}, check: func(t *testing.T, ctx context.Context, _ runtime.Engine, _ string, port uint16) error {
		psql, err := exec.LookPath("psql")
		if err != nil {
			t.Skip("no psql client on this machine")
		}
		cmd := exec.CommandContext(ctx, psql, "-h", "127.0.0.1", "-p", fmt.Sprint(port), "-U", "postgres", "-tAc", "select current_user || ' ' || (select setting from pg_settings where name = 'server_version_num')")
		cmd.Env = append(os.Environ(), "PGPASSWORD=berth-test", "PGCONNECT_TIMEOUT=2")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("psql: %v: %s", err, out)
		}
		if !strings.HasPrefix(string(out), "postgres 15") {
			return fmt.Errorf("query answered %q", out)
		}
		return nil
	}},
	{name: "nginx-proxy", port: 8080, check: httpCheck("/", "nginx-proxy is running")},
	{name: "app", port: 8080, check: httpCheck("/healthz", "ok")},
	{name: "python-ml", port: 8888, check: func(t *testing.T, ctx context.Context, eng runtime.Engine, ctr string, port uint16) error {
		if err := httpCheck("/api", `"version"`)(t, ctx, eng, ctr, port); err != nil {
			return err
		}
		var out bytes.Buffer
		code, err := eng.Exec(ctx, ctr, runtime.ExecOptions{Cmd: []string{"python3", "-c", "import numpy; print(numpy.linalg.inv([[2.0, 0], [0, 4.0]]).trace())"}, Stdout: &out, Stderr: &out})
		if err != nil || code != 0 {
			return fmt.Errorf("import numpy: exit %d, %v: %s", code, err, out.String())
		}
		if strings.TrimSpace(out.String()) != "0.75" {
			return fmt.Errorf("numpy answered %q", out.String())
		}
		return nil
	}},
	// JupyterLab from PyPI, installed without pip: the server answers
	// and a kernel's Python (from Debian) runs.
	{name: "jupyterlab", port: 8888, env: []string{"JUPYTER_TOKEN=berth-test"}, check: func(t *testing.T, ctx context.Context, eng runtime.Engine, ctr string, port uint16) error {
		if err := httpCheck("/lab?token=berth-test", "<title>JupyterLab")(t, ctx, eng, ctr, port); err != nil {
			return err
		}
		var out bytes.Buffer
		code, err := eng.Exec(ctx, ctr, runtime.ExecOptions{Cmd: []string{"python3", "-c", "import jupyterlab, ipykernel, zmq; print(jupyterlab.__version__[0])"}, Stdout: &out, Stderr: &out})
		if err != nil || code != 0 || strings.TrimSpace(out.String()) != "4" {
			return fmt.Errorf("import jupyterlab: exit %d, %v: %s", code, err, out.String())
		}
		return nil
	}},
	{name: "nodejs-dev", check: nil},
	{name: "go-dev", check: nil},
	{name: "cuda-runtime", heavy: true, check: nil},
	{name: "ollama", heavy: true, port: 11434, check: func(t *testing.T, ctx context.Context, eng runtime.Engine, ctr string, port uint16) error {
		if err := httpCheck("/api/version", `"version":"0.17.4"`)(t, ctx, eng, ctr, port); err != nil {
			return err
		}
		return httpCheck("/api/tags", `"models"`)(t, ctx, eng, ctr, port)
	}},
}

func httpCheck(path, want string) func(*testing.T, context.Context, runtime.Engine, string, uint16) error {
	return func(t *testing.T, ctx context.Context, _ runtime.Engine, _ string, port uint16) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			return fmt.Errorf("GET %s: %s %q", path, resp.Status, b)
		}
		return nil
	}
}

// freePort asks the kernel for an unused loopback port to publish on.
func freePort(t *testing.T) uint16 {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// TestBuiltinImages builds each built-in recipe twice from one lock (the
// digests must match), loads it into the Docker daemon and checks that
// the program really serves.
func TestBuiltinImages(t *testing.T) {
	eng := testenv.Docker(t)
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	// The download cache is the user's, so that repeated runs download
	// nothing; locks are fresh, so each run resolves against today's
	// archive.
	lockDir := t.TempDir()
	wd, _ := os.Getwd()
	// The first build makes every layer afresh; the second may take them
	// from the layer cache, which a change of the layer format without a
	// change of its version would make disagree.
	newBuilder := func(fresh bool) *Builder {
		b, err := NewBuilder(Options{CacheDir: filepath.Join(cache, "berth"), LockDir: lockDir, WorkDir: filepath.Dir(wd), NoLayerCache: fresh})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	builtin := Builtin()
	for _, c := range realCases {
		t.Run(c.name, func(t *testing.T) {
			if c.heavy && testing.Short() {
				t.Skip("long build; run without -short")
			}
			r := builtin[c.name]
			first, err := newBuilder(true).Build(t.Context(), r)
			if err != nil {
				if strings.Contains(err.Error(), "fetching http") && os.Getenv("CI") != "true" {
					t.Skipf("the Debian archive is not reachable: %v", err)
				}
				t.Fatal(err)
			}
			second, err := newBuilder(false).Build(t.Context(), r)
			if err != nil {
				t.Fatal(err)
			}
			if first.Digest != second.Digest {
				t.Fatalf("two builds from one lock differ: %s and %s", first.Digest, second.Digest)
			}
			t.Logf("%s: %s, %.1f MB compressed, %d packages, %d layers", c.name, first.Digest, float64(first.Size)/1e6, len(first.Lock.Packages), len(first.Layers))
			ref := fmt.Sprintf("berth-test/%s:%s", c.name, first.Digest.Hex[:12])
			if _, err := Load(t.Context(), eng, first.Image, ref); err != nil {
				t.Fatal(err)
			}
			if c.check == nil {
				return
			}
			port := freePort(t)
			name := fmt.Sprintf("berth-imgtest-%s-%d", c.name, time.Now().UnixNano()%1e6)
			spec := runtime.ContainerSpec{
				Name: name, Image: ref, Env: c.env,
				Labels: map[string]string{"io.berth.test": "image"},
				Ports:  []runtime.Port{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: port, ContainerPort: c.port, Protocol: "tcp"}},
			}
			if _, err := eng.CreateContainer(t.Context(), spec); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { eng.RemoveContainer(context.Background(), name) })
			if err := eng.StartContainer(t.Context(), name); err != nil {
				t.Fatal(err)
			}
			// Poll with a deadline: the services need a moment to start.
			deadline := time.Now().Add(60 * time.Second)
			for {
				err := c.check(t, t.Context(), eng, name, port)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					var logs bytes.Buffer
					eng.Logs(context.Background(), name, runtime.LogOptions{Tail: 30}, &logs, &logs)
					t.Fatalf("%s never answered: %v\nlogs:\n%s", c.name, err, logs.String())
				}
				ctr, ierr := eng.InspectContainer(t.Context(), name)
				if ierr == nil && ctr.State == runtime.StateExited {
					var logs bytes.Buffer
					eng.Logs(context.Background(), name, runtime.LogOptions{Tail: 30}, &logs, &logs)
					t.Fatalf("%s exited with %d\nlogs:\n%s", c.name, ctr.ExitCode, logs.String())
				}
				select {
				case <-t.Context().Done():
					t.Fatal(t.Context().Err())
				case <-time.After(200 * time.Millisecond):
				}
			}
		})
	}
}
