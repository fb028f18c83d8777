package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/voidnxlabs/berth/internal/cli"
)

// exampleBackupID is the made-up backup id of the help examples; the test
// gives the stack's newest backup in its place.
const exampleBackupID = "20261127-023000-1a2b"

// notInStack are services of the seed that the e2e stack leaves disabled.
var notInStack = []string{"dev-ml", "dev/dev-ml", "dev-chat-ui", "chat-ui", "ml-comfyui", "ml-vllm", "ml-localai"}

// skipExample says why an example of `berth --help` cannot run against the
// e2e stack, or "" when it runs. Every reason names where the same command
// is exercised instead, or what this machine lacks; the test prints the
// count per reason so that a growing list shows.
func skipExample(ex cli.Example) string {
	path := ex.Path
	args := ex.Args
	has := func(s ...string) bool {
		for _, a := range args {
			if slices.Contains(s, a) {
				return true
			}
		}
		return false
	}
	cmdIs := func(words ...string) bool { return len(args) >= len(words) && slices.Equal(args[:len(words)], words) }
	switch {
	case strings.HasPrefix(path, "berth cluster") || cmdIs("cluster") || has("--cluster"):
		return "needs a Kubernetes node (cluster/nodetest, BERTH_TEST_NODE=1)"
	case cmdIs("serve"):
		return "serves until stopped (web's tests run berth serve, in Chromium too)"
	case has(notInStack...):
		return "names a service the e2e stack leaves disabled"
	case cmdIs("ollama", "pull"):
		return "pulls from registry.ollama.ai, which this machine cannot reach"
	case slices.Contains(args, "-it") || slices.Contains(args, "-ti") || (has("-t", "--tty") && has("-i", "--interactive")):
		return "needs a terminal on standard input (-t); the refusal without one is interactive_exec.txtar's, the terminal itself web's TestBrowser"
	case cmdIs("image", "push"):
		return "pushes to a registry, which this machine cannot reach (image's TestTarballAndPush pushes to a local one)"
	case cmdIs("image", "build"), cmdIs("image", "lock"), cmdIs("image", "load"):
		return "builds a user's recipe (redis, app); the e2e stack's images are built by this test itself and image's tests"
	case cmdIs("import"):
		return "imports a compose file of images from a registry (compose's tests run import against real docker compose)"
	case has("ping"):
		return "pings the seed's address; the e2e stack uses its own subnet"
	case cmdIs("volume", "rm"):
		return "the demo declares no named volume (compose_import.txtar and volume's tests remove one)"
	case cmdIs("init"):
		return "" // writes under the rewritten /etc
	}
	return ""
}

// examplePhase orders the examples: those that make something the others
// read first, then the rest, then those that take something away.
func examplePhase(args []string) int {
	cmdIs := func(words ...string) bool { return len(args) >= len(words) && slices.Equal(args[:len(words)], words) }
	switch {
	case cmdIs("ollama", "create"), cmdIs("backup") && (len(args) == 1 || !slices.Contains([]string{"list", "verify", "prune"}, args[1])):
		return 0
	case cmdIs("ollama", "rm"), cmdIs("backup", "prune"), cmdIs("secret", "rotate"):
		return 2
	case cmdIs("restart"), cmdIs("stop"), cmdIs("restore"):
		return 3
	case cmdIs("rollback"):
		return 4
	case cmdIs("down"):
		return 5
	}
	return 1
}

// testHelpExamples runs every example of every command's help that needs
// the engine against the running stack, each as its line says, with the
// stack's config in place of the example's and these stand-ins: host
// paths (/etc, /mnt) under a directory of the test's, the files the
// examples name (tiny.gguf, schema.sql) in the working directory, and the
// stack's newest backup for the made-up backup id. Each must exit 0 (plan
// may say that changes are pending); `logs -f` and `status --watch` run
// for a few seconds and must have printed something. It runs last: it
// stops, restores, rolls back and takes down the stack, and ends with an
// up that must bring it back.
func testHelpExamples(s *stack) {
	exs, err := cli.Examples()
	if err != nil {
		s.t.Fatal(err)
	}
	work := s.t.TempDir()
	hostRoot := filepath.Join(work, "host")
	model := s.gguf()
	data, err := os.ReadFile(model)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, f := range []string{"tiny.gguf", "model.gguf"} {
		if err := os.WriteFile(filepath.Join(work, f), data, 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
	files := map[string]string{"schema.sql": "create table if not exists example_schema (id int primary key);\n"}
	s.t.Chdir(work)

	type run struct {
		ex    cli.Example
		phase int
	}
	var runs []run
	skipped := map[string]int{}
	for _, ex := range exs {
		if offline(ex) {
			continue // internal/cli's TestHelpExamples runs these
		}
		if why := skipExample(ex); why != "" {
			skipped[why]++
			s.t.Logf("skip %q: %s", ex.Line, why)
			continue
		}
		runs = append(runs, run{ex, examplePhase(ex.Args)})
	}
	slices.SortStableFunc(runs, func(a, b run) int { return a.phase - b.phase })

	ran := 0
	for _, r := range runs {
		ex := r.ex
		args := stackArgs(ex.Args, hostRoot, s.latestBackup)
		stdin := ex.Stdin
		if ex.StdinFile != "" {
			content, ok := files[ex.StdinFile]
			if !ok {
				s.t.Errorf("%q reads %s, which the test does not provide", ex.Line, ex.StdinFile)
				continue
			}
			stdin = content
		}
		follow := slices.Contains(args, "-f") || slices.Contains(args, "--follow") || slices.Contains(args, "--watch")
		timeout := 4 * time.Minute
		if follow {
			timeout = 4 * time.Second
		}
		for _, e := range ex.Env {
			k, v, _ := strings.Cut(e, "=")
			s.t.Setenv(k, v)
		}
		// Each `ollama rm NAME` removes a model an earlier example made;
		// two of them name the same one.
		if len(args) == 3 && args[0] == "ollama" && args[1] == "rm" {
			s.must("ollama", "create", args[2], filepath.Join(work, "tiny.gguf"))
		}
		ctx, cancel := context.WithTimeout(s.t.Context(), timeout)
		var o, e bytes.Buffer
		start := time.Now()
		full := append([]string{"--file", s.config}, args...)
		if ex.Path == "berth init" {
			full = args // init writes where it is told, here under the test's directory
		}
		code := cli.MainContext(ctx, full, strings.NewReader(stdin), &o, &e)
		timedOut := ctx.Err() != nil
		cancel()
		ran++
		switch {
		case follow && timedOut:
			if o.Len()+e.Len() == 0 { // Jupyter logs to stderr
				s.t.Errorf("%q printed nothing in %s", ex.Line, timeout)
			}
		case timedOut:
			s.t.Errorf("%q did not finish in %s", ex.Line, timeout)
		case code == cli.ExitOK, code == cli.ExitChanges && (ex.Cmd == "berth plan" || (len(args) > 0 && args[0] == "plan")):
		default:
			s.t.Errorf("%q (as berth %s) exited %d:\n%s%s", ex.Line, strings.Join(args, " "), code, tail(o.String()), e.String())
		}
		s.t.Logf("ran %q: exit %d in %s", ex.Line, code, time.Since(start).Round(10*time.Millisecond))
	}
	var reasons []string
	for why, n := range skipped {
		reasons = append(reasons, why+": "+strconv.Itoa(n))
	}
	slices.Sort(reasons)
	s.t.Logf("%d help examples ran against the stack; skipped:\n  %s", ran, strings.Join(reasons, "\n  "))
	if ran < 60 {
		s.t.Errorf("only %d engine examples ran", ran)
	}

	// The examples took the stack down: up brings it back, healthy.
	s.up()
	var rows []struct{ Name, State, Health string }
	if err := json.Unmarshal([]byte(s.must("status", "--json")), &rows); err != nil {
		s.t.Fatal(err)
	}
	for _, r := range rows {
		if r.State != "running" {
			s.t.Errorf("after the examples and up: %s is %s", r.Name, r.State)
		}
	}
}

// offline matches internal/cli's TestHelpExamples: the examples it runs
// with no engine.
func offline(ex cli.Example) bool {
	switch ex.Path {
	case "berth validate", "berth options", "berth schema", "berth aliases",
		"berth cluster render", "berth export compose", "berth gpu",
		"berth image list", "berth completion":
		return true
	case "berth systemd generate", "berth init":
		for _, a := range ex.Args {
			if strings.HasPrefix(a, "/") {
				return false // host paths: run here, rewritten
			}
		}
		return true
	case "berth plan":
		return slices.Contains(ex.Args, "--offline")
	case "berth cluster bootstrap":
		return !slices.Contains(ex.Args, "--apply")
	}
	return false
}

// stackArgs rewrites an example's arguments for the stack: the example's
// own config file dropped (the stack's is given), host paths under root,
// the made-up backup id replaced by the newest backup.
func stackArgs(args []string, root string, latest func() string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (a == "-f" || a == "--file") && len(out) == 0 && i+1 < len(args):
			i++ // the global -f before the command's name
			continue
		case strings.HasPrefix(a, "/etc/") || strings.HasPrefix(a, "/mnt/"):
			a = filepath.Join(root, a)
		case a == exampleBackupID:
			a = latest()
		default:
			// The seed's subnets may be the running demo's: a free one.
			a = strings.ReplaceAll(a, "192.168.200.0/24", "10.217.9.0/24")
		}
		out = append(out, a)
	}
	return out
}

// latestBackup is the id of the stack's newest backup.
func (s *stack) latestBackup() string {
	var list []struct{ ID string }
	if err := json.Unmarshal([]byte(s.must("backup", "list", "--json")), &list); err != nil || len(list) == 0 {
		s.t.Fatalf("backup list: %v (%d backups)", err, len(list))
	}
	newest := list[0].ID
	for _, b := range list {
		if b.ID > newest {
			newest = b.ID
		}
	}
	return newest
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}
