package project

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestLineWriterWholeLines writes lines from many goroutines in pieces
// that cut lines anywhere: every line must come out whole, for its own
// container, and each writer's lines in order.
func TestLineWriterWholeLines(t *testing.T) {
	var got []LogLine
	var mu sync.Mutex
	sink := newLineSink(func(l LogLine) {
		mu.Lock() // the sink serialises; the lock is for the race detector's view of got
		got = append(got, l)
		mu.Unlock()
	})
	const writers, lines = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			lw := &lineWriter{sink: sink, container: fmt.Sprintf("c%d", w)}
			var all strings.Builder
			for i := range lines {
				fmt.Fprintf(&all, "writer %d line %d %s\n", w, i, strings.Repeat("x", i%37))
			}
			data := []byte(all.String())
			// The last line has no newline: flush ends it.
			data = data[:len(data)-1]
			for len(data) > 0 {
				n := min(len(data), 1+(len(data)*7+w)%23)
				if _, err := lw.Write(data[:n]); err != nil {
					t.Error(err)
				}
				data = data[n:]
			}
			lw.flush()
		})
	}
	wg.Wait()
	if len(got) != writers*lines {
		t.Fatalf("%d lines, want %d", len(got), writers*lines)
	}
	next := map[string]int{}
	for _, l := range got {
		var w, i int
		if _, err := fmt.Sscanf(l.Text, "writer %d line %d", &w, &i); err != nil || fmt.Sprintf("c%d", w) != l.Container {
			t.Fatalf("line cut or mixed: %+v", l)
		}
		if want := fmt.Sprintf("writer %d line %d %s\n", w, i, strings.Repeat("x", i%37)); l.Text != want {
			t.Fatalf("line cut: %q, want %q", l.Text, want)
		}
		if i != next[l.Container] {
			t.Fatalf("%s: line %d after %d", l.Container, i, next[l.Container]-1)
		}
		next[l.Container]++
	}
}

func TestMergeLines(t *testing.T) {
	api := "2026-11-27T10:00:01.000000002Z api second\n2026-11-27T10:00:03Z api fifth\n"
	apiErr := "2026-11-27T10:00:02Z api fourth, on stderr\n"
	db := "2026-11-27T10:00:00.5Z db first\n2026-11-27T10:00:01.000000003Z db third\n2026-11-27T10:00:03Z db sixth, same time as api's fifth\n"
	var lines []LogLine
	lines = append(lines, splitLines("api", false, true, []byte(api))...)
	lines = append(lines, splitLines("api", true, true, []byte(apiErr))...)
	lines = append(lines, splitLines("db", false, true, []byte(db))...)
	var b strings.Builder
	for _, l := range sortLines(lines) {
		fmt.Fprintf(&b, "%s %v %s", l.Container, l.Stderr, l.Text)
	}
	want := `db false db first
api false api second
db false db third
api true api fourth, on stderr
api false api fifth
db false db sixth, same time as api's fifth
`
	if b.String() != want {
		t.Errorf("merged:\n%s\nwant:\n%s", b.String(), want)
	}
	if first := sortLines(lines)[0]; first.Stamp != "2026-11-27T10:00:00.5Z" || first.Time.Nanosecond() != 5e8 {
		t.Errorf("first line's stamp %q, time %v", first.Stamp, first.Time)
	}

	// A line without a timestamp (the end of a cut stream) is kept whole.
	l := splitLines("db", false, true, []byte("2026-11-27T10:00:00Z a\npartial"))
	if len(l) != 2 || l[1].Stamp != "" || l[1].Text != "partial\n" {
		t.Errorf("split: %+v", l)
	}
}
