// Package volume lists and removes berth's named volumes: directories at
// <volumesPath>/<project>/<name> that services mount by name. berth
// creates them on up and keeps them on down; only Remove, by name, deletes
// one.
package volume

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/runtime"
)

// Volume is one named volume.
type Volume struct {
	Name string `json:"name"`
	Path string `json:"path"`
	// Exists says the directory is there (it is made on the first up).
	Exists bool `json:"exists"`
	// UsedBy are the services (kit/service) whose config mounts it.
	UsedBy []string `json:"usedBy"`
	// InConfig is false for a directory no service names any more.
	InConfig bool `json:"inConfig"`
}

// ErrInUse is returned by Remove while a container of the project mounts
// the volume.
var ErrInUse = errors.New("volume in use")

// ErrUnknown is returned by Remove for a name that is neither in the
// config nor on disk.
var ErrUnknown = errors.New("no such volume")

// Dir is where the project's volumes live.
func Dir(cfg *config.Config) string { return filepath.Join(cfg.VolumesPath, cfg.Project) }

// List returns the volumes the config names and those left on disk, by name.
func List(cfg *config.Config) ([]Volume, error) {
	byName := map[string]*Volume{}
	for _, k := range cfg.Kits {
		for _, s := range k.Services {
			for _, m := range s.Mounts {
				if m.Volume == "" {
					continue
				}
				v := byName[m.Volume]
				if v == nil {
					v = &Volume{Name: m.Volume, Path: m.Source, InConfig: true, UsedBy: []string{}}
					byName[m.Volume] = v
				}
				v.UsedBy = append(v.UsedBy, s.Kit+"/"+s.Name)
			}
		}
	}
	entries, err := os.ReadDir(Dir(cfg))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("listing volumes: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || !config.VolumeRE.MatchString(e.Name()) {
			continue
		}
		v := byName[e.Name()]
		if v == nil {
			v = &Volume{Name: e.Name(), Path: filepath.Join(Dir(cfg), e.Name()), UsedBy: []string{}}
			byName[e.Name()] = v
		}
		v.Exists = true
	}
	out := make([]Volume, 0, len(byName))
	for _, v := range byName {
		sort.Strings(v.UsedBy)
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Lister is the engine call Remove needs.
type Lister interface {
	ListContainers(ctx context.Context, labels map[string]string) ([]runtime.Container, error)
}

// Remove deletes the named volume's directory and everything in it. It
// refuses while any container of the project (running or stopped)
// mounts it: run berth down or stop the service first.
func Remove(ctx context.Context, cfg *config.Config, e Lister, name string) error {
	if !config.VolumeRE.MatchString(name) {
		return fmt.Errorf("removing volume %q: %w: invalid name", name, ErrUnknown)
	}
	dir := filepath.Join(Dir(cfg), name)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing volume %s: %w", name, ErrUnknown)
	}
	cs, err := e.ListContainers(ctx, map[string]string{runtime.LabelProject: cfg.Project})
	if err != nil {
		return fmt.Errorf("removing volume %s: %w", name, err)
	}
	var users []string
	for _, c := range cs {
		for _, m := range c.Mounts {
			if m.Source == dir || strings.HasPrefix(m.Source, dir+"/") {
				users = append(users, c.Name)
			}
		}
	}
	if len(users) > 0 {
		sort.Strings(users)
		return fmt.Errorf("removing volume %s: %w by %s", name, ErrInUse, strings.Join(users, ", "))
	}
	// Beneath the project's volume directory only: the name is one path
	// element, and a link there is removed, never followed.
	root, err := os.OpenRoot(Dir(cfg))
	if err != nil {
		return fmt.Errorf("removing volume %s: %w", name, err)
	}
	defer root.Close()
	if err := root.RemoveAll(name); err != nil {
		return fmt.Errorf("removing volume %s: %w", name, err)
	}
	return nil
}
