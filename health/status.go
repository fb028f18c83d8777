package health

import (
	"context"
	"net/netip"
	"time"

	"github.com/voidnxlabs/berth/desired"
)

// State is a service's readiness as berth reports it.
type State string

const (
	// None: the service has no readiness check.
	None State = ""
	// Starting: the check fails, but the container is still inside its
	// start period (a model loading, a database recovering).
	Starting State = "starting"
	// Healthy: the check passes.
	Healthy State = "healthy"
	// Unhealthy: the check fails after the start period.
	Unhealthy State = "unhealthy"
	// Down: the container is not running, so nothing was probed.
	Down State = "down"
)

// Result is one readiness check.
type Result struct {
	State State
	Err   error // the probe's failure, for starting and unhealthy
}

// DefaultStartPeriod is how long a check that names no start period may
// fail after the container started before it counts as unhealthy.
const DefaultStartPeriod = 10 * time.Second

// Check probes h once with probe (Probe when nil) and classifies the
// answer: a failure while the container, started at startedAt, is younger
// than the check's start period (DefaultStartPeriod when it names none)
// reads as Starting, not Unhealthy. A zero startedAt means the container
// is not running.
func Check(ctx context.Context, probe ProbeFunc, addr netip.Addr, h *desired.Health, startedAt time.Time) Result {
	if h == nil {
		return Result{State: None}
	}
	if startedAt.IsZero() {
		return Result{State: Down}
	}
	if probe == nil {
		probe = Probe
	}
	grace := h.StartPeriod
	if grace <= 0 {
		grace = DefaultStartPeriod
	}
	err := probe(ctx, addr, h)
	switch {
	case err == nil:
		return Result{State: Healthy}
	case time.Since(startedAt) < grace:
		return Result{State: Starting, Err: err}
	default:
		return Result{State: Unhealthy, Err: err}
	}
}

// Grace is how long a check may keep failing after its start period
// before a waiter gives up: a few intervals, so that one slow answer at
// the end of the start period is not fatal.
const Grace = 30 * time.Second

// Deadline is when a waiter for a container started at startedAt gives
// up: the end of its start period plus Grace. Each service so gets a
// deadline of its own (a model server minutes, a proxy seconds).
func Deadline(h *desired.Health, startedAt time.Time) time.Time {
	if h == nil {
		return startedAt
	}
	return startedAt.Add(h.StartPeriod + Grace)
}
