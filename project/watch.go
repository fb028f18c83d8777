package project

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/voidnxlabs/berth/runtime"
)

// WatchOptions tune Watch.
type WatchOptions struct {
	// Interval between two looks at the engine; 250 ms when zero.
	Interval time.Duration
}

// Change is one report of Watch: the project's containers as the engine
// lists them after something changed, or why the engine could not be
// asked (Err; Containers is then nil).
type Change struct {
	Containers []runtime.Container
	Err        error
}

// Watch reports when what the engine has of the project changes: a
// container created, removed, started, stopped, restarted, recreated with
// another config, or changing health. The first look is always reported.
// It is one poller, one list call per Interval, however many containers
// the project has; callers that want the changes more than once share
// its channel. A look that fails is reported each time (the engine may
// come back); the channel is closed when ctx ends.
func (p *Project) Watch(ctx context.Context, o WatchOptions) <-chan Change {
	if o.Interval <= 0 {
		o.Interval = 250 * time.Millisecond
	}
	out := make(chan Change, 1)
	go func() {
		defer close(out)
		t := time.NewTicker(o.Interval)
		defer t.Stop()
		last := "\x00" // no fingerprint is this
		for {
			cs, err := p.watchLook(ctx)
			if ctx.Err() != nil {
				return
			}
			fp := fingerprint(cs)
			if err != nil || fp != last {
				if err == nil {
					last = fp
				} else {
					last = "\x00"
				}
				select {
				case out <- Change{Containers: cs, Err: err}:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// watchLook lists the project's containers, by label.
func (p *Project) watchLook(ctx context.Context) ([]runtime.Container, error) {
	e, err := p.Engine(ctx)
	if err != nil {
		return nil, err
	}
	cs, err := e.ListContainers(ctx, map[string]string{runtime.LabelProject: p.cfg.Project})
	if err != nil {
		return nil, engineError(err)
	}
	return cs, nil
}

// fingerprint summarises containers by what Watch reports changes of.
func fingerprint(cs []runtime.Container) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = strings.Join([]string{c.ID, c.Name, c.State, c.Health, c.StartedAt.String(), c.Labels[runtime.LabelConfigHash]}, "|")
	}
	slices.Sort(parts)
	return strings.Join(parts, "\n")
}
