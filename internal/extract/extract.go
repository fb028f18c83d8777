// Package extract writes entries that come from someone else (image
// layers, .deb data, backup manifests) into a directory without letting any
// of them reach outside it.
//
// berth runs as root, so an archive that says "a -> /etc" then "a/passwd"
// must not write /etc/passwd, a hard link must not pull a host file into
// the tree, and a chmod or chown must not land on what a link points at.
// A Tree therefore resolves every name one component at a time from a
// descriptor of its root with openat(O_NOFOLLOW|O_DIRECTORY): a name whose
// parent is a symlink (inside the tree or not) is refused, never followed,
// and each change is made on a descriptor of the entry itself or with the
// *at call's no-follow flag. This is what os.Root does internally; the
// package does it itself because os.Root follows a final symlink in
// Chmod, Chown and Chtimes and has no mknod or xattr calls, which layers
// need for overlayfs whiteouts.
package extract

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrOutside reports an entry that would reach outside the tree: a name
// with "..", a parent that is a symlink, a hard link to something the
// archive did not write.
var ErrOutside = errors.New("reaches outside the tree")

// Clean turns an archive's entry name into a slash-separated name relative
// to the root: leading "/" and "./" are dropped, as tar does; a ".."
// component anywhere, a NUL byte or an empty name is refused. The root
// itself is ".".
func Clean(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("entry %q: a NUL byte in the name: %w", name, ErrOutside)
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("entry %q: %w", name, ErrOutside)
		}
	}
	c := strings.TrimLeft(path.Clean("/"+name), "/")
	if c == "" {
		return ".", nil
	}
	return c, nil
}

// Meta is what an entry says about itself. Mode holds the permission,
// setuid, setgid and sticky bits (07777).
type Meta struct {
	Mode     uint32
	UID, GID int
	MTime    time.Time
}

// Options changes how a Tree treats some entries.
type Options struct {
	// Overlay turns OCI whiteouts into overlayfs ones (a 0:0 character
	// device for a removed name, trusted.overlay.opaque=y on an opaque
	// directory); without it a whiteout removes the name from the tree.
	Overlay bool
	// NoDevices refuses character and block devices.
	NoDevices bool
	// OwnersIfRoot skips chown when berth does not run as root (tests and
	// rootless use), instead of failing on EPERM.
	OwnersIfRoot bool
}

// Tree is a directory being filled with untrusted entries. It is not safe
// for concurrent use; nothing else must write into the directory while it
// is open.
type Tree struct {
	fd   int
	dir  string
	opts Options
	// files are the regular files this Tree wrote and that are still
	// there: the only things a hard link may point at.
	files map[string]bool
}

// Open opens dir, which must exist, as the root of a Tree.
func Open(dir string, opts Options) (*Tree, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return &Tree{fd: fd, dir: dir, opts: opts, files: map[string]bool{}}, nil
}

// Close releases the root's descriptor.
func (t *Tree) Close() error {
	if t.fd < 0 {
		return nil
	}
	err := unix.Close(t.fd)
	t.fd = -1
	return err
}

func (t *Tree) errorf(name, op string, err error) error {
	return fmt.Errorf("%s %s: %w", op, path.Join(t.dir, name), err)
}

// parent opens the directory that holds name and returns it with name's
// last component. Missing directories are made (0755) when create is set;
// a component that is a symlink or not a directory is refused. The caller
// closes the descriptor unless it is t.fd.
func (t *Tree) parent(name string, create bool) (int, string, error) {
	if name == "." {
		return -1, "", fmt.Errorf("the root has no parent")
	}
	comps := strings.Split(name, "/")
	fd := t.fd
	for i, c := range comps[:len(comps)-1] {
		nfd, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && create {
			if err = unix.Mkdirat(fd, c, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
				nfd, err = unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			}
		}
		if fd != t.fd {
			unix.Close(fd)
		}
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return -1, "", fmt.Errorf("entry %q: %s is not a directory (a symlink is never followed): %w", name, strings.Join(comps[:i+1], "/"), ErrOutside)
		}
		if err != nil {
			return -1, "", t.errorf(strings.Join(comps[:i+1], "/"), "opening", err)
		}
		fd = nfd
	}
	return fd, comps[len(comps)-1], nil
}

func (t *Tree) closeParent(fd int) {
	if fd != t.fd && fd >= 0 {
		unix.Close(fd)
	}
}

// clear removes what is at base in dir, unless keepDir and it is a
// directory; it reports whether a directory was kept.
func (t *Tree) clear(dir int, base, name string, keepDir bool) (bool, error) {
	var st unix.Stat_t
	err := unix.Fstatat(dir, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, t.errorf(name, "inspecting", err)
	}
	delete(t.files, name)
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if keepDir {
			return true, nil
		}
		return false, t.removeAll(dir, base, name)
	}
	if err := unix.Unlinkat(dir, base, 0); err != nil {
		return false, t.errorf(name, "replacing", err)
	}
	return false, nil
}

// removeAll removes the directory base of dir and what it holds, without
// following any symlink.
func (t *Tree) removeAll(dir int, base, name string) error {
	fd, err := unix.Openat(dir, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return t.errorf(name, "removing", err)
	}
	f := os.NewFile(uintptr(fd), name)
	names, err := f.Readdirnames(-1)
	if err != nil {
		f.Close()
		return t.errorf(name, "removing", err)
	}
	for _, n := range names {
		sub := name + "/" + n
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			f.Close()
			return t.errorf(sub, "removing", err)
		}
		delete(t.files, sub)
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			err = t.removeAll(fd, n, sub)
		} else {
			err = unix.Unlinkat(fd, n, 0)
		}
		if err != nil {
			f.Close()
			return t.errorf(sub, "removing", err)
		}
	}
	f.Close()
	if err := unix.Unlinkat(dir, base, unix.AT_REMOVEDIR); err != nil {
		return t.errorf(name, "removing", err)
	}
	return nil
}

// Mkdir makes directory name (0700 until SetMeta gives it its mode), and
// its missing parents; an existing directory is kept, anything else there
// is replaced.
func (t *Tree) Mkdir(name string) error {
	if name == "." {
		return nil
	}
	dir, base, err := t.parent(name, true)
	if err != nil {
		return err
	}
	defer t.closeParent(dir)
	kept, err := t.clear(dir, base, name, true)
	if err != nil || kept {
		return err
	}
	if err := unix.Mkdirat(dir, base, 0o700); err != nil {
		return t.errorf(name, "creating", err)
	}
	return nil
}

// WriteFile writes regular file name from r, replacing what was there,
// and gives it m when m is not nil. It returns the bytes written.
func (t *Tree) WriteFile(name string, r io.Reader, m *Meta) (int64, error) {
	if name == "." {
		return 0, fmt.Errorf("entry %q: the root is not a file: %w", name, ErrOutside)
	}
	dir, base, err := t.parent(name, true)
	if err != nil {
		return 0, err
	}
	defer t.closeParent(dir)
	if _, err := t.clear(dir, base, name, false); err != nil {
		return 0, err
	}
	// O_EXCL: a name that is (again) a symlink fails instead of being
	// followed.
	fd, err := unix.Openat(dir, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return 0, t.errorf(name, "creating", err)
	}
	f := os.NewFile(uintptr(fd), path.Join(t.dir, name))
	n, err := io.Copy(f, r)
	if err == nil && m != nil {
		err = t.metaFD(f, name, m)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, t.errorf(name, "writing", err)
	}
	t.files[name] = true
	return n, nil
}

// Open opens a regular file this Tree holds, for reading.
func (t *Tree) Open(name string) (*os.File, error) {
	dir, base, err := t.parent(name, false)
	if err != nil {
		return nil, err
	}
	defer t.closeParent(dir)
	fd, err := unix.Openat(dir, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, t.errorf(name, "opening", err)
	}
	f := os.NewFile(uintptr(fd), path.Join(t.dir, name))
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, t.errorf(name, "opening", errors.New("not a regular file"))
	}
	return f, nil
}

// Symlink makes name a symlink to target. The target is stored as it is:
// the Tree never follows it, and whoever uses the tree later resolves it
// inside its own root (a container's, or the data path's).
func (t *Tree) Symlink(name, target string) error {
	if name == "." {
		return fmt.Errorf("entry %q: the root is not a symlink: %w", name, ErrOutside)
	}
	if strings.IndexByte(target, 0) >= 0 || target == "" {
		return fmt.Errorf("entry %q: bad symlink target %q", name, target)
	}
	dir, base, err := t.parent(name, true)
	if err != nil {
		return err
	}
	defer t.closeParent(dir)
	if _, err := t.clear(dir, base, name, false); err != nil {
		return err
	}
	if err := unix.Symlinkat(target, dir, base); err != nil {
		return t.errorf(name, "creating", err)
	}
	return nil
}

// Link makes name a hard link to target, a regular file this Tree wrote
// and still holds; anything else (a file that was there before, a
// symlink, a directory, a name through a symlink) is refused.
func (t *Tree) Link(name, target string) error {
	if !t.files[target] {
		return fmt.Errorf("entry %q: hard link to %q, which the archive did not write as a regular file: %w", name, target, ErrOutside)
	}
	if name == target {
		return nil
	}
	odir, obase, err := t.parent(target, false)
	if err != nil {
		return err
	}
	defer t.closeParent(odir)
	var st unix.Stat_t
	if err := unix.Fstatat(odir, obase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("entry %q: hard link to %q, which is not a regular file: %w", name, target, ErrOutside)
	}
	dir, base, err := t.parent(name, true)
	if err != nil {
		return err
	}
	defer t.closeParent(dir)
	if _, err := t.clear(dir, base, name, false); err != nil {
		return err
	}
	// Flags 0: linkat never follows a symlink at the old name.
	if err := unix.Linkat(odir, obase, dir, base, 0); err != nil {
		return t.errorf(name, "linking", err)
	}
	t.files[name] = true
	return nil
}

// Node types for Mknod.
const (
	Char  = unix.S_IFCHR
	Block = unix.S_IFBLK
	Fifo  = unix.S_IFIFO
)

// Mknod makes a device node or FIFO; typ is Char, Block or Fifo.
func (t *Tree) Mknod(name string, typ uint32, major, minor uint32) error {
	if typ != Fifo && t.opts.NoDevices {
		return fmt.Errorf("entry %q: device nodes are not allowed here", name)
	}
	if typ != Char && typ != Block && typ != Fifo {
		return fmt.Errorf("entry %q: unknown node type %o", name, typ)
	}
	dir, base, err := t.parent(name, true)
	if err != nil {
		return err
	}
	defer t.closeParent(dir)
	if _, err := t.clear(dir, base, name, false); err != nil {
		return err
	}
	if err := unix.Mknodat(dir, base, typ|0o600, int(unix.Mkdev(major, minor))); err != nil {
		return t.errorf(name, "creating", err)
	}
	return nil
}

// Whiteout applies an OCI whiteout entry name (".wh.X" removes X,
// ".wh..wh..opq" makes its directory opaque), beneath the root like every
// other entry. It reports false when name is not a whiteout.
func (t *Tree) Whiteout(name string) (bool, error) {
	base := path.Base(name)
	if !strings.HasPrefix(base, ".wh.") {
		return false, nil
	}
	parent := path.Dir(name)
	if base == ".wh..wh..opq" {
		if !t.opts.Overlay {
			// Opaque: the lower layers' content goes; this layer's own
			// entries for the directory come after this one.
			return true, t.clearDir(parent)
		}
		fd, err := t.openNoFollow(parent, unix.O_RDONLY|unix.O_DIRECTORY)
		if errors.Is(err, unix.ENOENT) {
			if err := t.Mkdir(parent); err != nil {
				return true, err
			}
			fd, err = t.openNoFollow(parent, unix.O_RDONLY|unix.O_DIRECTORY)
		}
		if err != nil {
			return true, err
		}
		defer unix.Close(fd)
		if err := unix.Fsetxattr(fd, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
			return true, t.errorf(parent, "marking opaque", err)
		}
		return true, nil
	}
	gone := path.Join(parent, strings.TrimPrefix(base, ".wh."))
	if gone, err := Clean(gone); err != nil || gone == "." || path.Base(gone) != strings.TrimPrefix(base, ".wh.") {
		return true, fmt.Errorf("entry %q: bad whiteout: %w", name, ErrOutside)
	}
	if t.opts.Overlay {
		dir, b, err := t.parent(gone, true)
		if err != nil {
			return true, err
		}
		defer t.closeParent(dir)
		if _, err := t.clear(dir, b, gone, false); err != nil {
			return true, err
		}
		if err := unix.Mknodat(dir, b, unix.S_IFCHR, 0); err != nil {
			return true, t.errorf(gone, "writing whiteout", err)
		}
		return true, nil
	}
	dir, b, err := t.parent(gone, false)
	if errors.Is(err, unix.ENOENT) {
		return true, nil
	}
	if err != nil {
		return true, err
	}
	defer t.closeParent(dir)
	_, err = t.clear(dir, b, gone, false)
	return true, err
}

// clearDir empties directory name, if it exists.
func (t *Tree) clearDir(name string) error {
	fd, err := t.openNoFollow(name, unix.O_RDONLY|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return t.errorf(name, "reading", err)
	}
	for _, n := range names {
		sub := path.Join(name, n)
		if _, err := t.clear(fd, n, sub, false); err != nil {
			return err
		}
	}
	return nil
}

// openNoFollow opens name itself (never what it links to).
func (t *Tree) openNoFollow(name string, flags int) (int, error) {
	if name == "." {
		fd, err := unix.Openat(t.fd, ".", flags|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, t.errorf(name, "opening", err)
		}
		return fd, nil
	}
	dir, base, err := t.parent(name, false)
	if err != nil {
		return -1, err
	}
	defer t.closeParent(dir)
	fd, err := unix.Openat(dir, base, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) && flags&unix.O_DIRECTORY != 0 {
			return -1, fmt.Errorf("entry %q is not a directory (a symlink is never followed): %w", name, ErrOutside)
		}
		return -1, t.errorf(name, "opening", err)
	}
	return fd, nil
}

// SetMeta gives name its owner, mode and time without following it if it
// is a symlink: a symlink gets owner and time only. Missing owners are
// not an error when OwnersIfRoot is set and berth is not root.
func (t *Tree) SetMeta(name string, m Meta) error {
	dir, base := t.fd, "."
	if name != "." {
		var err error
		if dir, base, err = t.parent(name, false); err != nil {
			return err
		}
		defer t.closeParent(dir)
	}
	ts := []unix.Timespec{unix.NsecToTimespec(m.MTime.UnixNano()), unix.NsecToTimespec(m.MTime.UnixNano())}
	// O_PATH opens any type without side effects (a FIFO does not block, a
	// device is not opened); O_NOFOLLOW gives a symlink itself.
	fd, err := unix.Openat(dir, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return t.errorf(name, "opening", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return t.errorf(name, "inspecting", err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		// The no-follow *at calls act on the link itself.
		if err := t.chown(func() error { return unix.Fchownat(dir, base, m.UID, m.GID, unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
			return t.errorf(name, "chown", err)
		}
		if err := unix.UtimesNanoAt(dir, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return t.errorf(name, "setting the time of", err)
		}
		return nil
	}
	// Not a symlink: /proc/self/fd/N names exactly the inode fd was opened
	// on, so chown and chmod through it cannot be redirected.
	p := "/proc/self/fd/" + strconv.Itoa(fd)
	if err := t.chown(func() error { return unix.Chown(p, m.UID, m.GID) }); err != nil {
		return t.errorf(name, "chown", err)
	}
	// chown clears setuid and setgid, so the mode comes after it.
	if err := unix.Chmod(p, m.Mode&0o7777); err != nil {
		return t.errorf(name, "chmod", err)
	}
	if err := unix.UtimesNano(p, ts); err != nil {
		return t.errorf(name, "setting the time of", err)
	}
	return nil
}

// metaFD is SetMeta for a regular file open for writing.
func (t *Tree) metaFD(f *os.File, name string, m *Meta) error {
	if err := t.chown(func() error { return f.Chown(m.UID, m.GID) }); err != nil {
		return err
	}
	if err := unix.Fchmod(int(f.Fd()), m.Mode&0o7777); err != nil {
		return err
	}
	tv := unix.NsecToTimeval(m.MTime.UnixNano())
	return unix.Futimes(int(f.Fd()), []unix.Timeval{tv, tv})
}

func (t *Tree) chown(fn func() error) error {
	err := fn()
	if err != nil && t.opts.OwnersIfRoot && os.Geteuid() != 0 && errors.Is(err, unix.EPERM) {
		return nil
	}
	return err
}
