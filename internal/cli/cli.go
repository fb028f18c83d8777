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
}

// Main runs berth with args and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv, ctx: ctx}
	root := newRoot(g)
	root.SetArgs(args)
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
			fmt.Fprintf(stderr, "berth: error: %v\n", ee.err)
		}
		if ee.hint != "" {
			fmt.Fprintf(stderr, "berth: hint: %s\n", ee.hint)
		}
		return ee.code
	}
	// Flag and argument errors from cobra itself.
	fmt.Fprintf(stderr, "berth: error: %v\n", err)
	if isUsageError(err) {
		fmt.Fprintf(stderr, "berth: hint: run 'berth --help' for usage\n")
	}
	return ExitFailure
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
	pf.StringVarP(&g.configFile, "file", "f", "", "config file (default: $BERTH_CONFIG, else ./berth.yaml)")
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
