package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/project"
)

func init() {
	register(newOptionsCmd)
	register(newSchemaCmd)
	register(newPlanCmd)
}

func newOptionsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "options [PATH]",
		Short: "List config options with type, default and description",
		Long: `options lists every option berth.yaml accepts, declared once with its
type, default, description and an example. PATH narrows the list to an
option or a subtree; <kit> and <service> stand for any name.`,
		Example: `  berth options
  berth options ml.ollama
  berth options ml.ollama.modelsPath
  berth options dev.postgres --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := ""
			if len(args) == 1 {
				q = args[0]
			}
			opts := config.Lookup(q)
			if len(opts) == 0 {
				return withHint(fmt.Errorf("no option matches %q", q), ExitFailure, "run 'berth options' for the full list")
			}
			if g.json {
				return g.printJSON(opts)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "OPTION\tTYPE\tDEFAULT\tDESCRIPTION")
			for _, o := range opts {
				def := o.Default
				if def == "" {
					def = "-"
				}
				typ := o.Type
				if o.Type == "enum" {
					typ = "enum"
					for i, e := range o.Enum {
						if i == 0 {
							typ += "("
						} else {
							typ += "|"
						}
						typ += e
					}
					typ += ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.Path, typ, def, o.Description)
			}
			return tw.Flush()
		},
	}
	addJSON(cmd, g)
	return cmd
}

func newSchemaCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print a JSON Schema of berth.yaml for editors",
		Long: `schema prints a JSON Schema (draft 2020-12) of berth.yaml, built from the
same option registry as 'berth options'. yaml-language-server picks it up
from a modeline at the top of berth.yaml:

  # yaml-language-server: $schema=./berth.schema.json`,
		Example: `  berth schema > berth.schema.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.printJSON(config.Schema())
		},
	}
}

type planOptions struct {
	offline bool
}

func newPlanCmd(g *globals) *cobra.Command {
	var o planOptions
	cmd := &cobra.Command{
		Use:   "plan [TARGET...]",
		Short: "Show what 'berth up' would do, with a cause for each step",
		Long: `plan compares berth.yaml with the engine and prints the steps 'berth up'
would take, each with its cause. With --offline it prints the desired
state instead, without asking any engine: every container with its
address, ports, data paths and GPU request.

A TARGET is a container (ml-ollama), a kit (ml), a service (ml/ollama), a
stack (ai) or --all (the default).

Exit codes: 0 nothing to do, 2 changes pending, 1 failure, 3 engine
unreachable.`,
		Example: `  berth plan
  berth plan ml
  berth plan --offline
  berth plan --offline --json dev/postgres`,
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.open()
			if err != nil {
				return err
			}
			defer p.Close()
			if o.offline {
				st, err := p.PlanOffline(project.PlanOptions{Targets: args, Events: g.printEvent})
				if err != nil {
					return g.fail(err)
				}
				if g.json {
					return g.printJSON(st.JSON())
				}
				fmt.Fprint(g.stdout, st.String())
				return nil
			}
			pl, err := p.Plan(g.ctx, project.PlanOptions{Targets: args, Events: g.printEvent})
			if err != nil {
				return g.fail(err)
			}
			if g.json {
				data, err := pl.JSON()
				if err != nil {
					return err
				}
				g.stdout.Write(append(data, '\n'))
			} else if pl.Empty() {
				fmt.Fprintln(g.stderr, "berth: nothing to do: the engine matches the config")
			} else {
				fmt.Fprint(g.stdout, pl.String())
			}
			if pl.Empty() {
				return nil
			}
			return exitCode(ExitChanges)
		},
	}
	cmd.Flags().BoolVar(&o.offline, "offline", false, "print the desired state without asking the engine")
	addJSON(cmd, g)
	return cmd
}
