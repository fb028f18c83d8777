package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/hostnet"
	"github.com/voidnxlabs/berth/image"
	"github.com/voidnxlabs/berth/kits"
	"github.com/voidnxlabs/berth/runtime"
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

// targetError turns an unknown TARGET into an error with a hint.
func targetError(err error) error {
	var te *config.TargetError
	if errors.As(err, &te) {
		return withHint(err, ExitFailure, te.Hint)
	}
	return err
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
			path := config.InitFile(config.LoadOptions{File: g.configFile, Getenv: g.getenv})
			if _, err := os.Stat(path); err == nil && !force {
				return withHint(fmt.Errorf("%s already exists", path), ExitFailure, "pass --force to overwrite it")
			}
			if dir := filepath.Dir(path); dir != "." {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
			}
			data, off := kits.Seed(), []string(nil)
			if !offline {
				data, off = g.seedForHost(path)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				return err
			}
			if len(off) > 0 {
				fmt.Fprintf(g.stderr, "berth: wrote %s, with %s disabled: no GPU on this host matches them (a comment there says how to turn them on); next: berth validate, berth plan\n", path, strings.Join(off, " and "))
				return nil
			}
			fmt.Fprintf(g.stderr, "berth: wrote %s; next: berth validate, berth plan\n", path)
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
			cfg, err := config.Load(config.LoadOptions{File: g.configFile, Getenv: g.getenv})
			var recipeErr error
			if err == nil && cfg.Images != nil {
				_, recipeErr = image.DecodeRecipes(cfg.Images)
			}
			if err == nil && !offline {
				probs := hostProblems(g, cfg)
				nets, nerr := g.hostNetworks()
				if nerr != nil {
					return fmt.Errorf("listing this host's networks: %w (--offline skips host checks)", nerr)
				}
				probs = append(probs, config.CheckHostNetworks(cfg, nets)...)
				if len(probs) > 0 {
					err = probs
				}
			}
			if recipeErr != nil && !g.json {
				if err != nil {
					g.configError(err)
				}
				return g.recipeErrors(g.configFilePath(), recipeErr)
			}
			if g.json {
				type problem struct {
					File   string `json:"file"`
					Line   int    `json:"line"`
					Column int    `json:"column"`
					Path   string `json:"path,omitempty"`
					Error  string `json:"error"`
					Hint   string `json:"hint,omitempty"`
				}
				var ces config.Errors
				if err != nil && !errors.As(err, &ces) {
					return g.configError(err)
				}
				out := struct {
					Valid    bool      `json:"valid"`
					File     string    `json:"file"`
					Services int       `json:"services"`
					Problems []problem `json:"problems"`
				}{Valid: err == nil, File: g.configFilePath(), Problems: []problem{}}
				for _, e := range ces {
					out.Problems = append(out.Problems, problem{e.Pos.File, e.Pos.Line, e.Pos.Column, e.Path, e.Msg, e.Hint})
				}
				for _, e := range flattenErrors(recipeErr) {
					if e == nil {
						continue
					}
					pr := problem{File: g.configFilePath(), Error: e.Error()}
					// Recipe errors start with line:col.
					if a, b, ok := strings.Cut(e.Error(), ": "); ok {
						if l, c, ok := strings.Cut(a, ":"); ok {
							pr.Line, _ = strconv.Atoi(l)
							pr.Column, _ = strconv.Atoi(c)
							pr.Error = b
						}
					}
					out.Problems = append(out.Problems, pr)
					out.Valid = false
				}
				if cfg != nil {
					out.Services = len(cfg.Enabled())
				}
				if perr := g.printJSON(out); perr != nil {
					return perr
				}
				if err != nil || recipeErr != nil {
					return exitCode(ExitChanges)
				}
				return nil
			}
			if err != nil {
				return g.configError(err)
			}
			fmt.Fprintf(g.stderr, "berth: %s is valid: %d kits, %d services enabled\n", g.configFilePath(), countEnabledKits(cfg), len(cfg.Enabled()))
			return nil
		},
	}
	cmd.Flags().BoolVar(&offline, "offline", false, "check the file only, not this host (GPUs, networks)")
	addJSON(cmd, g)
	return cmd
}

// seedForHost returns the seed's config as this host can run it: a
// service that needs a GPU this host lacks is written disabled, with a
// comment that says how to turn it on, so that validate and up succeed on
// a laptop. It returns the names of the services it disabled.
func (g *globals) seedForHost(path string) ([]byte, []string) {
	data := kits.Seed()
	cfg, err := config.Parse(path, data, config.ParseOptions{Getenv: g.getenv})
	if err != nil {
		return data, nil
	}
	probs := hostProblems(g, cfg)
	if len(probs) == 0 {
		return data, nil
	}
	lines := strings.Split(string(data), "\n")
	var off []string
	for _, p := range probs {
		// The problem sits at the service's key; its enable: true is on
		// that line (comfyui.enable: true, or { enable: true, … }) or on
		// a line below it, indented deeper.
		l := p.Pos.Line - 1
		if l < 0 || l >= len(lines) {
			continue
		}
		indent := len(lines[l]) - len(strings.TrimLeft(lines[l], " "))
		for i := l; i < len(lines); i++ {
			if i > l && len(lines[i])-len(strings.TrimLeft(lines[i], " ")) <= indent {
				break
			}
			if strings.Contains(lines[i], "enable: true") {
				svc := strings.TrimSuffix(p.Path, ".gpu")
				lines[i] = strings.Replace(lines[i], "enable: true", "enable: false", 1) +
					"  # berth init: this host has no GPU it needs; on one that has, set " + svc + ".enable: true ('berth gpu' lists GPUs)"
				off = append(off, svc)
				break
			}
		}
	}
	return []byte(strings.Join(lines, "\n")), off
}

// hostProblems reports what this host cannot give the config: GPUs for
// services whose request is not optional.
func hostProblems(g *globals, cfg *config.Config) config.Errors {
	st, err := desired.Compile(cfg, desired.Options{})
	if err != nil {
		return nil // compile problems are reported by the commands that compile
	}
	var need []*desired.Container
	for i := range st.Containers {
		if c := &st.Containers[i]; c.GPU != nil && !c.GPU.Optional {
			need = append(need, c)
		}
	}
	if len(need) == 0 {
		return nil
	}
	inv, err := gpu.Detect(g.ctx, gpu.LocalHost())
	if err != nil {
		return nil
	}
	svc := map[string]*config.Service{}
	kitPos := map[string]config.Pos{}
	for _, k := range cfg.Kits {
		kitPos[k.Name] = k.Pos
		for _, s := range k.Services {
			svc[s.Container] = s
		}
	}
	var out config.Errors
	for _, c := range need {
		_, err := gpu.Resolve(*c.GPU, inv, runtime.Info{})
		if !errors.Is(err, gpu.ErrNoGPU) {
			continue
		}
		pos := kitPos[c.Kit]
		if s := svc[c.Spec.Name]; s != nil && s.Pos.Line > 0 {
			pos = s.Pos
		}
		if pos.File == "" {
			pos.File = cfg.File
		}
		out = append(out, &config.Error{Pos: pos, Path: c.Kit + "." + c.Service + ".gpu",
			Msg:  fmt.Sprintf("%s needs a GPU and this host has none that matches (%v)", c.Spec.Name, err),
			Hint: fmt.Sprintf("set %s.%s.gpu.optional: true to run it without, disable it with %s.%s.enable: false, or use --offline for another host", c.Kit, c.Service, c.Kit, c.Service)})
	}
	return out
}

// hostNetworks lists this host's networks for validate's host checks.
func (g *globals) hostNetworks() ([]hostnet.Network, error) { return hostnet.List() }

func countEnabledKits(cfg *config.Config) int {
	n := 0
	for _, k := range cfg.Kits {
		if k.Enable && k.Pos.File != "" {
			n++
		}
	}
	return n
}
