package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/docker"
	"github.com/voidnxlabs/berth/state"
)

// engines holds the constructors of the engines berth can drive, by the
// name used in `runtime:` and --runtime. Files that add an engine register
// it from an init function.
var engines = map[string]func(ctx context.Context, g *globals) (runtime.Engine, error){
	"docker": func(ctx context.Context, g *globals) (runtime.Engine, error) { return docker.New(ctx) },
}

// autoEngines is the order `runtime: auto` tries engines in.
var autoEngines = []string{"docker", "podman"}

// runtimeName is the engine the user asked for: --runtime, else the
// config's runtime, else auto.
func (g *globals) runtimeName(cfg *config.Config) string {
	if g.runtime != "" {
		return g.runtime
	}
	if cfg != nil && cfg.Runtime != "" {
		return cfg.Runtime
	}
	return "auto"
}

// engine connects to the configured engine. An engine that does not
// answer gives exit code 3.
func (g *globals) engine(cfg *config.Config) (runtime.Engine, error) {
	name := g.runtimeName(cfg)
	if name == "auto" {
		var errs []string
		for _, n := range autoEngines {
			newEngine, ok := engines[n]
			if !ok {
				continue
			}
			e, err := newEngine(g.ctx, g)
			if err == nil {
				return e, nil
			}
			errs = append(errs, fmt.Sprintf("%s: %v", n, err))
		}
		return nil, withHint(fmt.Errorf("%w: no container engine answered (%s)", runtime.ErrUnreachable, strings.Join(errs, "; ")),
			ExitUnreachable, "start Docker (systemctl start docker) or Podman (systemctl start podman.socket), or pick one with --runtime; 'berth doctor' checks")
	}
	newEngine, ok := engines[name]
	if !ok {
		var names []string
		for n := range engines {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, withHint(fmt.Errorf("unknown runtime %q", name), ExitFailure,
			"use one of: auto, "+strings.Join(names, ", "))
	}
	e, err := newEngine(g.ctx, g)
	if err != nil {
		if errors.Is(err, runtime.ErrUnreachable) {
			return nil, withHint(err, ExitUnreachable, fmt.Sprintf("start %s and check with 'berth doctor'", name))
		}
		return nil, err
	}
	return e, nil
}

// state opens the project's state directory.
func (g *globals) state(cfg *config.Config) (*state.Dir, error) {
	sd, err := state.Open(g.stateRoot(), cfg.Project)
	if err != nil {
		return nil, withHint(err, ExitFailure, "pass a writable directory with --state-dir or BERTH_STATE_DIR")
	}
	return sd, nil
}

// previousAddresses returns the address table of the last applied
// generation, so first-free addresses stay stable across runs. Without a
// state directory or generation it is empty.
func (g *globals) previousAddresses(cfg *config.Config) map[string]netip.Addr {
	sd := &state.Dir{Root: g.stateRoot(), Project: cfg.Project}
	gen, err := sd.Latest()
	if err != nil {
		return nil
	}
	st, err := decodeDesired(gen.Desired)
	if err != nil {
		return nil
	}
	return st.Addresses()
}

func decodeDesired(data []byte) (*desired.State, error) {
	var st desired.State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decoding desired state: %w", err)
	}
	return &st, nil
}

// project is what the engine commands share: the loaded config, the
// selected containers, the state directory and the desired state with
// secrets filled in and GPUs resolved for this host.
type project struct {
	cfg     *config.Config
	sd      *state.Dir
	st      *desired.State // the whole project
	targets []string       // container names the user selected; nil for all
	gpus    map[string]gpu.Assignment
}

// loadProject loads the config and compiles the desired state. Targets
// limit what a command acts on; an empty list means the whole project.
func (g *globals) loadProject(args []string) (*project, error) {
	cfg, err := g.load()
	if err != nil {
		return nil, err
	}
	sel, err := cfg.Select(args)
	if err != nil {
		return nil, targetError(err)
	}
	sd, err := g.state(cfg)
	if err != nil {
		return nil, err
	}
	st, err := desired.Compile(cfg, desired.Options{Secret: sd.Secret, Previous: g.previousAddresses(cfg)})
	if err != nil {
		return nil, err
	}
	p := &project{cfg: cfg, sd: sd, st: st}
	if len(args) > 0 {
		for _, s := range sel {
			p.targets = append(p.targets, s.Container)
		}
		slices.Sort(p.targets)
	}
	return p, nil
}

// resolveGPUs decides what each container that asks for GPUs receives on
// this host and adds it to its spec. The config hash is left as compiled:
// it covers the request, not how this host satisfies it.
func (g *globals) resolveGPUs(p *project, e runtime.Engine) error {
	var need []int
	for i, c := range p.st.Containers {
		if c.GPU != nil {
			need = append(need, i)
		}
	}
	if len(need) == 0 {
		return nil
	}
	inv, err := gpu.Detect(g.ctx, gpu.LocalHost())
	if err != nil {
		return fmt.Errorf("detecting gpus: %w", err)
	}
	info, err := e.Info(g.ctx)
	if err != nil {
		return fmt.Errorf("asking the engine about gpu support: %w", err)
	}
	p.gpus = map[string]gpu.Assignment{}
	var errs []error
	var hint string
	for _, i := range need {
		c := &p.st.Containers[i]
		a, err := gpu.Resolve(*c.GPU, inv, info)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Spec.Name, err))
			var ge *gpu.Error
			if errors.As(err, &ge) && hint == "" {
				hint = ge.Hint
			}
			continue
		}
		a.Apply(&c.Spec)
		p.gpus[c.Spec.Name] = a
	}
	if len(errs) > 0 {
		if hint == "" {
			hint = "mark the request optional (gpu.optional: true), disable the service, or run 'berth doctor'"
		}
		return withHint(errors.Join(errs...), ExitFailure, hint)
	}
	return nil
}

// digest identifies a desired state, so that an apply that changes nothing
// records no new generation.
func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// planOnline compares the desired state with the engine and prints the
// steps; exit code 2 when there are any.
func (g *globals) planOnline(args []string) error {
	p, err := g.loadProject(args)
	if err != nil {
		return err
	}
	e, err := g.engine(p.cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	if err := g.resolveGPUs(p, e); err != nil {
		return err
	}
	obs, err := plan.Observe(g.ctx, e, *p.st)
	if err != nil {
		return g.engineError(err)
	}
	pl := plan.Compute(*p.st, obs, plan.Options{Targets: p.targets})
	if g.json {
		data, err := pl.JSON()
		if err != nil {
			return err
		}
		g.stdout.Write(append(data, '\n'))
	} else if pl.Empty() {
		fmt.Fprintln(g.stderr, "berth: nothing to do: the engine matches the config")
	} else {
		fmt.Fprint(g.stdout, pl.String())
	}
	if pl.Empty() {
		return nil
	}
	return exitCode(ExitChanges)
}

// engineError adds a hint to an error from the engine.
func (g *globals) engineError(err error) error {
	if errors.Is(err, runtime.ErrUnreachable) {
		return withHint(err, ExitUnreachable, "check that the engine runs: 'berth doctor'")
	}
	if errors.Is(err, context.Canceled) {
		return withHint(err, ExitFailure, "interrupted; run the command again to converge")
	}
	return err
}

// isTerminal reports whether w is a terminal, for live progress.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// configIfAny loads berth.yaml when there is one, for commands that work
// without it but honour its runtime setting. A broken file counts as none:
// those commands report it where they read it themselves.
func (g *globals) configIfAny() *config.Config {
	if _, err := os.Stat(g.configFilePath()); err != nil {
		return nil
	}
	cfg, err := config.Load(config.LoadOptions{File: g.configFile, Getenv: g.getenv})
	if err != nil {
		return nil
	}
	return cfg
}

// lockProject takes the project's apply lock for command. It waits for
// another berth with a message, or, with noWait, fails at once with a hint.
func (g *globals) lockProject(sd *state.Dir, command string, noWait bool) (*state.Lock, error) {
	lock, err := sd.Lock(g.ctx, state.LockOptions{
		Wait:    !noWait,
		Command: command,
		Waiting: func(h state.Holder) {
			fmt.Fprintf(g.stderr, "berth: waiting for %s to finish (Ctrl-C to give up)\n", h)
		},
	})
	if errors.Is(err, state.ErrLocked) {
		return nil, withHint(err, ExitFailure, "wait for it to finish, or leave out --no-wait to wait")
	}
	return lock, err
}

// selected is the part of the desired state the command's targets name;
// the whole state when there are none.
func (p *project) selected() *desired.State {
	if p.targets == nil {
		return p.st
	}
	names := map[string]bool{}
	for _, n := range p.targets {
		names[n] = true
	}
	return p.st.Only(names)
}

// stateRoot is the state directory: --state-dir, else the default.
func (g *globals) stateRoot() string {
	if g.stateDir != "" {
		return g.stateDir
	}
	return state.Default(g.getenv)
}
