package nspawn

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/voidnxlabs/berth/runtime"
)

// Exec runs a command in a running machine's namespaces, with the
// machine's environment, as nsenter does. With TTY it gets a terminal,
// whose size follows Resize.
func (e *Engine) Exec(ctx context.Context, ctr string, opts runtime.ExecOptions) (int, error) {
	m, err := e.machine(ctr)
	if err != nil {
		return -1, fmt.Errorf("exec in %q: %w", ctr, err)
	}
	if !e.alive(m) {
		return -1, fmt.Errorf("exec in %q: %w: not running", ctr, runtime.ErrConflict)
	}
	// Right after a start nspawn may not have forked the payload yet.
	pid, err := e.leader(m)
	for deadline := time.Now().Add(5 * time.Second); err != nil && e.alive(m) && time.Now().Before(deadline); {
		if serr := sleep(ctx, 20*time.Millisecond); serr != nil {
			return -1, serr
		}
		pid, err = e.leader(m)
	}
	if err != nil {
		return -1, fmt.Errorf("exec in %q: %w", ctr, err)
	}
	if len(opts.Cmd) == 0 {
		return -1, fmt.Errorf("exec in %q: no command", ctr)
	}
	args := []string{"--target", strconv.Itoa(pid), "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd"}
	if opts.User != "" {
		uid, gid, err := e.lookupUser(m, opts.User)
		if err != nil {
			return -1, fmt.Errorf("exec in %q: %w", ctr, err)
		}
		args = append(args, "--setuid", strconv.Itoa(uid), "--setgid", strconv.Itoa(gid))
	}
	args = append(args, "--")
	args = append(args, opts.Cmd...)
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	cmd.Env = e.execEnv(m, opts.Env)
	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if !opts.TTY {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = opts.Stdin, stdout, stderr
		return exitCode(cmd.Run())
	}
	master, slave, err := openPTY()
	if err != nil {
		return -1, fmt.Errorf("exec in %q: %w", ctr, err)
	}
	defer master.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		slave.Close()
		return -1, fmt.Errorf("exec in %q: %w", ctr, err)
	}
	slave.Close()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if opts.Resize != nil {
		go func() {
			for {
				select {
				case <-rctx.Done():
					return
				case sz, ok := <-opts.Resize:
					if !ok {
						return
					}
					_ = setSize(master, sz[0], sz[1])
				}
			}
		}()
	}
	if opts.Stdin != nil {
		go func() { _, _ = io.Copy(master, opts.Stdin) }()
	}
	copied := make(chan struct{})
	go func() {
		// Reading the master fails with EIO once the last process on
		// the terminal is gone: that is its end of file.
		_, _ = io.Copy(stdout, master)
		close(copied)
	}()
	err = cmd.Wait()
	select {
	case <-copied:
	case <-time.After(time.Second):
	}
	return exitCode(err)
}

func exitCode(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	return -1, err
}

// execEnv is the machine's environment (the image's, then the spec's)
// with the exec's on top.
func (e *Engine) execEnv(m *machineRecord, extra []string) []string {
	var img imageRecord
	_ = readJSON(e.imagePath(m.ImageID), &img)
	env := slices.Clone(img.Config.Config.Env)
	if len(env) == 0 {
		env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	env = append(env, m.Spec.Env...)
	env = append(env, m.GPU.Env...)
	env = append(env, "container=systemd-nspawn")
	return append(env, extra...)
}

// lookupUser resolves "uid[:gid]" or a name from the machine's
// /etc/passwd.
func (e *Engine) lookupUser(m *machineRecord, user string) (int, int, error) {
	u, g, hasGroup := strings.Cut(user, ":")
	if uid, err := strconv.Atoi(u); err == nil {
		gid := uid
		if hasGroup {
			if gid, err = strconv.Atoi(g); err != nil {
				return 0, 0, fmt.Errorf("user %q: group must be numeric", user)
			}
		}
		return uid, gid, nil
	}
	f, err := os.Open(filepath.Join(e.machineDir(m.ID), "rootfs", "etc", "passwd"))
	if err != nil {
		return 0, 0, fmt.Errorf("user %q: %w", user, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ":")
		if len(fs) >= 4 && fs[0] == u {
			uid, _ := strconv.Atoi(fs[2])
			gid, _ := strconv.Atoi(fs[3])
			return uid, gid, nil
		}
	}
	return 0, 0, fmt.Errorf("user %q: not in the machine's /etc/passwd", user)
}

// openPTY opens a new pseudo-terminal pair.
func openPTY() (*os.File, *os.File, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening a terminal: %w", err)
	}
	var n uint32
	if err := ioctl(master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("opening a terminal: %w", err)
	}
	var unlock int32
	if err := ioctl(master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("opening a terminal: %w", err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("opening a terminal: %w", err)
	}
	return master, slave, nil
}

func setSize(f *os.File, rows, cols uint) error {
	ws := struct{ Row, Col, X, Y uint16 }{uint16(rows), uint16(cols), 0, 0}
	return ioctl(f.Fd(), syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws)))
}

func ioctl(fd, req, arg uintptr) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, req, arg); errno != 0 {
		return errno
	}
	return nil
}

// logLine is one line of a machine's output.
type logLine struct {
	t      time.Time
	stderr bool
	text   []byte // with its newline
}

// readLogLines reads the complete lines of a log file from off, as the
// monitor writes them ("<unix seconds.micros> <line>"), and returns the
// offset after the last one.
func readLogLines(path string, off int64, stderr bool) ([]logLine, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, off, nil
	}
	if err != nil {
		return nil, off, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, off, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, off, err
	}
	var out []logLine
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return out, off, nil // a partial line waits for its end
		}
		line := data[:i+1]
		data = data[i+1:]
		off += int64(len(line))
		l := logLine{stderr: stderr, text: line}
		if ts, rest, ok := bytes.Cut(line, []byte(" ")); ok {
			sec, frac, _ := bytes.Cut(ts, []byte("."))
			s, err1 := strconv.ParseInt(string(sec), 10, 64)
			us, err2 := strconv.ParseInt(string(frac), 10, 64)
			if err1 == nil && err2 == nil && len(frac) == 6 {
				l.t, l.text = time.Unix(s, us*1000).UTC(), rest
			}
		}
		out = append(out, l)
	}
}

// Logs copies a machine's output from ROOT/machines/<id>/stdout and
// stderr, merged in time order. Tail counts lines of both together, as
// Docker does; following ends with ctx or when the machine stops.
func (e *Engine) Logs(ctx context.Context, ctr string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	m, err := e.machine(ctr)
	if err != nil {
		return fmt.Errorf("reading logs of %q: %w", ctr, err)
	}
	dir := e.machineDir(m.ID)
	outPath, errPath := filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
	var outOff, errOff int64
	read := func() ([]logLine, error) {
		a, o, err := readLogLines(outPath, outOff, false)
		if err != nil {
			return nil, err
		}
		b, eo, err := readLogLines(errPath, errOff, true)
		if err != nil {
			return nil, err
		}
		outOff, errOff = o, eo
		lines := append(a, b...)
		slices.SortStableFunc(lines, func(x, y logLine) int { return x.t.Compare(y.t) })
		return lines, nil
	}
	write := func(lines []logLine) error {
		for _, l := range lines {
			if !opts.Since.IsZero() && l.t.Before(opts.Since) {
				continue
			}
			w := stdout
			if l.stderr {
				w = stderr
			}
			text := l.text
			if opts.Timestamps {
				text = append([]byte(l.t.Format(time.RFC3339Nano)+" "), text...)
			}
			if _, err := w.Write(text); err != nil {
				return err
			}
		}
		return nil
	}
	lines, err := read()
	if err != nil {
		return fmt.Errorf("reading logs of %q: %w", ctr, err)
	}
	if !opts.Since.IsZero() {
		lines = slices.DeleteFunc(lines, func(l logLine) bool { return l.t.Before(opts.Since) })
	}
	if opts.Tail >= 0 && len(lines) > opts.Tail {
		lines = lines[len(lines)-opts.Tail:]
	}
	if err := write(lines); err != nil {
		return err
	}
	if !opts.Follow {
		return nil
	}
	for {
		running := e.alive(m)
		lines, err := read()
		if err != nil {
			return fmt.Errorf("reading logs of %q: %w", ctr, err)
		}
		if err := write(lines); err != nil {
			return err
		}
		if !running {
			return nil
		}
		if sleep(ctx, 100*time.Millisecond) != nil {
			return nil
		}
		if m2, err := e.loadMachine(m.ID); err == nil {
			m = m2 // a restart changes the monitor
		}
	}
}

var _ runtime.HostPIDer = (*Engine)(nil)

// HostPID reports the PID of the machine's payload (its first process
// inside the machine), the one nsenter joins for Exec.
func (e *Engine) HostPID(ctx context.Context, ctr string) (int, error) {
	m, err := e.machine(ctr)
	if err != nil {
		return 0, fmt.Errorf("container %q: %w", ctr, err)
	}
	if !e.alive(m) {
		return 0, fmt.Errorf("container %q: %w: not running", ctr, runtime.ErrConflict)
	}
	pid, err := e.leader(m)
	for deadline := time.Now().Add(5 * time.Second); err != nil && e.alive(m) && time.Now().Before(deadline); {
		if serr := sleep(ctx, 20*time.Millisecond); serr != nil {
			return 0, serr
		}
		pid, err = e.leader(m)
	}
	if err != nil {
		return 0, fmt.Errorf("container %q: %w", ctr, err)
	}
	return pid, nil
}
