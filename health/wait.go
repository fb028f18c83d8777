package health

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/runtime"
)

// Inspector reports a container as the engine sees it; every
// runtime.Engine is one.
type Inspector interface {
	InspectContainer(ctx context.Context, nameOrID string) (runtime.Container, error)
}

// ErrExited: the container stopped before it was healthy. The error is an
// *ExitedError.
var ErrExited = errors.New("container exited before it was healthy")

// ExitedError is a container that stopped while it was waited for.
type ExitedError struct {
	Container string
	Code      int
}

func (e *ExitedError) Error() string {
	return fmt.Sprintf("container %q exited (code %d) before it was healthy", e.Container, e.Code)
}
func (e *ExitedError) Is(target error) bool { return target == ErrExited }

// WaitOptions tune WaitContainer.
type WaitOptions struct {
	// Timeout bounds the wait; 2 minutes when zero.
	Timeout time.Duration
	// Probe checks once; Probe when nil (Prober(engine) runs exec checks).
	Probe ProbeFunc
	// Address is where to probe; when zero, the container's address on
	// its primary network as the engine reports it.
	Address netip.Addr
}

// WaitContainer waits until c runs and passes its health check (a
// container without one only has to run). One that exits or dies gives an
// *ExitedError at once; the timeout an error wrapping the last probe's
// failure; ctx's end ctx's error. Probes come quickly at first and back
// off to the check's interval: most services answer within a fraction of
// a second of starting. Apply, restore and the project layer all wait
// with it.
func WaitContainer(ctx context.Context, e Inspector, c *desired.Container, o WaitOptions) error {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Probe == nil {
		o.Probe = Probe
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	interval := DefaultInterval
	if c.Health != nil && c.Health.Interval > 0 {
		interval = c.Health.Interval
	}
	start := time.Now()
	wait := 50 * time.Millisecond
	var last error
	for {
		oc, err := e.InspectContainer(ctx, c.Spec.Name)
		if err != nil {
			if ctx.Err() != nil {
				return waitEnded(ctx, c, start, last)
			}
			return err
		}
		switch oc.State {
		case runtime.StateExited, runtime.StateDead:
			return &ExitedError{Container: c.Spec.Name, Code: oc.ExitCode}
		case runtime.StateRunning:
			if c.Health == nil {
				return nil
			}
			addr := o.Address
			if !addr.IsValid() && len(c.Spec.Networks) > 0 {
				addr = oc.Networks[c.Spec.Networks[0].Network]
			}
			if last = o.Probe(ctx, addr, c.Health); last == nil {
				return nil
			}
		}
		t := time.NewTimer(min(wait, interval))
		select {
		case <-ctx.Done():
			t.Stop()
			return waitEnded(ctx, c, start, last)
		case <-t.C:
		}
		wait *= 2
	}
}

func waitEnded(ctx context.Context, c *desired.Container, start time.Time, last error) error {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ctx.Err()
	}
	if last == nil {
		last = ctx.Err()
	}
	return fmt.Errorf("container %q not healthy after %v: %w", c.Spec.Name, time.Since(start).Round(time.Second), last)
}
