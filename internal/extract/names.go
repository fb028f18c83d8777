package extract

import (
	"archive/tar"
	"fmt"
	"strings"
)

// Names checks the entries of an archive that is read rather than written
// to disk (a .deb's data turned into image layers): it refuses what Tar
// would refuse, so that such an archive fails here and not later, on the
// machine that unpacks the image. The zero value is ready to use.
type Names struct {
	links map[string]bool // symlinks seen, by cleaned name
	files map[string]bool // regular files seen
}

// Check cleans h.Name (and h.Linkname of a hard link) in place and
// refuses a ".." component, a name beneath an earlier symlink of the
// archive, and a hard link to anything but an earlier regular file.
func (n *Names) Check(h *tar.Header) error {
	if n.links == nil {
		n.links, n.files = map[string]bool{}, map[string]bool{}
	}
	name, err := Clean(h.Name)
	if err != nil {
		return err
	}
	for i := strings.IndexByte(name, '/'); i >= 0; i = next(name, i) {
		if n.links[name[:i]] {
			return fmt.Errorf("entry %q: %s is a symlink (a symlink is never followed): %w", h.Name, name[:i], ErrOutside)
		}
	}
	delete(n.links, name)
	delete(n.files, name)
	switch h.Typeflag {
	case tar.TypeSymlink:
		n.links[name] = true
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archives use TypeRegA
		n.files[name] = true
	case tar.TypeLink:
		target, err := Clean(h.Linkname)
		if err != nil {
			return fmt.Errorf("entry %q: hard link: %w", h.Name, err)
		}
		if !n.files[target] {
			return fmt.Errorf("entry %q: hard link to %q, which the archive did not write as a regular file: %w", h.Name, h.Linkname, ErrOutside)
		}
		n.files[name] = true
		h.Linkname = target
	}
	if h.Typeflag == tar.TypeDir && name != "." {
		name += "/"
	}
	h.Name = name
	return nil
}

func next(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}
