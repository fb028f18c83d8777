package cli

import (
	"strings"
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

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 12_800_000: "12.8 MB", 999_960_000: "1.0 GB", 1_234_567_890: "1.2 GB", 5e15: "5.0 PB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}
