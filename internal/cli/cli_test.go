package cli_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/voidnxlabs/berth/internal/cli"
	"github.com/voidnxlabs/berth/internal/fixture"
	"github.com/voidnxlabs/berth/runtime/docker"
)

// TestMain lets testscript run the real main as the "berth" program.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"berth": func() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI transcripts in testdata/script. BERTH_UPDATE=1
// rewrites their expected output in place.
func TestScripts(t *testing.T) { testscript.Run(t, withFixture(t, params("testdata/script"))) }

// TestDockerdRestart restarts the Docker daemon under a running project and
// checks that the next up converges. Restarting the daemon breaks tests
// that run at the same time, so it runs only when BERTH_TEST_DOCKERD_RESTART
// is 1: 'make test' runs it in a step of its own after the others.
func TestDockerdRestart(t *testing.T) {
	if os.Getenv("BERTH_TEST_DOCKERD_RESTART") != "1" {
		t.Skip("restarts dockerd; run with BERTH_TEST_DOCKERD_RESTART=1 (make test does)")
	}
	if !dockerReachable() {
		t.Fatal("no Docker engine reachable")
	}
	setup, err := filepath.Abs("../../scripts/docker-setup.sh")
	if err != nil {
		t.Fatal(err)
	}
	p := withFixture(t, params("testdata/restart"))
	// restart-dockerd stops the daemon, waits until it is gone and starts
	// it again the way the test set-up does.
	p.Cmds["restart-dockerd"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if err := exec.Command("pkill", "-x", "dockerd").Run(); err != nil {
			ts.Fatalf("stopping dockerd: %v", err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for exec.Command("pgrep", "-x", "dockerd").Run() == nil {
			if time.Now().After(deadline) {
				ts.Fatalf("dockerd did not stop")
			}
			time.Sleep(50 * time.Millisecond)
		}
		out, err := exec.Command("bash", setup).CombinedOutput()
		if err != nil {
			ts.Fatalf("starting dockerd: %v\n%s", err, out)
		}
	}
	testscript.Run(t, p)
}

// withFixture loads the fixture images for engine scripts.
func withFixture(t *testing.T, p testscript.Params) testscript.Params {
	// Engine scripts run the fixture image (a static HTTP server): nothing
	// can be pulled here, so it is loaded into the engine under a fixed tag.
	if dockerReachable() {
		e, err := docker.New(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		fixture.LoadAs(t, e, fixture.Image(t, ""), fixtureRef)
		fixture.LoadAs(t, e, fixture.Image(t, "v2"), fixtureRef2)
		e.Close()
	}
	setup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		env.Setenv("FIXTURE", fixtureRef)
		env.Setenv("FIXTURE2", fixtureRef2)
		return setup(env)
	}
	return p
}

// The tags the fixture images are loaded under for the scripts.
const (
	fixtureRef  = "berth-fixture:script"
	fixtureRef2 = "berth-fixture:script-v2"
)

// TestBadConfig runs one script per kind of config mistake, each with the
// exact error text and exit code a user sees.
func TestBadConfig(t *testing.T) { testscript.Run(t, params("testdata/script/badconfig")) }

func params(dir string) testscript.Params {
	return testscript.Params{
		Dir:           dir,
		UpdateScripts: os.Getenv("BERTH_UPDATE") != "",
		Setup: func(env *testscript.Env) error {
			// Keep the user's environment out of the scripts.
			env.Setenv("BERTH_CONFIG", "")
			env.Setenv("XDG_STATE_HOME", env.WorkDir+"/.state")
			// As root the default is /var/lib/berth: keep scripts out of it.
			env.Setenv("BERTH_STATE_DIR", env.WorkDir+"/.state/berth")
			env.Setenv("CI", os.Getenv("CI"))
			// Scripts that build Go programs share the host's build cache.
			if out, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil {
				env.Setenv("GOCACHE_HOST", strings.TrimSpace(string(out)))
			}
			if h := os.Getenv("DOCKER_HOST"); h != "" {
				env.Setenv("DOCKER_HOST", h)
			}
			// berth's download cache (Debian packages, the toolbox) is
			// the host's, content-addressed and checked on every use: a
			// script that needs a package fetches it once per machine.
			if d, err := os.UserCacheDir(); err == nil {
				env.Setenv("XDG_CACHE_HOME", d)
			}
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "docker":
				ok := dockerReachable()
				if !ok && os.Getenv("CI") == "true" {
					return false, errors.New("no Docker engine reachable and CI=true: engine tests must not be skipped")
				}
				return ok, nil
			case "root":
				return os.Geteuid() == 0, nil
			case "syscfg":
				// The host has a system-wide berth.yaml, which a script
				// that finds none would find.
				_, err := os.Stat("/etc/berth/berth.yaml")
				return err == nil && os.Geteuid() == 0, nil
			case "gpu":
				// A GPU the host's driver knows: NVIDIA's proc file or AMD's kfd.
				for _, p := range []string{"/proc/driver/nvidia/version", "/dev/kfd"} {
					if _, err := os.Stat(p); err == nil {
						return true, nil
					}
				}
				return false, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// await-container NAME [STATE] polls the engine until container
			// NAME exists (and is in STATE), for 60 seconds at most.
			"await-container": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 1 || len(args) > 2 {
					ts.Fatalf("usage: await-container NAME [STATE]")
				}
				deadline := time.Now().Add(60 * time.Second)
				for time.Now().Before(deadline) {
					out, err := exec.Command("docker", "inspect", "-f", "{{.State.Status}}", args[0]).Output()
					if err == nil && (len(args) == 1 || strings.TrimSpace(string(out)) == args[1]) {
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
				ts.Fatalf("container %s did not appear", args[0])
			},
			// code N CMD ARGS... runs CMD and checks that it exits with N.
			"code": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 2 {
					ts.Fatalf("usage: code N command [args...]")
				}
				want, err := strconv.Atoi(args[0])
				if err != nil {
					ts.Fatalf("code: bad exit code %q", args[0])
				}
				got := 0
				if err := ts.Exec(args[1], args[2:]...); err != nil {
					var ee *exec.ExitError
					if !errors.As(err, &ee) {
						ts.Fatalf("code: %v", err)
					}
					got = ee.ExitCode()
				}
				if (got == want) == neg {
					ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
				}
			},
		},
	}
}

func dockerReachable() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "docker", "info").Run() == nil
}
