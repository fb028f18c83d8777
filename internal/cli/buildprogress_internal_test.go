package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/image"
)

// TestBuildProgressLog: in a log (not a terminal) a build prints a line
// per step, a heartbeat line at least every 30 s during a long step with
// the elapsed time and the subprocess's last line, substitutions always,
// and the total when done.
func TestBuildProgressLog(t *testing.T) {
	var out bytes.Buffer
	p := newBuildProgress(&out, false)
	now := time.Unix(1000, 0)
	p.now = func() time.Time { return now }
	at := func(d time.Duration, e image.Event) {
		now = time.Unix(1000, 0).Add(d)
		p.event(e)
	}
	at(0, image.Event{Image: "ollama", Stage: "resolve", Item: "bookworm", Total: 3, Message: "reading index of bookworm"})
	at(time.Second, image.Event{Image: "ollama", Stage: "download", Item: "Packages.xz", Done: 1e6, Total: 9e6})
	at(2*time.Second, image.Event{Image: "ollama", Stage: "download", Item: "Packages.xz", Done: 2e6, Total: 9e6})
	// fetch and download events alternate per package: still one step
	at(2*time.Second, image.Event{Image: "ollama", Stage: "fetch", Item: "libc6", Done: 3e6, Total: 9e6})
	at(2*time.Second, image.Event{Image: "ollama", Stage: "download", Item: "libstdc++6.deb", Done: 1e5, Total: 9e5})
	at(3*time.Second, image.Event{Image: "ollama", Stage: "go", Item: "ollama", Message: "compiling github.com/ollama/ollama@v0.17.4 (cgo)"})
	at(13*time.Second, image.Event{Image: "ollama", Stage: "go", Item: "ollama", Message: "compiling github.com/ollama/ollama@v0.17.4 (cgo)", Output: "github.com/ollama/ollama/llama (40 lines)"})
	at(33*time.Second, image.Event{Image: "ollama", Stage: "go", Item: "ollama", Message: "compiling github.com/ollama/ollama@v0.17.4 (cgo)", Output: "github.com/ollama/ollama/llama (41 lines)"})
	at(34*time.Second, image.Event{Image: "ollama", Stage: "substitute", Item: "x", Message: "Debian's ripgrep stands in"})
	at(95*time.Second, image.Event{Image: "ollama", Stage: "done"})
	p.mu.Lock()
	got := out.String()
	p.mu.Unlock()
	want := []string{
		"berth: image ollama: resolve bookworm (1/3): reading index of bookworm [0s]\n",
		"berth: image ollama: download Packages.xz 1.0 MB/9.0 MB [1s]\n",
		"berth: image ollama: go ollama: compiling github.com/ollama/ollama@v0.17.4 (cgo) [3s]\n",
		"berth: image ollama: go ollama: compiling github.com/ollama/ollama@v0.17.4 (cgo) [33s] last: github.com/ollama/ollama/llama (41 lines)\n",
		"berth: image ollama: x: substitute: Debian's ripgrep stands in\n",
		"berth: image ollama: built in 1m35s\n",
	}
	if got != strings.Join(want, "") {
		t.Errorf("log lines:\n%s\nwant:\n%s", got, strings.Join(want, ""))
	}
}

// TestHoistFile: a -f before the command's name becomes --file, a -f
// after it stays the command's (logs -f is --follow).
func TestHoistFile(t *testing.T) {
	for in, want := range map[string]string{
		"-f a.yaml logs -f x":        "--file=a.yaml logs -f x",
		"-fa.yaml logs -f x":         "--file=a.yaml logs -f x",
		"--file a.yaml logs -f x":    "--file=a.yaml logs -f x",
		"--state-dir s -f a.yaml up": "--state-dir=s --file=a.yaml up",
		"logs -f x":                  "logs -f x",
		"-f":                         "-f",
		"exec x -- ls -f":            "exec x -- ls -f",
	} {
		if got := strings.Join(hoistFile(strings.Fields(in)), " "); got != want {
			t.Errorf("hoistFile(%q) = %q, want %q", in, got, want)
		}
	}
}
