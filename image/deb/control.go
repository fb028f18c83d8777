package deb

import (
	"fmt"
	"strconv"
	"strings"
)

// Paragraph is one stanza of a deb822 control file. Raw keeps the stanza's
// text as published, so that the dpkg status written into an image is the
// archive's own record of the package.
type Paragraph struct {
	Fields map[string]string
	Raw    string
}

// ParseParagraphs splits deb822 text into paragraphs. Continuation lines are
// joined with "\n" into the field value. Raw values share memory with text.
func ParseParagraphs(text string) ([]Paragraph, error) {
	var out []Paragraph
	cur := Paragraph{Fields: map[string]string{}}
	last := ""
	start := -1 // offset of the current paragraph's first line
	pos, line := 0, 0
	flush := func(end int) {
		if start >= 0 && len(cur.Fields) > 0 {
			cur.Raw = strings.TrimRight(text[start:end], "\n")
			out = append(out, cur)
		}
		cur = Paragraph{Fields: map[string]string{}}
		last, start = "", -1
	}
	for pos < len(text) {
		line++
		lineStart := pos
		nl := strings.IndexByte(text[pos:], '\n')
		var l string
		if nl < 0 {
			l, pos = text[pos:], len(text)
		} else {
			l, pos = text[pos:pos+nl], pos+nl+1
		}
		if strings.TrimSpace(l) == "" {
			flush(lineStart)
			continue
		}
		if l[0] == '#' {
			continue
		}
		if start < 0 {
			start = lineStart
		}
		if l[0] == ' ' || l[0] == '\t' {
			if last == "" {
				return nil, fmt.Errorf("line %d: continuation line without a field", line)
			}
			cur.Fields[last] += "\n" + strings.TrimSpace(l)
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: expected \"Field: value\"", line)
		}
		last = k
		cur.Fields[k] = strings.TrimSpace(v)
	}
	flush(len(text))
	return out, nil
}

// Dep is one alternative of a dependency: a package name with an optional
// architecture qualifier and version constraint.
type Dep struct {
	Name    string
	Arch    string // "any", "native" or empty
	Rel     Relation
	Version string
}

func (d Dep) String() string {
	s := d.Name
	if d.Arch != "" {
		s += ":" + d.Arch
	}
	if d.Rel != RelAny {
		s += " (" + string(d.Rel) + " " + d.Version + ")"
	}
	return s
}

// Clause is a list of alternatives ("a | b"); one of them must hold.
type Clause []Dep

func (c Clause) String() string {
	parts := make([]string, len(c))
	for i, d := range c {
		parts[i] = d.String()
	}
	return strings.Join(parts, " | ")
}

// ParseDepends parses a Depends-style field. Build profile and architecture
// restrictions ("[amd64]", "<!nocheck>") only occur in source packages and
// are rejected there; binary indexes never carry them.
func ParseDepends(s string) ([]Clause, error) {
	var out []Clause
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var cl Clause
		for _, alt := range strings.Split(part, "|") {
			d, err := parseDep(strings.TrimSpace(alt))
			if err != nil {
				return nil, fmt.Errorf("parsing dependency %q: %w", part, err)
			}
			cl = append(cl, d)
		}
		out = append(out, cl)
	}
	return out, nil
}

func parseDep(s string) (Dep, error) {
	var d Dep
	name := s
	if i := strings.IndexByte(s, '('); i >= 0 {
		name = strings.TrimSpace(s[:i])
		j := strings.IndexByte(s, ')')
		if j < i {
			return d, fmt.Errorf("unbalanced parenthesis")
		}
		c := strings.TrimSpace(s[i+1 : j])
		k := 0
		for k < len(c) && strings.IndexByte("<>=", c[k]) >= 0 {
			k++
		}
		op := c[:k]
		switch op {
		case "<<", "<=", "=", ">=", ">>":
			d.Rel = Relation(op)
		case "<": // deprecated spelling of <=
			d.Rel = RelLE
		case ">": // deprecated spelling of >=
			d.Rel = RelGE
		default:
			return d, fmt.Errorf("unknown relation %q", op)
		}
		d.Version = strings.TrimSpace(c[k:])
	}
	if strings.ContainsAny(name, "[<") {
		return d, fmt.Errorf("restriction lists are not supported in binary packages")
	}
	if n, a, ok := strings.Cut(name, ":"); ok {
		name, d.Arch = n, a
	}
	if name == "" {
		return d, fmt.Errorf("empty package name")
	}
	d.Name = name
	return d, nil
}

// Package is a binary package as an index describes it.
type Package struct {
	Name         string
	Version      string
	Architecture string
	MultiArch    string
	Essential    bool
	Priority     string
	Depends      []Clause // Pre-Depends first, then Depends
	Provides     []Dep
	Filename     string
	Size         int64
	SHA256       string
	InstalledKB  int64
	Suite        string // the suite whose index listed it
	BaseURL      string // the archive URL the Filename is relative to
	Raw          string // the index stanza
}

// URL is where the package's .deb is downloaded from.
func (p *Package) URL() string { return strings.TrimSuffix(p.BaseURL, "/") + "/" + p.Filename }

// ID is "name=version:arch", unique within an index set.
func (p *Package) ID() string { return p.Name + "=" + p.Version + ":" + p.Architecture }

// PackageFromParagraph reads the fields berth needs from an index stanza.
func PackageFromParagraph(para Paragraph) (*Package, error) {
	f := para.Fields
	p := &Package{
		Name:         f["Package"],
		Version:      f["Version"],
		Architecture: f["Architecture"],
		MultiArch:    f["Multi-Arch"],
		Essential:    f["Essential"] == "yes",
		Priority:     f["Priority"],
		Filename:     f["Filename"],
		SHA256:       f["SHA256"],
		Raw:          para.Raw,
	}
	if p.Name == "" || p.Version == "" {
		return nil, fmt.Errorf("stanza without Package or Version")
	}
	if s := f["Size"]; s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("package %s: bad Size: %w", p.Name, err)
		}
		p.Size = n
	}
	if s := f["Installed-Size"]; s != "" {
		p.InstalledKB, _ = strconv.ParseInt(s, 10, 64)
	}
	for _, field := range []string{"Pre-Depends", "Depends"} {
		cls, err := ParseDepends(f[field])
		if err != nil {
			return nil, fmt.Errorf("package %s %s: %w", p.Name, field, err)
		}
		p.Depends = append(p.Depends, cls...)
	}
	prov, err := ParseDepends(f["Provides"])
	if err != nil {
		return nil, fmt.Errorf("package %s Provides: %w", p.Name, err)
	}
	for _, cl := range prov {
		p.Provides = append(p.Provides, cl...)
	}
	return p, nil
}
