package gpu

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Runner runs a host command and returns its standard output. A command
// that is not installed reports an error wrapping exec.ErrNotFound.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// Exec is the Runner of the real host.
func Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return out, fmt.Errorf("running %s: %w: %s", name, err, msg)
		}
		return out, fmt.Errorf("running %s: %w", name, err)
	}
	return out, nil
}

// Host is the machine whose GPUs are detected. Every file berth reads about
// GPUs (sysfs, procfs, /dev, CDI specs, driver libraries) and every command
// it runs go through a Host, so that tests can point one at a fake tree.
//
// Device nodes in a fake tree: git cannot store character devices, so a
// regular file stands in for one when its first line reads
//
//	c MAJOR:MINOR [gid=GID]
//
// (for example "c 195:0 gid=0"). A real device node is never a regular
// file, so the convention cannot misread a real host.
type Host struct {
	// Root is the directory that stands for "/" (default "/").
	Root string
	// Run runs commands such as nvidia-smi and iptables; nil means that no
	// command can be run.
	Run Runner
	// LibDirs are the host directories searched for the NVIDIA driver's
	// user-space libraries. Nil means DefaultLibDirs followed by the
	// directories the host's dynamic linker is configured with
	// (/etc/ld.so.conf and the files it includes).
	LibDirs []string
}

// DefaultLibDirs are where distributions put the NVIDIA user-space driver:
// Debian/Ubuntu multiarch, Fedora/RHEL lib64, NixOS's /run/opengl-driver,
// WSL's driver store, and /usr/local/nvidia/lib64, where the driver
// containers of GKE and the NVIDIA GPU Operator (and the sandboxed GPU
// machines built like them) install it, often with only links to it in
// /usr/lib.
var DefaultLibDirs = []string{
	"/usr/lib/x86_64-linux-gnu",
	"/usr/lib64",
	"/usr/lib",
	"/lib/x86_64-linux-gnu",
	"/run/opengl-driver/lib",
	"/usr/lib/wsl/lib",
	"/usr/local/nvidia/lib64",
}

// LocalHost is the machine berth runs on.
func LocalHost() Host { return Host{Root: "/", Run: Exec} }

// Path returns the real path of the host path p.
func (h Host) Path(p string) string {
	root := h.Root
	if root == "" {
		root = "/"
	}
	return filepath.Join(root, filepath.FromSlash(p))
}

// ReadFile reads the host file p.
func (h Host) ReadFile(p string) ([]byte, error) {
	data, err := os.ReadFile(h.Path(p))
	return data, h.hostErr(p, err)
}

// ReadDir lists the host directory p, sorted by name.
func (h Host) ReadDir(p string) ([]fs.DirEntry, error) {
	entries, err := os.ReadDir(h.Path(p))
	return entries, h.hostErr(p, err)
}

// Readlink returns the target of the host symlink p.
func (h Host) Readlink(p string) (string, error) {
	target, err := os.Readlink(h.Path(p))
	return target, h.hostErr(p, err)
}

// hostErr names the host path in a file error, not the path under Root,
// so that messages (and goldens) read the same on a fake tree.
func (h Host) hostErr(p string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: p, Err: pe.Err}
	}
	return err
}

// Exists reports whether the host path p exists (following symlinks).
func (h Host) Exists(p string) bool {
	_, err := os.Stat(h.Path(p))
	return err == nil
}

// Glob returns the host paths matching pattern, sorted.
func (h Host) Glob(pattern string) ([]string, error) {
	matches, err := filepath.Glob(h.Path(pattern))
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(matches))
	for _, m := range matches {
		out = append(out, h.hostPath(m))
	}
	return out, nil
}

// hostPath turns a real path back into the host path it stands for.
func (h Host) hostPath(real string) string {
	rel, err := filepath.Rel(h.Path("/"), real)
	if err != nil {
		return real
	}
	return "/" + filepath.ToSlash(rel)
}

// libDirs returns the directories searched for the NVIDIA libraries.
func (h Host) libDirs() []string {
	if h.LibDirs != nil {
		return h.LibDirs
	}
	dirs := slices.Clone(DefaultLibDirs)
	for _, d := range h.ldConfDirs("/etc/ld.so.conf", 0) {
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// ldConfDirs reads the directories of a dynamic linker configuration file
// and the files its include lines name (globs, relative to the file's
// directory when not absolute), the way ldconfig does. Unreadable files are
// skipped: the defaults still apply.
func (h Host) ldConfDirs(file string, depth int) []string {
	if depth > 4 {
		return nil // include loops
	}
	data, err := h.ReadFile(file)
	if err != nil {
		return nil
	}
	var dirs []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if pattern, ok := strings.CutPrefix(line, "include"); ok && (pattern == "" || pattern[0] == ' ' || pattern[0] == '\t') {
			for _, pat := range strings.Fields(pattern) {
				if !path.IsAbs(pat) {
					pat = path.Join(path.Dir(file), pat)
				}
				matches, _ := h.Glob(pat)
				for _, m := range matches {
					dirs = append(dirs, h.ldConfDirs(m, depth+1)...)
				}
			}
			continue
		}
		// "dir=type" (libc5 era) and several directories on one line.
		for _, d := range strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == ':' || r == ',' }) {
			d, _, _ = strings.Cut(d, "=")
			if path.IsAbs(d) {
				dirs = append(dirs, path.Clean(d))
			}
		}
	}
	return dirs
}

// maxLinks bounds the symlinks followed to one file, like the kernel's 40.
const maxLinks = 40

// resolveLink returns the canonical form of the host path p: every
// symlink on the way resolved, directories included (/usr/local/nvidia/lib
// -> lib64), with absolute targets read as host paths (under Root), so
// that a fake tree's links stay in it and one file found by two paths is
// one file.
func (h Host) resolveLink(p string) (string, error) {
	rest := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	cur := "/"
	links := 0
	for len(rest) > 0 {
		part := rest[0]
		rest = rest[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, part)
		fi, err := os.Lstat(h.Path(next))
		if err != nil {
			return "", h.hostErr(next, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("reading %s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(h.Path(next))
		if err != nil {
			return "", h.hostErr(next, err)
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		rest = append(strings.Split(strings.Trim(target, "/"), "/"), rest...)
	}
	return cur, nil
}

func (h Host) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	if h.Run == nil {
		return nil, fmt.Errorf("running %s: %w", name, exec.ErrNotFound)
	}
	return h.Run(ctx, name, args...)
}

// Node is a device node on the host.
type Node struct {
	Path  string `json:"path"`
	Major uint32 `json:"major"`
	Minor uint32 `json:"minor"`
	GID   uint32 `json:"gid"`
	Group string `json:"group,omitempty"` // the gid's name in the host's /etc/group
}

func (n Node) String() string {
	s := fmt.Sprintf("%s c %d:%d gid %d", n.Path, n.Major, n.Minor, n.GID)
	if n.Group != "" {
		s += " (" + n.Group + ")"
	}
	return s
}

// errNotDevice reports a path that exists but is not a character device.
var errNotDevice = errors.New("not a character device")

// StatNode describes the host device node p, or the stand-in file of a fake
// tree (see Host).
func (h Host) StatNode(p string) (Node, error) {
	real := h.Path(p)
	fi, err := os.Stat(real)
	if err != nil {
		return Node{}, err
	}
	n := Node{Path: p}
	switch {
	case fi.Mode()&fs.ModeCharDevice != 0:
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return Node{}, fmt.Errorf("reading %s: no device numbers", p)
		}
		n.Major, n.Minor = major(st.Rdev), minor(st.Rdev)
		n.GID = st.Gid
	case fi.Mode().IsRegular():
		data, err := os.ReadFile(real)
		if err != nil {
			return Node{}, fmt.Errorf("reading %s: %w", p, err)
		}
		if n, err = parseStandIn(p, data); err != nil {
			return Node{}, err
		}
	default:
		return Node{}, fmt.Errorf("reading %s: %w", p, errNotDevice)
	}
	n.Group = h.groupName(n.GID)
	return n, nil
}

func parseStandIn(p string, data []byte) (Node, error) {
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "c" {
		return Node{}, fmt.Errorf("reading %s: %w", p, errNotDevice)
	}
	maj, min, ok := strings.Cut(f[1], ":")
	ma, err1 := strconv.ParseUint(maj, 10, 32)
	mi, err2 := strconv.ParseUint(min, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return Node{}, fmt.Errorf("reading %s: bad device numbers %q", p, f[1])
	}
	n := Node{Path: p, Major: uint32(ma), Minor: uint32(mi)}
	for _, kv := range f[2:] {
		if v, ok := strings.CutPrefix(kv, "gid="); ok {
			g, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return Node{}, fmt.Errorf("reading %s: bad gid %q", p, v)
			}
			n.GID = uint32(g)
		}
	}
	return n, nil
}

// major and minor decode a Linux dev_t the way glibc's gnu_dev_major and
// gnu_dev_minor do.
func major(dev uint64) uint32 {
	return uint32((dev>>8)&0xfff) | uint32((dev>>32)&^0xfff)
}

func minor(dev uint64) uint32 {
	return uint32(dev&0xff) | uint32((dev>>12)&^0xff)
}

// groupName looks gid up in the host's /etc/group, so that findings can say
// "render" instead of a number that differs from host to host.
func (h Host) groupName(gid uint32) string {
	data, err := h.ReadFile("/etc/group")
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	want := strconv.FormatUint(uint64(gid), 10)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) >= 3 && f[2] == want {
			return f[0]
		}
	}
	return ""
}
