package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/nspawn"
	"github.com/voidnxlabs/berth/runtime/podman"
	"github.com/voidnxlabs/berth/state"
)

// The engines besides Docker. Their settings come from the environment
// (documented in docs/runtimes.md) until berth.yaml has a runtime section.
func init() {
	engines["podman"] = func(ctx context.Context, g *globals) (runtime.Engine, error) {
		opts := podman.Options{Socket: os.Getenv("BERTH_PODMAN_SOCKET")}
		if v, ok := os.LookupEnv("BERTH_PODMAN_ULIMITS"); ok {
			us, err := parseUlimits(v)
			if err != nil {
				return nil, withHint(fmt.Errorf("BERTH_PODMAN_ULIMITS: %w", err), ExitFailure,
					`write NAME=SOFT:HARD,… (e.g. nofile=4096:4096,nproc=4096:4096), or "none"`)
			}
			opts.Ulimits = us
		}
		return podman.New(ctx, opts)
	}
	engines["nspawn"] = func(ctx context.Context, g *globals) (runtime.Engine, error) {
		root := os.Getenv("BERTH_NSPAWN_ROOT")
		if root == "" && g.stateDir != "" {
			root = filepath.Join(g.stateDir, "nspawn")
		}
		if root == "" {
			root = filepath.Join(state.Default(g.getenv), "nspawn")
		}
		return nspawn.New(ctx, nspawn.Options{Root: root})
	}
}

// parseUlimits reads "nofile=4096:4096,nproc=2048" ("none" or empty for
// no limits). A single number sets soft and hard alike.
func parseUlimits(s string) ([]runtime.Ulimit, error) {
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
