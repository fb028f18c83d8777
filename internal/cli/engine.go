package cli

import (
	"context"
	"errors"
	"net/netip"
	"os"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/project"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/state"
)

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

// projectOptions are the library's options from the global flags.
func (g *globals) projectOptions() project.Options {
	return project.Options{ConfigFile: g.configFile, StateDir: g.stateDir, Runtime: g.runtime, Getenv: g.getenv}
}

// open loads berth.yaml (printing its problems) and opens the project on
// it. The caller closes it.
func (g *globals) open() (*project.Project, error) {
	cfg, err := g.load()
	if err != nil {
		return nil, err
	}
	return project.FromConfig(cfg, g.projectOptions()), nil
}

// engine connects to the configured engine. An engine that does not
// answer gives exit code 3.
func (g *globals) engine(cfg *config.Config) (runtime.Engine, error) {
	e, err := project.Connect(g.ctx, g.runtimeName(cfg), project.ConnectOptions{StateDir: g.stateDir, Getenv: g.getenv})
	if err != nil {
		return nil, g.fail(err)
	}
	return e, nil
}

// state opens the project's state directory.
func (g *globals) state(cfg *config.Config) (*state.Dir, error) {
	sd, err := project.FromConfig(cfg, g.projectOptions()).StateDir()
	if err != nil {
		return nil, g.fail(err)
	}
	return sd, nil
}

// previousAddresses returns the address table of the last applied
// generation, so first-free addresses stay stable across runs.
func (g *globals) previousAddresses(cfg *config.Config) map[string]netip.Addr {
	return project.FromConfig(cfg, g.projectOptions()).PreviousAddresses()
}

func decodeDesired(data []byte) (*desired.State, error) { return project.DecodeDesired(data) }

// loaded is what the commands not yet moved into the project package
// share: the loaded config, the selected containers, the state directory
// and the desired state with secrets filled in.
type loaded struct {
	lib     *project.Project
	cfg     *config.Config
	sd      *state.Dir
	st      *desired.State // the whole project
	targets []string       // container names the user selected; nil for all
}

// loadProject loads the config and compiles the desired state. Targets
// limit what a command acts on; an empty list means the whole project.
func (g *globals) loadProject(args []string) (*loaded, error) {
	lib, err := g.open()
	if err != nil {
		return nil, err
	}
	st, names, err := lib.Desired(args)
	if err != nil {
		return nil, g.fail(err)
	}
	sd, err := lib.StateDir()
	if err != nil {
		return nil, g.fail(err)
	}
	return &loaded{lib: lib, cfg: lib.Config(), sd: sd, st: st, targets: names}, nil
}

// resolveGPUs decides what each container that asks for GPUs receives on
// this host and adds it to its spec.
func (g *globals) resolveGPUs(p *loaded, e runtime.Engine) error {
	_, err := project.ResolveGPUs(g.ctx, p.st, e, gpu.LocalHost())
	return g.fail(err)
}

// engineError adds a hint to an error from the engine.
func (g *globals) engineError(err error) error { return g.fail(err) }

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

// lockProject takes the project's apply lock for command, waiting for
// another berth with a message, or, with noWait, failing at once.
func (g *globals) lockProject(sd *state.Dir, command string, noWait bool) (*state.Lock, error) {
	lock, err := project.Lock(g.ctx, sd, command, noWait, g.printEvent)
	return lock, g.fail(err)
}

// selected is the part of the desired state the command's targets name;
// the whole state when there are none.
func (p *loaded) selected() *desired.State {
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

// fail turns an error of the library into what the CLI prints: the
// message, a hint and an exit code. Config problems are printed here, one
// by one.
func (g *globals) fail(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	var ces config.Errors
	if errors.As(err, &ces) || errors.Is(err, config.ErrNoConfig) {
		return g.configError(err)
	}
	var te *config.TargetError
	if errors.As(err, &te) {
		return withHint(err, ExitFailure, te.Hint)
	}
	var re *project.RecipeError
	if errors.As(err, &re) {
		return g.recipeErrors(re.File, re.Err)
	}
	var ae *project.ApplyError
	if errors.As(err, &ae) {
		return withHint(ae, ExitFailure, ae.Hint())
	}
	code := ExitFailure
	if errors.Is(err, runtime.ErrUnreachable) {
		code = ExitUnreachable
	}
	hint := project.Hint(err)
	var ge *gpu.Error
	if hint == "" && errors.As(err, &ge) {
		hint = ge.Hint
	}
	if hint == "" && errors.Is(err, context.Canceled) {
		hint = "interrupted; run the command again to converge"
	}
	return withHint(err, code, hint)
}

// flattenErrors unfolds joined errors.
func flattenErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenErrors(e)...)
		}
		return out
	}
	return []error{err}
}
