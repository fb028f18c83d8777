// Package nspawn implements runtime.Engine with systemd-nspawn machines, the
// seed's NixOS containers on any Linux: one machine per service, its root an
// overlay of the image's layers (unpacked once into a content-addressed
// store), on a private bridge per kit that berth makes itself (bridge, veth
// pairs, NAT for outbound traffic, DNAT for published ports).
//
// There is no daemon. Everything is kept under a root directory, so that
// status and plan work across berth runs:
//
//	ROOT/layers/<diffid>/        an unpacked layer, shared by every image that has it
//	ROOT/images/<id>.json        an image's config and layer list; ROOT/tags.json maps refs to ids
//	ROOT/networks/<name>.json    a network's spec and bridge
//	ROOT/machines/<id>/          a machine: spec.json, state.json, upper/ and work/ of its
//	                             overlay, rootfs/ (the overlay, mounted while it runs),
//	                             stdout and stderr (its logs), exit (its last exit code)
//
// A machine runs as `systemd-nspawn --register=no --keep-unit`, which needs
// neither systemd as PID 1 nor machined, under a small detached shell that
// records its exit code and unmounts its root when it ends.
package nspawn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/voidnxlabs/berth/runtime"
)

// Options configures the engine.
type Options struct {
	// Root is the directory the engine keeps everything in; it is made
	// when missing. Typically <state dir>/nspawn.
	Root string
	// CDIDirs are where CDI specs for GPUs are read; nil means
	// DefaultCDIDirs.
	CDIDirs []string
}

// Engine drives systemd-nspawn machines.
type Engine struct {
	root    string
	nspawn  string
	cdiDirs []string
	mu      sync.Mutex // with the file lock, serialises changes
}

var _ runtime.Engine = (*Engine)(nil)

// tools are the host programs the engine runs, and the Debian packages
// that have them.
var tools = map[string]string{
	"systemd-nspawn": "systemd-container",
	"ip":             "iproute2",
	"iptables":       "iptables",
	"nsenter":        "util-linux",
	"mount":          "mount",
	"umount":         "mount",
	"bash":           "bash",
	"mkfifo":         "coreutils",
}

// New opens the engine rooted at opts.Root. It fails with
// runtime.ErrUnreachable when systemd-nspawn or another tool is missing or
// when not run as root, which machines with private networks need.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Root == "" {
		return nil, errors.New("nspawn: no root directory")
	}
	for tool, pkg := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%w: %s not found (install %s)", runtime.ErrUnreachable, tool, pkg)
		}
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: nspawn machines need root", runtime.ErrUnreachable)
	}
	nspawn, _ := exec.LookPath("systemd-nspawn")
	e := &Engine{root: opts.Root, nspawn: nspawn, cdiDirs: opts.CDIDirs}
	if e.cdiDirs == nil {
		e.cdiDirs = DefaultCDIDirs
	}
	for _, d := range []string{"layers", "images", "networks", "machines", "tmp"} {
		if err := os.MkdirAll(filepath.Join(e.root, d), 0o700); err != nil {
			return nil, fmt.Errorf("making nspawn root: %w", err)
		}
	}
	if err := propagateTmpfs(); err != nil {
		return nil, err
	}
	return e, nil
}

// propagateTmpfs makes sure /run/systemd/nspawn is a tmpfs. nspawn keeps a
// directory per machine there and, when the machine ends, refuses to
// delete it from a disk file system, printing an error into the machine's
// log. /run is a tmpfs on every systemd host; in sandboxes it may not be.
func propagateTmpfs() error {
	const dir = "/run/systemd/nspawn"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("making %s: %w", dir, err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fmt.Errorf("checking %s: %w", dir, err)
	}
	const tmpfsMagic = 0x01021994
	if st.Type == tmpfsMagic {
		return nil
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mounting a tmpfs on %s: %w", dir, err)
	}
	return nil
}

// Close releases nothing: there is no connection.
func (e *Engine) Close() error { return nil }

// lock serialises changes to the root across goroutines and processes.
func (e *Engine) lock() (unlock func(), err error) {
	e.mu.Lock()
	f, err := os.OpenFile(filepath.Join(e.root, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		e.mu.Unlock()
		return nil, fmt.Errorf("locking %s: %w", e.root, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		e.mu.Unlock()
		return nil, fmt.Errorf("locking %s: %w", e.root, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
		e.mu.Unlock()
	}, nil
}

// Info describes the engine: its version is systemd-nspawn's.
func (e *Engine) Info(ctx context.Context) (runtime.Info, error) {
	out, err := exec.CommandContext(ctx, e.nspawn, "--version").Output()
	if err != nil {
		return runtime.Info{}, fmt.Errorf("%w: running %s --version: %v", runtime.ErrUnreachable, e.nspawn, err)
	}
	// "systemd 252 (252.39-1~deb12u2)"
	f := strings.Fields(string(out))
	v := ""
	if len(f) >= 2 {
		v = f[1]
	}
	cdi := false
	for _, d := range e.cdiDirs {
		if _, err := os.Stat(d); err == nil {
			cdi = true
		}
	}
	return runtime.Info{
		Name:       "nspawn",
		Version:    v,
		APIVersion: storeVersion,
		CDIEnabled: cdi,
		GPUDrivers: []string{"cdi", "nvidia"},
	}, nil
}

// storeVersion names the layout of the root directory.
const storeVersion = "berth-nspawn/1"

// run runs a host tool and returns its error with its output.
func run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// output runs a host tool and returns its standard output.
func output(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return string(out), nil
}
