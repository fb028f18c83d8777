// Package toolbox brings a shell and the usual tools into a running
// container whose image has none, for `berth enter` and `berth exec`.
//
// The tools are one static BusyBox from Debian's busybox-static, resolved,
// pinned and checked by sha256 like every package of berth's images (it is
// the built-in recipe "toolbox"). For a session berth bind-mounts the
// directory holding it read-only, nosuid and nodev, into the container's
// mount namespace under its /dev (a tmpfs of the container's own, so the
// container's filesystem is not written), runs the command through the
// engine's own exec (with the container's user, cgroup and security
// profile), and unmounts it afterwards. The image stays as it was built.
//
// It needs an engine whose containers run on this machine
// (runtime.HostPIDer), and root.
package toolbox

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"

	"github.com/voidnxlabs/berth/image"
	"github.com/voidnxlabs/berth/image/deb"
	"github.com/voidnxlabs/berth/runtime"
)

// RecipeName is the built-in image recipe the toolbox comes from.
const RecipeName = "toolbox"

// Box is the toolbox unpacked on the host: a directory holding busybox and
// a link per applet.
type Box struct {
	Dir     string
	Version string // busybox-static's Debian version
	applets map[string]bool
}

// Has reports whether the toolbox has a program called name.
func (b *Box) Has(name string) bool { return b.applets[name] }

// Provider returns the toolbox, fetching it on first use.
type Provider func(ctx context.Context) (*Box, error)

// FromBuilder returns a Provider that gets busybox-static through the
// builder (its lock, Debian index and download cache) and unpacks it in
// the builder's cache directory.
func FromBuilder(b *image.Builder, r image.Recipe) Provider {
	return func(ctx context.Context) (*Box, error) {
		lock, debs, err := b.Fetch(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("getting the toolbox: %w", err)
		}
		for _, p := range lock.Packages {
			if p.Name == "busybox-static" {
				return Unpack(debs[p.Name], p.SHA256, p.Version, filepath.Join(b.CacheDir(), "toolbox"))
			}
		}
		return nil, fmt.Errorf("getting the toolbox: recipe %s does not install busybox-static", r.Name)
	}
}

// Unpack makes the toolbox from busybox-static's .deb in dir/<sum>, once.
func Unpack(debFile, sum, version, dir string) (*Box, error) {
	if goruntime.GOARCH != "amd64" && goruntime.GOARCH != "arm64" {
		return nil, fmt.Errorf("the toolbox is made for amd64 and arm64 hosts, not %s", goruntime.GOARCH)
	}
	key := sum
	if len(key) > 16 {
		key = key[:16]
	}
	out := filepath.Join(dir, key)
	if b, err := load(out, version); err == nil {
		return b, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("unpacking the toolbox: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".part-")
	if err != nil {
		return nil, fmt.Errorf("unpacking the toolbox: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	d, err := deb.Open(debFile)
	if err != nil {
		return nil, fmt.Errorf("unpacking the toolbox: %w", err)
	}
	found := false
	err = d.Walk(func(h *tar.Header, r io.Reader) error {
		if path.Clean("/"+h.Name) != "/bin/busybox" || h.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.OpenFile(filepath.Join(tmp, "busybox"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		found = true
		return f.Close()
	})
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("unpacking the toolbox: %w", err)
	}
	if !found {
		return nil, errors.New("unpacking the toolbox: busybox-static holds no /bin/busybox")
	}
	// The applet list comes from the binary itself, which was checked
	// against the lock's sha256 before it was read.
	list, err := exec.Command(filepath.Join(tmp, "busybox"), "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("listing the toolbox's applets: %w", err)
	}
	for _, a := range strings.Fields(string(list)) {
		if a == "busybox" || strings.ContainsAny(a, "/\x00") || a == "." || a == ".." {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(tmp, a)); err != nil {
			return nil, fmt.Errorf("unpacking the toolbox: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ".version"), []byte(version+"\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, out); err != nil {
		if b, lerr := load(out, version); lerr == nil {
			return b, nil // another berth made it meanwhile
		}
		return nil, fmt.Errorf("unpacking the toolbox: %w", err)
	}
	return load(out, version)
}

func load(dir, version string) (*Box, error) {
	v, err := os.ReadFile(filepath.Join(dir, ".version"))
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(string(v)) != version {
		return nil, errors.New("another version")
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	b := &Box{Dir: dir, Version: version, applets: map[string]bool{}}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			b.applets[e.Name()] = true
		}
	}
	if !b.applets["busybox"] || !b.applets["sh"] {
		return nil, errors.New("incomplete")
	}
	return b, nil
}

// Request is what a caller wants to run in a container.
type Request struct {
	Container string
	// Cmd is the command; nil asks for an interactive shell.
	Cmd []string
	// Shell is the shell asked for; "" means bash, else sh.
	Shell string
	// User is who runs it, for engines where shells are found by trying.
	User string
	// Force brings the toolbox even when the image has what is asked,
	// for the tools the image lacks (berth enter --toolbox).
	Force bool
}

// Session is a command ready to run with the engine's Exec, and the
// toolbox mounted for it when one was needed.
type Session struct {
	// Cmd is what to pass to Exec, Env what to add to its environment.
	Cmd []string
	Env []string
	// Used is true when the toolbox is mounted; Reason says why, Mount
	// where it is in the container, Version which busybox-static it is.
	Used    bool
	Reason  string
	Mount   string
	Version string
	pid     int
}

// ErrNoShell is returned when a container has no shell and the toolbox
// cannot be brought in.
var ErrNoShell = errors.New("no shell")

// Open decides whether the request needs the toolbox, and mounts it in the
// container when it does. The caller runs s.Cmd with s.Env through the
// engine's Exec, then calls Close.
//
// Whether the image has a program is looked up in the container's root
// filesystem from the host (its PATH, its symbolic links followed inside
// it). An engine that cannot say where its containers run gets no toolbox:
// the shell is found by trying bash and sh with Exec, and a command runs as
// it is.
func Open(ctx context.Context, e runtime.Engine, req Request, box Provider) (*Session, error) {
	hp, ok := e.(runtime.HostPIDer)
	var pid int
	var err error
	if ok {
		pid, err = hp.HostPID(ctx, req.Container)
		if errors.Is(err, runtime.ErrNoHostPID) {
			ok = false
		} else if err != nil {
			return nil, err
		}
	}
	if !ok {
		if req.Force {
			return nil, fmt.Errorf("bringing the toolbox into %s: %w", req.Container, runtime.ErrNoHostPID)
		}
		return probe(ctx, e, req)
	}
	c, err := e.InspectContainer(ctx, req.Container)
	if err != nil {
		return nil, err
	}
	root := fmt.Sprintf("/proc/%d/root", pid)
	pathVar := envValue(c.Env, "PATH")
	if pathVar == "" {
		pathVar = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	has := func(prog string) bool { return lookPath(root, pathVar, prog) }

	s := &Session{pid: pid}
	var want string // the toolbox program to run, when needed
	if req.Cmd == nil {
		shells := []string{"bash", "sh"}
		if req.Shell != "" {
			shells = []string{req.Shell}
		}
		for _, sh := range shells {
			if has(sh) {
				s.Cmd = []string{sh}
				break
			}
		}
		if s.Cmd == nil {
			want = "sh"
			s.Reason = fmt.Sprintf("%s has no shell", req.Container)
			if req.Shell != "" {
				want = path.Base(req.Shell)
				s.Reason = fmt.Sprintf("%s has no %s", req.Container, req.Shell)
			}
		}
	} else {
		s.Cmd = req.Cmd
		if !has(req.Cmd[0]) {
			want = path.Base(req.Cmd[0])
			s.Reason = fmt.Sprintf("%s has no %s", req.Container, req.Cmd[0])
		}
	}
	if want == "" && !req.Force {
		return s, nil
	}
	if want == "" {
		s.Reason = "asked for with --toolbox"
	}
	b, err := box(ctx)
	if err != nil {
		return nil, err
	}
	if want != "" && !b.Has(want) {
		if req.Cmd == nil {
			return nil, fmt.Errorf("%s: %w, and the toolbox has no %s", s.Reason, ErrNoShell, want)
		}
		// Not a tool the toolbox has: the engine says what is missing.
		return &Session{Cmd: req.Cmd}, nil
	}
	mnt, err := mount(pid, b.Dir)
	if err != nil {
		return nil, fmt.Errorf("bringing the toolbox into %s: %w", req.Container, err)
	}
	s.Used, s.Mount, s.Version = true, mnt, b.Version
	if want != "" {
		s.Cmd = append([]string{mnt + "/" + want}, s.Cmd[min(1, len(s.Cmd)):]...)
		if req.Cmd == nil {
			s.Cmd = []string{mnt + "/" + want}
		}
	}
	// The image's own programs come first; the toolbox fills the gaps.
	s.Env = []string{"PATH=" + pathVar + ":" + mnt}
	return s, nil
}

// Close unmounts the toolbox, when it was mounted.
func (s *Session) Close() error {
	if s == nil || !s.Used {
		return nil
	}
	s.Used = false
	return unmount(s.pid, s.Mount)
}

// probe finds a shell by trying to start it, for engines whose containers
// berth cannot reach from the host.
func probe(ctx context.Context, e runtime.Engine, req Request) (*Session, error) {
	if req.Cmd != nil {
		return &Session{Cmd: req.Cmd}, nil
	}
	if req.Shell != "" {
		return &Session{Cmd: []string{req.Shell}}, nil
	}
	for _, sh := range []string{"bash", "sh"} {
		code, err := e.Exec(ctx, req.Container, runtime.ExecOptions{Cmd: []string{sh, "-c", "exit 0"}, User: req.User})
		if err != nil {
			return nil, err
		}
		if code == 0 {
			return &Session{Cmd: []string{sh}}, nil
		}
	}
	return nil, fmt.Errorf("%s has neither bash nor sh: %w", req.Container, ErrNoShell)
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// lookPath reports whether prog is an executable file in the container
// whose root is root: as given when it has a slash, else in one of the
// directories of pathVar.
func lookPath(root, pathVar, prog string) bool {
	if strings.Contains(prog, "/") {
		return executable(root, prog)
	}
	for _, d := range strings.Split(pathVar, ":") {
		if d != "" && executable(root, path.Join(d, prog)) {
			return true
		}
	}
	return false
}

func executable(root, p string) bool {
	real, err := resolveIn(root, p)
	if err != nil {
		return false
	}
	fi, err := os.Stat(filepath.Join(root, real))
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// resolveIn resolves p inside root as the container sees it: symbolic
// links are followed with root as "/", and ".." never climbs above it. It
// returns the path within root.
func resolveIn(root, p string) (string, error) {
	parts := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	cur := "/"
	for hops := 0; len(parts) > 0; {
		part := parts[0]
		parts = parts[1:]
		if part == "" || part == "." {
			continue
		}
		if part == ".." {
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, part)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", errors.New("too many links")
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		parts = append(strings.Split(strings.Trim(target, "/"), "/"), parts...)
	}
	return cur, nil
}

// mountName is a fresh name for a session's mount point: two sessions in
// one container each have their own.
func mountName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "/dev/.berth-toolbox-" + hex.EncodeToString(b[:])
}

// Applets lists the toolbox's programs, sorted.
func (b *Box) Applets() []string {
	out := make([]string, 0, len(b.applets))
	for a := range b.applets {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}
