package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// gzipLevel is fixed because the compressed bytes are what the layer
// digest covers: a different level, or a different compressor, gives a
// different digest for the same files. Level 6 is gzip's own default, a
// middle ground between size and the time of a cold build.
const gzipLevel = 6

// entry is one file of a layer. Names are relative ("usr/bin/x"),
// directories end in "/".
type entry struct {
	hdr  tar.Header
	data []byte
}

// fileSet is the content of one layer, keyed by path.
type fileSet struct {
	entries map[string]*entry
	// dirTime is the time given to parent directories the layer creates
	// itself.
	dirTime time.Time
}

func newFileSet(dirTime time.Time) *fileSet {
	return &fileSet{entries: map[string]*entry{}, dirTime: dirTime}
}

func (fs *fileSet) add(e *entry) {
	name := e.hdr.Name
	if e.hdr.Typeflag == tar.TypeDir && !strings.HasSuffix(name, "/") {
		name += "/"
		e.hdr.Name = name
	}
	// A later entry for the same path replaces the earlier one, as a
	// later package's file would overwrite it on disk.
	delete(fs.entries, strings.TrimSuffix(name, "/"))
	delete(fs.entries, strings.TrimSuffix(name, "/")+"/")
	fs.entries[name] = e
}

func (fs *fileSet) addFile(name string, mode int64, uid, gid int, t time.Time, data []byte) {
	fs.add(&entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Uid: uid, Gid: gid, ModTime: t, Size: int64(len(data))}, data: data})
}

func (fs *fileSet) addDir(name string, mode int64, uid, gid int, t time.Time) {
	fs.add(&entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimSuffix(name, "/") + "/", Mode: mode, Uid: uid, Gid: gid, ModTime: t}})
}

func (fs *fileSet) addLink(name, target string, t time.Time) {
	fs.add(&entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: t}})
}

func (fs *fileSet) size() int64 {
	var n int64
	for _, e := range fs.entries {
		n += int64(len(e.data))
	}
	return n
}

// write produces the layer's tar stream: entries sorted by name, each
// parent directory present (so the layer is valid on its own), hard links
// pointing at the first name of their group, and every header stripped of
// what varies between builders: user and group names (the image's
// /etc/passwd gives the names), access and change times, PAX records.
func (fs *fileSet) write(w io.Writer) error {
	// Parent directories the layer does not declare.
	for name := range fs.entries {
		for d := path.Dir(strings.TrimSuffix(name, "/")); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := fs.entries[d+"/"]; ok {
				continue
			}
			fs.entries[d+"/"] = &entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: fs.dirTime}}
		}
	}
	// Hard links: the lexically first member of a group carries the data.
	groups := map[string][]string{}
	for name, e := range fs.entries {
		if e.hdr.Typeflag == tar.TypeLink {
			groups[e.hdr.Linkname] = append(groups[e.hdr.Linkname], name)
		}
	}
	for target, members := range groups {
		t := fs.entries[target]
		if t == nil || t.hdr.Typeflag != tar.TypeReg {
			// The target was dropped (documentation, say): its links go too.
			for _, m := range members {
				delete(fs.entries, m)
			}
			continue
		}
		all := append([]string{target}, members...)
		sort.Strings(all)
		first := all[0]
		if first != target {
			fs.entries[first] = &entry{hdr: t.hdr, data: t.data}
			fs.entries[first].hdr.Name = first
		}
		for _, m := range all[1:] {
			h := t.hdr
			h.Typeflag, h.Name, h.Linkname, h.Size = tar.TypeLink, m, first, 0
			fs.entries[m] = &entry{hdr: h}
		}
	}
	names := make([]string, 0, len(fs.entries))
	for n := range fs.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	for _, n := range names {
		e := fs.entries[n]
		h := e.hdr
		h.Uname, h.Gname = "", ""
		h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
		h.PAXRecords, h.Xattrs = nil, nil //nolint:staticcheck // clearing the deprecated field too
		h.Format = tar.FormatUnknown
		h.Mode &= 0o7777
		h.ModTime = h.ModTime.Truncate(time.Second).UTC()
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.data))
		} else {
			h.Size = 0
		}
		if err := tw.WriteHeader(&h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// blobLayer is a gzip-compressed layer held in memory.
type blobLayer struct {
	compressed []byte
	digest     v1.Hash
	diffID     v1.Hash
}

// newLayer compresses fs into a layer.
func newLayer(fs *fileSet) (*blobLayer, error) {
	var raw bytes.Buffer
	if err := fs.write(&raw); err != nil {
		return nil, err
	}
	return compressLayer(raw.Bytes())
}

func compressLayer(tarball []byte) (*blobLayer, error) {
	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, gzipLevel)
	if err != nil {
		return nil, err
	}
	// The gzip header carries no name and no time (ModTime stays zero),
	// so the bytes depend on the content only.
	if _, err := zw.Write(tarball); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return &blobLayer{compressed: out.Bytes(), digest: sha(out.Bytes()), diffID: sha(tarball)}, nil
}

func sha(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

func (l *blobLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *blobLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *blobLayer) Size() (int64, error)                { return int64(len(l.compressed)), nil }
func (l *blobLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }
func (l *blobLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.compressed)), nil
}
func (l *blobLayer) Uncompressed() (io.ReadCloser, error) {
	zr, err := gzip.NewReader(bytes.NewReader(l.compressed))
	if err != nil {
		return nil, err
	}
	return zr, nil
}
