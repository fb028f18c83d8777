package cli

import (
	"context"
	"errors"
	"os"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/gpu"
	"github.com/voidnxlabs/berth/project"
	"github.com/voidnxlabs/berth/runtime"
)

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
