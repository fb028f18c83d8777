package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/project"
)

// load reads and validates the config. Config problems are printed here,
// every one with its hint, and end the command with exit code 2.
func (g *globals) load() (*config.Config, error) {
	cfg, err := config.Load(config.LoadOptions{File: g.configFile, Getenv: g.getenv})
	if err == nil {
		return cfg, nil
	}
	return nil, g.configError(err)
}

func (g *globals) configFilePath() string {
	return config.Resolve(config.LoadOptions{File: g.configFile, Getenv: g.getenv})
}

func (g *globals) configError(err error) error {
	var ces config.Errors
	if errors.As(err, &ces) {
		for _, e := range ces {
			fmt.Fprintf(g.stderr, "berth: error: %s\n", e)
			if e.Hint != "" {
				fmt.Fprintf(g.stderr, "berth: hint: %s\n", e.Hint)
			}
		}
		n := "problem"
		if len(ces) > 1 {
			n = "problems"
		}
		fmt.Fprintf(g.stderr, "berth: %s: %d %s, nothing was changed\n", g.configFilePath(), len(ces), n)
		return exitCode(ExitChanges)
	}
	if errors.Is(err, config.ErrNoConfig) {
		return withHint(err, ExitFailure, "run 'berth init' to write the seed's config, or pass -f FILE")
	}
	return &exitError{code: ExitFailure, err: err}
}

// printJSON writes v as indented JSON on stdout.
func (g *globals) printJSON(v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// completeTargets offers TARGET names from the config for shell completion.
func completeTargets(g *globals) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		cfg, err := config.Load(config.LoadOptions{File: g.configFile, Getenv: g.getenv})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, t := range cfg.TargetNames() {
			if strings.HasPrefix(t, toComplete) {
				out = append(out, t)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func init() {
	register(newInitCmd)
	register(newValidateCmd)
}

func newInitCmd(g *globals) *cobra.Command {
	var force, offline bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a starter berth.yaml (the seed's configuration)",
		Long: `init writes the seed's configuration: the ml kit (Ollama, Jupyter, ComfyUI,
vLLM, LocalAI on 192.168.200.0/24) and the dev kit (dev-ml, chat-ui,
code-server, a Caddy proxy and PostgreSQL on 192.168.210.0/24).

It checks this host first: a service that needs a GPU no GPU here
matches (ComfyUI, vLLM on a laptop) is written disabled, with a comment
that says how to turn it on, so that validate and up succeed here;
--offline writes the seed as it is, for another machine.

It writes -f FILE, else $BERTH_CONFIG, else berth.yaml in the working
directory, and says where. It refuses to overwrite an existing file unless
--force is given.

berth finds its config in this order: -f, $BERTH_CONFIG, berth.yaml in the
working directory or its nearest parent that has one, then
/etc/berth/berth.yaml as root or $XDG_CONFIG_HOME/berth/berth.yaml
(~/.config/berth/berth.yaml) otherwise.`,
		Example: `  berth init
  berth init -f /etc/berth/berth.yaml
  berth init --force
  berth init --offline -f gpu-host.yaml   # the seed as is, for a GPU host`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := project.Init(g.ctx, g.projectOptions(), project.InitOptions{Force: force, Offline: offline})
			if err != nil {
				return g.fail(err)
			}
			if len(res.Disabled) > 0 {
				fmt.Fprintf(g.stderr, "berth: wrote %s, with %s disabled: no GPU on this host matches them (a comment there says how to turn them on); next: berth validate, berth plan\n", res.File, strings.Join(res.Disabled, " and "))
				return nil
			}
			fmt.Fprintf(g.stderr, "berth: wrote %s; next: berth validate, berth plan\n", res.File)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	cmd.Flags().BoolVar(&offline, "offline", false, "write the seed as it is, without checking this host (for another machine)")
	return cmd
}

func newValidateCmd(g *globals) *cobra.Command {
	var offline bool
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check berth.yaml and report every problem at once",
		Long: `validate loads berth.yaml and checks it without touching any engine:
unknown options, wrong types, addresses, subnets, published ports,
references and dependency cycles. Every problem is printed with its
option path, file:line:col and a hint. It also checks what only this host
can tell: a service that needs a GPU on a host without one is an error
unless its request is optional, and so is a kit subnet that overlaps a
network this host already has (docker0, a route); --offline leaves host
checks out, to validate a file meant for another machine.

Exit codes: 0 valid, 2 invalid.`,
		Example: `  berth validate
  berth validate -f examples/demo.yaml
  berth validate --json
  berth validate --offline     # no host checks`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := project.Validate(g.ctx, g.projectOptions(), project.ValidateOptions{Offline: offline})
			if err != nil {
				return g.fail(err)
			}
			if g.json {
				out := struct {
					Valid    bool              `json:"valid"`
					File     string            `json:"file"`
					Services int               `json:"services"`
					Problems []project.Problem `json:"problems"`
				}{res.Valid(), res.File, res.Services, res.Problems()}
				if perr := g.printJSON(out); perr != nil {
					return perr
				}
				if !res.Valid() {
					return exitCode(ExitChanges)
				}
				return nil
			}
			if res.Recipes != nil {
				if len(res.Config) > 0 {
					g.configError(res.Config)
				}
				return g.recipeErrors(res.File, res.Recipes)
			}
			if len(res.Config) > 0 {
				return g.configError(res.Config)
			}
			fmt.Fprintf(g.stderr, "berth: %s is valid: %d kits, %d services enabled\n", res.File, res.Kits, res.Services)
			return nil
		},
	}
	cmd.Flags().BoolVar(&offline, "offline", false, "check the file only, not this host (GPUs, networks)")
	addJSON(cmd, g)
	return cmd
}
