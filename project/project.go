package project

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/health"
	"github.com/voidnxlabs/berth/hostnet"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/state"
)

// Options say where a project is and what runs it.
type Options struct {
	// ConfigFile is berth.yaml's path; empty means $BERTH_CONFIG, else
	// ./berth.yaml (config.Resolve).
	ConfigFile string
	// StateDir is the state directory shared by every project; empty means
	// state.Default (/var/lib/berth as root, else $XDG_STATE_HOME/berth).
	StateDir string
	// Runtime names the engine: auto, docker, podman or nspawn. Empty means
	// the config's runtime setting.
	Runtime string
	// Engine, when set, is used instead of connecting to one, and is never
	// closed by the Project. Tests pass runtime/fake here.
	Engine runtime.Engine
	// Getenv reads the environment; os.Getenv when nil.
	Getenv func(string) string
	// Probe checks a container's health once; health.Prober(engine) when
	// nil.
	// Tests with an engine whose containers do not run replace it.
	Probe health.ProbeFunc
	// GPUHost is the machine whose GPUs are detected; gpu.LocalHost when
	// nil. Tests pass a fake sysfs tree.
	GPUHost *gpu.Host
	// HostNetworks lists this host's networks for the host checks;
	// hostnet.List when nil.
	HostNetworks func() ([]hostnet.Network, error)
}

// Project is an opened berth.yaml with its state directory and engine. It
// is safe for concurrent use by several use cases; those that change the
// engine take the project's apply lock.
type Project struct {
	opts Options
	cfg  *config.Config

	mu      sync.Mutex
	sd      *state.Dir
	eng     runtime.Engine
	ownsEng bool
	closed  bool
}

// Open loads and validates the config. A config with problems gives
// config.Errors (every problem, with its position); a missing file an
// error wrapping config.ErrNoConfig. Open does not touch the engine.
func Open(ctx context.Context, o Options) (*Project, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := config.Load(config.LoadOptions{File: o.ConfigFile, Getenv: o.Getenv})
	if err != nil {
		return nil, err
	}
	return FromConfig(cfg, o), nil
}

// FromConfig makes a Project of an already loaded config, for callers that
// load it themselves (validate, a config handed over by a test).
func FromConfig(cfg *config.Config, o Options) *Project {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	return &Project{opts: o, cfg: cfg}
}

// Config is the loaded config.
func (p *Project) Config() *config.Config { return p.cfg }

// ConfigFile is the path the config was read from.
func (p *Project) ConfigFile() string {
	if p.cfg.File != "" {
		return p.cfg.File
	}
	return config.Resolve(config.LoadOptions{File: p.opts.ConfigFile, Getenv: p.opts.Getenv})
}

// StateRoot is the state directory shared by every project.
func (p *Project) StateRoot() string {
	if p.opts.StateDir != "" {
		return p.opts.StateDir
	}
	return state.Default(p.opts.Getenv)
}

// StateDir opens the project's part of the state directory, creating it
// when missing. The error is an *Error with a hint.
func (p *Project) StateDir() (*state.Dir, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sd != nil {
		return p.sd, nil
	}
	sd, err := state.Open(p.StateRoot(), p.cfg.Project)
	if err != nil {
		return nil, &Error{Err: err, Hint: "pass a writable directory with --state-dir or BERTH_STATE_DIR"}
	}
	p.sd = sd
	return sd, nil
}

// Engine connects to the project's engine on first use and returns it.
// An engine that does not answer gives an error wrapping
// runtime.ErrUnreachable.
func (p *Project) Engine(ctx context.Context) (runtime.Engine, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.eng != nil {
		return p.eng, nil
	}
	if p.opts.Engine != nil {
		p.eng = p.opts.Engine
		return p.eng, nil
	}
	e, err := Connect(ctx, p.RuntimeName(), ConnectOptions{StateDir: p.opts.StateDir, Getenv: p.opts.Getenv})
	if err != nil {
		return nil, err
	}
	p.eng, p.ownsEng = e, true
	return e, nil
}

// RuntimeName is the engine the project asks for: Options.Runtime, else
// the config's runtime, else auto.
func (p *Project) RuntimeName() string {
	if p.opts.Runtime != "" {
		return p.opts.Runtime
	}
	if p.cfg != nil && p.cfg.Runtime != "" {
		return p.cfg.Runtime
	}
	return "auto"
}

// probe is the health prober for checks against e.
func (p *Project) probe(e runtime.Engine) health.ProbeFunc {
	if p.opts.Probe != nil {
		return p.opts.Probe
	}
	return health.Prober(e)
}

// Close closes the engine the Project connected to.
func (p *Project) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	if p.eng != nil && p.ownsEng {
		return p.eng.Close()
	}
	return nil
}

// Desired compiles the desired state of the whole project, with its
// secrets (made on first use) and the addresses of the last generation,
// so that first-free addresses stay stable across runs. Targets select
// containers (a container, kit, service path or stack); the names come
// back sorted, nil for the whole project. The error for an unknown target
// is a *config.TargetError.
func (p *Project) Desired(targets []string) (*desired.State, []string, error) {
	sel, err := p.cfg.Select(targets)
	if err != nil {
		return nil, nil, err
	}
	sd, err := p.StateDir()
	if err != nil {
		return nil, nil, err
	}
	st, err := desired.Compile(p.cfg, desired.Options{Secret: sd.Secret, SecretFile: sd.SecretFile, Previous: p.PreviousAddresses()})
	if err != nil {
		return nil, nil, err
	}
	return st, selectedNames(targets, sel), nil
}

// DesiredOffline compiles the desired state without a state directory:
// secrets are left empty. It is what `plan --offline` shows.
func (p *Project) DesiredOffline(targets []string) (*desired.State, error) {
	sel, err := p.cfg.Select(targets)
	if err != nil {
		return nil, err
	}
	st, err := desired.Compile(p.cfg, desired.Options{Previous: p.PreviousAddresses()})
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, s := range sel {
		names[s.Container] = true
	}
	return st.Only(names), nil
}

func selectedNames(targets []string, sel []*config.Service) []string {
	if len(targets) == 0 {
		return nil
	}
	out := []string{}
	for _, s := range sel {
		out = append(out, s.Container)
	}
	slices.Sort(out)
	return out
}

// PreviousAddresses returns the address table of the last applied
// generation. Without a state directory or generation it is empty.
func (p *Project) PreviousAddresses() map[string]netip.Addr {
	sd := &state.Dir{Root: p.StateRoot(), Project: p.cfg.Project}
	gen, err := sd.Latest()
	if err != nil {
		return nil
	}
	st, err := DecodeDesired(gen.Desired)
	if err != nil {
		return nil
	}
	return st.Addresses()
}

// DecodeDesired reads a desired state recorded in a generation.
func DecodeDesired(data []byte) (*desired.State, error) {
	var st desired.State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decoding desired state: %w", err)
	}
	return &st, nil
}

// only is the part of st that names select; st itself when names is nil.
func only(st *desired.State, names []string) *desired.State {
	if names == nil {
		return st
	}
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return st.Only(m)
}
