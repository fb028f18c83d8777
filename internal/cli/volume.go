package cli

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/volume"
)

func init() { register(newVolumeCmd) }

func newVolumeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "volume",
		Short: "List and remove named volumes",
		Long: `A named volume is a directory berth keeps for a service that mounts it by
name (mounts: [models:/models]): <volumesPath>/<project>/<name>, by default
under /var/lib/berth/volumes. up creates it, down keeps it; only
berth volume rm NAME deletes it, and not while a container mounts it.`,
		Example: `  berth volume ls
  berth volume rm models`,
	}
	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the named volumes of the config and those left on disk",
		Example: `  berth volume ls
  berth volume ls --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			vs, err := volume.List(cfg)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(vs)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPATH\tUSED BY")
			for _, v := range vs {
				used := strings.Join(v.UsedBy, ",")
				if !v.InConfig {
					used = "(no service)"
				}
				path := v.Path
				if !v.Exists {
					path += " (not made yet)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Name, path, used)
			}
			return tw.Flush()
		},
	}
	addJSON(ls, g)
	rm := &cobra.Command{
		Use:     "rm NAME...",
		Short:   "Delete named volumes and their data",
		Example: `  berth down ml && berth volume rm models`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			e, err := g.engine(cfg)
			if err != nil {
				return err
			}
			defer e.Close()
			for _, name := range args {
				err := volume.Remove(g.ctx, cfg, e, name)
				switch {
				case errors.Is(err, volume.ErrInUse):
					return withHint(err, ExitFailure, "stop the services that mount it first: berth down TARGET")
				case errors.Is(err, volume.ErrUnknown):
					return withHint(err, ExitFailure, "berth volume ls lists the volumes")
				case err != nil:
					return g.engineError(err)
				}
				fmt.Fprintf(g.stderr, "berth: removed volume %s\n", name)
			}
			return nil
		},
	}
	cmd.AddCommand(ls, rm)
	return cmd
}
