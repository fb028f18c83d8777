package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrLocked reports that another berth holds the apply lock.
var ErrLocked = errors.New("another berth is changing this project")

// Lock is a held apply lock. The kernel releases it when the process
// ends, however it ends, so a killed berth never leaves a stale lock.
type Lock struct {
	f *os.File
}

// Holder describes who holds a lock, as written into the lock file.
type Holder struct {
	PID     int
	Command string
	Since   time.Time
}

func (h Holder) String() string {
	if h.PID == 0 {
		return "another berth"
	}
	s := "pid " + strconv.Itoa(h.PID)
	if h.Command != "" {
		s += " (" + h.Command + ")"
	}
	if !h.Since.IsZero() {
		s += " since " + h.Since.Format(time.TimeOnly)
	}
	return s
}

// LockOptions control how Lock waits.
type LockOptions struct {
	// Wait makes Lock wait for the holder to finish instead of failing
	// with ErrLocked.
	Wait bool
	// Waiting is called once, when Lock starts to wait.
	Waiting func(Holder)
	// Command is recorded for others to see while the lock is held.
	Command string
}

// Lock takes the project's apply lock. With opts.Wait it waits until the
// lock is free or ctx ends.
func (d *Dir) Lock(ctx context.Context, opts LockOptions) (*Lock, error) {
	p := d.path("lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock: %w", err)
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("taking lock: %w", err)
		}
		h := readHolder(p)
		if !opts.Wait {
			f.Close()
			return nil, fmt.Errorf("%w: held by %s", ErrLocked, h)
		}
		if !told && opts.Waiting != nil {
			opts.Waiting(h)
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for lock: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	line := fmt.Sprintf("%d\t%s\t%s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339), strings.ReplaceAll(opts.Command, "\n", " "))
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(line), 0)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := l.f.Close() // closing releases the flock
	l.f = nil
	return err
}

func readHolder(p string) Holder {
	data, err := os.ReadFile(p)
	if err != nil {
		return Holder{}
	}
	parts := strings.SplitN(strings.TrimSpace(string(data)), "\t", 3)
	var h Holder
	if len(parts) > 0 {
		h.PID, _ = strconv.Atoi(parts[0])
	}
	if len(parts) > 1 {
		h.Since, _ = time.Parse(time.RFC3339, parts[1])
		h.Since = h.Since.Local()
	}
	if len(parts) > 2 {
		h.Command = parts[2]
	}
	return h
}
