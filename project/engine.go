package project

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/docker"
	"github.com/voidnxlabs/berth/runtime/nspawn"
	"github.com/voidnxlabs/berth/runtime/podman"
	"github.com/voidnxlabs/berth/state"
)

// ConnectOptions are what engine constructors read besides their name.
type ConnectOptions struct {
	// StateDir is the state directory (nspawn keeps its machines under
	// it); empty means state.Default.
	StateDir string
	// Getenv reads the engines' settings (BERTH_PODMAN_SOCKET,
	// BERTH_PODMAN_ULIMITS, BERTH_NSPAWN_ROOT; see docs/runtimes.md).
	Getenv func(string) string
}

// engines holds the constructors of the engines berth can drive, by the
// name used in `runtime:` and --runtime.
var engines = map[string]func(ctx context.Context, o ConnectOptions) (runtime.Engine, error){
	"docker": func(ctx context.Context, o ConnectOptions) (runtime.Engine, error) { return docker.New(ctx) },
	"podman": func(ctx context.Context, o ConnectOptions) (runtime.Engine, error) {
		opts := podman.Options{Socket: o.Getenv("BERTH_PODMAN_SOCKET")}
		if v := o.Getenv("BERTH_PODMAN_ULIMITS"); v != "" {
			us, err := ParseUlimits(v)
			if err != nil {
				return nil, hinted(fmt.Errorf("BERTH_PODMAN_ULIMITS: %w", err),
					`write NAME=SOFT:HARD,… (e.g. nofile=4096:4096,nproc=4096:4096), or "none"`)
			}
			opts.Ulimits = us
		}
		return podman.New(ctx, opts)
	},
	"nspawn": func(ctx context.Context, o ConnectOptions) (runtime.Engine, error) {
		root := o.Getenv("BERTH_NSPAWN_ROOT")
		if root == "" && o.StateDir != "" {
			root = filepath.Join(o.StateDir, "nspawn")
		}
		if root == "" {
			root = filepath.Join(state.Default(o.Getenv), "nspawn")
		}
		return nspawn.New(ctx, nspawn.Options{Root: root})
	},
}

// autoEngines is the order `runtime: auto` tries engines in.
var autoEngines = []string{"docker", "podman"}

// Runtimes lists the engines berth can drive, sorted, without "auto".
func Runtimes() []string {
	var names []string
	for n := range engines {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Connect connects to the engine called name (auto tries Docker, then
// Podman). An engine that does not answer gives an *Error wrapping
// runtime.ErrUnreachable; an unknown name one wrapping ErrUnknownRuntime.
func Connect(ctx context.Context, name string, o ConnectOptions) (runtime.Engine, error) {
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if name == "" || name == "auto" {
		var errs []string
		for _, n := range autoEngines {
			e, err := engines[n](ctx, o)
			if err == nil {
				return e, nil
			}
			errs = append(errs, fmt.Sprintf("%s: %v", n, err))
		}
		return nil, hinted(fmt.Errorf("%w: no container engine answered (%s)", runtime.ErrUnreachable, strings.Join(errs, "; ")),
			"start Docker (systemctl start docker) or Podman (systemctl start podman.socket), or pick one with --runtime; 'berth doctor' checks")
	}
	newEngine, ok := engines[name]
	if !ok {
		return nil, hinted(fmt.Errorf("%w %q", ErrUnknownRuntime, name), "use one of: auto, "+strings.Join(Runtimes(), ", "))
	}
	e, err := newEngine(ctx, o)
	if err != nil {
		if errors.Is(err, runtime.ErrUnreachable) {
			return nil, hinted(err, fmt.Sprintf("start %s and check with 'berth doctor'", name))
		}
		return nil, err
	}
	return e, nil
}

// ParseUlimits reads "nofile=4096:4096,nproc=2048" ("none" or empty for
// no limits). A single number sets soft and hard alike.
func ParseUlimits(s string) ([]runtime.Ulimit, error) {
	out := []runtime.Ulimit{}
	if s = strings.TrimSpace(s); s == "" || s == "none" {
		return out, nil
	}
	for _, f := range strings.Split(s, ",") {
		name, lim, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("%q: want NAME=SOFT:HARD", f)
		}
		soft, hard, two := strings.Cut(lim, ":")
		if !two {
			hard = soft
		}
		sv, err1 := strconv.ParseInt(soft, 10, 64)
		hv, err2 := strconv.ParseInt(hard, 10, 64)
		if err1 != nil || err2 != nil || sv < 0 || hv < sv {
			return nil, fmt.Errorf("%q: want two numbers, soft at most hard", f)
		}
		out = append(out, runtime.Ulimit{Name: name, Soft: sv, Hard: hv})
	}
	return out, nil
}
