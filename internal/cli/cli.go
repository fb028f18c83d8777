// Package cli is berth's command line: it parses flags into options, calls
// one library function per command and formats the result. It is the only
// package that prints or picks an exit code.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/internal/termsafe"
	"github.com/voidnxlabs/berth/state"
)

// Exit codes, documented in README.md.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitChanges     = 2 // plan: changes pending; validate: config invalid
	ExitUnreachable = 3 // the engine did not answer
)

// exitError carries an exit code and an optional hint through cobra.
type exitError struct {
	code   int
	err    error
	hint   string
	silent bool // the command already printed what the user needs
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// withHint attaches a hint line to err.
func withHint(err error, code int, hint string) error {
	return &exitError{code: code, err: err, hint: hint}
}

// exitCode ends the command with code and no further message.
func exitCode(code int) error { return &exitError{code: code, silent: true} }

// globals are the options every command shares.
type globals struct {
	configFile string
	stateDir   string
	runtime    string
	json       bool

	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	ctx            context.Context

	buildProgress *buildProgress // image build events, see progress
}

// Main runs berth with args and returns the process exit code. An
// interrupt or SIGTERM cancels the command.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return MainContext(ctx, args, stdin, stdout, stderr)
}

// MainContext is Main under ctx: cancelling it stops the command as an
// interrupt would (tests bound `logs -f` and `status --watch` this way).
func MainContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv, ctx: ctx}
	root := newRoot(g)
	root.SetArgs(hoistFile(args))
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if !ee.silent && ee.err != nil {
			fmt.Fprintf(stderr, "berth: error: %s\n", termsafe.Text(ee.err.Error()))
		}
		if ee.hint != "" {
			fmt.Fprintf(stderr, "berth: hint: %s\n", termsafe.Text(ee.hint))
		}
		return ee.code
	}
	// Errors carry engine answers and container output: escaped.
	fmt.Fprintf(stderr, "berth: error: %s\n", termsafe.Text(err.Error()))
	if errors.Is(err, state.ErrBadSecret) {
		fmt.Fprintf(stderr, "berth: hint: 'berth secret rotate NAME' writes a new value; a database set up with the old one needs its password changed too\n")
		return ExitFailure
	}
	// Flag and argument errors from cobra itself.
	if isUsageError(err) {
		fmt.Fprintf(stderr, "berth: hint: run 'berth --help' for usage\n")
	}
	return ExitFailure
}

// hoistFile rewrites the global -f FILE (and -fFILE) that stands before
// the command's name into --file=FILE, so that a command with its own -f
// (logs -f is --follow, as in docker logs) still reads it as the config
// file: `berth -f FILE logs -f NAME` works as `docker compose -f FILE logs
// -f NAME` does. After the command's name, -f is the command's.
func hoistFile(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--" || !strings.HasPrefix(a, "-") || a == "-":
			// The command's name (or the end of flags): the rest is its.
			return append(out, args[i:]...)
		case a == "-f" && i+1 < len(args):
			out = append(out, "--file="+args[i+1])
			i++
		case strings.HasPrefix(a, "-f") && len(a) > 2 && !strings.HasPrefix(a, "--"):
			out = append(out, "--file="+strings.TrimPrefix(strings.TrimPrefix(a, "-f"), "="))
		case (a == "--file" || a == "--state-dir" || a == "--runtime") && i+1 < len(args):
			// Global flags with a separate value: the value is no command name.
			out = append(out, a+"="+args[i+1])
			i++
		default:
			out = append(out, a)
		}
	}
	return out
}

// commands lists the constructors of berth's subcommands. Each file that
// defines a command adds itself here from an init function, so commands can
// be written independently.
var commands []func(*globals) *cobra.Command

func register(f func(*globals) *cobra.Command) { commands = append(commands, f) }

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "berth",
		Short: "Declarative containers for an AI/ML workstation and its dev stack",
		Long: `berth makes this machine's containers match berth.yaml: kits of services
(ml: Ollama, Jupyter, ComfyUI, vLLM, LocalAI; dev: dev-ml, chat-ui,
code-server, proxy, postgres) on private networks at fixed addresses,
with GPUs passed through and data kept on the host.

Exit codes: 0 ok, 1 failure, 2 changes pending (plan) or config invalid
(validate), 3 engine unreachable.`,
		Example: `  berth init                 # write the seed's berth.yaml
  berth validate             # check it
  berth plan --offline       # what would run, where
  berth up ml                # start the ML kit
  berth status --json`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		DisableAutoGenTag: true,
	}
	root.CompletionOptions.HiddenDefaultCmd = false
	pf := root.PersistentFlags()
	pf.StringVarP(&g.configFile, "file", "f", "", "config file (default: $BERTH_CONFIG, else berth.yaml here or in the nearest parent, else /etc/berth/berth.yaml as root or $XDG_CONFIG_HOME/berth/berth.yaml)")
	pf.StringVar(&g.stateDir, "state-dir", "", "state directory (default: /var/lib/berth as root, else $XDG_STATE_HOME/berth)")
	pf.StringVar(&g.runtime, "runtime", "", "container engine: auto, docker, podman or nspawn (overrides the config)")
	for _, f := range commands {
		root.AddCommand(f(g))
	}
	return root
}

// addJSON adds the --json flag to a read command.
func addJSON(cmd *cobra.Command, g *globals) {
	cmd.Flags().BoolVar(&g.json, "json", false, "print the result as JSON")
}

// isUsageError reports an error cobra makes for a wrong command line.
func isUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "required flag"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
