package cli_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"github.com/voidnxlabs/berth/internal/cli"
	"github.com/voidnxlabs/berth/internal/fixture"
	"github.com/voidnxlabs/berth/internal/testenv"
)

// TestEnterTTY runs 'berth enter' as its own process on a pseudo-terminal,
// as a user's shell would: it must pick bash where the image has it and sh
// where not, put the local terminal in raw mode (Ctrl-C reaches the
// container's shell, not berth) and restore it, carry a window resize into
// the container (stty size), and exit with the shell's exit code. The same
// containers then show that logs -f follows new lines and that logs on a
// terminal colours its prefixes.
func TestEnterTTY(t *testing.T) {
	e := testenv.Docker(t)
	berth, err := exec.LookPath("berth")
	if err != nil {
		t.Fatalf("the test binary installs berth on PATH: %v", err)
	}
	for _, p := range []string{"/bin/bash", "/bin/dash", "/bin/stty"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("the shell images copy the host's %s: %v", p, err)
		}
	}
	// No registry here: the images are the fixture plus the host's own
	// shells and stty with the libraries they link.
	fixture.LoadAs(t, e, shellImage(t, map[string]string{"/bin/bash": "/bin/bash", "/bin/sh": "/bin/dash", "/bin/stty": "/bin/stty"}), "berth-enter-test:bash")
	fixture.LoadAs(t, e, shellImage(t, map[string]string{"/bin/sh": "/bin/dash", "/bin/stty": "/bin/stty"}), "berth-enter-test:sh")
	fixture.LoadAs(t, e, fixture.Image(t, ""), "berth-enter-test:none")

	dir := t.TempDir()
	cfg := filepath.Join(dir, "berth.yaml")
	writeFile(t, cfg, `project: itest-enter
ien:
  network: { subnet: 10.220.4.0/24 }
  full: { image: "berth-enter-test:bash", port: 8080, health: { http: /health }, env: { FIXTURE_STDOUT: full started } }
  bare: { image: "berth-enter-test:sh", port: 8080, health: { http: /health }, env: { FIXTURE_STDOUT: bare started } }
  plain: { image: "berth-enter-test:none", port: 8080, health: { http: /health } }
`)
	state := filepath.Join(dir, "state")
	t.Setenv("BERTH_STATE_DIR", state)
	run := func(args ...string) {
		t.Helper()
		var out bytes.Buffer
		if code := cli.Main(append([]string{"--file", cfg}, args...), strings.NewReader(""), &out, &out); code != 0 {
			t.Fatalf("berth %s: exit %d\n%s", strings.Join(args, " "), code, out.String())
		}
	}
	run("up", "--wait")
	t.Cleanup(func() { run("down") })

	t.Run("bash", func(t *testing.T) {
		s := startOnPTY(t, berth, "--file", cfg, "enter", "ien-full")
		// What the shell prints is matched, never what the terminal echoes:
		// the printf format differs from its output.
		s.send("printf 'R%s\\n' \"${BASH_VERSION:+bash}\"")
		s.expect(`Rbash\r`)
		if !s.rawMode() {
			t.Error("the local terminal is not in raw mode during the session")
		}
		s.send(`printf 'Z%s\n' "$(stty size)"`)
		s.expect(`Z24 80\r`)

		// Resizing the terminal signals berth (SIGWINCH), which passes the
		// size on; poll, as the resize crosses the engine.
		s.resize(41, 123)
		deadline := time.Now().Add(15 * time.Second)
		for !s.seen(`Z41 123\r`) {
			if time.Now().After(deadline) {
				t.Fatalf("the resize did not reach the container; output:\n%s", s.output())
			}
			s.send(`printf 'Z%s\n' "$(stty size)"`)
			time.Sleep(200 * time.Millisecond)
		}

		// Ctrl-C goes to the shell in the container, which drops the line
		// being typed; berth keeps running. Bash may also drop what is typed
		// right after, so the next command is repeated until it runs.
		s.send("echo never-run \x03")
		s.expect(`\^C`)
		deadline = time.Now().Add(15 * time.Second)
		for !s.seen(`Alive\r`) {
			if time.Now().After(deadline) {
				t.Fatalf("the shell did not survive Ctrl-C; output:\n%s", s.output())
			}
			s.send(`printf 'A%s\n' live`)
			time.Sleep(200 * time.Millisecond)
		}
		if s.seen(`(?m)^never-run`) {
			t.Errorf("Ctrl-C did not reach the shell: the line ran; output:\n%s", s.output())
		}

		s.send("exit 3")
		if code := s.wait(); code != 3 {
			t.Errorf("berth enter exited %d, want the shell's 3; output:\n%s", code, s.output())
		}
		if s.rawMode() {
			t.Error("the local terminal was left in raw mode")
		}
	})

	t.Run("sh", func(t *testing.T) {
		s := startOnPTY(t, berth, "--file", cfg, "enter", "ien/bare")
		s.send("printf 'R%s|\\n' \"${BASH_VERSION:-no-bash}\"")
		s.expect(`Rno-bash\|\r`)
		s.send(`printf 'Z%s\n' "$(stty size)"`)
		s.expect(`Z24 80\r`)
		s.send("exit")
		if code := s.wait(); code != 0 {
			t.Errorf("berth enter exited %d, want 0; output:\n%s", code, s.output())
		}
	})

	// logs -f shows lines written after it started: a process that writes
	// to the main process's stdout (/proc/1/fd/1) adds to the container's
	// log. Lines of two containers come merged and prefixed, and Ctrl-C
	// ends logs with 0.
	t.Run("logs follow", func(t *testing.T) {
		var out syncBuffer
		cmd := exec.Command(berth, "--file", cfg, "logs", "-f", "ien-full", "ien/bare")
		cmd.Stdout, cmd.Stderr = &out, &out
		must(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		// The backlog first, so that what follows is written while logs
		// follows.
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), "ien-full | full started\n") || !strings.Contains(out.String(), "ien-bare | bare started\n") {
			if time.Now().After(deadline) {
				t.Fatalf("logs -f did not show the backlog:\n%s", out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, ctr := range []string{"ien-full", "ien-bare"} {
			run("exec", ctr, "--", "sh", "-c", "echo live from "+ctr+" >/proc/1/fd/1")
		}
		deadline = time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), "ien-full | live from ien-full\n") || !strings.Contains(out.String(), "ien-bare | live from ien-bare\n") {
			if time.Now().After(deadline) {
				t.Fatalf("logs -f did not show the new lines:\n%s", out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		must(t, cmd.Process.Signal(os.Interrupt))
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("logs -f after Ctrl-C: %v\n%s", err, out.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatal("logs -f did not stop on Ctrl-C")
		}
	})

	// On a terminal the prefixes are coloured, and still carry the name.
	t.Run("logs colour", func(t *testing.T) {
		s := startOnPTY(t, berth, "--file", cfg, "logs", "ien")
		if code := s.wait(); code != 0 {
			t.Fatalf("logs exited %d:\n%s", code, s.output())
		}
		if !regexp.MustCompile(`\x1b\[\d+mien-full +\|\x1b\[0m full started`).MatchString(s.output()) {
			t.Errorf("no coloured prefix with the name:\n%q", s.output())
		}
	})

	// An image with no shell at all: berth brings its toolbox, says so,
	// and the session is as real as with the image's own shell.
	t.Run("no shell", func(t *testing.T) {
		// The first use on a machine resolves and fetches busybox-static:
		// done here, before the terminal session and its timeouts.
		run("exec", "ien-plain", "--", "true")
		s := startOnPTY(t, berth, "--file", cfg, "enter", "ien-plain")
		s.expect(`ien-plain has no shell; using berth's toolbox`)
		s.send(`printf 'Z%s\n' "$(stty size)"`)
		s.expect(`Z24 80\r`)
		s.send(`printf 'L%s\n' "$(ls /dev | grep -c null)"`)
		s.expect(`L1\r`)
		s.send("exit 6")
		if code := s.wait(); code != 6 {
			t.Errorf("berth enter exited %d, want the shell's 6; output:\n%s", code, s.output())
		}
	})
}

// syncBuffer is a bytes.Buffer that a running program writes to while the
// test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// shellImage is the fixture image with host programs added at the given
// paths (image path → host path), and the shared libraries ldd lists for
// them at the paths the dynamic loader looks in.
func shellImage(t *testing.T, programs map[string]string) v1.Image {
	t.Helper()
	files := map[string]string{}
	for in, host := range programs {
		files[in] = host
		out, err := exec.Command("ldd", host).Output()
		if err != nil {
			t.Skipf("ldd %s: %v", host, err)
		}
		for _, f := range strings.Fields(string(out)) {
			if strings.HasPrefix(f, "/") {
				files[f] = f
			}
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	var paths []string
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		data, err := os.ReadFile(files[p]) // follows links: the image gets the file
		if err != nil {
			t.Fatal(err)
		}
		for d := filepath.Dir(p); d != "/"; d = filepath.Dir(d) {
			if !dirs[d] {
				dirs[d] = true
				must(t, tw.WriteHeader(&tar.Header{Name: d[1:] + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)}))
			}
		}
		must(t, tw.WriteHeader(&tar.Header{Name: p[1:], Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(data)), ModTime: time.Unix(0, 0)}))
		_, err = tw.Write(data)
		must(t, err)
	}
	must(t, tw.Close())
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	must(t, err)
	img, err := mutate.AppendLayers(fixture.Image(t, ""), layer)
	must(t, err)
	return img
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ptySession is a program running on a pseudo-terminal whose master side
// the test holds.
type ptySession struct {
	t      *testing.T
	master *os.File
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan struct{} // the program exited
	read   chan struct{} // its terminal is closed and all output read
	exit   int
}

// startOnPTY starts a program in a new session with a new terminal as its
// controlling terminal, 24x80, as a terminal emulator would.
func startOnPTY(t *testing.T, prog string, args ...string) *ptySession {
	t.Helper()
	master, slave := openPTY(t)
	must(t, unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80}))
	cmd := exec.Command(prog, args...)
	cmd.Env = append(os.Environ(), "TERM=xterm")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	must(t, cmd.Start())
	slave.Close()
	s := &ptySession{t: t, master: master, cmd: cmd, done: make(chan struct{}), read: make(chan struct{})}
	go func() {
		defer close(s.read)
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			s.mu.Lock()
			s.out.Write(b[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			s.exit = ee.ExitCode()
		} else if err != nil {
			s.exit = -1
		}
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = cmd.Process.Kill()
			<-s.done
		}
		master.Close()
	})
	return s
}

// openPTY opens a pseudo-terminal pair: /dev/ptmx, unlocked, and the
// slave it names.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pty: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("naming the pty: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening the pty's slave: %v", err)
	}
	return m, s
}

func (s *ptySession) send(line string) {
	s.t.Helper()
	if !strings.HasSuffix(line, "\x03") {
		line += "\r"
	}
	if _, err := s.master.Write([]byte(line)); err != nil {
		s.t.Fatalf("writing to the terminal: %v", err)
	}
}

func (s *ptySession) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

func (s *ptySession) seen(re string) bool { return regexp.MustCompile(re).MatchString(s.output()) }

// expect waits up to 20 seconds for output matching re.
func (s *ptySession) expect(re string) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !s.seen(re) {
		select {
		case <-s.done:
			if s.seen(re) {
				return
			}
			s.t.Fatalf("berth exited (%d) before printing %s; output:\n%s", s.exit, re, s.output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no output matching %s; output:\n%s", re, s.output())
		}
	}
}

func (s *ptySession) resize(rows, cols uint16) {
	s.t.Helper()
	must(s.t, unix.IoctlSetWinsize(int(s.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}))
}

// rawMode reports whether the terminal's line discipline is raw, as berth
// left it: no canonical input, no echo. The master shares the slave's
// settings.
func (s *ptySession) rawMode() bool {
	tio, err := unix.IoctlGetTermios(int(s.master.Fd()), unix.TCGETS)
	must(s.t, err)
	return tio.Lflag&(unix.ICANON|unix.ECHO) == 0
}

// wait waits up to 30 seconds for the program to exit and its output to
// be read, and returns its exit code.
func (s *ptySession) wait() int {
	s.t.Helper()
	timeout := time.After(30 * time.Second)
	for _, ch := range []chan struct{}{s.done, s.read} {
		select {
		case <-ch:
		case <-timeout:
			s.t.Fatalf("berth did not exit; output:\n%s", s.output())
		}
	}
	return s.exit
}
