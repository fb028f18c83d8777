package backup

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyFile is the name of the manifest key in the state directory.
const KeyFile = "backup.key"

// ErrNoKey reports a repository opened without the key that authenticates
// its manifests.
var ErrNoKey = errors.New("no backup key")

// LoadKey reads the key that authenticates manifests from stateDir, and
// makes it (32 random bytes, 0600, in a 0700 directory) when create is set
// and it is missing.
//
// The key lives beside the generations and secrets, not in the
// repository: whoever can write the repository (another user, a mounted
// share, a disk brought from elsewhere) cannot then write a manifest that
// this machine accepts. A machine restoring another's backups needs a copy
// of that machine's key.
func LoadKey(stateDir string, create bool) ([]byte, error) {
	p := filepath.Join(stateDir, KeyFile)
	key, err := readKey(p)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !create {
		return key, err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("making the backup key: %w", err)
	}
	key = make([]byte, 32)
	rand.Read(key)
	// Written whole under a temporary name, then linked into place: a
	// concurrent berth either wins the link or reads the winner's key.
	tmp, err := os.CreateTemp(stateDir, ".backup.key.tmp*")
	if err != nil {
		return nil, fmt.Errorf("making the backup key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), p)
	}
	if errors.Is(err, fs.ErrExist) {
		return readKey(p)
	}
	if err != nil {
		return nil, fmt.Errorf("making the backup key: %w", err)
	}
	return key, nil
}

func readKey(p string) ([]byte, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, fmt.Errorf("reading the backup key: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("reading the backup key: %s must be a regular file of mode 0600 (it is %v)", p, fi.Mode())
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading the backup key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("reading the backup key: %s does not hold a key of 32 bytes in hex", p)
	}
	return key, nil
}

// keyID names a key without revealing it, so that an error can tell "made
// with another key" from "edited".
func keyID(key []byte) string {
	h := sha256.Sum256(append([]byte("berth backup key id\x00"), key...))
	return hex.EncodeToString(h[:4])
}

// macOf is the manifest's HMAC-SHA256 under key.
func macOf(key, data []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil))
}
