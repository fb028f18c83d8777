package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/project"
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
	p, err := g.open()
	if err != nil {
		return err
	}
	defer p.Close()
	res, err := p.SystemdGenerate(g.ctx, project.SystemdOptions{Targets: args, Quadlet: f.quadlet, EnginePath: f.engine, Dir: f.out})
	if res != nil {
		for _, path := range res.Written {
			fmt.Fprintf(g.stderr, "berth: wrote %s\n", path)
		}
	}
	if err != nil {
		return g.fail(err)
	}
	if g.json {
		return g.printJSON(res.Files)
	}
	if f.out == "" {
		for _, f := range res.Files {
			fmt.Fprintf(g.stdout, "==> %s <==\n%s", f.Name, f.Text)
		}
		return nil
	}
	fmt.Fprintf(g.stderr, "berth: enable them with: systemctl daemon-reload && systemctl enable --now %s\n", res.Target)
	return nil
}
