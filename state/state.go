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
	return d, nil
}

// Path is the project's directory.
func (d *Dir) Path() string { return d.path() }

func (d *Dir) path(elem ...string) string {
	return filepath.Join(append([]string{d.Root, "projects", d.Project}, elem...)...)
}

// writeFile writes data to p atomically: readers see the old content or
// the new, never a part, and a crash leaves the old file in place.
func writeFile(p string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// ErrNotFound reports a secret or generation that does not exist.
var ErrNotFound = errors.New("not found")
