package deb

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0", "1.0-0", 0},
		{"1.0-1", "1.0-2", -1},
		{"1.0~rc1", "1.0", -1},
		{"1.0~rc1", "1.0~rc2", -1},
		{"1.0~~", "1.0~", -1},
		{"1.0", "1.0+b1", -1},
		{"1:0.1", "2.0", 1},
		{"2.36-9+deb12u4", "2.36-9", 1},
		{"1.2.10", "1.2.9", 1},
		{"1.0a", "1.0", 1},
		{"1.0-1", "1.0.1-1", -1},
		{"0001", "1", 0},
		{"5:7.0.15-1~deb12u7", "5:7.0.15-1", -1},
		{"99999999999999999999999", "99999999999999999999998", 1},
	} {
		if got := CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := CompareVersions(c.b, c.a); got != -c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}

func TestParseDepends(t *testing.T) {
	cls, err := ParseDepends("libc6 (>= 2.34), libssl3 | libssl1.1 (<< 1.2), python3:any, foo (> 1)")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cls {
		got = append(got, c.String())
	}
	want := "libc6 (>= 2.34); libssl3 | libssl1.1 (<< 1.2); python3:any; foo (>= 1)"
	if s := strings.Join(got, "; "); s != want {
		t.Errorf("got %s\nwant %s", s, want)
	}
	if _, err := ParseDepends("foo (~ 1)"); err == nil {
		t.Error("unknown relation accepted")
	}
}

func loadIndex(t *testing.T, file, suite string) []*Package {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	paras, err := ParseParagraphs(string(b))
	if err != nil {
		t.Fatal(err)
	}
	var out []*Package
	for _, p := range paras {
		pk, err := PackageFromParagraph(p)
		if err != nil {
			t.Fatal(err)
		}
		pk.Suite = suite
		out = append(out, pk)
	}
	return out
}

func names(ps []*Package) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Name+"="+p.Version+"@"+p.Suite)
	}
	return strings.Join(s, " ")
}

func TestResolve(t *testing.T) {
	stable := loadIndex(t, "testdata/Packages", "stable")
	newer := loadIndex(t, "testdata/Packages.newer", "newer")
	u := NewUniverse("amd64", []string{"stable"}, []string{"newer"}, stable, newer)

	// liblow (>= 2.0) is only in "newer", and it needs the newer libc6,
	// which replaces the stable one chosen first; the virtual packages go
	// to the provider of the most basic priority (exim4, mawk).
	got, err := u.Resolve(Request{Packages: []string{"app"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "app=1.0-1@stable exim4=4.96-15@stable libc6=2.40-2@newer liblow=2.1-1@newer libssl3=3.0.11-1@stable mawk=1.3.4-1@stable python3=3.11.2-1@stable"
	if names(got) != want {
		t.Errorf("resolve app:\n got %s\nwant %s", names(got), want)
	}

	// An explicit suite and an exclusion.
	got, err = u.Resolve(Request{Packages: []string{"app/newer", "libc6"}})
	if err != nil {
		t.Fatal(err)
	}
	if w := "app=2.0-1@newer libc6=2.36-9+deb12u4@stable"; names(got) != w {
		t.Errorf("app/newer: got %s, want %s", names(got), w)
	}
	got, err = u.Resolve(Request{Packages: []string{"excluded-dep"}, Exclude: []string{"perl*"}})
	if err != nil || names(got) != "excluded-dep=1@stable" {
		t.Errorf("exclude: got %s, %v", names(got), err)
	}

	// Errors name the chain.
	_, err = u.Resolve(Request{Packages: []string{"excluded-dep"}})
	var re *ResolveError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "excluded-dep depends on perl: perl is not in any suite") {
		t.Errorf("missing dependency: %v", err)
	}
	_, err = u.Resolve(Request{Packages: []string{"awk"}})
	if err == nil || !strings.Contains(err.Error(), "virtual package; name one of its providers: gawk, mawk") {
		t.Errorf("virtual request: %v", err)
	}
	if _, err := u.Resolve(Request{Packages: []string{"nope"}}); err == nil || err.Error() != "resolving nope: no such package" {
		t.Errorf("unknown: %v", err)
	}

	order := InstallOrder(got)
	_ = order
}

func TestVerifyRelease(t *testing.T) {
	cfg := &packet.Config{RSABits: 2048}
	key, err := openpgp.NewEntity("a", "", "a@x.invalid", cfg)
	if err != nil {
		t.Fatal(err)
	}
	other, err := openpgp.NewEntity("b", "", "b@x.invalid", cfg)
	if err != nil {
		t.Fatal(err)
	}
	body := "Suite: stable\nCodename: bookworm\nDate: Sat, 01 Jun 2024 10:00:00 UTC\nValid-Until: Sat, 08 Jun 2024 10:00:00 UTC\nSHA256:\n " + strings.Repeat("a", 64) + " 10 main/binary-amd64/Packages\n"
	sign := func(e *openpgp.Entity, text string) []byte {
		var b strings.Builder
		w, err := clearsign.Encode(&b, e.PrivateKey, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(text))
		w.Close()
		return []byte(b.String())
	}
	ring := openpgp.EntityList{key}
	inTime := time.Date(2024, 6, 2, 0, 0, 0, 0, time.UTC)
	late := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

	r, err := VerifyRelease(sign(key, body), ring, inTime, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Codename != "bookworm" || r.Files["main/binary-amd64/Packages"].Size != 10 {
		t.Errorf("parsed %+v", r)
	}
	if _, err := VerifyRelease(sign(other, body), ring, inTime, false); !errors.Is(err, ErrBadSignature) {
		t.Errorf("unknown key: %v", err)
	}
	tampered := strings.Replace(string(sign(key, body)), " 10 main", " 11 main", 1)
	if _, err := VerifyRelease([]byte(tampered), ring, inTime, false); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered text: %v", err)
	}
	if _, err := VerifyRelease([]byte(body), ring, inTime, false); !errors.Is(err, ErrBadSignature) {
		t.Errorf("unsigned: %v", err)
	}
	if _, err := VerifyRelease(sign(key, body), ring, late, false); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	if _, err := VerifyRelease(sign(key, body), ring, late, true); err != nil {
		t.Errorf("expired but ignored: %v", err)
	}
}

func TestDebianKeyring(t *testing.T) {
	if _, err := os.Stat(DefaultKeyring); err != nil {
		t.Skip("no Debian keyring on this machine")
	}
	kr, err := LoadKeyring(DefaultKeyring)
	if err != nil {
		t.Fatal(err)
	}
	if len(kr) < 3 {
		t.Errorf("only %d keys in %s", len(kr), DefaultKeyring)
	}
}
