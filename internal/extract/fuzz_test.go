package extract_test

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/internal/extract"
)

// genEntries turns fuzz input into a tar of entries built from names and
// link targets that an attacker would try: "..", symlinks to the sibling
// directory "outside", whiteouts, hard links. Four bytes make an entry.
func genEntries(data []byte, outside string) []ent {
	comps := []string{"a", "b", "..", ".", "", ".wh.a", ".wh..wh..opq", "outside", ".wh...", "c"}
	targets := []string{
		outside, filepath.Join(outside, "victim"), filepath.Join(outside, "dir"),
		"../outside", "../outside/victim", "a", "a/b", "b", "../..", "/", "b/../..", "a/victim",
		"/a", "../root/a", ".", "a/.wh.a",
	}
	modes := []int64{0o4755, 0o777, 0o000, 0o644, 0o6755, 0o1777, 0o555, 0o2711}
	types := []byte{tar.TypeDir, tar.TypeReg, tar.TypeSymlink, tar.TypeLink, tar.TypeFifo, tar.TypeReg, tar.TypeSymlink, tar.TypeDir}
	var out []ent
	for len(data) >= 4 && len(out) < 64 {
		b := data[:4]
		data = data[4:]
		n := 1 + int(b[1]>>6)
		parts := make([]string, 0, n)
		for i := 0; i < n; i++ {
			parts = append(parts, comps[int(b[1]>>(2*i)&3+b[2]>>(2*i)&3*4)%len(comps)])
		}
		name := strings.Join(parts, "/")
		if b[0]&0x80 != 0 {
			name = "/" + name
		}
		if types[int(b[0])%len(types)] != tar.TypeDir {
			// The tar writer refuses a trailing slash on anything else.
			name = strings.TrimRight(name, "/")
		}
		if name == "" {
			continue
		}
		e := ent{name: name, typ: types[int(b[0])%len(types)], mode: modes[int(b[3])%len(modes)]}
		switch e.typ {
		case tar.TypeSymlink, tar.TypeLink:
			e.link = targets[int(b[3]>>3)%len(targets)]
		case tar.TypeReg:
			e.body = "fuzz"
		}
		out = append(out, e)
	}
	return out
}

// FuzzTar extracts generated archives and checks that nothing outside the
// tree changed, whatever the result.
func FuzzTar(f *testing.F) {
	for _, seed := range [][]byte{
		{2, 0, 0, 0, 1, 0x40, 0, 0}, // a -> outside; a/a
		{2, 0, 0, 8, 1, 0, 0, 0},    // a -> outside/victim; a
		{3, 0, 0, 8, 0x80, 0x40, 1}, // hard link a -> outside/victim
		{0, 0, 0, 0, 1, 5, 0, 0, 5, 0x46, 0},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newSandbox(t)
		ents := genEntries(data, s.outside)
		opts := extract.Options{Overlay: len(data) > 0 && data[0]&0x40 != 0 && os.Geteuid() == 0}
		s.extract(t, opts, ents...)
		s.check(t)
	})
}

// FuzzTarBytes extracts arbitrary bytes as a tar stream.
func FuzzTarBytes(f *testing.F) {
	f.Add(tarOf(f, ent{name: "a", typ: tar.TypeSymlink, link: "../outside"}, ent{name: "a/x", typ: tar.TypeReg, body: "x"}))
	f.Add(tarOf(f, ent{name: "d/", typ: tar.TypeDir, mode: 0o555}, ent{name: "d/f", typ: tar.TypeReg, body: "x"}, ent{name: "d/h", typ: tar.TypeLink, link: "d/f"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newSandbox(t)
		extract.Tar(t.Context(), s.root, bytes.NewReader(data), extract.Options{NoDevices: true})
		s.check(t)
	})
}
