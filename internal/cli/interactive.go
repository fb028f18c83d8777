package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/voidnxlabs/berth/project"
	"github.com/voidnxlabs/berth/runtime"
)

func init() {
	register(newExecCmd)
	register(newEnterCmd)
	register(newLogsCmd)
}

// execOptions are the flags of exec and enter.
type execOptions struct {
	interactive bool
	tty         bool
	user        string
	env         []string
	shell       string
	toolbox     bool
}

func newExecCmd(g *globals) *cobra.Command {
	var o execOptions
	cmd := &cobra.Command{
		Use:   "exec NAME [--] CMD [ARG...]",
		Short: "Run one command in a running container; its exit code becomes berth's",
		Long: `exec runs CMD in the running container NAME (a container, ml-ollama, or a
service, ml/ollama) and exits with CMD's exit code, whatever it is.

Without -i the command's standard input is empty; with -i berth's input
is copied to it (pipes work). -t gives it a terminal, like docker exec
-t; -it needs berth's input to be a terminal. Without -t, the command's
stdout and stderr stay apart.

Flags go before NAME: everything after NAME is the command, so
'berth exec ml-ollama ls -la' needs no --.

When the image lacks the command (ls, ping, sh …) and berth's toolbox
has it, the toolbox's is run, as 'berth enter' explains.

berth's own failures (unknown NAME, a stopped container) print
'berth: error:' and exit 1.`,
		Example: `  berth exec ml-ollama -- ollama list
  berth exec dev/postgres -- pg_isready
  berth exec -i dev-postgres -- psql -U postgres < schema.sql
  berth exec -it -u root ml-jupyter -- bash
  berth exec -e LOG_LEVEL=debug dev-ml -- python3 train.py`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeFirstTarget(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, argv := args[0], args[1:]
			// 'berth exec NAME --help' asks for this help: no container has a
			// program named --help, and '--' still passes one through
			// ('exec NAME -- --help').
			if len(argv) == 1 && (argv[0] == "--help" || argv[0] == "-h") {
				return cmd.Help()
			}
			if len(argv) > 0 && argv[0] == "--" {
				argv = argv[1:]
			}
			if len(argv) == 0 {
				return withHint(errors.New("exec needs a command to run"), ExitFailure,
					fmt.Sprintf("for example 'berth exec %s -- ls /', or 'berth enter %s' for a shell", name, name))
			}
			return g.execIn(name, argv, o)
		},
	}
	// Everything after NAME is the command's, flags included.
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().BoolVarP(&o.interactive, "interactive", "i", false, "copy berth's standard input to the command")
	cmd.Flags().BoolVarP(&o.tty, "tty", "t", false, "give the command a terminal")
	cmd.Flags().StringVarP(&o.user, "user", "u", "", "user[:group] to run as (default: the container's)")
	cmd.Flags().StringArrayVarP(&o.env, "env", "e", nil, "set KEY=VALUE in the command's environment (repeatable)")
	cmd.Flags().BoolVar(&o.toolbox, "toolbox", false, "bring berth's toolbox (BusyBox) even when the image has the command")
	return cmd
}

func newEnterCmd(g *globals) *cobra.Command {
	var o execOptions
	cmd := &cobra.Command{
		Use:   "enter NAME [CMD [ARG...]]",
		Short: "Open a shell in a running container, with berth's toolbox where the image has none",
		Long: `enter opens a shell in the running container NAME (a container, ml-ollama,
or a service, ml/ollama). On a terminal the session is a real one:
berth's terminal is put in raw mode, and window size changes follow into
the container. The shell is bash when the container has it, else sh (or
--shell). The shell's exit code becomes berth's.

Without a terminal the shell reads its commands from standard input, so
'echo "ls -la /dev" | berth enter ml-ollama' works, and the seed's
aliases (ml-ollama-enter) work in scripts. A command after NAME runs
instead of a shell: 'berth enter ml-ollama ls -la /dev'.

When the image has no shell, or not the program asked for, berth brings
its toolbox: a static BusyBox from Debian's busybox-static (pinned like
every package of berth's images), mounted read-only into the container
under /dev/.berth-toolbox-* for the session only, with its programs at
the end of PATH. enter says so on stderr. The first use resolves and
fetches it; its lock is the machine's, in berth's cache
(~/.cache/berth/locks/toolbox.lock.json). --toolbox brings it along even
when the image has a shell, for the tools the image lacks (ping, ps, vi,
wget …). The toolbox needs root and an engine on this machine.`,
		Example: `  berth enter ml-ollama
  berth enter --user postgres dev/postgres
  berth enter --shell /usr/bin/zsh dev-ml
  berth enter ml-ollama ls -la /dev
  echo 'ls -la /dev; ps' | berth enter ml-ollama
  berth enter -u 0 ml-ollama ping -c1 192.168.200.10
  berth enter --toolbox dev-postgres`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeFirstTarget(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, argv := args[0], args[1:]
			// As for exec: 'berth enter NAME --help' (the seed's
			// ml-ollama-enter --help) asks for this help.
			if len(argv) == 1 && (argv[0] == "--help" || argv[0] == "-h") {
				return cmd.Help()
			}
			if len(argv) > 0 && argv[0] == "--" {
				argv = argv[1:]
			}
			if len(argv) == 0 {
				argv = nil
			}
			// Input is always the session's: typed on a terminal, else
			// read from the pipe.
			// /dev/null is a character device but no terminal: ask the
			// terminal driver, not the file mode.
			f, ok := g.stdin.(*os.File)
			o.interactive, o.tty = true, ok && term.IsTerminal(int(f.Fd()))
			return g.execIn(name, argv, o)
		},
	}
	// Everything after NAME is the command's, flags included.
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVarP(&o.user, "user", "u", "", "user[:group] to run the shell as (default: the container's)")
	cmd.Flags().StringVar(&o.shell, "shell", "", "shell to run (default: bash if the container has it, else sh)")
	cmd.Flags().StringArrayVarP(&o.env, "env", "e", nil, "set KEY=VALUE in the shell's environment (repeatable)")
	cmd.Flags().BoolVar(&o.toolbox, "toolbox", false, "bring berth's toolbox (BusyBox) even when the image has a shell")
	return cmd
}

// completeFirstTarget completes NAME only: what follows is the command's.
func completeFirstTarget(g *globals) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	complete := completeTargets(g)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveDefault
		}
		return complete(cmd, args, toComplete)
	}
}

// execIn runs argv in container NAME, or a shell when argv is empty, and
// passes its exit code on.
func (g *globals) execIn(name string, argv []string, o execOptions) error {
	if o.tty && o.interactive && !isTerminal(g.stdin) {
		return withHint(errors.New("-t with -i needs a terminal on standard input"), ExitFailure,
			"leave out -t to pipe input into the command")
	}
	p, err := g.open()
	if err != nil {
		return err
	}
	defer p.Close()
	env := slices.Clone(o.env)
	if o.tty && !hasEnv(env, "TERM") {
		t := g.getenv("TERM")
		if t == "" || t == "dumb" {
			t = "xterm"
		}
		env = append(env, "TERM="+t)
	}
	eo := project.ExecOptions{Target: name, Cmd: argv, Shell: o.shell, Env: env, User: o.user, TTY: o.tty, Toolbox: o.toolbox,
		Stdout: g.stdout, Stderr: g.stderr, Events: g.printEvent}
	if o.interactive {
		eo.Stdin = g.stdin
	}
	if o.tty {
		t, err := openTerminal(g.stdin, g.stdout, o.interactive)
		if err != nil {
			return err
		}
		defer t.Close()
		eo.Resize = t.resize
	}
	res, err := p.Exec(g.ctx, eo)
	if errors.Is(err, context.Canceled) {
		// Ctrl-C without a terminal: the command in the container is left
		// to finish on its own, as with docker exec; 130 is the shell's
		// code for an interrupt.
		return exitCode(130)
	}
	if err != nil {
		return g.fail(err)
	}
	if res.ExitCode != 0 {
		return exitCode(res.ExitCode)
	}
	return nil
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

// terminal is the local terminal during an interactive exec: in raw mode
// when input is copied, with its size changes on resize.
type terminal struct {
	inFd    int
	state   *term.State
	resize  chan [2]uint
	signals chan os.Signal
	done    chan struct{}
	wg      sync.WaitGroup
}

// openTerminal prepares the local terminal. The size comes from out when
// it is a terminal, else from in. raw puts in into raw mode, so that keys
// like Ctrl-C and Ctrl-D reach the container instead of berth.
func openTerminal(in io.Reader, out io.Writer, raw bool) (*terminal, error) {
	t := &terminal{inFd: -1, resize: make(chan [2]uint, 1), done: make(chan struct{})}
	sizeFd := -1
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		sizeFd = int(f.Fd())
	}
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		t.inFd = int(f.Fd())
		if sizeFd < 0 {
			sizeFd = t.inFd
		}
	}
	if raw && t.inFd >= 0 {
		st, err := term.MakeRaw(t.inFd)
		if err != nil {
			return nil, fmt.Errorf("putting the terminal in raw mode: %w", err)
		}
		t.state = st
	}
	if sizeFd < 0 {
		return t, nil
	}
	send := func() {
		w, h, err := term.GetSize(sizeFd)
		if err != nil || w <= 0 || h <= 0 {
			return
		}
		sz := [2]uint{uint(h), uint(w)}
		// Keep only the newest size: an older one still queued is stale.
		select {
		case t.resize <- sz:
		default:
			select {
			case <-t.resize:
			default:
			}
			t.resize <- sz
		}
	}
	send()
	t.signals = make(chan os.Signal, 1)
	signal.Notify(t.signals, syscall.SIGWINCH)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		for {
			select {
			case <-t.done:
				return
			case <-t.signals:
				send()
			}
		}
	}()
	return t, nil
}

// Close stops following size changes and restores the terminal's mode.
func (t *terminal) Close() {
	if t.signals != nil {
		signal.Stop(t.signals)
	}
	close(t.done)
	t.wg.Wait()
	if t.state != nil {
		_ = term.Restore(t.inFd, t.state)
	}
}

// logsOptions are the flags of logs.
type logsOptions struct {
	follow     bool
	since      string
	tail       int
	timestamps bool
	prefix     bool
}

func newLogsCmd(g *globals) *cobra.Command {
	o := logsOptions{tail: -1}
	cmd := &cobra.Command{
		Use:   "logs [TARGET...]",
		Short: "Show the logs of containers; a kit's are merged with name prefixes",
		Long: `logs prints what containers wrote to stdout and stderr, each to berth's
own stdout and stderr. A TARGET is a container (ml-ollama), a kit (ml), a
service (ml/ollama), a stack, or nothing for every enabled service.

One container's logs are printed as they are. Several containers' logs
are merged: each line starts with the container's name and ' | ', and
lines are never cut into one another. Without -f they are merged in time
order; with -f lines show as they arrive, until every container stops or
Ctrl-C. On a terminal the names are coloured (NO_COLOR turns that off);
the name is always there.

--since takes a duration back from now (10m, 2h) or a time (RFC 3339,
2026-11-27T10:00:00Z, or a date, 2026-11-27). --tail N keeps the last N
lines of each container.

Here -f is --follow, as in docker logs; a -f before the command's name is
still the config file: berth -f FILE logs -f NAME.`,
		Example: `  berth logs ml-ollama
  berth logs -f dev
  berth logs ml --since 10m
  berth logs dev/postgres --tail 50 --timestamps
  berth logs ml-ollama dev-chat-ui -f --tail 0
  berth -f examples/demo.yaml logs -f ml-jupyter`,
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.logs(args, o)
		},
	}
	// -f is --follow here, as in docker logs and tail -f; the config file
	// takes the long --file, which this local flag keeps working (it hides
	// the global -f shorthand). Main turns a -f before the command's name
	// into --file (hoistFile).
	cmd.Flags().StringVar(&g.configFile, "file", "", "config file (as the global -f)")
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "keep printing new lines until the containers stop or Ctrl-C")
	cmd.Flags().StringVar(&o.since, "since", "", "only lines since a time (RFC 3339 or a date) or a duration back (10m)")
	cmd.Flags().IntVarP(&o.tail, "tail", "n", -1, "only the last N lines of each container (-1: all)")
	cmd.Flags().BoolVarP(&o.timestamps, "timestamps", "t", false, "start each line with the time the engine received it")
	cmd.Flags().BoolVar(&o.prefix, "prefix", false, "prefix lines with the container's name even for one container")
	return cmd
}

// parseSince reads --since: a duration back from now, an RFC 3339 time
// or a local date (and time).
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			d = -d
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	return time.Time{}, fmt.Errorf("--since %q is neither a duration nor a time", s)
}

func (g *globals) logs(args []string, o logsOptions) error {
	lo := runtime.LogOptions{Follow: o.follow, Tail: o.tail, Timestamps: o.timestamps}
	if o.tail < -1 {
		return withHint(fmt.Errorf("--tail %d is negative", o.tail), ExitFailure, "--tail N keeps the last N lines; -1 (the default) keeps all")
	}
	if o.since != "" {
		t, err := parseSince(o.since, time.Now())
		if err != nil {
			return withHint(err, ExitFailure, "for example --since 10m, --since 2h or --since 2026-11-27T10:00:00Z")
		}
		lo.Since = t
	}
	p, err := g.open()
	if err != nil {
		return err
	}
	defer p.Close()
	sel, err := p.Config().Select(args)
	if err != nil {
		return g.fail(err)
	}
	// The prefix depends on what was asked for, not on what exists, so
	// that a kit's logs look the same while one of its containers is gone.
	var all []string
	for _, s := range sel {
		all = append(all, s.Container)
	}
	var pf *prefixer
	if len(all) > 1 || o.prefix {
		pf = newPrefixer(all, colourOn(g, g.stdout), colourOn(g, g.stderr))
	}
	var outMu, errMu sync.Mutex
	errLock := &errMu
	if sameWriter(g.stdout, g.stderr) {
		// One destination for both streams takes one lock.
		errLock = &outMu
	}
	_, err = p.Logs(g.ctx, project.LogsOptions{
		Targets: args, Follow: o.follow, Since: lo.Since, Tail: o.tail, Timestamps: o.timestamps,
		Events: g.printEvent,
		Line: func(l project.LogLine) {
			w, mu := g.stdout, &outMu
			if l.Stderr {
				w, mu = g.stderr, errLock
			}
			var b []byte
			if pf != nil {
				b = append(b, pf.of(l.Container, l.Stderr)...)
			}
			if o.timestamps && l.Stamp != "" {
				b = append(b, l.Stamp+" "...)
			}
			b = append(b, l.Text...)
			mu.Lock()
			w.Write(b)
			mu.Unlock()
		},
	})
	return g.fail(err)
}

// colourOn reports whether w gets coloured prefixes: a terminal, and no
// NO_COLOR in the environment (https://no-color.org).
func colourOn(g *globals, w io.Writer) bool {
	return isTerminal(w) && g.getenv("NO_COLOR") == "" && g.getenv("TERM") != "dumb"
}

// prefixer makes the "name | " prefixes of merged logs, padded to the
// longest name, coloured per container where the output is a terminal.
type prefixer struct {
	plain  map[string]string
	colour map[string]string
	useOut bool
	useErr bool
}

// colours are ANSI foreground colours; red is left out, as it reads as an
// error.
var colours = []string{"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"}

func newPrefixer(names []string, colourOut, colourErr bool) *prefixer {
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	p := &prefixer{plain: map[string]string{}, colour: map[string]string{}, useOut: colourOut, useErr: colourErr}
	for i, n := range names {
		pad := n + strings.Repeat(" ", width-len(n))
		p.plain[n] = pad + " | "
		p.colour[n] = "\x1b[" + colours[i%len(colours)] + "m" + pad + " |\x1b[0m "
	}
	return p
}

func (p *prefixer) of(name string, stderr bool) string {
	if (stderr && p.useErr) || (!stderr && p.useOut) {
		return p.colour[name]
	}
	return p.plain[name]
}

func sameWriter(a, b io.Writer) bool {
	fa, ok1 := a.(*os.File)
	fb, ok2 := b.(*os.File)
	if ok1 && ok2 {
		return fa.Fd() == fb.Fd()
	}
	return a == b
}
