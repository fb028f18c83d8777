package deb

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ulikunitz/xz"
)

// Source is one suite of one archive.
type Source struct {
	URL        string   // e.g. http://deb.debian.org/debian
	Suite      string   // e.g. bookworm, bookworm-security
	Components []string // default: main
	Arch       string   // default: amd64
}

func (s Source) arch() string {
	if s.Arch == "" {
		return "amd64"
	}
	return s.Arch
}

func (s Source) components() []string {
	if len(s.Components) == 0 {
		return []string{"main"}
	}
	return s.Components
}

func (s Source) distURL() string {
	return strings.TrimSuffix(s.URL, "/") + "/dists/" + s.Suite
}

// Archive reads verified package indexes from Debian archives.
type Archive struct {
	Fetcher *Fetcher
	Keyring openpgp.KeyRing
	// IgnoreValidUntil accepts an expired Release file, as needed for a
	// snapshot mirror (apt's Check-Valid-Until=no).
	IgnoreValidUntil bool
	// NotBefore maps a suite to the Date of its Release already locked:
	// an older one is refused (ErrRollback).
	NotBefore map[string]time.Time
	Now       func() time.Time
}

// Release fetches and verifies the suite's InRelease file.
func (a *Archive) Release(ctx context.Context, src Source) (*Release, error) {
	url := src.distURL() + "/InRelease"
	data, err := a.Fetcher.ReadAll(ctx, url)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if a.Now != nil {
		now = a.Now()
	}
	rel, err := VerifyRelease(data, a.Keyring, now, a.IgnoreValidUntil)
	if err == nil {
		err = rel.Check(src.Suite, a.NotBefore[src.Suite], a.IgnoreValidUntil)
	}
	if err != nil {
		return nil, fmt.Errorf("verifying %s: %w", url, err)
	}
	return rel, nil
}

// Packages returns every package of the source's components for its
// architecture, each index verified against the signed Release file.
func (a *Archive) Packages(ctx context.Context, src Source) ([]*Package, *Release, error) {
	rel, err := a.Release(ctx, src)
	if err != nil {
		return nil, nil, err
	}
	var all []*Package
	for _, comp := range src.components() {
		dir := comp + "/binary-" + src.arch() + "/"
		var name string
		var sum FileSum
		for _, ext := range []string{"Packages.xz", "Packages.gz", "Packages"} {
			if s, ok := rel.Files[dir+ext]; ok {
				name, sum = dir+ext, s
				break
			}
		}
		if name == "" {
			return nil, nil, fmt.Errorf("reading %s: no Packages index for %s", src.distURL(), dir)
		}
		url := src.distURL() + "/" + name
		if rel.AcquireByHash {
			// By-hash URLs never change content, so a mirror that updates
			// while we read cannot hand us a mismatched index.
			url = src.distURL() + "/" + dir + "by-hash/SHA256/" + sum.SHA256
		}
		path, err := a.Fetcher.Fetch(ctx, url, sum.SHA256, sum.Size)
		if err != nil {
			return nil, nil, fmt.Errorf("reading index %s: %w", name, err)
		}
		text, err := readIndex(path, name)
		if err != nil {
			return nil, nil, fmt.Errorf("reading index %s: %w", name, err)
		}
		paras, err := ParseParagraphs(text)
		if err != nil {
			return nil, nil, fmt.Errorf("parsing index %s: %w", name, err)
		}
		for _, para := range paras {
			p, err := PackageFromParagraph(para)
			if err != nil {
				return nil, nil, fmt.Errorf("parsing index %s: %w", name, err)
			}
			p.Suite = src.Suite
			p.BaseURL = src.URL
			all = append(all, p)
		}
	}
	return all, rel, nil
}

func readIndex(path, name string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var r io.Reader = bytes.NewReader(raw)
	switch {
	case strings.HasSuffix(name, ".xz"):
		xr, err := xz.NewReader(r)
		if err != nil {
			return "", err
		}
		r = xr
	case strings.HasSuffix(name, ".gz"):
		gr, err := gzip.NewReader(r)
		if err != nil {
			return "", err
		}
		r = gr
	}
	var sb strings.Builder
	if _, err := io.Copy(&sb, r); err != nil {
		return "", err
	}
	return sb.String(), nil
}
