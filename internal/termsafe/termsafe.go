// Package termsafe makes text from outside berth safe to print on a
// terminal. Container names, health output, model names, engine errors and
// the last line of a compiler or npm run come from images, engines and
// packages that other people write; printed as they are, an escape
// sequence among them can move the cursor, rewrite earlier lines, set the
// window title or hide text, and a bidirectional override can make a name
// read backwards. The same characters that config refuses in berth.yaml
// (C0 and C1 controls, DEL, the bidi overrides and isolates) are shown as
// Go escapes instead.
package termsafe

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// unsafe reports whether r must not reach a terminal as it is.
func unsafe(r rune) bool {
	return unicode.IsControl(r) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// Line returns s with every unsafe character escaped, newlines and tabs
// included: for one cell of a table or one line of progress.
func Line(s string) string { return clean(s, false) }

// Text returns s with every unsafe character escaped except newlines and
// tabs: for messages of several lines.
func Text(s string) string { return clean(s, true) }

func clean(s string, keepLines bool) string {
	i := strings.IndexFunc(s, func(r rune) bool { return bad(r, keepLines) })
	if i < 0 && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[0]), 16))
		case bad(r, keepLines):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
	return b.String()
}

func bad(r rune, keepLines bool) bool {
	if keepLines && (r == '\n' || r == '\t') {
		return false
	}
	return unsafe(r)
}
