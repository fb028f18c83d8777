package deb

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/voidnxlabs/berth/internal/extract"
)

// File is an opened .deb: an ar archive holding debian-binary, a control
// tarball and a data tarball.
type File struct {
	f       *os.File
	members map[string]arMember
}

type arMember struct {
	off, size int64
}

// Open reads the ar directory of a .deb.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	d := &File{f: f, members: map[string]arMember{}}
	if err := d.readAr(); err != nil {
		f.Close()
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return d, nil
}

// Close releases the file.
func (d *File) Close() error { return d.f.Close() }

func (d *File) readAr() error {
	magic := make([]byte, 8)
	if _, err := io.ReadFull(d.f, magic); err != nil || string(magic) != "!<arch>\n" {
		return fmt.Errorf("not an ar archive")
	}
	fi, err := d.f.Stat()
	if err != nil {
		return err
	}
	end := fi.Size()
	off := int64(8)
	hdr := make([]byte, 60)
	for off < end {
		if _, err := d.f.ReadAt(hdr, off); err != nil {
			return fmt.Errorf("reading ar member header at %d: %w", off, err)
		}
		if string(hdr[58:60]) != "`\n" {
			return fmt.Errorf("bad ar member header at %d", off)
		}
		name := strings.TrimSuffix(strings.TrimSpace(string(hdr[0:16])), "/")
		// A size that is negative or runs past the file would make the
		// next offset go back (an endless loop) or nowhere.
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 || size > end-off-60 {
			return fmt.Errorf("bad ar member size %q at %d", strings.TrimSpace(string(hdr[48:58])), off)
		}
		if _, dup := d.members[name]; dup {
			return fmt.Errorf("ar member %q appears twice", name)
		}
		d.members[name] = arMember{off: off + 60, size: size}
		off += 60 + size + size%2 // members are padded to an even offset
	}
	if _, ok := d.members["debian-binary"]; !ok {
		return fmt.Errorf("no debian-binary member")
	}
	return nil
}

func (d *File) tarball(prefix string) (*tar.Reader, error) {
	for _, ext := range []string{".tar.xz", ".tar.zst", ".tar.gz", ".tar"} {
		m, ok := d.members[prefix+ext]
		if !ok {
			continue
		}
		r := io.Reader(bufio.NewReaderSize(io.NewSectionReader(d.f, m.off, m.size), 1<<20))
		switch ext {
		case ".tar.xz":
			xr, err := xz.NewReader(r)
			if err != nil {
				return nil, fmt.Errorf("reading %s%s: %w", prefix, ext, err)
			}
			r = xr
		case ".tar.zst":
			zr, err := zstd.NewReader(r)
			if err != nil {
				return nil, fmt.Errorf("reading %s%s: %w", prefix, ext, err)
			}
			r = zr.IOReadCloser()
		case ".tar.gz":
			gr, err := gzip.NewReader(r)
			if err != nil {
				return nil, fmt.Errorf("reading %s%s: %w", prefix, ext, err)
			}
			r = gr
		}
		return tar.NewReader(r), nil
	}
	return nil, fmt.Errorf("no %s.tar.* member", prefix)
}

// Control returns the control tarball's files (control, postinst, …) by
// base name.
func (d *File) Control() (map[string][]byte, error) {
	tr, err := d.tarball("control")
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading control: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(h.Name, "./")
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, io.LimitReader(tr, 16<<20)); err != nil {
			return nil, fmt.Errorf("reading control: %w", err)
		}
		out[name] = buf.Bytes()
	}
	return out, nil
}

// Walk calls fn for every entry of the data tarball, in archive order.
// The reader is valid only during the call. Names are checked as the
// extractor checks them (see extract.Names) and given to fn cleaned:
// relative, without "./"; a name with "..", beneath one of the archive's
// own symlinks, or a hard link to something else than an earlier regular
// file is an error.
func (d *File) Walk(fn func(h *tar.Header, r io.Reader) error) error {
	tr, err := d.tarball("data")
	if err != nil {
		return err
	}
	var names extract.Names
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading data: %w", err)
		}
		if err := names.Check(h); err != nil {
			return fmt.Errorf("reading data: %w", err)
		}
		if err := fn(h, tr); err != nil {
			return err
		}
	}
}
