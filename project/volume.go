package project

import (
	"context"
	"errors"

	"github.com/voidnxlabs/berth/volume"
)

// Volumes lists the named volumes of the config and those left on disk
// under the project's volume directory.
func (p *Project) Volumes() ([]volume.Volume, error) {
	return volume.List(p.cfg)
}

// VolumeRemove deletes named volumes and their data, in order, stopping at
// the first that fails: one a container still mounts is volume.ErrInUse,
// one the project does not have volume.ErrUnknown, each with a hint. It
// returns the names removed.
func (p *Project) VolumeRemove(ctx context.Context, names ...string) ([]string, error) {
	e, err := p.Engine(ctx)
	if err != nil {
		return nil, err
	}
	var done []string
	for _, name := range names {
		err := volume.Remove(ctx, p.cfg, e, name)
		switch {
		case errors.Is(err, volume.ErrInUse):
			return done, hinted(err, "stop the services that mount it first: berth down TARGET")
		case errors.Is(err, volume.ErrUnknown):
			return done, hinted(err, "berth volume ls lists the volumes")
		case err != nil:
			return done, engineError(err)
		}
		done = append(done, name)
	}
	return done, nil
}
