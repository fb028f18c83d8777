package extract_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/internal/extract"
	"golang.org/x/sys/unix"
)

// ent is one tar entry of a test archive.
type ent struct {
	name, link string
	typ        byte
	mode       int64
	body       string
}

func tarOf(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, ModTime: time.Unix(1e9, 0), Format: tar.FormatPAX}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sandbox is a temp dir with root/ (the tree) and outside/ (a sibling that
// holds a victim file and a victim directory), and a snapshot of outside.
type sandbox struct {
	dir, root, outside string
	before             string
}

func newSandbox(t testing.TB) *sandbox {
	t.Helper()
	d := t.TempDir()
	s := &sandbox{dir: d, root: filepath.Join(d, "root"), outside: filepath.Join(d, "outside")}
	for _, p := range []string{s.root, s.outside, filepath.Join(s.outside, "dir")} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.outside, "victim"), []byte("host data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.outside, "secret"), []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.before = snapshot(t, d, "root")
	return s
}

// snapshot describes every entry of dir except skip: name, type, mode,
// owner, link count, content or link target.
func snapshot(t testing.TB, dir, skip string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", p, err)
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == skip {
			return filepath.SkipDir
		}
		var st unix.Stat_t
		unix.Lstat(p, &st)
		fmt.Fprintf(&b, "%s %o %d:%d n%d", rel, st.Mode, st.Uid, st.Gid, st.Nlink)
		if rel != "." {
			fmt.Fprintf(&b, " t%d", st.Mtim.Sec)
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			fmt.Fprintf(&b, " -> %s", l)
		case d.Type().IsRegular():
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %q", data)
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}

// check fails unless everything outside root is as it was.
func (s *sandbox) check(t testing.TB) {
	t.Helper()
	if after := snapshot(t, s.dir, "root"); after != s.before {
		t.Fatalf("outside the tree changed:\nbefore:\n%s\nafter:\n%s", s.before, after)
	}
}

func (s *sandbox) extract(t testing.TB, opts extract.Options, ents ...ent) error {
	t.Helper()
	return extract.Tar(t.Context(), s.root, bytes.NewReader(tarOf(t, ents...)), opts)
}

// The attacks of issue 14, row 1, each as the layer that did harm.
func TestTarAttacks(t *testing.T) {
	cases := []struct {
		name string
		ents func(s *sandbox) []ent
	}{
		{"symlink parent, absolute", func(s *sandbox) []ent {
			return []ent{{name: "a", typ: tar.TypeSymlink, link: s.outside}, {name: "a/pwned", typ: tar.TypeReg, mode: 0o4755, body: "x"}}
		}},
		{"symlink parent, relative", func(s *sandbox) []ent {
			return []ent{{name: "a", typ: tar.TypeSymlink, link: "../outside"}, {name: "a/pwned", typ: tar.TypeReg, mode: 0o4755, body: "x"}}
		}},
		{"symlink parent, deeper", func(s *sandbox) []ent {
			return []ent{{name: "d/", typ: tar.TypeDir}, {name: "d/a", typ: tar.TypeSymlink, link: "../../outside"}, {name: "d/a/dir/pwned", typ: tar.TypeReg, body: "x"}}
		}},
		{"symlink parent, directory entry", func(s *sandbox) []ent {
			return []ent{{name: "a", typ: tar.TypeSymlink, link: s.outside}, {name: "a/dir/", typ: tar.TypeDir, mode: 0o777}}
		}},
		{"dot-dot name", func(s *sandbox) []ent {
			return []ent{{name: "../outside/pwned", typ: tar.TypeReg, body: "x"}}
		}},
		{"dot-dot inside name", func(s *sandbox) []ent {
			return []ent{{name: "x/../../outside/victim", typ: tar.TypeReg, body: "x"}}
		}},
		{"hard link through a symlink", func(s *sandbox) []ent {
			return []ent{{name: "a", typ: tar.TypeSymlink, link: s.outside}, {name: "h", typ: tar.TypeLink, link: "a/secret", mode: 0o4777}}
		}},
		{"hard link dot-dot", func(s *sandbox) []ent {
			return []ent{{name: "h", typ: tar.TypeLink, link: "../outside/secret"}}
		}},
		{"hard link to a symlink", func(s *sandbox) []ent {
			return []ent{{name: "a", typ: tar.TypeSymlink, link: filepath.Join(s.outside, "secret")}, {name: "h", typ: tar.TypeLink, link: "a"}, {name: "h", typ: tar.TypeReg, body: "x"}}
		}},
		{"whiteout through a symlink", func(s *sandbox) []ent {
			return []ent{{name: "a", typ: tar.TypeSymlink, link: s.outside}, {name: "a/.wh.victim", typ: tar.TypeReg}}
		}},
		{"opaque through a symlink", func(s *sandbox) []ent {
			return []ent{{name: "a", typ: tar.TypeSymlink, link: s.outside}, {name: "a/.wh..wh..opq", typ: tar.TypeReg}}
		}},
		{"whiteout of dot-dot", func(s *sandbox) []ent {
			return []ent{{name: ".wh..."}, {name: "x/.wh..."}}
		}},
	}
	for _, c := range cases {
		for _, overlay := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/overlay=%v", c.name, overlay), func(t *testing.T) {
				if overlay && os.Geteuid() != 0 {
					t.Skip("overlay whiteouts need root")
				}
				s := newSandbox(t)
				err := s.extract(t, extract.Options{Overlay: overlay}, c.ents(s)...)
				if !errors.Is(err, extract.ErrOutside) {
					t.Errorf("err = %v, want ErrOutside", err)
				}
				s.check(t)
			})
		}
	}
}

// A symlink followed by a regular file of the same name replaces the link;
// the file it pointed at keeps its content and mode.
func TestTarSymlinkOverwrite(t *testing.T) {
	s := newSandbox(t)
	err := s.extract(t, extract.Options{},
		ent{name: "b", typ: tar.TypeSymlink, link: filepath.Join(s.outside, "victim")},
		ent{name: "b", typ: tar.TypeReg, mode: 0o4755, body: "layer"},
		ent{name: "c", typ: tar.TypeSymlink, link: filepath.Join(s.outside, "victim"), mode: 0o777},
		ent{name: "d", typ: tar.TypeSymlink, link: filepath.Join(s.outside, "dir")},
		ent{name: "d", typ: tar.TypeDir, mode: 0o777},
		ent{name: "e", typ: tar.TypeSymlink, link: filepath.Join(s.outside, "victim")},
		ent{name: "e", typ: tar.TypeFifo, mode: 0o666},
	)
	if err != nil {
		t.Fatal(err)
	}
	s.check(t)
	fi, err := os.Lstat(filepath.Join(s.root, "b"))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode()&os.ModeSetuid == 0 {
		t.Fatalf("b = %v, %v; want a setuid regular file inside the tree", fi, err)
	}
	if fi, _ := os.Lstat(filepath.Join(s.root, "d")); !fi.IsDir() {
		t.Fatalf("d = %v, want a directory", fi.Mode())
	}
}

// A layer's ordinary content: directories with their modes (a read-only
// one filled first), setuid files, links of both kinds, FIFOs, devices,
// whiteouts.
func TestTarContent(t *testing.T) {
	s := newSandbox(t)
	if err := os.WriteFile(filepath.Join(s.root, "old"), []byte("lower"), 0o644); err != nil {
		t.Fatal(err)
	}
	ents := []ent{
		{name: "./", typ: tar.TypeDir, mode: 0o755},
		{name: "/usr/bin/su", typ: tar.TypeReg, mode: 0o4755, body: "su"},
		{name: "ro/", typ: tar.TypeDir, mode: 0o555},
		{name: "ro/file", typ: tar.TypeReg, mode: 0o444, body: "ro"},
		{name: "usr/bin/sudo", typ: tar.TypeLink, link: "/usr/bin/su"},
		{name: "bin", typ: tar.TypeSymlink, link: "usr/bin"},
		{name: "etc/abs", typ: tar.TypeSymlink, link: "/etc/passwd"},
		{name: "run/fifo", typ: tar.TypeFifo, mode: 0o620},
		{name: "old", typ: tar.TypeLink, link: "usr/bin/su"},
		{name: "gone", typ: tar.TypeReg, body: "x"},
		{name: ".wh.gone", typ: tar.TypeReg},
	}
	if err := s.extract(t, extract.Options{}, ents...); err != nil {
		t.Fatal(err)
	}
	s.check(t)
	want := map[string]string{
		"usr/bin/su":   "urwxr-xr-x",
		"usr/bin/sudo": "urwxr-xr-x",
		"ro":           "dr-xr-xr-x",
		"ro/file":      "-r--r--r--",
		"bin":          "Lrwxrwxrwx",
		"run/fifo":     "prw--w----",
	}
	for n, m := range want {
		fi, err := os.Lstat(filepath.Join(s.root, n))
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if fi.Mode().String() != m {
			t.Errorf("%s: mode %s, want %s", n, fi.Mode(), m)
		}
	}
	if l, _ := os.Readlink(filepath.Join(s.root, "etc/abs")); l != "/etc/passwd" {
		t.Errorf("etc/abs -> %q", l)
	}
	var st1, st2 syscall.Stat_t
	syscall.Stat(filepath.Join(s.root, "usr/bin/su"), &st1)
	syscall.Stat(filepath.Join(s.root, "old"), &st2)
	if st1.Ino != st2.Ino || st1.Nlink != 3 {
		t.Errorf("hard links: inodes %d %d, nlink %d", st1.Ino, st2.Ino, st1.Nlink)
	}
	if _, err := os.Lstat(filepath.Join(s.root, "gone")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("gone after its whiteout: %v", err)
	}
	fi, _ := os.Stat(filepath.Join(s.root, "usr/bin/su"))
	if !fi.ModTime().Equal(time.Unix(1e9, 0)) {
		t.Errorf("mtime %v", fi.ModTime())
	}
}

// A hard link may not point at a file that was in the directory before
// the archive: a host file bind-mounted or left there stays alone.
func TestTarHardLinkToPreexisting(t *testing.T) {
	s := newSandbox(t)
	if err := os.WriteFile(filepath.Join(s.root, "pre"), []byte("pre"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := s.extract(t, extract.Options{}, ent{name: "h", typ: tar.TypeLink, link: "pre"})
	if !errors.Is(err, extract.ErrOutside) {
		t.Fatalf("err = %v, want ErrOutside", err)
	}
}

func TestTarOverlayWhiteouts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("overlay whiteouts need root")
	}
	s := newSandbox(t)
	err := s.extract(t, extract.Options{Overlay: true},
		ent{name: "etc/.wh.motd", typ: tar.TypeReg},
		ent{name: "opt/.wh..wh..opq", typ: tar.TypeReg},
		ent{name: "opt/kept", typ: tar.TypeReg, body: "k"},
	)
	if err != nil {
		t.Fatal(err)
	}
	s.check(t)
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(s.root, "etc/motd"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("etc/motd: %v mode %o rdev %d, want a 0:0 character device", err, st.Mode, st.Rdev)
	}
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(s.root, "opt"), "trusted.overlay.opaque", buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("opt opaque: %q, %v", buf[:n], err)
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"a": "a", "./a/b/": "a/b", "/a//b": "a/b", "./": ".", "/": ".", "a/./b": "a/b",
	} {
		if got, err := extract.Clean(in); got != want || err != nil {
			t.Errorf("Clean(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"..", "../a", "a/../b", "a/..", "/../a", "a\x00b"} {
		if got, err := extract.Clean(in); !errors.Is(err, extract.ErrOutside) {
			t.Errorf("Clean(%q) = %q, %v; want ErrOutside", in, got, err)
		}
	}
}

// Names refuses, without writing anything, what Tar refuses.
func TestNames(t *testing.T) {
	cases := []struct {
		ents []ent
		ok   bool
	}{
		{[]ent{{name: "./usr/", typ: tar.TypeDir}, {name: "./usr/bin/su", typ: tar.TypeReg}, {name: "./usr/bin/sudo", typ: tar.TypeLink, link: "./usr/bin/su"}, {name: "./bin", typ: tar.TypeSymlink, link: "usr/bin"}}, true},
		{[]ent{{name: "a", typ: tar.TypeSymlink, link: "/etc"}, {name: "a/passwd", typ: tar.TypeReg}}, false},
		{[]ent{{name: "d/a", typ: tar.TypeSymlink, link: "/etc"}, {name: "d/a/x/y", typ: tar.TypeDir}}, false},
		{[]ent{{name: "../etc/passwd", typ: tar.TypeReg}}, false},
		{[]ent{{name: "h", typ: tar.TypeLink, link: "/etc/shadow"}}, false},
		{[]ent{{name: "a", typ: tar.TypeSymlink, link: "/etc"}, {name: "a", typ: tar.TypeDir}, {name: "a/x", typ: tar.TypeReg}}, true},
	}
	for i, c := range cases {
		var n extract.Names
		var err error
		for _, e := range c.ents {
			h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link}
			if err = n.Check(h); err != nil {
				break
			}
		}
		if c.ok != (err == nil) || err != nil && !errors.Is(err, extract.ErrOutside) {
			t.Errorf("case %d: %v", i, err)
		}
	}
}
