package toolbox

import (
	"errors"
	"fmt"
	"os"
	goruntime "runtime"

	"golang.org/x/sys/unix"
)

// mount attaches a read-only copy of the mount of dir at a fresh path
// under /dev in the mount namespace of process pid, and returns that path.
//
// The copy is made here, in berth's namespace, with open_tree (a detached
// mount no namespace sees), made read-only, nosuid and nodev, and then
// moved into the container's namespace with move_mount from a thread that
// joined it: a classic bind mount cannot take a source from another
// namespace. /dev is where it goes because every engine gives a container
// a /dev tmpfs of its own: the mount point is made there, not in the
// container's filesystem.
func mount(pid int, dir string) (string, error) {
	tree, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return "", fmt.Errorf("open_tree %s: %w", dir, err)
	}
	defer unix.Close(tree)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
		return "", fmt.Errorf("making the toolbox read-only: %w", err)
	}
	target := mountName()
	err = inNamespace(pid, func() error {
		var st unix.Statfs_t
		if err := unix.Statfs("/dev", &st); err != nil {
			return fmt.Errorf("the container has no /dev: %w", err)
		}
		if st.Type != unix.TMPFS_MAGIC {
			return errors.New("the container's /dev is not a tmpfs of its own")
		}
		if err := unix.Mkdir(target, 0o755); err != nil {
			return fmt.Errorf("making %s: %w", target, err)
		}
		if err := unix.MoveMount(tree, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			_ = unix.Rmdir(target)
			return fmt.Errorf("move_mount to %s: %w", target, err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return target, nil
}

// unmount detaches the toolbox from the container and removes its mount
// point.
func unmount(pid int, target string) error {
	return inNamespace(pid, func() error {
		if err := unix.Unmount(target, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmounting the toolbox at %s: %w", target, err)
		}
		if err := unix.Rmdir(target); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("removing %s: %w", target, err)
		}
		return nil
	})
}

// inNamespace runs fn on a thread of its own that has joined the mount
// namespace of pid and taken its root as "/", as nsenter --mount --root
// does. The thread is never handed back to the Go scheduler: it exits when
// fn returns, so no other goroutine ever runs in the container's
// namespace.
func inNamespace(pid int, fn func() error) error {
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err != nil {
		return fmt.Errorf("opening the container's mount namespace: %w", err)
	}
	defer ns.Close()
	root, err := os.Open(fmt.Sprintf("/proc/%d/root", pid))
	if err != nil {
		return fmt.Errorf("opening the container's root: %w", err)
	}
	defer root.Close()
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		// No UnlockOSThread: the thread ends with this goroutine.
		//
		// setns refuses a mount namespace to a thread that shares its
		// filesystem context (root, cwd) with others, which every Go
		// thread does; unsharing it first makes this thread's its own.
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNS); err != nil {
			errc <- fmt.Errorf("joining the container's mount namespace: %w", err)
			return
		}
		if err := unix.Fchdir(int(root.Fd())); err != nil {
			errc <- fmt.Errorf("entering the container's root: %w", err)
			return
		}
		if err := unix.Chroot("."); err != nil {
			errc <- fmt.Errorf("entering the container's root: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
