// Package aliases writes the seed's shell aliases (ml-ollama-enter,
// ollama-list, dev-pg-psql, ml-status-all, …) as shell functions that call
// berth, for bash, zsh and fish.
package aliases

import (
	"fmt"
	"sort"
	"strings"

	"github.com/voidnxlabs/berth/config"
)

// Alias is one shell function.
type Alias struct {
	Name string   `json:"name"` // ml-ollama-enter
	Args []string `json:"args"` // berth arguments: enter ml-ollama
	Help string   `json:"help"`
}

// Shells berth writes aliases for.
var Shells = []string{"bash", "zsh", "fish"}

// List returns the aliases of every service in cfg (enabled or not, so that
// an alias exists before the service is turned on), sorted by name. For
// each service: PREFIX-enter, -status, -start, -stop, -restart, -logs, plus
// its helpers; for each kit: KIT-status-all, -start-all, -stop-all.
func List(cfg *config.Config) []Alias {
	var out []Alias
	for _, k := range cfg.Kits {
		if len(k.Services) == 0 {
			continue
		}
		out = append(out,
			Alias{k.Name + "-status-all", []string{"status", k.Name}, "status of all " + k.Name + " containers"},
			Alias{k.Name + "-start-all", []string{"start", k.Name}, "start all " + k.Name + " containers"},
			Alias{k.Name + "-stop-all", []string{"stop", k.Name}, "stop all " + k.Name + " containers"},
		)
		for _, s := range k.Services {
			prefix := s.Container
			if s.Catalog != nil {
				prefix = s.Catalog.AliasPrefix
			}
			c := s.Container
			out = append(out,
				Alias{prefix + "-enter", []string{"enter", c}, "enter " + c},
				Alias{prefix + "-status", []string{"status", c}, "status of " + c},
				Alias{prefix + "-start", []string{"start", c}, "start " + c},
				Alias{prefix + "-stop", []string{"stop", c}, "stop " + c},
				Alias{prefix + "-restart", []string{"restart", c}, "restart " + c},
				Alias{prefix + "-logs", []string{"logs", c}, "logs of " + c},
			)
			if s.Catalog == nil {
				continue
			}
			for _, h := range s.Catalog.Helpers {
				switch h {
				case "ollama-list":
					out = append(out, Alias{h, []string{"ollama", "list"}, "list models via the Ollama API"})
				case "dev-pg-psql":
					out = append(out, Alias{h, []string{"psql"}, "connect to PostgreSQL with psql"})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	// A user kit can produce a name a catalog alias already has; the first
	// in sorted order wins, deterministically.
	dedup := out[:0]
	for i, a := range out {
		if i > 0 && a.Name == out[i-1].Name {
			continue
		}
		dedup = append(dedup, a)
	}
	return dedup
}

// Options tune Script.
type Options struct {
	// Berth is the command that runs berth (default "berth").
	Berth string
	// ConfigFile, when set, is passed with --file so the functions work from
	// any directory.
	ConfigFile string
}

// Script returns the shell code defining every alias as a function.
func Script(cfg *config.Config, shell string, opts Options) (string, error) {
	berth := opts.Berth
	if berth == "" {
		berth = "berth"
	}
	base := []string{quote(berth)}
	if opts.ConfigFile != "" {
		base = append(base, "--file", quote(opts.ConfigFile))
	}
	prefix := strings.Join(base, " ")
	var b strings.Builder
	switch shell {
	case "bash", "zsh":
		fmt.Fprintf(&b, "# berth aliases for %s: eval \"$(berth aliases %s)\"\n", shell, shell)
		for _, a := range List(cfg) {
			fmt.Fprintf(&b, "%s() { command %s %s \"$@\"; }  # %s\n", a.Name, prefix, strings.Join(a.Args, " "), a.Help)
		}
	case "fish":
		b.WriteString("# berth aliases for fish: berth aliases fish | source\n")
		for _, a := range List(cfg) {
			fmt.Fprintf(&b, "function %s --description '%s'; command %s %s $argv; end\n", a.Name, a.Help, prefix, strings.Join(a.Args, " "))
		}
	default:
		return "", fmt.Errorf("unknown shell %q (known: %s)", shell, strings.Join(Shells, ", "))
	}
	return b.String(), nil
}

// quote makes s one shell word.
func quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
