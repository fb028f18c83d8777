package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
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
			p, err := g.open()
			if err != nil {
				return err
			}
			vs, err := p.Volumes()
			if err != nil {
				return g.fail(err)
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
			p, err := g.open()
			if err != nil {
				return err
			}
			defer p.Close()
			done, err := p.VolumeRemove(g.ctx, args...)
			for _, name := range done {
				fmt.Fprintf(g.stderr, "berth: removed volume %s\n", name)
			}
			return g.fail(err)
		},
	}
	cmd.AddCommand(ls, rm)
	return cmd
}
