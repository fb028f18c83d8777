package project

import (
	"context"
	"time"

	"github.com/voidnxlabs/berth/plan"
)

// DownOptions tune Down.
type DownOptions struct {
	// Targets select containers; empty means all of the project's.
	Targets    []string
	NoLockWait bool
	Command    string // "down TARGETS" when empty
	Events     func(Event)
}

// Down stops and removes the targeted containers and the networks left
// without containers. Data paths on the host are never deleted.
func (p *Project) Down(ctx context.Context, o DownOptions) (*RunResult, error) {
	st, names, err := p.Desired(o.Targets)
	if err != nil {
		return nil, err
	}
	return p.converge(ctx, runOptions{action: plan.ActionDown, st: st, targets: names, noLockWait: o.NoLockWait,
		command: command(o.Command, "down", o.Targets), events: newSink(o.Events)})
}

// LifecycleOptions tune Start, Stop and Restart.
type LifecycleOptions struct {
	// Targets select containers; empty means every container of the
	// project.
	Targets []string
	// Wait waits until the started containers pass their health checks
	// (Start, Restart); Timeout bounds each wait, 2 minutes when zero.
	Wait       bool
	Timeout    time.Duration
	NoLockWait bool
	Command    string // "start TARGETS" (stop, restart) when empty
	Events     func(Event)
}

// Start starts containers that exist but do not run, dependencies first.
// It creates and removes nothing: that is Up's work.
func (p *Project) Start(ctx context.Context, o LifecycleOptions) (*RunResult, error) {
	return p.lifecycle(ctx, plan.ActionStart, o)
}

// Stop stops running containers, dependents first.
func (p *Project) Stop(ctx context.Context, o LifecycleOptions) (*RunResult, error) {
	o.Wait = false
	return p.lifecycle(ctx, plan.ActionStop, o)
}

// Restart stops and starts containers in dependency order.
func (p *Project) Restart(ctx context.Context, o LifecycleOptions) (*RunResult, error) {
	return p.lifecycle(ctx, plan.ActionRestart, o)
}

func (p *Project) lifecycle(ctx context.Context, action plan.Action, o LifecycleOptions) (*RunResult, error) {
	st, names, err := p.Desired(o.Targets)
	if err != nil {
		return nil, err
	}
	return p.converge(ctx, runOptions{action: action, st: st, targets: names, wait: o.Wait, timeout: o.Timeout,
		noLockWait: o.NoLockWait, command: command(o.Command, string(action), o.Targets), events: newSink(o.Events)})
}
