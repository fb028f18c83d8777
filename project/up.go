package project

import (
	"context"
	"strings"
	"time"

	"github.com/voidnxlabs/berth/plan"
)

// UpOptions tune Up.
type UpOptions struct {
	// Targets select containers: a container (ml-ollama), a kit (ml), a
	// service (ml/ollama) or a stack. Empty means the whole project,
	// including the removal of containers no longer in the config.
	Targets []string
	// Wait waits until every started container passes its health check.
	Wait bool
	// Timeout bounds each health wait; 2 minutes when zero.
	Timeout time.Duration
	// NoLockWait fails with state.ErrLocked at once when another berth is
	// changing the project, instead of waiting for it.
	NoLockWait bool
	// NoBuild never builds missing images from berth's recipes (they are
	// pulled instead).
	NoBuild bool
	// Parallel is how many operations run at once; apply's default when
	// zero.
	Parallel int
	// Command is what the lock and the generation record; "up TARGETS"
	// when empty.
	Command string
	// Events receives progress; nil discards it.
	Events func(Event)
}

// Up makes the engine match the config: it creates, recreates, starts and
// removes containers and networks, builds missing images that have a
// recipe, and records the result as a new generation when the desired
// state changed. Running it again changes nothing; after an interruption
// or a failure (an *ApplyError) it picks up where it stopped.
func (p *Project) Up(ctx context.Context, o UpOptions) (*RunResult, error) {
	st, names, err := p.Desired(o.Targets)
	if err != nil {
		return nil, err
	}
	return p.converge(ctx, runOptions{
		action: plan.ActionUp, st: st, targets: names, wait: o.Wait, timeout: o.Timeout,
		noLockWait: o.NoLockWait, noBuild: o.NoBuild, parallel: o.Parallel, record: true,
		command: command(o.Command, "up", o.Targets), events: newSink(o.Events),
	})
}

// command is what a run records: given, else the verb and its targets.
func command(given, verb string, targets []string) string {
	if given != "" {
		return given
	}
	return strings.TrimSpace(verb + " " + strings.Join(targets, " "))
}
