package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/aliases"
)

func init() { register(newAliasesCmd) }

func newAliasesCmd(g *globals) *cobra.Command {
	var berth string
	cmd := &cobra.Command{
		Use:   "aliases [bash|zsh|fish]",
		Short: "Print the seed's shell aliases as functions that call berth",
		Long: `aliases prints shell functions with the seed's names, for every service in
berth.yaml: PREFIX-enter, -status, -start, -stop, -restart and -logs
(ml-ollama-enter, dev-pg-start, dev-chat-enter, dev-code-start, …), the
helpers ollama-list and dev-pg-psql, and per kit KIT-status-all,
KIT-start-all and KIT-stop-all. Each function runs berth with this config
file, so it works from any directory.`,
		Example: `  eval "$(berth aliases bash)"      # in ~/.bashrc
  eval "$(berth aliases zsh)"       # in ~/.zshrc
  berth aliases fish | source       # in config.fish
  berth aliases --json`,
		ValidArgs: aliases.Shells,
		Args:      cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			if g.json {
				list := aliases.List(cfg)
				if list == nil {
					list = []aliases.Alias{}
				}
				return g.printJSON(list)
			}
			shell := "bash"
			if len(args) == 1 {
				shell = args[0]
			}
			file, _ := filepath.Abs(g.configFilePath())
			out, err := aliases.Script(cfg, shell, aliases.Options{Berth: berth, ConfigFile: file})
			if err != nil {
				return withHint(err, ExitFailure, "berth aliases bash|zsh|fish")
			}
			fmt.Fprint(g.stdout, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&berth, "berth", "berth", "command the functions run")
	addJSON(cmd, g)
	return cmd
}
