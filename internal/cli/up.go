package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/internal/termsafe"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/project"
)

func init() {
	register(newUpCmd)
	register(newDownCmd)
	register(func(g *globals) *cobra.Command { return newLifecycleCmd(g, plan.ActionStart) })
	register(func(g *globals) *cobra.Command { return newLifecycleCmd(g, plan.ActionStop) })
	register(func(g *globals) *cobra.Command { return newLifecycleCmd(g, plan.ActionRestart) })
	register(newGenerationsCmd)
	register(newRollbackCmd)
}

// runOptions are the flags up, down, start, stop, restart and rollback
// share.
type runOptions struct {
	action  plan.Action
	wait    bool
	timeout time.Duration
	noWait  bool // fail instead of waiting for the apply lock
	noBuild bool // never build missing images from their recipes
}

func addRunFlags(cmd *cobra.Command, o *runOptions) {
	cmd.Flags().BoolVar(&o.noWait, "no-wait", false, "fail at once when another berth is changing this project, instead of waiting")
}

// checkTimeout refuses a --timeout that cannot bound a wait.
func (o runOptions) checkTimeout() error {
	if o.timeout < 0 || (o.wait && o.timeout == 0) {
		return withHint(fmt.Errorf("--timeout %s is not a positive duration", o.timeout), ExitFailure, "for example --timeout 5m")
	}
	return nil
}

// converge runs one of the library's changing use cases with its progress
// on stderr, and reports how it ended.
func (g *globals) converge(action plan.Action, run func(events func(project.Event)) (*project.RunResult, error)) error {
	events, done := g.runEvents()
	res, err := run(events)
	done()
	if err != nil {
		return g.fail(err)
	}
	if res.Empty() {
		fmt.Fprintf(g.stderr, "berth: %s: nothing to do\n", action)
		return nil
	}
	fmt.Fprintf(g.stderr, "berth: %s: %s in %s\n", action, res.Summary, res.Duration.Round(10*time.Millisecond))
	return nil
}

func newUpCmd(g *globals) *cobra.Command {
	o := runOptions{action: plan.ActionUp}
	cmd := &cobra.Command{
		Use:   "up [TARGET...]",
		Short: "Make the engine match berth.yaml",
		Long: `up creates, recreates, starts and removes containers and networks until
the engine matches berth.yaml, then records the result as a new
generation. Running it again changes nothing; after an interruption or a
failure it picks up where it stopped.

Images berth has a recipe for (ghcr.io/voidnxlabs/NAME:latest) are built
and loaded when the engine lacks them; others are pulled.

Only a change of the config hash recreates a container. Data paths are
created when missing and never deleted. Another berth changing the same
project makes up wait (or fail with --no-wait).

A TARGET is a container (ml-ollama), a kit (ml), a service (ml/ollama), a
stack or nothing for the whole project, including the removal of
containers no longer in the config.`,
		Example: `  berth up
  berth up ml --wait
  berth up dev/postgres --wait --timeout 5m`,
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.checkTimeout(); err != nil {
				return err
			}
			p, err := g.open()
			if err != nil {
				return err
			}
			defer p.Close()
			return g.converge(o.action, func(events func(project.Event)) (*project.RunResult, error) {
				return p.Up(g.ctx, project.UpOptions{Targets: args, Wait: o.wait, Timeout: o.timeout, NoLockWait: o.noWait, NoBuild: o.noBuild, Events: events})
			})
		},
	}
	cmd.Flags().BoolVar(&o.wait, "wait", false, "wait until every started container passes its health check")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long --wait waits for each container")
	cmd.Flags().BoolVar(&o.noBuild, "no-build", false, "do not build missing images from berth's recipes (they are pulled instead)")
	addRunFlags(cmd, &o)
	return cmd
}

func newDownCmd(g *globals) *cobra.Command {
	o := runOptions{action: plan.ActionDown}
	cmd := &cobra.Command{
		Use:   "down [TARGET...]",
		Short: "Remove the project's containers and networks, keeping all data",
		Long: `down stops and removes the targeted containers (all of the project's when
no TARGET is given) and the networks left without containers. Data paths
on the host are kept: berth never deletes them.`,
		Example: `  berth down
  berth down ml
  berth down dev/code-server`,
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.open()
			if err != nil {
				return err
			}
			defer p.Close()
			return g.converge(o.action, func(events func(project.Event)) (*project.RunResult, error) {
				return p.Down(g.ctx, project.DownOptions{Targets: args, NoLockWait: o.noWait, Events: events})
			})
		},
	}
	addRunFlags(cmd, &o)
	return cmd
}

func newLifecycleCmd(g *globals, action plan.Action) *cobra.Command {
	o := runOptions{action: action}
	verb := string(action)
	short := map[plan.Action]string{
		plan.ActionStart:   "Start containers that exist but do not run, dependencies first",
		plan.ActionStop:    "Stop running containers, dependents first",
		plan.ActionRestart: "Stop and start containers in dependency order",
	}[action]
	cmd := &cobra.Command{
		Use:   verb + " TARGET...",
		Short: short,
		Long: short + `.

` + verb + ` creates and removes nothing; use 'berth up' for that. A TARGET is
a container (ml-ollama), a kit (ml), a service (ml/ollama), a stack, or
--all.`,
		Example:           fmt.Sprintf("  berth %s ml-ollama\n  berth %s dev\n  berth %s --all", verb, verb, verb),
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			all, _ := cmd.Flags().GetBool("all")
			if len(args) == 0 && !all {
				return withHint(fmt.Errorf("%s needs a TARGET or --all", verb), ExitFailure,
					fmt.Sprintf("for example 'berth %s ml' or 'berth %s --all'", verb, verb))
			}
			if err := o.checkTimeout(); err != nil {
				return err
			}
			p, err := g.open()
			if err != nil {
				return err
			}
			defer p.Close()
			lo := project.LifecycleOptions{Targets: args, Wait: o.wait, Timeout: o.timeout, NoLockWait: o.noWait}
			run := map[plan.Action]func(context.Context, project.LifecycleOptions) (*project.RunResult, error){
				plan.ActionStart: p.Start, plan.ActionStop: p.Stop, plan.ActionRestart: p.Restart,
			}[action]
			return g.converge(action, func(events func(project.Event)) (*project.RunResult, error) {
				lo.Events = events
				return run(g.ctx, lo)
			})
		},
	}
	cmd.Flags().Bool("all", false, "act on every container of the project")
	if action != plan.ActionStop {
		cmd.Flags().BoolVar(&o.wait, "wait", false, "wait until the started containers pass their health checks")
		cmd.Flags().DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long --wait waits for each container")
	}
	addRunFlags(cmd, &o)
	return cmd
}

func newGenerationsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "generations",
		Short: "List the applied generations of the configuration",
		Long: `Every 'berth up' that changes the desired state records a generation: the
config file's text and the desired state it made real. 'berth rollback N'
applies an earlier one again.`,
		Example: `  berth generations
  berth generations --json
  berth generations show 3 > berth.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.open()
			if err != nil {
				return err
			}
			gens, err := p.Generations()
			if err != nil {
				return g.fail(err)
			}
			if g.json {
				return g.printJSON(gens)
			}
			if len(gens) == 0 {
				fmt.Fprintln(g.stderr, "berth: no generation yet; 'berth up' records the first")
				return nil
			}
			rows := [][]string{{"GEN", "TIME", "COMMAND", "CONTAINERS", "NETWORKS"}}
			for i, gen := range gens {
				n := strconv.Itoa(gen.Number)
				if i == len(gens)-1 {
					n += " (current)"
				}
				rows = append(rows, []string{n, gen.Time.Local().Format("2006-01-02 15:04:05"), gen.Command,
					strconv.Itoa(gen.Containers), strconv.Itoa(gen.Networks)})
			}
			writeRows(g.stdout, rows)
			return nil
		},
	}
	addJSON(cmd, g)
	var desiredOut bool
	show := &cobra.Command{
		Use:     "show N",
		Short:   "Print the config file of generation N (or its desired state with --desired)",
		Example: "  berth generations show 3\n  berth generations show 3 --desired | jq .Containers[].Spec.Name",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[0])
			if err != nil {
				return withHint(fmt.Errorf("generation %q is not a number", args[0]), ExitFailure, "'berth generations' lists them")
			}
			p, err := g.open()
			if err != nil {
				return err
			}
			gen, err := p.Generation(n)
			if err != nil {
				return g.fail(err)
			}
			if desiredOut {
				g.stdout.Write(gen.Desired)
				fmt.Fprintln(g.stdout)
				return nil
			}
			g.stdout.Write(gen.Config)
			return nil
		},
	}
	show.Flags().BoolVar(&desiredOut, "desired", false, "print the desired state (JSON) instead of the config")
	cmd.AddCommand(show)
	return cmd
}

func newRollbackCmd(g *globals) *cobra.Command {
	o := runOptions{action: plan.ActionUp}
	cmd := &cobra.Command{
		Use:   "rollback [N]",
		Short: "Apply an earlier generation again (the previous one by default)",
		Long: `rollback makes the engine match the desired state recorded in generation N
(the one before the current one when N is left out) and records that as a
new generation. berth.yaml is not changed: the next 'berth up' applies the
file again, so restore it too if the rollback is to stay:
'berth generations show N > berth.yaml'.`,
		Example: `  berth rollback
  berth rollback 3 --wait`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 0
			if len(args) == 1 {
				var err error
				if n, err = strconv.Atoi(args[0]); err != nil {
					return withHint(fmt.Errorf("generation %q is not a number", args[0]), ExitFailure, "'berth generations' lists them")
				}
			}
			if err := o.checkTimeout(); err != nil {
				return err
			}
			p, err := g.open()
			if err != nil {
				return err
			}
			defer p.Close()
			var res *project.RunResult
			err = g.converge(o.action, func(events func(project.Event)) (*project.RunResult, error) {
				res, err = p.Rollback(g.ctx, project.RollbackOptions{Generation: n, Wait: o.wait, Timeout: o.timeout, NoLockWait: o.noWait, Events: events})
				return res, err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "berth: hint: berth.yaml still describes the newer state; 'berth generations show %d > %s' keeps this one\n", res.RolledBackTo, p.ConfigFile())
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.wait, "wait", false, "wait until every started container passes its health check")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long --wait waits for each container")
	addRunFlags(cmd, &o)
	return cmd
}

// writeRows prints an aligned table.
func writeRows(w io.Writer, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		// Cells hold names, images, health output and models that come
		// from engines and containers: escaped, tabs too (they would
		// break the columns).
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = termsafe.Line(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
}
