package project

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/voidnxlabs/berth/apply"
	"github.com/voidnxlabs/berth/backup"
	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/proxy"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/state"
)

// RunResult is what up, down, start, stop, restart and rollback did.
type RunResult struct {
	Action plan.Action `json:"action"`
	// Plan is what was applied (empty when nothing was to do).
	Plan *plan.Plan `json:"plan"`
	// Counts and Summary count the plan's operations by kind:
	// "2 created, 1 started".
	Counts  map[plan.Kind]int `json:"counts"`
	Summary string            `json:"summary"`
	// Built are the images built from recipes because the engine lacked
	// them.
	Built []BuiltImage `json:"built,omitempty"`
	// GPUs is what each container that asks for GPUs receives on this host.
	GPUs map[string]gpu.Assignment `json:"gpus,omitempty"`
	// ProxyRoutes is how many routes the proxy took, when it was synced.
	ProxyRoutes int `json:"proxyRoutes,omitempty"`
	// Generation is the generation recorded; 0 when none was (nothing
	// changed, or the action records none).
	Generation int `json:"generation,omitempty"`
	// RolledBackTo is the generation a Rollback applied again.
	RolledBackTo int           `json:"rolledBackTo,omitempty"`
	Duration     time.Duration `json:"duration"`
}

// Empty reports whether there was nothing to do.
func (r *RunResult) Empty() bool { return r.Plan == nil || r.Plan.Empty() }

// runOptions drive converge, which every changing use case shares.
type runOptions struct {
	action  plan.Action
	targets []string       // container names; nil for the whole project
	st      *desired.State // given (rollback); compiled when nil
	// resolved: the state's GPUs are resolved already (a recorded
	// generation carries what its host gave).
	resolved   bool
	wait       bool
	timeout    time.Duration
	noLockWait bool
	noBuild    bool
	parallel   int
	command    string
	record     bool
	config     []byte // the config text recorded with the generation
	events     *sink
}

// converge makes the engine match the desired state for one action: lock,
// engine, GPUs, restore recovery, observe, build missing images, plan,
// proxy config, apply, proxy routes, generation.
func (p *Project) converge(ctx context.Context, o runOptions) (*RunResult, error) {
	if o.timeout < 0 {
		return nil, hinted(fmt.Errorf("%w: timeout %s is negative", ErrInvalidOption, o.timeout), "for example --timeout 5m")
	}
	res := &RunResult{Action: o.action}
	began := time.Now()
	sd, err := p.StateDir()
	if err != nil {
		return nil, err
	}
	l, err := lock(ctx, sd, o.command, o.noLockWait, o.events)
	if err != nil {
		return nil, err
	}
	defer l.Unlock()

	st := o.st
	e, err := p.Engine(ctx)
	if err != nil {
		return nil, err
	}
	if o.action == plan.ActionUp && !o.resolved {
		if res.GPUs, err = p.resolveGPUs(ctx, st, e); err != nil {
			return nil, err
		}
	}
	var gens []state.Generation
	next := 0
	if o.record {
		if gens, err = sd.Generations(); err != nil {
			return nil, err
		}
		next = 1
		if len(gens) > 0 {
			next = gens[len(gens)-1].Number + 1
		}
	}
	if o.action != plan.ActionDown && o.action != plan.ActionStop {
		// A restore cut off after its swap left content nobody confirmed
		// healthy: put the previous content back before anything starts.
		err := backup.RecoverRestores(ctx, e, backup.Targets(st, false), func(ev backup.Event) {
			if ev.Msg != "" {
				o.events.emit(Event{Kind: EventRecover, Container: ev.Container, Message: ev.Msg})
			}
		})
		if err != nil {
			return nil, hinted(fmt.Errorf("recovering an interrupted restore: %w", err), "run 'berth restore --recover' and read what it says")
		}
	}
	obs, err := plan.Observe(ctx, e, *st)
	if err != nil {
		return nil, engineError(err)
	}
	if o.action == plan.ActionUp && !o.noBuild {
		built, err := p.buildMissing(ctx, e, st, o.targets, obs, o.events)
		res.Built = built
		if err != nil {
			return res, err
		}
		if len(built) > 0 {
			if obs, err = plan.Observe(ctx, e, *st); err != nil {
				return res, engineError(err)
			}
		}
	}
	pl := plan.Compute(*st, obs, plan.Options{Action: o.action, Targets: o.targets, Wait: o.wait, Generation: next})
	res.Plan, res.Counts, res.Summary = pl, pl.Summary(), Summary(pl)
	starts := o.action == plan.ActionUp || o.action == plan.ActionStart || o.action == plan.ActionRestart
	if !pl.Empty() && starts && proxy.Find(st) != nil {
		// A proxy that the apply creates or restarts resumes from this
		// config, so it routes every service from its first second.
		if _, err := proxy.Prepare(st); err != nil {
			o.events.emit(Event{Kind: EventWarning, Message: "writing the proxy config", Err: err})
		}
	}
	if !pl.Empty() {
		_, err := apply.Run(ctx, e, pl, apply.Options{Events: o.events.applyEvent, HealthTimeout: o.timeout, Probe: p.probe(e), Parallel: o.parallel})
		if err != nil {
			res.Duration = time.Since(began)
			return res, newApplyError(o.action, err)
		}
		if starts {
			res.ProxyRoutes = p.syncProxy(ctx, e, st, o.events)
		}
	}
	if o.record {
		if res.Generation, err = p.record(sd, st, o, gens); err != nil {
			return res, err
		}
		if res.Generation > 0 {
			o.events.emit(Event{Kind: EventGeneration, Generation: res.Generation, Message: fmt.Sprintf("recorded generation %d", res.Generation)})
		}
	}
	res.Duration = time.Since(began)
	return res, nil
}

// Lock takes a project's apply lock for command. It waits for another
// berth (reporting it as EventWaitLock), or, with noWait, fails at once
// with state.ErrLocked. The use cases that change the engine take it
// themselves.
func Lock(ctx context.Context, sd *state.Dir, command string, noWait bool, events func(Event)) (*state.Lock, error) {
	return lock(ctx, sd, command, noWait, newSink(events))
}

func lock(ctx context.Context, sd *state.Dir, command string, noWait bool, events *sink) (*state.Lock, error) {
	lock, err := sd.Lock(ctx, state.LockOptions{
		Wait:    !noWait,
		Command: command,
		Waiting: func(h state.Holder) {
			events.emit(Event{Kind: EventWaitLock, Message: fmt.Sprintf("waiting for %s to finish", h)})
		},
	})
	if errors.Is(err, state.ErrLocked) {
		return nil, hinted(err, "wait for it to finish, or leave out --no-wait to wait")
	}
	return lock, err
}

// syncProxy loads the routes of every enabled service into a running
// proxy through Caddy's admin API, which keeps open connections. It
// returns how many routes the proxy took.
func (p *Project) syncProxy(ctx context.Context, e runtime.Engine, st *desired.State, events *sink) int {
	c := proxy.Find(st)
	if c == nil {
		return 0
	}
	oc, err := e.InspectContainer(ctx, c.Spec.Name)
	if err != nil || oc.State != runtime.StateRunning {
		return 0
	}
	routes, err := proxy.Sync(ctx, st, 30*time.Second)
	if err != nil {
		events.emit(Event{Kind: EventWarning, Container: c.Spec.Name, Message: "the proxy did not take its new routes", Err: err, Hint: "run 'berth proxy reload'"})
		return 0
	}
	events.emit(Event{Kind: EventProxy, Container: c.Spec.Name, Count: len(routes), Message: fmt.Sprintf("proxy %s: loaded %d routes", c.Spec.Name, len(routes))})
	return len(routes)
}

// record stores a new generation when the desired state differs from the
// newest one, and returns its number (0 when none was recorded).
func (p *Project) record(sd *state.Dir, st *desired.State, o runOptions, gens []state.Generation) (int, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return 0, fmt.Errorf("recording generation: %w", err)
	}
	d := Digest(data)
	if len(gens) > 0 && gens[len(gens)-1].Digest == d {
		return 0, nil
	}
	cfgText := o.config
	if cfgText == nil && p.cfg.File != "" {
		cfgText, _ = os.ReadFile(p.cfg.File)
	}
	gen, err := sd.Record(state.Generation{
		Command: o.command, ConfigFile: p.cfg.File, Digest: d,
		Containers: len(st.Containers), Networks: len(st.Networks),
		Config: cfgText, Desired: data,
	})
	if err != nil {
		return 0, err
	}
	return gen.Number, nil
}

// Summary counts a plan's operations in words: "2 created, 1 started".
func Summary(pl *plan.Plan) string {
	words := map[plan.Kind]string{
		plan.PullImage: "pulled", plan.EnsurePath: "directories made", plan.CreateNetwork: "networks created",
		plan.RemoveNetwork: "networks removed", plan.CreateContainer: "created", plan.Recreate: "recreated",
		plan.Connect: "connected", plan.StartContainer: "started", plan.StopContainer: "stopped",
		plan.RemoveContainer: "removed", plan.WaitHealthy: "healthy",
	}
	s := pl.Summary()
	var kinds []plan.Kind
	for k := range s {
		kinds = append(kinds, k)
	}
	slices.SortFunc(kinds, func(a, b plan.Kind) int { return strings.Compare(string(a), string(b)) })
	var parts []string
	for _, k := range kinds {
		w := words[k]
		if s[k] == 1 {
			w = strings.Replace(strings.Replace(w, "networks", "network", 1), "directories", "directory", 1)
		}
		parts = append(parts, fmt.Sprintf("%d %s", s[k], w))
	}
	return strings.Join(parts, ", ")
}

// engineError adds a hint to an error from the engine.
func engineError(err error) error {
	if errors.Is(err, runtime.ErrUnreachable) {
		return hinted(err, "check that the engine runs: 'berth doctor'")
	}
	if errors.Is(err, context.Canceled) {
		return hinted(err, "interrupted; run the command again to converge")
	}
	return err
}
