package compose

import (
	"strings"
	"testing"
)

// TestParseFields: a reason by name, comments and blank lines; a line
// that is not three columns, an unknown status or constant is refused by
// line number.
func TestParseFields(t *testing.T) {
	got := parseFields("# c\n\na.b\trefused\t$whySwarm\nc\tnoted\tsome text\n")
	if len(got) != 2 || got[0] != (Field{"a.b", Refused, whySwarm}) || got[1] != (Field{"c", Noted, "some text"}) {
		t.Fatalf("parsed %+v", got)
	}
	for _, bad := range []string{"a\trefused", "a\tmaybe\tx", "# c\na\trefused\t$nope"} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), "fields.tsv:") {
					t.Errorf("%q: recovered %v, want a panic naming the line", bad, r)
				}
			}()
			parseFields(bad)
		}()
	}
}
