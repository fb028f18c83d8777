package extract

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"sort"

	"golang.org/x/sys/unix"
)

// Tar extracts the tar stream r into dir, which must exist. Names are
// taken through Clean; a later entry replaces an earlier one of the same
// name; hard links may point only at regular files written before them;
// whiteouts are applied per opts. Directories get their mode, owner and
// time last, deepest first, so that a read-only directory is filled first.
func Tar(ctx context.Context, dir string, r io.Reader, opts Options) error {
	t, err := Open(dir, opts)
	if err != nil {
		return err
	}
	defer t.Close()
	tr := tar.NewReader(r)
	dirs := map[string]Meta{}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
		name, err := Clean(h.Name)
		if err != nil {
			return err
		}
		if name == "." {
			continue // the root is the caller's
		}
		if ok, err := t.Whiteout(name); ok || err != nil {
			if err != nil {
				return err
			}
			continue
		}
		m := Meta{Mode: uint32(h.Mode & 0o7777), UID: h.Uid, GID: h.Gid, MTime: h.ModTime}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := t.Mkdir(name); err != nil {
				return err
			}
			dirs[name] = m
			continue
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archives use TypeRegA
			if _, err := t.WriteFile(name, tr, &m); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := t.Symlink(name, h.Linkname); err != nil {
				return err
			}
			if err := t.SetMeta(name, m); err != nil {
				return err
			}
		case tar.TypeLink:
			target, err := Clean(h.Linkname)
			if err != nil {
				return fmt.Errorf("entry %q: hard link: %w", h.Name, err)
			}
			// The link shares the target's inode and so its mode and
			// owner: nothing to set.
			if err := t.Link(name, target); err != nil {
				return err
			}
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			typ := map[byte]uint32{tar.TypeChar: Char, tar.TypeBlock: Block, tar.TypeFifo: Fifo}[h.Typeflag]
			if h.Devmajor < 0 || h.Devminor < 0 || h.Devmajor > 0xfff || h.Devminor > 0xfffff {
				return fmt.Errorf("entry %q: bad device number %d:%d", h.Name, h.Devmajor, h.Devminor)
			}
			if err := t.Mknod(name, typ, uint32(h.Devmajor), uint32(h.Devminor)); err != nil {
				return err
			}
			if err := t.SetMeta(name, m); err != nil {
				return err
			}
		default:
			continue // extended headers and the like carry nothing to write
		}
		delete(dirs, name)
	}
	names := make([]string, 0, len(dirs))
	for n := range dirs {
		names = append(names, n)
	}
	// Descending: "a/b" before "a".
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	for _, n := range names {
		if !t.isDir(n) {
			continue // replaced by an entry under its own name, or removed
		}
		if err := t.SetMeta(n, dirs[n]); err != nil {
			return err
		}
	}
	return nil
}

// isDir reports whether name is a directory (not a symlink to one).
func (t *Tree) isDir(name string) bool {
	dir, base, err := t.parent(name, false)
	if err != nil {
		return false
	}
	defer t.closeParent(dir)
	var st unix.Stat_t
	return unix.Fstatat(dir, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}
