package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/compose"
	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/internal/atomicfile"
)

func init() {
	register(newImportCmd)
	register(newExportCmd)
}

func newImportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "import",
		Short:   "Turn other tools' files into berth.yaml",
		Example: `  berth import compose docker-compose.yaml && berth up`,
	}
	cmd.AddCommand(newImportComposeCmd(g))
	return cmd
}

func newImportComposeCmd(g *globals) *cobra.Command {
	var opts compose.ImportOptions
	var output string
	cmd := &cobra.Command{
		Use:   "compose FILE...",
		Short: "Add the services of compose files to berth.yaml",
		Long: `import compose reads compose files with the Compose Specification's own
loader (interpolation, .env, env_file, extends, profiles; several files
merge in order, as with docker compose -f a -f b) and adds their services
to berth.yaml: a kit per compose network (the default network's kit is
--kit, else the compose project name), with the subnet, static addresses,
ports, environment, mounts, named volumes, GPU reservations, health checks,
dependencies, limits, labels and restart policies mapped, and comments
saying where each came from.

Every field it cannot map is reported on stderr with its file:line and a
hint, and written as a comment above the service; docs/compose.md lists
every compose field and what becomes of it. The result is checked as
berth validate and berth plan --offline would; nothing is written when it
does not validate.

It writes -f FILE, else $BERTH_CONFIG, else berth.yaml here, adding to a
file that exists; -o - prints the whole config instead.`,
		Example: `  berth import compose docker-compose.yaml && berth up
  berth import compose compose.yaml compose.gpu.yaml --kit ai --profile gpu
  berth import compose compose.yaml --env-file prod.env -o -`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			opts.Environ = os.Environ()
			opts.Getenv = g.getenv
			target := config.InitFile(config.LoadOptions{File: g.configFile, Getenv: g.getenv})
			if output != "" && output != "-" {
				target = output
			}
			opts.Config = target
			res, err := compose.Import(g.ctx, opts)
			if res != nil {
				for _, n := range res.Notes {
					fmt.Fprintf(g.stderr, "berth: %s\n", n)
				}
			}
			if err != nil {
				if errors.Is(err, compose.ErrInvalid) && output == "-" {
					g.stdout.Write(res.YAML)
				}
				if errors.Is(err, compose.ErrInvalid) {
					var ces config.Errors
					if errors.As(err, &ces) {
						for _, e := range ces {
							fmt.Fprintf(g.stderr, "berth: error: %s\n", e)
							if e.Hint != "" {
								fmt.Fprintf(g.stderr, "berth: hint: %s\n", e.Hint)
							}
						}
						fmt.Fprintf(g.stderr, "berth: the imported config does not validate; nothing was written (-o - prints it)\n")
						return exitCode(ExitChanges)
					}
				}
				return withHint(err, ExitFailure, "check the compose files with 'docker compose config'")
			}
			if output == "-" {
				_, err := g.stdout.Write(res.YAML)
				return err
			}
			if err := writeConfig(target, res.YAML); err != nil {
				return err
			}
			refused := 0
			for _, n := range res.Notes {
				if n.Refused {
					refused++
				}
			}
			fmt.Fprintf(g.stderr, "berth: wrote %d services to %s (%d fields not imported); next: berth plan --offline\n", len(res.Services), target, refused)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Kit, "kit", "", "kit of the compose default network (default: the compose project name)")
	f.StringArrayVar(&opts.EnvFiles, "env-file", nil, "file of variables for interpolation, as docker compose --env-file (default: .env next to the first file)")
	f.StringArrayVar(&opts.Profiles, "profile", nil, "enable the services of this compose profile ('*': all); others are written with enable: false")
	f.StringVarP(&output, "output", "o", "", "write this file instead of the config, or - for stdout")
	return cmd
}

// writeConfig replaces path with data atomically, keeping its mode.
func writeConfig(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := atomicfile.Write(path, data, mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func newExportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "export",
		Short:   "Write the kits in other tools' formats",
		Example: `  berth export compose > compose.yaml`,
	}
	cmd.AddCommand(newExportComposeCmd(g))
	return cmd
}

func newExportComposeCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "compose [TARGET...]",
		Short: "Write a compose file for the kits",
		Long: `export compose writes a compose file that docker compose runs to the same
containers as berth up: the same names, images, commands and environment,
one network per kit with its subnet and gateway, the same static
addresses, published ports, mounts, limits, GPU reservations and exec
health checks. Generated secrets never appear in the compose file: values
go to env files in the state directory (mode 0600) named in env_file, and
secrets given as files keep their read-only mounts.

What compose cannot say is kept in each service's x-berth field (berth's
host-side health checks, optional GPUs) and listed on stderr; berth import
compose reads it back, so import(export(config)) gives the same desired
state. With TARGETs, only those services and what they depend on.`,
		Example: `  berth export compose > compose.yaml && docker compose -f compose.yaml config
  berth export compose ml -o ml.compose.yaml`,
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.open()
			if err != nil {
				return err
			}
			defer p.Close()
			st, names, err := p.Desired(args)
			if err != nil {
				return g.fail(err)
			}
			sd, err := p.StateDir()
			if err != nil {
				return g.fail(err)
			}
			opts := compose.ExportOptions{SecretsDir: filepath.Join(sd.Path(), "compose-secrets"), OmitGPU: omit(p.SkippedGPUs(g.ctx, st))}
			if names != nil {
				opts.Only = map[string]bool{}
				for _, t := range names {
					opts.Only[t] = true
				}
			}
			ex, err := compose.Export(p.Config(), st, opts)
			if err != nil {
				return err
			}
			for _, n := range ex.Notes {
				fmt.Fprintf(g.stderr, "berth: note: %s\n", n)
			}
			if output == "" || output == "-" {
				_, err := g.stdout.Write(ex.YAML)
				return err
			}
			return writeConfig(output, ex.YAML)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "-", "file to write, or - for stdout")
	return cmd
}

// omit is a set as compose's OmitGPU wants it; nil for none.
func omit(set map[string]bool) func(string) bool {
	if set == nil {
		return nil
	}
	return func(name string) bool { return set[name] }
}
