// Package apply carries out a plan on an engine without deciding anything:
// operations run in dependency order, a few at a time, and report progress
// as events. Every object is created with its labels, so stopping halfway
// (an error, Ctrl-C, a crash) leaves nothing the next plan cannot see.
package apply

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/health"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/runtime"
	"golang.org/x/sys/unix"
)

// Options tune a run.
type Options struct {
	// Parallel is how many operations run at once; 16 when zero. Engines
	// overlap container starts well beyond their CPU count (a start waits on
	// runc and network setup), and compose starts everything at once.
	Parallel int
	// Events receives progress; calls are serialised. Nil discards them.
	Events func(Event)
	// HealthTimeout bounds each wait for health; 2 minutes when zero.
	HealthTimeout time.Duration
	// StopTimeout is how long a container gets to stop before it is killed,
	// when its spec names no timeout; 10 seconds when zero.
	StopTimeout time.Duration
	// Probe checks health once; health.Prober(engine) when nil. Tests replace it for
	// engines whose containers do not run.
	Probe func(ctx context.Context, addr netip.Addr, h *desired.Health) error
}

// Phase is where an operation is.
type Phase string

const (
	Started  Phase = "started"
	Progress Phase = "progress"
	Done     Phase = "done"
	Failed   Phase = "failed"
	Skipped  Phase = "skipped" // a dependency failed, or the run was cancelled
)

// Event reports what happens to one operation.
type Event struct {
	Time     time.Time
	Op       *plan.Op
	Phase    Phase
	Message  string                 // a detail, such as why an op was skipped
	Progress *runtime.ProgressEvent // pulls
	Err      error                  // Failed
}

// Result says how each operation ended.
type Result struct {
	Done    []*plan.Op
	Failed  []*plan.Op
	Skipped []*plan.Op
}

// OpError is the failure of one operation.
type OpError struct {
	Op  *plan.Op
	Err error
}

func (e *OpError) Error() string { return e.Err.Error() }
func (e *OpError) Unwrap() error { return e.Err }

type runner struct {
	e    runtime.Engine
	opts Options
	mu   sync.Mutex // serialises Events
}

func (r *runner) emit(ev Event) {
	if r.opts.Events == nil {
		return
	}
	ev.Time = time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts.Events(ev)
}

// Run executes p. It returns when every operation has run or been skipped;
// the error joins the failures (each an *OpError) and, when ctx ended, its
// error. After ctx ends no new operation starts; those running are given
// ctx and finish or fail.
func Run(ctx context.Context, e runtime.Engine, p *plan.Plan, opts Options) (Result, error) {
	if opts.Parallel <= 0 {
		opts.Parallel = 16
	}
	if opts.HealthTimeout <= 0 {
		opts.HealthTimeout = 2 * time.Minute
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 10 * time.Second
	}
	if opts.Probe == nil {
		opts.Probe = health.Prober(e)
	}
	r := &runner{e: e, opts: opts}

	pending := map[string]int{}
	users := map[string][]*plan.Op{}
	byID := map[string]*plan.Op{}
	for _, o := range p.Ops {
		byID[o.ID] = o
	}
	for _, o := range p.Ops {
		for _, d := range o.Deps {
			if byID[d] != nil {
				pending[o.ID]++
				users[d] = append(users[d], o)
			}
		}
	}
	var ready []*plan.Op
	for _, o := range p.Ops {
		if pending[o.ID] == 0 {
			ready = append(ready, o)
		}
	}

	type result struct {
		op  *plan.Op
		err error
	}
	results := make(chan result)
	var res Result
	var errs []error
	finished := map[string]bool{}
	running := 0
	halted := false // the engine became unreachable

	// skip marks o and everything after it as not run.
	var skip func(o *plan.Op, why string)
	skip = func(o *plan.Op, why string) {
		if finished[o.ID] {
			return
		}
		finished[o.ID] = true
		res.Skipped = append(res.Skipped, o)
		r.emit(Event{Op: o, Phase: Skipped, Message: why})
		for _, u := range users[o.ID] {
			skip(u, why)
		}
	}
	for {
		for ctx.Err() == nil && !halted && running < opts.Parallel && len(ready) > 0 {
			o := ready[0]
			ready = ready[1:]
			running++
			r.emit(Event{Op: o, Phase: Started})
			go func() {
				results <- result{o, r.do(ctx, o)}
			}()
		}
		if running == 0 {
			break
		}
		rs := <-results
		running--
		finished[rs.op.ID] = true
		if rs.err != nil {
			// An engine that stopped answering fails every later step the
			// same way: start nothing more, and report it once.
			if errors.Is(rs.err, runtime.ErrUnreachable) {
				halted = true
			}
			res.Failed = append(res.Failed, rs.op)
			errs = append(errs, &OpError{Op: rs.op, Err: rs.err})
			r.emit(Event{Op: rs.op, Phase: Failed, Err: rs.err})
			for _, u := range users[rs.op.ID] {
				skip(u, fmt.Sprintf("%s failed", rs.op.ID))
			}
			continue
		}
		res.Done = append(res.Done, rs.op)
		r.emit(Event{Op: rs.op, Phase: Done})
		for _, u := range users[rs.op.ID] {
			pending[u.ID]--
			if pending[u.ID] == 0 && !finished[u.ID] {
				ready = append(ready, u)
			}
		}
	}
	// What is left was never ready: the run was cancelled, or a cycle.
	why := "blocked by a dependency cycle"
	if halted {
		why = "the engine stopped answering"
	} else if ctx.Err() != nil {
		why = "cancelled"
		errs = append(errs, ctx.Err())
	}
	blocked := false
	for _, o := range p.Ops {
		if !finished[o.ID] {
			blocked = true
			skip(o, why)
		}
	}
	if blocked && ctx.Err() == nil && !halted {
		errs = append(errs, errors.New("some operations were never ready: the plan has a dependency cycle"))
	}
	return res, errors.Join(errs...)
}

func (r *runner) do(ctx context.Context, o *plan.Op) error {
	switch o.Kind {
	case plan.PullImage:
		return r.e.PullImage(ctx, o.Target, func(p runtime.ProgressEvent) {
			r.emit(Event{Op: o, Phase: Progress, Progress: &p})
		})
	case plan.EnsurePath:
		return ensurePath(o.Path)
	case plan.CreateNetwork:
		if _, err := r.e.CreateNetwork(ctx, *o.Network); err != nil {
			if errors.Is(err, runtime.ErrConflict) {
				return fmt.Errorf("%w (another network has the name %q or an overlapping subnet; remove it or change the kit's subnet)", err, o.Target)
			}
			return err
		}
		return nil
	case plan.RemoveNetwork:
		return r.removeNetwork(ctx, o)
	case plan.CreateContainer:
		return r.create(ctx, o)
	case plan.Recreate:
		if err := r.remove(ctx, o.ObservedID, o.Container); err != nil {
			return err
		}
		return r.create(ctx, o)
	case plan.StartContainer:
		return r.start(ctx, o.Target, o.Container)
	case plan.StopContainer:
		return r.e.StopContainer(ctx, o.ObservedID, r.stopTimeout(o.Container))
	case plan.RemoveContainer:
		return r.remove(ctx, o.ObservedID, o.Container)
	case plan.Connect:
		return r.e.Connect(ctx, o.ObservedID, *o.Endpoint)
	case plan.WaitHealthy:
		return r.waitHealthy(ctx, o)
	}
	return fmt.Errorf("unknown operation %q", o.Kind)
}

func (r *runner) stopTimeout(dc *desired.Container) time.Duration {
	if dc != nil && dc.Spec.StopTimeout > 0 {
		return dc.Spec.StopTimeout
	}
	return r.opts.StopTimeout
}

// ensurePath creates a missing data path with its owner. An existing path
// is left exactly as it is, and nothing is ever deleted.
//
// The owner and mode go on the directory this call made, through a
// descriptor, never through the name: a data path under a directory that
// someone else can write (a home directory) could otherwise be swapped
// for a symlink between the mkdir and the chown, and berth, as root,
// would give that person /etc/shadow.
func ensurePath(p *desired.DataPath) error {
	if _, err := os.Stat(p.Host); err == nil {
		return nil
	}
	parent, base := filepath.Split(filepath.Clean(p.Host))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("creating data path %q: %w", p.Host, err)
	}
	dir, err := os.Open(parent)
	if err != nil {
		return fmt.Errorf("creating data path %q: %w", p.Host, err)
	}
	defer dir.Close()
	dfd := int(dir.Fd())
	if err := unix.Mkdirat(dfd, base, 0o700); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil // made meanwhile by someone else: theirs, left alone
		}
		return fmt.Errorf("creating data path %q: %w", p.Host, err)
	}
	fd, err := unix.Openat(dfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("creating data path %q: %w", p.Host, err)
	}
	defer unix.Close(fd)
	if err := unix.Fchown(fd, p.UID, p.GID); err != nil {
		return fmt.Errorf("setting the owner of data path %q to %d:%d: %w", p.Host, p.UID, p.GID, err)
	}
	// The config's mode, not one cut by the umask.
	if err := unix.Fchmod(fd, plan.Mode(p)); err != nil {
		return fmt.Errorf("setting the mode of data path %q: %w", p.Host, err)
	}
	return nil
}

func (r *runner) remove(ctx context.Context, id string, dc *desired.Container) error {
	// A graceful stop first: a forced remove kills at once.
	if err := r.e.StopContainer(ctx, id, r.stopTimeout(dc)); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return err
	}
	if err := r.e.RemoveContainer(ctx, id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return err
	}
	return nil
}

func (r *runner) create(ctx context.Context, o *plan.Op) error {
	dc := o.Container
	if _, err := r.e.CreateContainer(ctx, dc.Spec); err != nil {
		if errors.Is(err, runtime.ErrConflict) {
			return fmt.Errorf("%w (a container named %q exists that berth does not own; remove or rename it)", err, dc.Spec.Name)
		}
		return err
	}
	// The address is checked once started: before that an engine reports
	// the address that was asked for.
	return r.start(ctx, dc.Spec.Name, dc)
}

func (r *runner) start(ctx context.Context, name string, dc *desired.Container) error {
	if err := r.e.StartContainer(ctx, name); err != nil {
		return err
	}
	return r.checkAddress(ctx, dc)
}

// checkAddress compares the container's address on its own network with
// the plan's: a mismatch is an error, never silently accepted.
func (r *runner) checkAddress(ctx context.Context, dc *desired.Container) error {
	if dc == nil || !dc.Address.IsValid() || len(dc.Spec.Networks) == 0 {
		return nil
	}
	c, err := r.e.InspectContainer(ctx, dc.Spec.Name)
	if err != nil {
		return err
	}
	netw := dc.Spec.Networks[0].Network
	got, ok := c.Networks[netw]
	if !ok {
		return fmt.Errorf("container %q is not on network %q after create", dc.Spec.Name, netw)
	}
	if got.IsValid() && got != dc.Address {
		return fmt.Errorf("container %q got address %s on network %q, the plan says %s", dc.Spec.Name, got, netw, dc.Address)
	}
	return nil
}

// removeNetwork removes a network, clearing endpoints left behind first.
// After a crash Docker can keep endpoints of containers that are gone
// (moby#42119); a forced disconnect usually clears them.
func (r *runner) removeNetwork(ctx context.Context, o *plan.Op) error {
	ref := o.ObservedID
	if ref == "" {
		ref = o.Target
	}
	for attempt := 0; ; attempt++ {
		err := r.e.RemoveNetwork(ctx, ref)
		if err == nil || errors.Is(err, runtime.ErrNotFound) {
			return nil
		}
		if !errors.Is(err, runtime.ErrInUse) {
			return err
		}
		if attempt == 2 {
			return fmt.Errorf("%w: its endpoints stay after a forced disconnect, which happens when the Docker daemon kept endpoints of containers that are gone (moby#42119); restart the Docker daemon to clear them, then run berth up again", err)
		}
		ns, lerr := r.e.ListNetworks(ctx, nil)
		if lerr != nil {
			return errors.Join(err, lerr)
		}
		for _, n := range ns {
			if n.ID != ref && n.Name != ref {
				continue
			}
			for _, id := range slices.Sorted(maps.Keys(n.Containers)) {
				r.emit(Event{Op: o, Phase: Progress, Message: fmt.Sprintf("disconnecting endpoint %.12s", id)})
				if derr := r.e.Disconnect(ctx, id, n.ID); derr != nil && !errors.Is(derr, runtime.ErrNotFound) {
					r.emit(Event{Op: o, Phase: Progress, Message: derr.Error()})
				}
			}
		}
	}
}

// waitHealthy probes until the container answers, failing early if it
// stops running.
func (r *runner) waitHealthy(ctx context.Context, o *plan.Op) error {
	return health.WaitContainer(ctx, r.e, o.Container, health.WaitOptions{Timeout: r.opts.HealthTimeout, Probe: r.opts.Probe, Address: o.Address})
}
