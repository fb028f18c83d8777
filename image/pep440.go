package image

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// pyVersion is a Python package version (PEP 440).
type pyVersion struct {
	raw     string
	epoch   int
	release []int
	pre     int // 0 none; 1 a, 2 b, 3 rc
	preN    int
	post    int // -1 none
	dev     int // -1 none
	local   string
}

var pep440RE = regexp.MustCompile(`^v?(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(a|alpha|b|beta|rc|c|pre|preview)[-_.]?(\d*))?(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d*))?(?:[-_.]?(dev)[-_.]?(\d*))?(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$`)

func parsePyVersion(s string) (pyVersion, error) {
	m := pep440RE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		return pyVersion{}, fmt.Errorf("%q is not a PEP 440 version", s)
	}
	v := pyVersion{raw: s, post: -1, dev: -1, local: m[10]}
	if m[1] != "" {
		v.epoch, _ = strconv.Atoi(m[1])
	}
	for _, p := range strings.Split(m[2], ".") {
		n, _ := strconv.Atoi(p)
		v.release = append(v.release, n)
	}
	switch m[3] {
	case "a", "alpha":
		v.pre = 1
	case "b", "beta":
		v.pre = 2
	case "rc", "c", "pre", "preview":
		v.pre = 3
	}
	if v.pre > 0 {
		v.preN, _ = strconv.Atoi(m[4])
	}
	if m[5] != "" {
		v.post, _ = strconv.Atoi(m[5])
	} else if m[6] != "" {
		v.post, _ = strconv.Atoi(m[7])
	}
	if m[8] != "" {
		v.dev, _ = strconv.Atoi(m[9])
	}
	return v, nil
}

// isPre is true for pre-releases and development releases.
func (v pyVersion) isPre() bool { return v.pre > 0 || v.dev >= 0 }

func (v pyVersion) String() string { return v.raw }

// base is the version without pre, post, dev and local parts.
func (v pyVersion) base() pyVersion {
	return pyVersion{raw: v.raw, epoch: v.epoch, release: v.release, post: -1, dev: -1}
}

func cmpInts(a, b []int) int {
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// comparePy orders versions as PEP 440 does: dev releases before
// pre-releases before the release before post releases.
func comparePy(a, b pyVersion) int {
	if a.epoch != b.epoch {
		return cmpInt(a.epoch, b.epoch)
	}
	if c := cmpInts(a.release, b.release); c != 0 {
		return c
	}
	// The phase of each: a dev release of the final version sorts before
	// its pre-releases.
	phase := func(v pyVersion) (int, int) {
		switch {
		case v.pre > 0:
			return v.pre, v.preN
		case v.post < 0 && v.dev >= 0:
			return 0, 0
		default:
			return 4, 0
		}
	}
	pa, na := phase(a)
	pb, nb := phase(b)
	if pa != pb {
		return cmpInt(pa, pb)
	}
	if na != nb {
		return cmpInt(na, nb)
	}
	if a.post != b.post {
		return cmpInt(a.post, b.post)
	}
	da, db := a.dev, b.dev
	if da < 0 {
		da = 1 << 30
	}
	if db < 0 {
		db = 1 << 30
	}
	if da != db {
		return cmpInt(da, db)
	}
	return strings.Compare(a.local, b.local)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// pySpec is one clause of a version specifier: ">=1.2", "==3.*".
type pySpec struct {
	op       string
	v        pyVersion
	wildcard bool
	raw      string
}

// pySpecifier is a comma-separated set of clauses, all of which must hold.
type pySpecifier []pySpec

func parsePySpecifier(s string) (pySpecifier, error) {
	var out pySpecifier
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var op string
		for _, o := range []string{"===", "~=", "==", "!=", "<=", ">=", "<", ">"} {
			if strings.HasPrefix(part, o) {
				op = o
				break
			}
		}
		if op == "" {
			return nil, fmt.Errorf("%q is not a version specifier", part)
		}
		vs := strings.TrimSpace(part[len(op):])
		sp := pySpec{op: op, raw: part}
		if op == "===" {
			sp.v = pyVersion{raw: vs}
			out = append(out, sp)
			continue
		}
		if strings.HasSuffix(vs, ".*") && (op == "==" || op == "!=") {
			sp.wildcard = true
			vs = strings.TrimSuffix(vs, ".*")
		}
		v, err := parsePyVersion(vs)
		if err != nil {
			return nil, err
		}
		sp.v = v
		out = append(out, sp)
	}
	return out, nil
}

// allowsPre is true when a clause names a pre-release, which admits
// pre-releases as candidates.
func (s pySpecifier) allowsPre() bool {
	for _, c := range s {
		if c.v.isPre() && c.op != "!=" {
			return true
		}
	}
	return false
}

func (s pySpecifier) String() string {
	var parts []string
	for _, c := range s {
		parts = append(parts, c.raw)
	}
	return strings.Join(parts, ",")
}

// contains reports whether v meets every clause.
func (s pySpecifier) contains(v pyVersion) bool {
	for _, c := range s {
		if !c.contains(v) {
			return false
		}
	}
	return true
}

func (c pySpec) contains(v pyVersion) bool {
	noLocal := v
	noLocal.local = ""
	switch c.op {
	case "===":
		return strings.EqualFold(v.raw, c.v.raw)
	case "==", "!=":
		var eq bool
		if c.wildcard {
			eq = v.epoch == c.v.epoch && len(v.release) >= len(c.v.release) && cmpInts(v.release[:len(c.v.release)], c.v.release) == 0
			if c.v.pre > 0 || c.v.post >= 0 || c.v.dev >= 0 {
				eq = eq && comparePy(v.base(), c.v.base()) == 0
			}
		} else if c.v.local == "" {
			eq = comparePy(noLocal, c.v) == 0
		} else {
			eq = comparePy(v, c.v) == 0
		}
		return eq == (c.op == "==")
	case "~=":
		if len(c.v.release) < 2 {
			return false
		}
		prefix := c.v.release[:len(c.v.release)-1]
		return comparePy(noLocal, c.v) >= 0 && v.epoch == c.v.epoch && len(v.release) >= len(prefix) && cmpInts(v.release[:len(prefix)], prefix) == 0
	case "<=":
		return comparePy(noLocal, c.v) <= 0
	case ">=":
		return comparePy(noLocal, c.v) >= 0
	case "<":
		if comparePy(noLocal, c.v) >= 0 {
			return false
		}
		// <3.0 does not admit 3.0's pre-releases.
		return c.v.isPre() || !v.isPre() || comparePy(v.base(), c.v.base()) != 0
	case ">":
		if comparePy(noLocal, c.v) <= 0 {
			return false
		}
		// >3.0 does not admit 3.0's post releases.
		return c.v.post >= 0 || v.post < 0 || comparePy(v.base(), c.v.base()) != 0
	}
	return false
}
