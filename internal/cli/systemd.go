package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/internal/atomicfile"
	"github.com/voidnxlabs/berth/state"
	"github.com/voidnxlabs/berth/systemd"
)

func init() { register(newSystemdCmd) }

func newSystemdCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "systemd",
		Short: "Start the stack at boot with systemd units",
		Long: `systemd writes the units that start a project's containers at boot, in
dependency order, as the seed's container@NAME units do. See
docs/runtimes.md for what each runtime does at boot.`,
		Example: `  berth systemd generate -o /etc/systemd/system
  systemctl daemon-reload && systemctl enable --now berth-kernelcore.target`,
	}
	cmd.AddCommand(newSystemdGenerateCmd(g))
	return cmd
}

type systemdFlags struct {
	out     string
	quadlet string // auto, true, false
	engine  string
}

func newSystemdGenerateCmd(g *globals) *cobra.Command {
	f := &systemdFlags{}
	cmd := &cobra.Command{
		Use:   "generate [TARGET...]",
		Short: "Write one unit per container and a target that wants them",
		Long: `generate writes berth-<container>.service for each selected container and
berth-<project>.target, which wants them all and is wanted by
multi-user.target. A unit requires and is ordered after the units of the
containers its service dependsOn; one whose dependents wait for it to be
healthy waits for its health port before it counts as started.

  docker   units run 'docker start' / 'docker stop' on the containers
           'berth up' made (their restart policy also starts them when
           dockerd starts, in no order; the units add the order)
  podman   Podman 4.4 and later: Quadlet files (berth-<container>.container,
           for /etc/containers/systemd) that describe the whole container;
           older Podman: units that run 'podman start' / 'podman stop'
  nspawn   units that run 'berth start' / 'berth stop' with this config

The runtime is --runtime, else the config's; with auto, the engine that
answers. Without -o the files are printed to stdout, each after a
"==> NAME <==" line, as head(1) prints files.`,
		Example: `  berth systemd generate
  berth systemd generate ml -o /etc/systemd/system
  berth --runtime podman systemd generate --quadlet -o /etc/containers/systemd
  berth systemd generate --json`,
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.systemdGenerate(f, args)
		},
	}
	cmd.Flags().StringVarP(&f.out, "output", "o", "", "directory to write the files into (default: print them)")
	cmd.Flags().StringVar(&f.quadlet, "quadlet", "auto", "podman: write Quadlet files: true, false, or auto (by the Podman version)")
	cmd.Flags().Lookup("quadlet").NoOptDefVal = "true"
	cmd.Flags().StringVar(&f.engine, "engine-path", "", "path of the engine's CLI in the units (default: /usr/bin/docker or /usr/bin/podman; for nspawn, this berth)")
	addJSON(cmd, g)
	return cmd
}

func (g *globals) systemdGenerate(f *systemdFlags, args []string) error {
	p, err := g.loadProject(args)
	if err != nil {
		return err
	}
	opts := systemd.Options{Runtime: g.runtimeName(p.cfg), Engine: f.engine, SecretDir: filepath.Join(p.sd.Path(), "secrets")}
	switch f.quadlet {
	case "true", "false", "auto":
	default:
		return withHint(fmt.Errorf("--quadlet %q: want true, false or auto", f.quadlet), ExitFailure, "leave it out to decide by the Podman version")
	}
	needEngine := opts.Runtime == "auto" || (opts.Runtime == "podman" && f.quadlet == "auto") || hasGPUs(p.st)
	if needEngine {
		e, err := g.engine(p.cfg)
		if err != nil {
			return err
		}
		defer e.Close()
		info, err := e.Info(g.ctx)
		if err != nil {
			return g.engineError(err)
		}
		opts.Runtime = info.Name
		if opts.Runtime == "podman" && f.quadlet == "auto" {
			opts.Quadlet = quadletVersion(info.Version)
		}
		if err := g.resolveGPUs(p, e); err != nil {
			return err
		}
	}
	opts.Quadlet = opts.Quadlet || f.quadlet == "true"
	if opts.Runtime == "nspawn" {
		if opts.Config, err = filepath.Abs(g.configFilePath()); err != nil {
			return err
		}
		if opts.Engine == "" {
			if exe, err := os.Executable(); err == nil {
				opts.Engine = exe
			}
		}
		sd := g.stateDir
		if sd == "" {
			sd = state.Default(g.getenv)
		}
		if opts.StateDir, err = filepath.Abs(sd); err != nil {
			return err
		}
	}
	st := *p.st
	if p.targets != nil {
		st.Containers = slices.DeleteFunc(slices.Clone(st.Containers), func(c desired.Container) bool {
			return !slices.Contains(p.targets, c.Spec.Name)
		})
	}
	files, err := systemd.Generate(st, opts)
	if err != nil {
		return withHint(err, ExitFailure, "select a container together with what it depends on, or all of them")
	}
	if g.json {
		type file struct {
			Name string `json:"name"`
			Text string `json:"text"`
		}
		out := []file{}
		for _, f := range files {
			out = append(out, file{f.Name, f.Text})
		}
		return g.printJSON(out)
	}
	if f.out == "" {
		for _, f := range files {
			fmt.Fprintf(g.stdout, "==> %s <==\n%s", f.Name, f.Text)
		}
		return nil
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return withHint(err, ExitFailure, "pick a writable directory with -o")
	}
	secrets := secretValues(p)
	for _, file := range files {
		path := filepath.Join(f.out, file.Name)
		// Units are world-readable, as systemd expects; one that still
		// holds a secret value (berth writes none; this is the net under
		// it) is private.
		mode := os.FileMode(0o644)
		for _, v := range secrets {
			if strings.Contains(file.Text, v) {
				mode = 0o600
			}
		}
		if err := atomicfile.Write(path, []byte(file.Text), mode); err != nil {
			return withHint(fmt.Errorf("writing %s: %w", path, err), ExitFailure, "pick a writable directory with -o")
		}
		fmt.Fprintf(g.stderr, "berth: wrote %s\n", path)
	}
	fmt.Fprintf(g.stderr, "berth: enable them with: systemctl daemon-reload && systemctl enable --now %s\n", systemd.TargetName(st.Project))
	return nil
}

// secretValues returns the values of the secrets the project's containers
// receive.
func secretValues(p *loaded) []string {
	var out []string
	for _, c := range p.st.Containers {
		for _, name := range c.Secrets {
			if v, err := p.sd.LookupSecret(name); err == nil && v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

func hasGPUs(st *desired.State) bool {
	for _, c := range st.Containers {
		if c.GPU != nil {
			return true
		}
	}
	return false
}

// quadletVersion reports whether a Podman version has Quadlet (4.4+).
func quadletVersion(v string) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major > 4 || major == 4 && minor >= 4
}
