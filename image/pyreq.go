package image

import (
	"bufio"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// pyReq is one requirement (PEP 508): name, extras, version specifier and
// an environment marker.
type pyReq struct {
	Name   string // normalised (PEP 503)
	Extras []string
	Spec   pySpecifier
	Marker string
	raw    string
}

var pyNameRE = regexp.MustCompile(`^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[([^\]]*)\])?\s*(.*)$`)

// normPyName is a project name as PEP 503 compares them.
func normPyName(n string) string {
	return strings.ToLower(regexp.MustCompile(`[-_.]+`).ReplaceAllString(n, "-"))
}

func parsePyReq(s string) (pyReq, error) {
	r := pyReq{raw: strings.TrimSpace(s)}
	body, marker, _ := strings.Cut(s, ";")
	r.Marker = strings.TrimSpace(marker)
	m := pyNameRE.FindStringSubmatch(strings.TrimSpace(body))
	if m == nil {
		return r, fmt.Errorf("%q is not a requirement such as jupyterlab>=4,<5", s)
	}
	r.Name = normPyName(m[1])
	for _, e := range strings.Split(m[2], ",") {
		if e = strings.TrimSpace(e); e != "" {
			r.Extras = append(r.Extras, normPyName(e))
		}
	}
	rest := strings.TrimSpace(m[3])
	if strings.HasPrefix(rest, "@") {
		return r, fmt.Errorf("%q: direct URL references are not supported; name a version from PyPI", s)
	}
	rest = strings.TrimSuffix(strings.TrimPrefix(rest, "("), ")")
	if rest != "" {
		sp, err := parsePySpecifier(rest)
		if err != nil {
			return r, fmt.Errorf("%q: %w", s, err)
		}
		r.Spec = sp
	}
	if r.Marker != "" {
		if _, err := evalMarker(r.Marker, pyEnv{}); err != nil {
			return r, fmt.Errorf("%q: %w", s, err)
		}
	}
	return r, nil
}

// parseRequirementsTxt reads the requirement lines of a requirements.txt:
// comments, blank lines and line continuations are understood; options
// (-r, -c, --index-url, --hash …) are refused, as berth pins by its own
// lock.
func parseRequirementsTxt(text string) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(text, "\\\n", " ")))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "-") {
			return nil, fmt.Errorf("line %d: option %q is not supported (berth's lock pins every file)", n, strings.Fields(line)[0])
		}
		out = append(out, strings.Join(strings.Fields(line), " "))
	}
	return out, nil
}

// parsePyproject reads [project] dependencies from a pyproject.toml, the
// one table berth needs, without a TOML library: a string array whose
// items are on one line or one per line.
func parsePyproject(text string) ([]string, error) {
	inProject := false
	var buf strings.Builder
	collecting := false
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "[") && !collecting {
			inProject = t == "[project]"
			continue
		}
		if !inProject {
			continue
		}
		if !collecting {
			k, v, ok := strings.Cut(t, "=")
			if !ok || strings.TrimSpace(k) != "dependencies" {
				continue
			}
			collecting = true
			t = strings.TrimSpace(v)
		}
		if i := strings.Index(t, "#"); i >= 0 && strings.Count(t[:i], `"`)%2 == 0 {
			t = t[:i]
		}
		buf.WriteString(t)
		if strings.Contains(t, "]") {
			break
		}
	}
	if !collecting {
		return nil, fmt.Errorf("no [project] dependencies")
	}
	var deps []string
	if err := yaml.Unmarshal([]byte(buf.String()), &deps); err != nil {
		return nil, fmt.Errorf("reading [project] dependencies: %w", err)
	}
	return deps, nil
}

// pyEnv is the environment markers are evaluated in: the image's Python
// and platform.
type pyEnv struct {
	pythonVersion, pythonFull string
	extra                     string
}

func (e pyEnv) value(name string) (string, bool) {
	switch name {
	case "python_version":
		return e.pythonVersion, true
	case "python_full_version":
		return e.pythonFull, true
	case "os_name":
		return "posix", true
	case "sys_platform":
		return "linux", true
	case "platform_system":
		return "Linux", true
	case "platform_machine":
		return "x86_64", true
	case "platform_python_implementation":
		return "CPython", true
	case "implementation_name":
		return "cpython", true
	case "implementation_version":
		return e.pythonFull, true
	case "platform_release", "platform_version":
		return "", true
	case "extra":
		return e.extra, true
	}
	return "", false
}

var markerTokRE = regexp.MustCompile(`\s*(\(|\)|===|==|!=|<=|>=|~=|<|>|not\s+in\b|in\b|and\b|or\b|'[^']*'|"[^"]*"|[A-Za-z_][A-Za-z0-9_.]*)`)

// evalMarker evaluates an environment marker (PEP 508).
func evalMarker(m string, env pyEnv) (bool, error) {
	var toks []string
	rest := m
	for strings.TrimSpace(rest) != "" {
		loc := markerTokRE.FindStringSubmatchIndex(rest)
		if loc == nil || loc[0] != 0 {
			return false, fmt.Errorf("marker %q: cannot read %q", m, strings.TrimSpace(rest))
		}
		toks = append(toks, regexp.MustCompile(`\s+`).ReplaceAllString(rest[loc[2]:loc[3]], " "))
		rest = rest[loc[1]:]
	}
	p := &markerParser{toks: toks, env: env, src: m}
	v, err := p.or()
	if err != nil {
		return false, err
	}
	if p.i != len(toks) {
		return false, fmt.Errorf("marker %q: unexpected %q", m, toks[p.i])
	}
	return v, nil
}

type markerParser struct {
	toks []string
	i    int
	env  pyEnv
	src  string
}

func (p *markerParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *markerParser) or() (bool, error) {
	v, err := p.and()
	for err == nil && p.peek() == "or" {
		p.i++
		var w bool
		w, err = p.and()
		v = v || w
	}
	return v, err
}

func (p *markerParser) and() (bool, error) {
	v, err := p.atom()
	for err == nil && p.peek() == "and" {
		p.i++
		var w bool
		w, err = p.atom()
		v = v && w
	}
	return v, err
}

func (p *markerParser) atom() (bool, error) {
	if p.peek() == "(" {
		p.i++
		v, err := p.or()
		if err != nil {
			return false, err
		}
		if p.peek() != ")" {
			return false, fmt.Errorf("marker %q: missing )", p.src)
		}
		p.i++
		return v, nil
	}
	if p.i+3 > len(p.toks) {
		return false, fmt.Errorf("marker %q: incomplete", p.src)
	}
	l, op, r := p.toks[p.i], p.toks[p.i+1], p.toks[p.i+2]
	p.i += 3
	lv, lvar, err := p.operand(l)
	if err != nil {
		return false, err
	}
	rv, _, err := p.operand(r)
	if err != nil {
		return false, err
	}
	if lvar == "extra" || strings.HasPrefix(r, "'") && l == "extra" {
		rv = normPyName(rv)
	}
	switch op {
	case "in":
		return strings.Contains(rv, lv), nil
	case "not in":
		return !strings.Contains(rv, lv), nil
	}
	// Versions compare as versions where both sides are versions.
	if sp, err := parsePySpecifier(op + rv); err == nil {
		if v, err := parsePyVersion(lv); err == nil {
			return sp.contains(v), nil
		}
	}
	switch op {
	case "==", "===":
		return lv == rv, nil
	case "!=":
		return lv != rv, nil
	case "<":
		return lv < rv, nil
	case "<=":
		return lv <= rv, nil
	case ">":
		return lv > rv, nil
	case ">=":
		return lv >= rv, nil
	}
	return false, fmt.Errorf("marker %q: operator %q", p.src, op)
}

func (p *markerParser) operand(t string) (val, variable string, err error) {
	if len(t) >= 2 && (t[0] == '\'' || t[0] == '"') {
		return t[1 : len(t)-1], "", nil
	}
	v, ok := p.env.value(t)
	if !ok {
		return "", "", fmt.Errorf("marker %q: unknown variable %q", p.src, t)
	}
	if t == "extra" {
		v = normPyName(v)
	}
	return v, t, nil
}

// markerExtras lists the extras a marker names (extra == "x"), so that a
// dependency that only an extra pulls in is found.
func markerExtras(m string) []string {
	var out []string
	for _, mm := range regexp.MustCompile(`extra\s*==\s*['"]([^'"]+)['"]`).FindAllStringSubmatch(m, -1) {
		out = append(out, normPyName(mm[1]))
	}
	sort.Strings(out)
	return out
}
