package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// Example is one berth command line from a command's Example section, as
// the tests that run every example read it.
type Example struct {
	Cmd  string   // the command whose help shows it: "berth logs"
	Path string   // the command the line runs: "berth backup list"
	Line string   // the whole line as the help shows it
	Args []string // berth's arguments, redirections left out
	Env  []string // VAR=value before berth
	// Stdin is what the line feeds berth: the text of an `echo '…' |`
	// before it, or, with StdinFile, the name of a `< FILE` after it.
	Stdin     string
	StdinFile string
}

// Examples collects every berth invocation of every command's Example:
// the line's comment, redirections and the other commands of a pipeline
// or && chain left out. An example line that runs no berth command it can
// read is an error, so that the tests cannot skip one silently.
func Examples() ([]Example, error) {
	var out []Example
	var errs []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, l := range strings.Split(c.Example, "\n") {
			l = strings.TrimSpace(l)
			if l == "" {
				continue
			}
			code := l
			if i := strings.Index(code, " #"); i >= 0 {
				code = code[:i]
			}
			all, err := shellWords(code)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: example %q: %v", c.CommandPath(), l, err))
				continue
			}
			var segs [][]string
			start := 0
			for i, w := range append(all, "|") {
				if w == "|" || w == "&&" {
					segs = append(segs, all[start:i])
					start = i + 1
				}
			}
			n := 0
			piped := ""
			for si, words := range segs {
				var env []string
				for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
					env, words = append(env, words[0]), words[1:]
				}
				if len(words) > 0 && words[0] == "eval" && len(words) == 2 {
					// eval "$(berth aliases bash)"
					inner := strings.TrimSuffix(strings.TrimPrefix(words[1], "$("), ")")
					if words, err = shellWords(inner); err != nil {
						errs = append(errs, fmt.Sprintf("%s: example %q: %v", c.CommandPath(), l, err))
						continue
					}
				}
				if len(words) == 2 && words[0] == "echo" && si+1 < len(segs) {
					piped = words[1] + "\n"
					continue
				}
				if len(words) == 0 || words[0] != "berth" {
					piped = ""
					continue
				}
				ex := Example{Cmd: c.CommandPath(), Line: l, Env: env, Stdin: piped}
				piped = ""
				// Redirections belong to the shell.
				for i := 1; i < len(words); i++ {
					if words[i] == ">" || words[i] == "<" {
						if words[i] == "<" && i+1 < len(words) {
							ex.StdinFile = words[i+1]
						}
						i++
						continue
					}
					ex.Args = append(ex.Args, words[i])
				}
				if c, _, err := newRoot(&globals{}).Find(hoistFile(ex.Args)); err == nil {
					ex.Path = c.CommandPath()
				}
				out = append(out, ex)
				n++
			}
			if n == 0 && slices.Contains(all, "berth") {
				errs = append(errs, fmt.Sprintf("%s: example %q runs no berth command a test can read", c.CommandPath(), l))
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRoot(&globals{}))
	if len(errs) > 0 {
		return out, fmt.Errorf("help examples:\n%s", strings.Join(errs, "\n"))
	}
	return out, nil
}

// shellWords splits a command line as sh would for the simple lines of
// help examples: words, '…' and "…" quoting.
func shellWords(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out, in = append(out, cur.String()), false
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}
