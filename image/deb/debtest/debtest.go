// Package debtest serves a small signed Debian archive over HTTP for tests:
// packages built in memory, a Release file clearsigned by a throwaway key,
// and hooks to tamper with what is served.
package debtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Package is a binary package to publish.
type Package struct {
	Name, Version string
	Arch          string // default amd64
	Depends       string
	PreDepends    string
	Provides      string
	Priority      string
	Files         map[string]string // path → content; a value "->target" makes a symlink
	Postinst      string
}

// Archive is a served archive.
type Archive struct {
	URL     string
	Keyring string // path of the armored public key
	// Tamper, when set, may change a response body; path is relative to
	// the archive root (dists/…, pool/…).
	Tamper func(path string, body []byte) []byte

	mu    sync.Mutex
	files map[string][]byte
	// Hits counts requests per path.
	Hits map[string]int
}

// Requests is the number of requests served so far.
func (a *Archive) Requests() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, h := range a.Hits {
		n += h
	}
	return n
}

// Serve publishes suites of packages and returns the archive. The signing
// key is made with a fixed creation time so that the fixture is stable.
func Serve(t testing.TB, suites map[string][]Package) *Archive {
	t.Helper()
	cfg := &packet.Config{Time: func() time.Time { return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) }, RSABits: 2048}
	ent, err := openpgp.NewEntity("berth test archive", "", "test@berth.invalid", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	aw, _ := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err := ent.Serialize(aw); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	keyring := filepath.Join(t.TempDir(), "archive.asc")
	if err := os.WriteFile(keyring, pub.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	a := &Archive{Keyring: keyring, files: map[string][]byte{}, Hits: map[string]int{}}
	names := make([]string, 0, len(suites))
	for s := range suites {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, suite := range names {
		var index bytes.Buffer
		for _, p := range suites[suite] {
			if p.Arch == "" {
				p.Arch = "amd64"
			}
			debBytes := BuildDeb(t, p)
			fn := fmt.Sprintf("pool/main/%s/%s_%s_%s.deb", p.Name, p.Name, p.Version, p.Arch)
			a.files[fn] = debBytes
			sum := sha256.Sum256(debBytes)
			fmt.Fprintf(&index, "%s", control(p))
			fmt.Fprintf(&index, "Filename: %s\nSize: %d\nSHA256: %s\n\n", fn, len(debBytes), hex.EncodeToString(sum[:]))
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(index.Bytes())
		zw.Close()
		dist := "dists/" + suite + "/"
		a.files[dist+"main/binary-amd64/Packages.gz"] = gz.Bytes()
		s1 := sha256.Sum256(gz.Bytes())
		s2 := sha256.Sum256(index.Bytes())
		// Like Debian's, a security suite's Release expires; this one far
		// ahead, so that the fixture keeps working.
		validUntil := ""
		if strings.HasSuffix(suite, "-security") || strings.HasSuffix(suite, "-backports") {
			validUntil = "Valid-Until: Fri, 01 Jan 2100 00:00:00 UTC\n"
		}
		release := fmt.Sprintf("Origin: Debian\nSuite: %s\nCodename: %s\nVersion: 12.9\nDate: Sat, 01 Jun 2024 10:00:00 UTC\n%sAcquire-By-Hash: no\nArchitectures: amd64\nComponents: main\nSHA256:\n %s %d main/binary-amd64/Packages.gz\n %s %d main/binary-amd64/Packages\n",
			suite, suite, validUntil, hex.EncodeToString(s1[:]), gz.Len(), hex.EncodeToString(s2[:]), index.Len())
		var signed bytes.Buffer
		w, err := clearsign.Encode(&signed, ent.PrivateKey, cfg)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(release))
		w.Close()
		a.files[dist+"InRelease"] = signed.Bytes()
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/")
		a.mu.Lock()
		a.Hits[p]++
		b, ok := a.files[p]
		tamper := a.Tamper
		a.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		if tamper != nil {
			b = tamper(p, append([]byte(nil), b...))
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

func control(p Package) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Package: %s\nVersion: %s\nArchitecture: %s\n", p.Name, p.Version, p.Arch)
	if p.Priority != "" {
		fmt.Fprintf(&b, "Priority: %s\n", p.Priority)
	}
	if p.PreDepends != "" {
		fmt.Fprintf(&b, "Pre-Depends: %s\n", p.PreDepends)
	}
	if p.Depends != "" {
		fmt.Fprintf(&b, "Depends: %s\n", p.Depends)
	}
	if p.Provides != "" {
		fmt.Fprintf(&b, "Provides: %s\n", p.Provides)
	}
	fmt.Fprintf(&b, "Description: test package %s\n", p.Name)
	return b.String()
}

// BuildDeb builds a .deb: an ar archive of debian-binary, control.tar.gz
// and data.tar.gz. File times are fixed, as in a reproducible package.
func BuildDeb(t testing.TB, p Package) []byte {
	t.Helper()
	mtime := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	ctl := map[string]string{"control": control(p)}
	if p.Postinst != "" {
		ctl["postinst"] = p.Postinst
	}
	var out bytes.Buffer
	out.WriteString("!<arch>\n")
	member := func(name string, data []byte) {
		fmt.Fprintf(&out, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, 0, 0, 0, "100644", len(data))
		out.Write(data)
		if len(data)%2 == 1 {
			out.WriteByte('\n')
		}
	}
	member("debian-binary", []byte("2.0\n"))
	member("control.tar.gz", tgz(ctl, mtime))
	member("data.tar.gz", tgz(p.Files, mtime))
	return out.Bytes()
}

func tgz(files map[string]string, mtime time.Time) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	dirs := map[string]bool{}
	for _, n := range names {
		for d := filepath.Dir(n); d != "." && d != "/"; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	var dl []string
	for d := range dirs {
		dl = append(dl, d)
	}
	sort.Strings(dl)
	for _, d := range dl {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "./" + strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: mtime})
	}
	for _, n := range names {
		c := files[n]
		name := "./" + strings.TrimPrefix(n, "/")
		if target, ok := strings.CutPrefix(c, "->"); ok {
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: mtime})
			continue
		}
		mode := int64(0o644)
		if strings.Contains(n, "/bin/") || strings.HasPrefix(c, "#!") {
			mode = 0o755
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(c)), ModTime: mtime})
		tw.Write([]byte(c))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}
