package deb

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"

	"github.com/voidnxlabs/berth/image/deb/debtest"
	"github.com/voidnxlabs/berth/internal/extract"
)

// Issue 14, row 13: an ar member size of -60 sent Open round in circles;
// sizes that are negative or run past the file are errors now.
func TestArBadSizes(t *testing.T) {
	good := debtest.BuildDeb(t, debtest.Package{Name: "p", Version: "1", Files: map[string]string{"/x": "x"}})
	member := func(size string) []byte {
		b := []byte("!<arch>\n")
		b = append(b, fmt.Sprintf("%-16s%-12d%-6d%-6d%-8s%-10s`\n", "debian-binary", 0, 0, 0, "100644", size)...)
		return append(b, "2.0\n"...)
	}
	cases := map[string][]byte{
		"negative":       member("-60"),
		"negative small": member("-1"),
		"past the end":   member("999999999"),
		"not a number":   member("0x10"),
		"truncated":      good[:len(good)-7],
		"header cut off": append(member("4"), "debian-bin"...),
		"duplicate":      append(member("4"), member("4")[8:]...),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "x.deb")
			os.WriteFile(p, data, 0o644)
			done := make(chan error, 1)
			go func() {
				d, err := Open(p)
				if err == nil {
					_, err = d.Control()
					d.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Error("opened")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Open did not return")
			}
		})
	}
	p := filepath.Join(t.TempDir(), "good.deb")
	os.WriteFile(p, good, 0o644)
	d, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
}

// A .deb's data names are held to the extractor's rules: no "..", nothing
// beneath one of its own symlinks, hard links only to its own files.
func TestWalkHostileNames(t *testing.T) {
	cases := map[string]map[string]string{
		"dot-dot":             {"/../../etc/cron.d/x": "x"},
		"beneath own symlink": {"/a": "->/etc", "/a/cron.d/x": "x"},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "x.deb")
			os.WriteFile(p, debtest.BuildDeb(t, debtest.Package{Name: "p", Version: "1", Files: files}), 0o644)
			d, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			err = d.Walk(func(h *tar.Header, r io.Reader) error { return nil })
			if !errors.Is(err, extract.ErrOutside) {
				t.Errorf("Walk: %v, want ErrOutside", err)
			}
		})
	}
}

// Issue 14, row 8: bookworm's genuine InRelease served for
// bookworm-security was accepted, holding back security updates.
func TestReleaseForAnotherSuite(t *testing.T) {
	a := debtest.Serve(t, map[string][]debtest.Package{
		"bookworm":          {{Name: "p", Version: "1"}},
		"bookworm-security": {{Name: "p", Version: "2"}},
	})
	kr, err := LoadKeyring(a.Keyring)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&Fetcher{}).ReadAll(t.Context(), a.URL+"/dists/bookworm/InRelease")
	if err != nil {
		t.Fatal(err)
	}
	a.Tamper = func(p string, body []byte) []byte {
		if p == "dists/bookworm-security/InRelease" {
			return resp
		}
		return body
	}
	ar := &Archive{Fetcher: &Fetcher{Cache: &Cache{Dir: t.TempDir()}}, Keyring: kr}
	_, err = ar.Release(t.Context(), Source{URL: a.URL, Suite: "bookworm-security"})
	if !errors.Is(err, ErrWrongSuite) {
		t.Fatalf("bookworm's Release for bookworm-security: %v, want ErrWrongSuite", err)
	}
	a.Tamper = nil
	if _, err := ar.Release(context.Background(), Source{URL: a.URL, Suite: "bookworm-security"}); err != nil {
		t.Fatalf("the genuine one: %v", err)
	}
	// An index older than the one locked is a replay.
	ar.NotBefore = map[string]time.Time{"bookworm": time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := ar.Release(t.Context(), Source{URL: a.URL, Suite: "bookworm"}); !errors.Is(err, ErrRollback) {
		t.Fatalf("an older Release than the lock's: %v, want ErrRollback", err)
	}
}

// Release.Check on signed files: suite and codename, Valid-Until where the
// archive always sets it, and the lock's date.
func TestReleaseCheck(t *testing.T) {
	key, err := openpgp.NewEntity("a", "", "a@x.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(text string) []byte {
		var b bytes.Buffer
		w, _ := clearsign.Encode(&b, key.PrivateKey, nil)
		w.Write([]byte(text))
		w.Close()
		return b.Bytes()
	}
	sums := "SHA256:\n " + strings.Repeat("a", 64) + " 10 main/binary-amd64/Packages\n"
	now := time.Date(2024, 6, 2, 0, 0, 0, 0, time.UTC)
	locked := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		text, suite string
		notBefore   time.Time
		ignore      bool
		want        error
	}{
		{"Suite: oldstable\nCodename: bookworm\nDate: Sat, 01 Jun 2024 10:00:00 UTC\n", "bookworm", locked, false, nil},
		{"Suite: oldstable\nCodename: bookworm\nDate: Sat, 01 Jun 2024 10:00:00 UTC\n", "oldstable", time.Time{}, false, nil},
		{"Suite: oldstable\nCodename: bookworm\nDate: Sat, 01 Jun 2024 10:00:00 UTC\n", "bookworm-security", time.Time{}, false, ErrWrongSuite},
		{"Suite: oldstable-security\nCodename: bookworm-security\nDate: Sat, 01 Jun 2024 10:00:00 UTC\n", "bookworm-security", time.Time{}, false, ErrNoValidUntil},
		{"Suite: oldstable-security\nCodename: bookworm-security\nDate: Sat, 01 Jun 2024 10:00:00 UTC\n", "bookworm-security", time.Time{}, true, nil},
		{"Suite: oldstable-security\nCodename: bookworm-security\nDate: Sat, 01 Jun 2024 10:00:00 UTC\nValid-Until: Sat, 08 Jun 2024 10:00:00 UTC\n", "bookworm-security", time.Time{}, false, nil},
		{"Suite: oldstable\nCodename: bookworm\nDate: Sat, 01 Apr 2024 10:00:00 UTC\n", "bookworm", locked, false, ErrRollback},
	}
	for i, c := range cases {
		rel, err := VerifyRelease(sign(c.text+sums), openpgp.EntityList{key}, now, c.ignore)
		if err == nil {
			err = rel.Check(c.suite, c.notBefore, c.ignore)
		}
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("case %d: %v, want %v", i, err, c.want)
		}
	}
}

func TestHTTPSUpgrade(t *testing.T) {
	f := &Fetcher{HTTPS: true}
	for in, want := range map[string]string{
		"http://deb.debian.org/debian/dists/bookworm/InRelease": "https://deb.debian.org/debian/dists/bookworm/InRelease",
		"http://security.debian.org/debian-security/x":          "https://security.debian.org/debian-security/x",
		"http://mirror.example/debian/x":                        "http://mirror.example/debian/x",
		"http://127.0.0.1:8080/x":                               "http://127.0.0.1:8080/x",
		"https://deb.debian.org/x":                              "https://deb.debian.org/x",
	} {
		if got := f.upgrade(in); got != want {
			t.Errorf("upgrade(%s) = %s", in, got)
		}
	}
	if got := (&Fetcher{}).upgrade("http://deb.debian.org/x"); got != "http://deb.debian.org/x" {
		t.Errorf("without HTTPS: %s", got)
	}
}
