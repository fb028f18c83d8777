// Package state keeps what berth remembers between runs in its state
// directory: the apply lock, generated secrets and the generations of
// applied configuration. Everything in it is private to the user running
// berth (directories 0700, files 0600) because secrets and the desired
// state, which carries them, live there.
package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/voidnxlabs/berth/internal/atomicfile"
)

// Dir is one project's part of the state directory.
type Dir struct {
	// Root is the state directory shared by every project.
	Root string
	// Project is the project this Dir is for.
	Project string
}

// Default returns the state directory berth uses when none is given:
// /var/lib/berth for root, else $XDG_STATE_HOME/berth, else
// ~/.local/state/berth.
func Default(getenv func(string) string) string {
	if v := getenv("BERTH_STATE_DIR"); v != "" {
		return v
	}
	if os.Geteuid() == 0 {
		return "/var/lib/berth"
	}
	if v := getenv("XDG_STATE_HOME"); v != "" {
		return filepath.Join(v, "berth")
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".local", "state", "berth")
}

var projectRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// Open returns the state of project under root, creating the directories
// it needs.
func Open(root, project string) (*Dir, error) {
	if !projectRE.MatchString(project) {
		return nil, fmt.Errorf("opening state: invalid project name %q", project)
	}
	d := &Dir{Root: root, Project: project}
	for _, p := range []string{root, d.path(), d.path("secrets"), d.path("generations")} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			return nil, fmt.Errorf("opening state: %w", err)
		}
	}
	// A state directory made by hand or by an older berth may be open to
	// others; the project's part holds secrets and must not be.
	for _, p := range []string{d.path(), d.path("secrets"), d.path("generations")} {
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, fmt.Errorf("opening state: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("opening state: %s is not a directory", p)
		}
		if fi.Mode().Perm() != 0o700 {
			if err := os.Chmod(p, 0o700); err != nil {
				return nil, fmt.Errorf("opening state: %w", err)
			}
		}
	}
	return d, nil
}

// Path is the project's directory.
func (d *Dir) Path() string { return d.path() }

func (d *Dir) path(elem ...string) string {
	return filepath.Join(append([]string{d.Root, "projects", d.Project}, elem...)...)
}

// writeFile writes data to p atomically, private to the user.
func writeFile(p string, data []byte) error { return atomicfile.Write(p, data, 0o600) }

// writeTemp writes data to a new 0600 file in dir, synced to disk, and
// returns its path. The caller renames or links it into place.
func writeTemp(dir, base string, data []byte) (string, error) {
	return atomicfile.WriteTemp(dir, base, data, 0o600)
}

// syncDir makes a rename or link in dir survive a crash.
func syncDir(dir string) error { return atomicfile.SyncDir(dir) }

// ErrNotFound reports a secret or generation that does not exist.
var ErrNotFound = errors.New("not found")
