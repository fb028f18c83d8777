package deb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Cache is a content-addressed store of downloaded files, keyed by their
// sha256. Everything fetched with a known checksum (indexes, .debs) goes
// through it, so a build whose inputs are all known does no network I/O.
type Cache struct {
	Dir string
}

// DefaultCacheDir is $XDG_CACHE_HOME/berth, else ~/.cache/berth.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding cache directory: %w", err)
	}
	return filepath.Join(d, "berth"), nil
}

func (c *Cache) path(sum string) string {
	return filepath.Join(c.Dir, "sha256", sum[:2], sum)
}

// Has reports whether a file with this checksum is cached.
func (c *Cache) Has(sum string) bool {
	if len(sum) != 64 {
		return false
	}
	_, err := os.Stat(c.path(sum))
	return err == nil
}

// Fetcher downloads files into a Cache, verifying each against its sha256.
type Fetcher struct {
	Client *http.Client
	Cache  *Cache
	// Progress, when set, is called as bytes arrive (url, done, total).
	Progress func(url string, done, total int64)
	// Offline makes any download an error: a build that should be served
	// from the cache alone fails loudly instead of reaching the network.
	Offline bool
	// HTTPS fetches from Debian's own mirrors (deb.debian.org,
	// security.debian.org) over https when a URL says http; see
	// HaveCACerts. Signatures and checksums protect the content either
	// way; https also hides what is fetched and makes replaying an old
	// index harder.
	HTTPS bool
}

// httpsHosts serve the same archive over https.
var httpsHosts = map[string]bool{"deb.debian.org": true, "security.debian.org": true}

// upgrade rewrites an http URL of a host in httpsHosts to https.
func (f *Fetcher) upgrade(url string) string {
	if !f.HTTPS {
		return url
	}
	rest, ok := strings.CutPrefix(url, "http://")
	if !ok {
		return url
	}
	host, _, _ := strings.Cut(rest, "/")
	if !httpsHosts[host] {
		return url
	}
	return "https://" + rest
}

// HaveCACerts reports whether the machine has a CA bundle, without which
// https cannot be checked (a minimal image or a fresh chroot may have
// none; plain http then still works).
func HaveCACerts() bool {
	files := []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"}
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		files = []string{f}
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.Size() > 0 {
			return true
		}
	}
	return false
}

// ReadAll fetches url without a known checksum (InRelease files only).
func (f *Fetcher) ReadAll(ctx context.Context, url string) ([]byte, error) {
	if f.Offline {
		return nil, fmt.Errorf("fetching %s: offline", url)
	}
	resp, err := f.get(ctx, url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	return b, nil
}

func (f *Fetcher) get(ctx context.Context, url string) (*http.Response, error) {
	url = f.upgrade(url)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("fetching %s: %s", url, resp.Status)
	}
	return resp, nil
}

// Fetch returns the path of the cached file with checksum sum, downloading
// it from url first when it is not cached. A download whose checksum or
// size differs is discarded and reported as ErrChecksum.
func (f *Fetcher) Fetch(ctx context.Context, url, sum string, size int64) (string, error) {
	if len(sum) != 64 {
		return "", fmt.Errorf("fetching %s: invalid sha256 %q", url, sum)
	}
	dst := f.Cache.path(sum)
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if f.Offline {
		return "", fmt.Errorf("fetching %s: not in the cache and offline", url)
	}
	resp, err := f.get(ctx, url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", fmt.Errorf("creating cache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".part-*")
	if err != nil {
		return "", fmt.Errorf("creating cache file: %w", err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	var r io.Reader = resp.Body
	if f.Progress != nil {
		r = &progressReader{r: r, fn: func(n int64) { f.Progress(url, n, size) }}
	}
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", url, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if got != sum || (size > 0 && n != size) {
		return "", fmt.Errorf("verifying %s: %w: got sha256 %s (%d bytes), want %s (%d bytes)", url, ErrChecksum, got, n, sum, size)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("storing %s: %w", url, err)
	}
	return dst, nil
}

// VerifyFile re-hashes a cached file, catching a cache that was altered
// after the download.
func VerifyFile(path, sum string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("verifying %s: %w: got sha256 %s, want %s", path, ErrChecksum, got, sum)
	}
	return nil
}

type progressReader struct {
	r    io.Reader
	n    int64
	fn   func(int64)
	last int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	// Reporting every 256 KiB keeps a terminal display smooth without
	// calling back on every small read.
	if p.n-p.last >= 256<<10 || err == io.EOF {
		p.last = p.n
		p.fn(p.n)
	}
	return n, err
}
