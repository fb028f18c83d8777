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

// Logs copies a machine's output: ROOT/machines/<id>/stdout and stderr,
// as its monitor appended them. The two are kept apart, without times:
// Since and Timestamps are not supported, and Tail counts lines of each.
// Following ends with ctx or when the machine stops.
func (e *Engine) Logs(ctx context.Context, ctr string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	m, err := e.machine(ctr)
	if err != nil {
		return fmt.Errorf("reading logs of %q: %w", ctr, err)
	}
	dir := e.machineDir(m.ID)
	type stream struct {
		path string
		w    io.Writer
		off  int64
	}
	streams := []*stream{{path: filepath.Join(dir, "stdout"), w: stdout}, {path: filepath.Join(dir, "stderr"), w: stderr}}
	for _, s := range streams {
		data, err := os.ReadFile(s.path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("reading logs of %q: %w", ctr, err)
		}
		s.off = int64(len(data))
		if opts.Tail >= 0 {
			data = tail(data, opts.Tail)
		}
		if _, err := s.w.Write(data); err != nil {
			return err
		}
	}
	if !opts.Follow {
		return nil
	}
	for {
		running := e.alive(m)
		for _, s := range streams {
			f, err := os.Open(s.path)
			if err != nil {
				continue
			}
			if _, err := f.Seek(s.off, io.SeekStart); err == nil {
				n, _ := io.Copy(s.w, f)
				s.off += n
			}
			f.Close()
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

// tail returns the last n lines of data.
func tail(data []byte, n int) []byte {
	if n == 0 {
		return nil
	}
	end := len(data)
	if end > 0 && data[end-1] == '\n' {
		end--
	}
	i := end
	for c := 0; c < n; c++ {
		j := bytes.LastIndexByte(data[:i], '\n')
		if j < 0 {
			return data
		}
		i = j
		if c == n-1 {
			return data[i+1:]
		}
	}
	return data
}
