package state

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"
)

var secretRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// Secret returns the generated secret name, making it on first use. A
// secret is 24 random bytes in URL-safe base64 (32 characters), so it is
// safe in URLs, connection strings and environment variables unquoted.
func (d *Dir) Secret(name string) (string, error) {
	if !secretRE.MatchString(name) {
		return "", fmt.Errorf("reading secret: invalid name %q", name)
	}
	p := d.path("secrets", name)
	data, err := os.ReadFile(p)
	if err == nil {
		return strings.TrimSpace(string(data)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading secret %s: %w", name, err)
	}
	v := newSecret()
	// O_EXCL: when two berths race, the first value written wins and both
	// use it.
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return d.Secret(name)
	}
	if err != nil {
		return "", fmt.Errorf("writing secret %s: %w", name, err)
	}
	if _, err := f.WriteString(v + "\n"); err != nil {
		f.Close()
		os.Remove(p)
		return "", fmt.Errorf("writing secret %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("writing secret %s: %w", name, err)
	}
	return v, nil
}

// LookupSecret returns a secret without making it.
func (d *Dir) LookupSecret(name string) (string, error) {
	if !secretRE.MatchString(name) {
		return "", fmt.Errorf("reading secret: invalid name %q", name)
	}
	data, err := os.ReadFile(d.path("secrets", name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("secret %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("reading secret %s: %w", name, err)
	}
	return strings.TrimSpace(string(data)), nil
}

// RotateSecret replaces a secret with a new random value and returns it.
func (d *Dir) RotateSecret(name string) (string, error) {
	if !secretRE.MatchString(name) {
		return "", fmt.Errorf("rotating secret: invalid name %q", name)
	}
	v := newSecret()
	if err := writeFile(d.path("secrets", name), []byte(v+"\n")); err != nil {
		return "", fmt.Errorf("rotating secret %s: %w", name, err)
	}
	return v, nil
}

// Secrets lists the names of the secrets made so far, sorted.
func (d *Dir) Secrets() ([]string, error) {
	ents, err := os.ReadDir(d.path("secrets"))
	if err != nil {
		return nil, fmt.Errorf("listing secrets: %w", err)
	}
	var out []string
	for _, e := range ents {
		if secretRE.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

func newSecret() string {
	b := make([]byte, 24)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}
