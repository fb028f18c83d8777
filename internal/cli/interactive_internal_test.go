package cli

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"10m", now.Add(-10 * time.Minute)},
		{"2h30m", now.Add(-150 * time.Minute)},
		{"-5s", now.Add(-5 * time.Second)},
		{"2026-11-27T09:15:00Z", time.Date(2026, 11, 27, 9, 15, 0, 0, time.UTC)},
		{"2026-11-27T09:15:00.5+01:00", time.Date(2026, 11, 27, 8, 15, 0, 5e8, time.UTC)},
		{"2026-11-26", time.Date(2026, 11, 26, 0, 0, 0, 0, time.Local)},
		{"2026-11-26 08:00:00", time.Date(2026, 11, 26, 8, 0, 0, 0, time.Local)},
		{"1700000000", time.Unix(1700000000, 0)},
	} {
		got, err := parseSince(tc.in, now)
		if err != nil {
			t.Errorf("parseSince(%q): %v", tc.in, err)
			continue
		}
		if !got.Equal(tc.want) {
			t.Errorf("parseSince(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "10 minutes", "2026-13-01"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Errorf("parseSince(%q) accepted it", bad)
		}
	}
}

// TestLineWriterWholeLines writes lines from many goroutines in pieces
// that cut lines anywhere: every line must come out whole, behind its own
// prefix, and each writer's lines in order.
func TestLineWriterWholeLines(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	const writers, lines = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lw := &lineWriter{mu: &mu, w: &out, prefix: fmt.Sprintf("c%d | ", w)}
			var all strings.Builder
			for i := range lines {
				fmt.Fprintf(&all, "writer %d line %d %s\n", w, i, strings.Repeat("x", i%37))
			}
			data := []byte(all.String())
			// The last line has no newline: Flush ends it.
			data = data[:len(data)-1]
			for len(data) > 0 {
				n := min(len(data), 1+(len(data)*7+w)%23)
				if _, err := lw.Write(data[:n]); err != nil {
					t.Error(err)
				}
				data = data[n:]
			}
			lw.Flush()
		}()
	}
	wg.Wait()
	next := map[string]int{}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("%d lines, want %d", len(got), writers*lines)
	}
	for _, l := range got {
		var w, i int
		var prefix string
		if _, err := fmt.Sscanf(l, "c%d | writer %d line %d", &w, new(int), &i); err != nil {
			t.Fatalf("line cut or mixed: %q", l)
		}
		prefix = fmt.Sprintf("c%d | writer %d line %d ", w, w, i)
		if l != prefix+strings.Repeat("x", i%37) && l != strings.TrimSuffix(prefix, " ") {
			t.Fatalf("line cut or mixed: %q", l)
		}
		key := fmt.Sprint(w)
		if i != next[key] {
			t.Fatalf("writer %d: line %d after %d", w, i, next[key]-1)
		}
		next[key]++
	}
}

func TestMergeLines(t *testing.T) {
	api := "2026-11-27T10:00:01.000000002Z api second\n2026-11-27T10:00:03Z api fifth\n"
	apiErr := "2026-11-27T10:00:02Z api fourth, on stderr\n"
	db := "2026-11-27T10:00:00.5Z db first\n2026-11-27T10:00:01.000000003Z db third\n2026-11-27T10:00:03Z db sixth, same time as api's fifth\n"
	var lines []logLine
	lines = append(lines, splitStamped("api", false, []byte(api))...)
	lines = append(lines, splitStamped("api", true, []byte(apiErr))...)
	lines = append(lines, splitStamped("db", false, []byte(db))...)
	pf := newPrefixer([]string{"api", "db"}, false, false)
	out, serr := mergeLines(lines, pf, false)
	want := `db  | db first
api | api second
db  | db third
api | api fifth
db  | db sixth, same time as api's fifth
`
	if string(out) != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
	if string(serr) != "api | api fourth, on stderr\n" {
		t.Errorf("stderr: %q", serr)
	}
	out, _ = mergeLines(lines, pf, true)
	if !strings.HasPrefix(string(out), "db  | 2026-11-27T10:00:00.5Z db first\n") {
		t.Errorf("with timestamps: %q", out)
	}

	// A line without a timestamp (the end of a cut stream) is kept whole.
	l := splitStamped("db", false, []byte("2026-11-27T10:00:00Z a\npartial"))
	if len(l) != 2 || l[1].stamp != "" || string(l[1].text) != "partial\n" {
		t.Errorf("split: %+v", l)
	}
}

func TestPrefixer(t *testing.T) {
	p := newPrefixer([]string{"ml-ollama", "ml-vllm"}, true, false)
	if got := p.of("ml-vllm", true); got != "ml-vllm   | " {
		t.Errorf("plain prefix %q", got)
	}
	c := p.of("ml-vllm", false)
	// Colour is never the only signal: the name and bar are there too.
	if !strings.Contains(c, "ml-vllm   |") || !strings.HasPrefix(c, "\x1b[") {
		t.Errorf("coloured prefix %q", c)
	}
	if p.of("ml-ollama", false) == c {
		t.Error("two containers have the same colour")
	}
}
