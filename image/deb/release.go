package deb

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
)

// DefaultKeyring is where Debian installs the archive's signing keys.
const DefaultKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// Errors a caller may want to tell apart.
var (
	ErrBadSignature = errors.New("bad signature")
	ErrExpired      = errors.New("release file expired")
	ErrChecksum     = errors.New("checksum mismatch")
	// ErrWrongSuite reports a signed Release of another suite than the
	// one asked for: a genuine file, replayed.
	ErrWrongSuite = errors.New("release file is for another suite")
	// ErrNoValidUntil reports a Release without an expiry for a suite
	// whose archive always sets one.
	ErrNoValidUntil = errors.New("release file has no Valid-Until")
	// ErrRollback reports a Release older than one already locked.
	ErrRollback = errors.New("release file is older than the locked one")
)

// LoadKeyring reads binary or armored OpenPGP keyrings.
func LoadKeyring(paths ...string) (openpgp.EntityList, error) {
	var all openpgp.EntityList
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading keyring: %w", err)
		}
		var el openpgp.EntityList
		if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")) {
			el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
		} else {
			el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
		}
		if err != nil {
			return nil, fmt.Errorf("reading keyring %s: %w", p, err)
		}
		all = append(all, el...)
	}
	return all, nil
}

// FileSum is one entry of a Release file's SHA256 list.
type FileSum struct {
	Size   int64
	SHA256 string
}

// Release is a verified InRelease file.
type Release struct {
	Origin        string
	Suite         string
	Codename      string
	Version       string
	Date          time.Time
	ValidUntil    time.Time // zero when the file has none
	AcquireByHash bool
	Components    []string
	Files         map[string]FileSum // path relative to dists/<suite>/
}

// VerifyRelease checks a clearsigned InRelease file against keyring and
// parses it. A Valid-Until in the past is an error unless ignoreValidUntil
// is set, as with apt's Check-Valid-Until=no for snapshot mirrors.
func VerifyRelease(data []byte, keyring openpgp.KeyRing, now time.Time, ignoreValidUntil bool) (*Release, error) {
	block, _ := clearsign.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: not a clearsigned file", ErrBadSignature)
	}
	if _, err := block.VerifySignature(keyring, nil); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	// Only the signed text is trusted from here on.
	paras, err := ParseParagraphs(string(block.Plaintext))
	if err != nil || len(paras) == 0 {
		return nil, fmt.Errorf("parsing release: %v", err)
	}
	f := paras[0].Fields
	r := &Release{
		Origin:        f["Origin"],
		Suite:         f["Suite"],
		Codename:      f["Codename"],
		Version:       f["Version"],
		AcquireByHash: f["Acquire-By-Hash"] == "yes",
		Components:    strings.Fields(f["Components"]),
		Files:         map[string]FileSum{},
	}
	if d := f["Date"]; d != "" {
		if r.Date, err = parseReleaseTime(d); err != nil {
			return nil, fmt.Errorf("parsing release date: %w", err)
		}
	}
	if d := f["Valid-Until"]; d != "" {
		if r.ValidUntil, err = parseReleaseTime(d); err != nil {
			return nil, fmt.Errorf("parsing release Valid-Until: %w", err)
		}
		if !ignoreValidUntil && now.After(r.ValidUntil) {
			return nil, fmt.Errorf("%w: valid until %s", ErrExpired, r.ValidUntil.Format(time.RFC3339))
		}
	}
	for _, line := range strings.Split(f["SHA256"], "\n") {
		parts := strings.Fields(line)
		if len(parts) != 3 {
			continue
		}
		size, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parsing release: bad size for %s", parts[2])
		}
		r.Files[parts[2]] = FileSum{Size: size, SHA256: parts[0]}
	}
	if len(r.Files) == 0 {
		return nil, fmt.Errorf("parsing release: no SHA256 checksums")
	}
	return r, nil
}

// Check holds a verified Release to what was asked: its Suite or Codename
// must be suite (a genuine bookworm file served for bookworm-security
// would hold back security updates); a suite that always carries
// Valid-Until (see NeedsValidUntil) must carry it, unless
// ignoreValidUntil; and its Date must not be before notBefore (the date
// of the Release already locked), so that an older index cannot be
// replayed.
func (r *Release) Check(suite string, notBefore time.Time, ignoreValidUntil bool) error {
	if r.Suite != suite && r.Codename != suite {
		return fmt.Errorf("%w: asked for %s, the signed file says Suite %q, Codename %q", ErrWrongSuite, suite, r.Suite, r.Codename)
	}
	if NeedsValidUntil(suite) && r.ValidUntil.IsZero() && !ignoreValidUntil {
		return fmt.Errorf("%w: %s always has one", ErrNoValidUntil, suite)
	}
	if !notBefore.IsZero() && r.Date.Before(notBefore) {
		return fmt.Errorf("%w: dated %s, the lock has %s", ErrRollback, r.Date.Format(time.RFC3339), notBefore.Format(time.RFC3339))
	}
	return nil
}

// NeedsValidUntil reports whether Debian's Release for suite always has a
// Valid-Until: the security and backports suites do (a week ahead);
// bookworm and bookworm-updates have none, and are guarded by the lock's
// date instead.
func NeedsValidUntil(suite string) bool {
	return strings.HasSuffix(suite, "-security") || strings.HasSuffix(suite, "-backports")
}

func parseReleaseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised time %q", s)
}
