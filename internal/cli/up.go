package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/apply"
	"github.com/voidnxlabs/berth/backup"
	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/proxy"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/state"
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

// runOptions are what up, down, start, stop, restart and rollback share.
type runOptions struct {
	action  plan.Action
	wait    bool
	timeout time.Duration
	noWait  bool // fail instead of waiting for the apply lock
	noBuild bool // never build missing images from their recipes
	command string
	// record makes a successful run a new generation; rollbackOf names the
	// generation a rollback restores.
	record     bool
	rollbackOf int
	config     []byte
}

func addRunFlags(cmd *cobra.Command, o *runOptions) {
	cmd.Flags().BoolVar(&o.noWait, "no-wait", false, "fail at once when another berth is changing this project, instead of waiting")
}

// converge makes the engine match st for the given action and reports
// progress on stderr.
func (g *globals) converge(p *project, o runOptions) error {
	if o.timeout < 0 || (o.wait && o.timeout == 0) {
		return withHint(fmt.Errorf("--timeout %s is not a positive duration", o.timeout), ExitFailure, "for example --timeout 5m")
	}
	lock, err := g.lockProject(p.sd, o.command, o.noWait)
	if err != nil {
		return err
	}
	defer lock.Unlock()

	e, err := g.engine(p.cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	if o.action == plan.ActionUp && p.gpus == nil {
		if err := g.resolveGPUs(p, e); err != nil {
			return err
		}
	}
	var gens []state.Generation
	if o.record {
		if gens, err = p.sd.Generations(); err != nil {
			return err
		}
	}
	next := 0
	if o.record {
		next = 1
		if len(gens) > 0 {
			next = gens[len(gens)-1].Number + 1
		}
	}
	if o.action != plan.ActionDown && o.action != plan.ActionStop {
		// A restore cut off after its swap left content nobody confirmed
		// healthy: put the previous content back before anything starts.
		err := backup.RecoverRestores(g.ctx, e, backup.Targets(p.st, false), func(ev backup.Event) {
			if ev.Msg != "" {
				fmt.Fprintf(g.stderr, "berth: recovering %s: %s\n", ev.Container, ev.Msg)
			}
		})
		if err != nil {
			return withHint(fmt.Errorf("recovering an interrupted restore: %w", err), ExitFailure, "run 'berth restore --recover' and read what it says")
		}
	}
	obs, err := plan.Observe(g.ctx, e, *p.st)
	if err != nil {
		return g.engineError(err)
	}
	if o.action == plan.ActionUp && !o.noBuild {
		loaded, err := g.buildMissing(e, p.st, p.targets, obs)
		if err != nil {
			return err
		}
		if loaded {
			if obs, err = plan.Observe(g.ctx, e, *p.st); err != nil {
				return g.engineError(err)
			}
		}
	}
	pl := plan.Compute(*p.st, obs, plan.Options{Action: o.action, Targets: p.targets, Wait: o.wait, Generation: next})
	began := time.Now()
	starts := o.action == plan.ActionUp || o.action == plan.ActionStart || o.action == plan.ActionRestart
	if !pl.Empty() && starts && proxy.Find(p.st) != nil {
		// A proxy that the apply creates or restarts resumes from this
		// config, so it routes every service from its first second.
		if _, err := proxy.Prepare(p.st); err != nil {
			fmt.Fprintf(g.stderr, "berth: warning: writing the proxy config: %v\n", err)
		}
	}
	if !pl.Empty() {
		prog := newProgress(g.stderr, isTerminal(g.stderr))
		_, err = apply.Run(g.ctx, e, pl, apply.Options{Events: prog.Event, HealthTimeout: o.timeout})
		prog.Close()
		if err != nil {
			return g.applyError(err, o)
		}
	}
	if !pl.Empty() && starts {
		g.syncProxy(e, p)
	}
	if o.record {
		if err := g.record(p, o, gens); err != nil {
			return err
		}
	}
	if pl.Empty() {
		fmt.Fprintf(g.stderr, "berth: %s: nothing to do\n", o.action)
		return nil
	}
	fmt.Fprintf(g.stderr, "berth: %s: %s in %s\n", o.action, summary(pl), time.Since(began).Round(10*time.Millisecond))
	return nil
}

// syncProxy loads the routes of every enabled service into a running
// proxy through Caddy's admin API, which keeps open connections.
func (g *globals) syncProxy(e runtime.Engine, p *project) {
	c := proxy.Find(p.st)
	if c == nil {
		return
	}
	oc, err := e.InspectContainer(g.ctx, c.Spec.Name)
	if err != nil || oc.State != runtime.StateRunning {
		return
	}
	routes, err := proxy.Sync(g.ctx, p.st, 30*time.Second)
	if err != nil {
		fmt.Fprintf(g.stderr, "berth: warning: the proxy did not take its new routes: %v\nberth: hint: run 'berth proxy reload'\n", err)
		return
	}
	fmt.Fprintf(g.stderr, "berth: proxy %s: loaded %d routes\n", c.Spec.Name, len(routes))
}

// applyError explains a failed apply: what failed, and that running again
// converges.
func (g *globals) applyError(err error, o runOptions) error {
	var failed []string
	for _, e := range flattenErrors(err) {
		var oe *apply.OpError
		if errors.As(e, &oe) {
			failed = append(failed, fmt.Sprintf("%s: %v", oe.Op.Describe(), oe.Err))
		}
	}
	hint := fmt.Sprintf("run 'berth %s' again once the cause is fixed: it picks up where this run stopped", o.action)
	if len(failed) == 0 {
		return withHint(err, ExitFailure, hint)
	}
	for _, f := range failed {
		if strings.Contains(f, "pull image") {
			hint = "images berth builds itself are made with 'berth image build NAME --load'; others need a reachable registry"
			break
		}
	}
	if strings.Contains(strings.Join(failed, " "), "healthy") {
		hint = "see why with 'berth logs NAME'; allow more time with --timeout"
	}
	return withHint(fmt.Errorf("%d step(s) failed:\n  %s", len(failed), strings.Join(failed, "\n  ")), ExitFailure, hint)
}

func flattenErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// record stores a new generation when the desired state differs from the
// newest one.
func (g *globals) record(p *project, o runOptions, gens []state.Generation) error {
	data, err := json.Marshal(p.st)
	if err != nil {
		return fmt.Errorf("recording generation: %w", err)
	}
	d := digest(data)
	if len(gens) > 0 && gens[len(gens)-1].Digest == d {
		return nil
	}
	cfgText := o.config
	if cfgText == nil && p.cfg.File != "" {
		cfgText, _ = os.ReadFile(p.cfg.File)
	}
	gen, err := p.sd.Record(state.Generation{
		Command: o.command, ConfigFile: p.cfg.File, Digest: d,
		Containers: len(p.st.Containers), Networks: len(p.st.Networks),
		Config: cfgText, Desired: data,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stderr, "berth: recorded generation %d\n", gen.Number)
	return nil
}

// summary counts a plan's operations in words: "2 created, 1 started".
func summary(pl *plan.Plan) string {
	words := map[plan.Kind]string{
		plan.PullImage: "pulled", plan.EnsurePath: "directories made", plan.CreateNetwork: "networks created",
		plan.RemoveNetwork: "networks removed", plan.CreateContainer: "created", plan.Recreate: "recreated",
		plan.Connect: "connected", plan.StartContainer: "started", plan.StopContainer: "stopped",
		plan.RemoveContainer: "removed", plan.WaitHealthy: "healthy",
	}
	s := pl.Summary()
	var kinds []plan.Kind
	for k := range s {
		kinds = append(kinds, k)
	}
	slices.SortFunc(kinds, func(a, b plan.Kind) int { return strings.Compare(string(a), string(b)) })
	var parts []string
	for _, k := range kinds {
		w := words[k]
		if s[k] == 1 {
			w = strings.Replace(strings.Replace(w, "networks", "network", 1), "directories", "directory", 1)
		}
		parts = append(parts, fmt.Sprintf("%d %s", s[k], w))
	}
	return strings.Join(parts, ", ")
}

func newUpCmd(g *globals) *cobra.Command {
	o := runOptions{action: plan.ActionUp, record: true}
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
			p, err := g.loadProject(args)
			if err != nil {
				return err
			}
			o.command = strings.TrimSpace("up " + strings.Join(args, " "))
			return g.converge(p, o)
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
			p, err := g.loadProject(args)
			if err != nil {
				return err
			}
			o.command = strings.TrimSpace("down " + strings.Join(args, " "))
			return g.converge(p, o)
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
			p, err := g.loadProject(args)
			if err != nil {
				return err
			}
			o.command = strings.TrimSpace(verb + " " + strings.Join(args, " "))
			return g.converge(p, o)
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
			_, _, gens, err := g.generations()
			if err != nil {
				return err
			}
			if g.json {
				if gens == nil {
					gens = []state.Generation{}
				}
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
			cfg, err := g.load()
			if err != nil {
				return err
			}
			sd, err := g.state(cfg)
			if err != nil {
				return err
			}
			gen, err := sd.Generation(n)
			if err != nil {
				return withHint(err, ExitFailure, "'berth generations' lists them")
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

// generations loads the config, its state directory and its generations.
func (g *globals) generations() (*config.Config, *state.Dir, []state.Generation, error) {
	cfg, err := g.load()
	if err != nil {
		return nil, nil, nil, err
	}
	sd, err := g.state(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	gens, err := sd.Generations()
	return cfg, sd, gens, err
}

func newRollbackCmd(g *globals) *cobra.Command {
	o := runOptions{action: plan.ActionUp, record: true}
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
			cfg, sd, gens, err := g.generations()
			if err != nil {
				return err
			}
			n := 0
			if len(args) == 1 {
				if n, err = strconv.Atoi(args[0]); err != nil {
					return withHint(fmt.Errorf("generation %q is not a number", args[0]), ExitFailure, "'berth generations' lists them")
				}
			} else {
				if len(gens) < 2 {
					return withHint(errors.New("no earlier generation to roll back to"), ExitFailure, "'berth generations' lists them")
				}
				n = gens[len(gens)-2].Number
			}
			gen, err := sd.Generation(n)
			if err != nil {
				return withHint(err, ExitFailure, "'berth generations' lists them")
			}
			st, err := decodeDesired(gen.Desired)
			if err != nil {
				return err
			}
			p := &project{cfg: cfg, sd: sd, st: st, gpus: map[string]gpu.Assignment{}}
			o.command = "rollback " + strconv.Itoa(n)
			o.config = gen.Config
			if err := g.converge(p, o); err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "berth: hint: berth.yaml still describes the newer state; 'berth generations show %d > %s' keeps this one\n", n, cfg.File)
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
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}
