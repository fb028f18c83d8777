package termsafe

import "testing"

func TestClean(t *testing.T) {
	for _, c := range []struct{ in, line, text string }{
		{"ml-ollama", "ml-ollama", "ml-ollama"},
		{"café ☕", "café ☕", "café ☕"},
		{"a\x1b]0;pwned\x07b", `a\x1b]0;pwned\ab`, `a\x1b]0;pwned\ab`},
		{"x\x1b[2J\x1b[Hy", `x\x1b[2J\x1b[Hy`, `x\x1b[2J\x1b[Hy`},
		{"two\nlines\tand tab", `two\nlines\tand tab`, "two\nlines\tand tab"},
		{"cr\roverwrite", `cr\roverwrite`, `cr\roverwrite`},
		{"evil\u202etxt.exe", `evil\u202etxt.exe`, `evil\u202etxt.exe`},
		{"c1\u009bcsi", `c1\u009bcsi`, `c1\u009bcsi`},
		{"del\x7f", `del\x7f`, `del\x7f`},
		{"bad\xffutf8", `bad\xffutf8`, `bad\xffutf8`},
	} {
		if got := Line(c.in); got != c.line {
			t.Errorf("Line(%q) = %q, want %q", c.in, got, c.line)
		}
		if got := Text(c.in); got != c.text {
			t.Errorf("Text(%q) = %q, want %q", c.in, got, c.text)
		}
	}
}
