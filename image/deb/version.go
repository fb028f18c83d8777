package deb

import (
	"strings"
)

// CompareVersions compares two Debian version strings as dpkg does
// (deb-version(7)): epoch numerically, then upstream version and revision
// with the dpkg ordering in which '~' sorts before anything, even the end
// of the string. It returns -1, 0 or +1.
func CompareVersions(a, b string) int {
	ea, ua, ra := splitVersion(a)
	eb, ub, rb := splitVersion(b)
	if c := compareNum(ea, eb); c != 0 {
		return c
	}
	if c := compareFragment(ua, ub); c != 0 {
		return c
	}
	return compareFragment(ra, rb)
}

func splitVersion(v string) (epoch, upstream, revision string) {
	if i := strings.IndexByte(v, ':'); i >= 0 {
		epoch, v = v[:i], v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		v, revision = v[:i], v[i+1:]
	}
	return epoch, v, revision
}

// order gives the dpkg weight of a non-digit character.
func order(c byte) int {
	switch {
	case c == '~':
		return -1
	case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		return int(c)
	case c == 0:
		return 0
	default:
		return int(c) + 256
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func compareFragment(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		// Non-digit prefix, compared character by character.
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			var ca, cb byte
			if i < len(a) && !isDigit(a[i]) {
				ca = a[i]
			}
			if j < len(b) && !isDigit(b[j]) {
				cb = b[j]
			}
			if oa, ob := order(ca), order(cb); oa != ob {
				if oa < ob {
					return -1
				}
				return 1
			}
			if ca != 0 {
				i++
			}
			if cb != 0 {
				j++
			}
		}
		// Digit run, compared numerically.
		si := i
		for i < len(a) && isDigit(a[i]) {
			i++
		}
		sj := j
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if c := compareNum(a[si:i], b[sj:j]); c != 0 {
			return c
		}
	}
	return 0
}

// compareNum compares decimal digit strings of any length without
// overflowing: leading zeros are ignored.
func compareNum(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// Relation is a version constraint operator from a dependency field.
type Relation string

const (
	RelAny Relation = ""
	RelLT  Relation = "<<"
	RelLE  Relation = "<="
	RelEQ  Relation = "="
	RelGE  Relation = ">="
	RelGT  Relation = ">>"
)

// Satisfies reports whether version v meets the constraint (rel, want).
func Satisfies(v string, rel Relation, want string) bool {
	if rel == RelAny {
		return true
	}
	c := CompareVersions(v, want)
	switch rel {
	case RelLT:
		return c < 0
	case RelLE:
		return c <= 0
	case RelEQ:
		return c == 0
	case RelGE:
		return c >= 0
	case RelGT:
		return c > 0
	}
	return false
}
