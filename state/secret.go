package state

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"unicode"
)

var secretRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// ErrBadSecret reports a secret file that holds no usable value: empty,
// only whitespace, or with control characters inside. berth never uses
// such a value (an empty password or token is no authentication) and never
// replaces it on its own (a database may have been initialized with
// whatever was there); the person decides, with 'berth secret rotate'.
var ErrBadSecret = errors.New("secret file holds no usable value")

// SecretPath is the file holding the secret name: mode 0600 in the
// project's 0700 secrets directory. Engines that take secrets as files
// mount it (read-only) instead of copying the value into an environment.
func (d *Dir) SecretPath(name string) (string, error) {
	if !secretRE.MatchString(name) {
		return "", fmt.Errorf("secret: invalid name %q", name)
	}
	return d.path("secrets", name), nil
}

// Secret returns the generated secret name, making it on first use. A
// secret is 24 random bytes in URL-safe base64 (32 characters), so it is
// safe in URLs, connection strings and environment variables unquoted.
//
// Creation is atomic and agreed: the value is written to a temporary file
// in the secrets directory, synced, and linked to its name, under the
// secrets lock. Two berths that create the same secret at once (two
// applies, 'systemd generate' next to 'up') get the same value, and no
// reader ever sees a partly written or empty file.
func (d *Dir) Secret(name string) (string, error) {
	p, err := d.SecretPath(name)
	if err != nil {
		return "", err
	}
	if v, err := readSecret(p, name); !errors.Is(err, fs.ErrNotExist) {
		return v, err
	}
	unlock, err := d.lockSecrets()
	if err != nil {
		return "", fmt.Errorf("making secret %s: %w", name, err)
	}
	defer unlock()
	// Another berth may have made it while this one waited for the lock.
	if v, err := readSecret(p, name); !errors.Is(err, fs.ErrNotExist) {
		return v, err
	}
	v := newSecret()
	tmp, err := writeTemp(filepath.Dir(p), name, []byte(v+"\n"))
	if err != nil {
		return "", fmt.Errorf("making secret %s: %w", name, err)
	}
	defer os.Remove(tmp)
	// link, unlike rename, never replaces: even a creator that does not
	// take the lock (an older berth) cannot swap a value someone uses.
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readSecret(p, name)
		}
		return "", fmt.Errorf("making secret %s: %w", name, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return "", fmt.Errorf("making secret %s: %w", name, err)
	}
	return v, nil
}

// LookupSecret returns a secret without making it.
func (d *Dir) LookupSecret(name string) (string, error) {
	p, err := d.SecretPath(name)
	if err != nil {
		return "", err
	}
	v, err := readSecret(p, name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("secret %s: %w", name, ErrNotFound)
	}
	return v, err
}

// RotateSecret replaces a secret with a new random value and returns it.
// The file is replaced atomically: readers see the old value or the new.
func (d *Dir) RotateSecret(name string) (string, error) {
	p, err := d.SecretPath(name)
	if err != nil {
		return "", fmt.Errorf("rotating secret: %w", err)
	}
	unlock, err := d.lockSecrets()
	if err != nil {
		return "", fmt.Errorf("rotating secret %s: %w", name, err)
	}
	defer unlock()
	v := newSecret()
	if err := writeFile(p, []byte(v+"\n")); err != nil {
		return "", fmt.Errorf("rotating secret %s: %w", name, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
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
		if secretRE.MatchString(e.Name()) && e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// readSecret reads and checks a secret file. A file that others may read
// is made private first: secrets are 0600 wherever berth keeps them.
func readSecret(p, name string) (string, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("reading secret %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("reading secret %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("reading secret %s: %s is not a regular file", name, p)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return "", fmt.Errorf("reading secret %s: making it private: %w", name, err)
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return "", fmt.Errorf("reading secret %s: %w", name, err)
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return "", fmt.Errorf("secret %s (%s) is empty: %w", name, p, ErrBadSecret)
	}
	for _, r := range v {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return "", fmt.Errorf("secret %s (%s) holds a space or control character: %w", name, p, ErrBadSecret)
		}
	}
	return v, nil
}

// lockSecrets serializes the making and replacing of secrets among
// berths. It is not the apply lock: 'systemd generate', 'secret show' and
// 'psql' make secrets without applying anything.
func (d *Dir) lockSecrets() (func(), error) {
	f, err := os.OpenFile(d.path("secrets", ".lock"), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening secrets lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("taking secrets lock: %w", err)
	}
	return func() { f.Close() }, nil
}

func newSecret() string {
	b := make([]byte, 24)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SecretFile returns a file holding the secret name for a container to
// mount: secrets/run/<name>-<uid>, owned by uid:gid with mode 0400, so
// that the container's user, and only it, reads it. The file is rewritten
// (atomically) when the secret was rotated. The secrets directory (0700)
// keeps host users out, whatever uid they have.
func (d *Dir) SecretFile(name string, uid, gid int) (string, error) {
	v, err := d.Secret(name)
	if err != nil {
		return "", err
	}
	dir := d.path("secrets", "run")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("writing secret file %s: %w", name, err)
	}
	p := filepath.Join(dir, fmt.Sprintf("%s-%d", name, uid))
	unlock, err := d.lockSecrets()
	if err != nil {
		return "", fmt.Errorf("writing secret file %s: %w", name, err)
	}
	defer unlock()
	if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm() == 0o400 && ownedBy(fi, uid, gid) {
		if data, err := os.ReadFile(p); err == nil && string(data) == v {
			return p, nil
		}
	}
	// The value without a newline: programs read the whole file as the
	// value, and not all of them trim it.
	tmp, err := writeTemp(dir, filepath.Base(p), []byte(v))
	if err != nil {
		return "", fmt.Errorf("writing secret file %s: %w", name, err)
	}
	defer os.Remove(tmp)
	if err := os.Chmod(tmp, 0o400); err != nil {
		return "", fmt.Errorf("writing secret file %s: %w", name, err)
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(tmp, uid, gid); err != nil {
			return "", fmt.Errorf("writing secret file %s: %w", name, err)
		}
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("writing secret file %s: %w", name, err)
	}
	return p, nil
}

func ownedBy(fi os.FileInfo, uid, gid int) bool {
	if os.Geteuid() != 0 {
		return true // only root gives files away
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == uid && int(st.Gid) == gid
}
