package config

import (
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pos is a position in a config file. The zero Pos means "not in the file"
// (a default value).
type Pos struct {
	File   string
	Line   int
	Column int
}

// IsValid says whether p points into a file.
func (p Pos) IsValid() bool { return p.File != "" }

func (p Pos) String() string {
	switch {
	case p.File == "":
		return "-"
	case p.Line == 0:
		return p.File
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
	}
}

// Error is one problem in a config, tied to an option path and a position.
type Error struct {
	Pos  Pos
	Path string // option path, e.g. ml.ollama.port
	Msg  string
	Hint string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Pos.String())
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a config. It is returned as a whole so
// that a user fixes them in one round.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, 0, len(es))
	for _, e := range es {
		lines = append(lines, e.Error())
	}
	return strings.Join(lines, "\n")
}

// sort orders errors by position, then path, and drops exact duplicates.
func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return es[i].Path < es[j].Path
	})
	out := es[:0]
	for i, e := range es {
		if i > 0 && *e == *es[i-1] {
			continue
		}
		out = append(out, e)
	}
	return out
}

// errs collects problems during loading and validation.
type errs struct {
	list Errors
	// refused holds nodes already reported while parsing (a control
	// character): the decoder skips them instead of reporting them again.
	refused map[*yaml.Node]bool
}

func (c *errs) bad(n *yaml.Node) {
	if c.refused == nil {
		c.refused = map[*yaml.Node]bool{}
	}
	c.refused[n] = true
}

func (c *errs) isBad(n *yaml.Node) bool { return c.refused[n] }

func (c *errs) add(pos Pos, path, hint, format string, args ...any) {
	c.list = append(c.list, &Error{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

func (c *errs) err() error {
	if len(c.list) == 0 {
		return nil
	}
	return c.list.sorted()
}

// suggest returns the candidate closest to s, if it is close enough to be
// a likely typo.
func suggest(s string, candidates []string) string {
	best, bestD := "", len(s)/2+2
	if bestD > 3 {
		bestD = 3
	}
	for _, c := range candidates {
		d := distance(strings.ToLower(s), strings.ToLower(c))
		if d < bestD || (d == bestD && best != "" && c < best) {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
