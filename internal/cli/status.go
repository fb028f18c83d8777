package cli

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/health"
	"github.com/voidnxlabs/berth/runtime"
)

func init() { register(newStatusCmd) }

// containerStatus is one row of berth status; its JSON form is stable.
type containerStatus struct {
	Name    string `json:"name"`
	Kit     string `json:"kit"`
	Service string `json:"service"`
	// State is the engine's state (running, exited, …), "missing" when the
	// container does not exist and "orphan" for a container the project
	// owns that the config no longer has.
	State    string     `json:"state"`
	ExitCode int        `json:"exitCode,omitempty"`
	Health   string     `json:"health"` // healthy, starting, unhealthy, none, -
	Detail   string     `json:"healthDetail,omitempty"`
	UpToDate bool       `json:"upToDate"` // config hash matches
	Address  netip.Addr `json:"address,omitzero"`
	Ports    []string   `json:"ports"`
	GPU      string     `json:"gpu,omitempty"`
	Started  time.Time  `json:"startedAt,omitzero"`
	Uptime   string     `json:"uptime,omitempty"`
	Image    string     `json:"image"`
	// Resources are the limits the engine reports (0 is unlimited).
	Resources runtime.Resources `json:"resources"`
}

func newStatusCmd(g *globals) *cobra.Command {
	var watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "status [TARGET...]",
		Short: "Show the project's containers: state, health, address, ports, GPU, uptime",
		Long: `status lists the containers of the config and what the engine has of them:
state, health (berth's own check, run from the host against the
container's address), address, ports, GPU request, uptime and image.
A container whose config changed since it was created is marked with *
(up will recreate it); one the config no longer has shows as orphan.`,
		Example: `  berth status
  berth status ml --json
  berth status --watch`,
		ValidArgsFunction: completeTargets(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if watch && interval <= 0 {
				return withHint(fmt.Errorf("--interval %s is not a positive duration", interval), ExitFailure, "for example --interval 5s")
			}
			p, err := g.loadProject(args)
			if err != nil {
				return err
			}
			e, err := g.engine(p.cfg)
			if err != nil {
				return err
			}
			defer e.Close()
			for {
				rows, err := collectStatus(g.ctx, e, p.st, p.targets)
				if err != nil {
					return g.engineError(err)
				}
				if g.json {
					if err := g.printJSON(rows); err != nil {
						return err
					}
				} else {
					if watch && isTerminal(g.stdout) {
						fmt.Fprint(g.stdout, "\x1b[H\x1b[2J")
					}
					printStatus(g, rows)
				}
				if !watch {
					return nil
				}
				select {
				case <-g.ctx.Done():
					return nil
				case <-time.After(interval):
				}
				if !isTerminal(g.stdout) && !g.json {
					fmt.Fprintln(g.stdout)
				}
			}
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "refresh until interrupted")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "time between refreshes with --watch")
	addJSON(cmd, g)
	return cmd
}

func printStatus(g *globals, rows []containerStatus) {
	if len(rows) == 0 {
		fmt.Fprintln(g.stderr, "berth: no containers in the config; enable a kit or service and run 'berth up'")
		return
	}
	// The LIMITS column appears only when some container has limits.
	limits := false
	for _, r := range rows {
		limits = limits || limitString(r.Resources) != ""
	}
	head := []string{"NAME", "KIT", "STATE", "HEALTH", "ADDRESS", "PORTS", "GPU", "UPTIME", "IMAGE"}
	if limits {
		head = append(head, "LIMITS")
	}
	out := [][]string{head}
	for _, r := range rows {
		st := r.State
		if r.State == runtime.StateExited {
			st += " (" + strconv.Itoa(r.ExitCode) + ")"
		}
		if !r.UpToDate && r.State != "missing" && r.State != "orphan" {
			st += "*"
		}
		addr := "-"
		if r.Address.IsValid() {
			addr = r.Address.String()
		}
		row := []string{r.Name, dashIfEmpty(r.Kit), st, r.Health, addr, dashIfEmpty(strings.Join(r.Ports, ",")),
			dashIfEmpty(r.GPU), dashIfEmpty(r.Uptime), r.Image}
		if limits {
			row = append(row, dashIfEmpty(limitString(r.Resources)))
		}
		out = append(out, row)
	}
	writeRows(g.stdout, out)
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// collectStatus observes the project's containers and probes the health
// of those running, all probes at once.
func collectStatus(ctx context.Context, e runtime.Engine, st *desired.State, targets []string) ([]containerStatus, error) {
	obs, err := e.ListContainers(ctx, map[string]string{runtime.LabelProject: st.Project})
	if err != nil {
		return nil, err
	}
	have := map[string]runtime.Container{}
	for _, c := range obs {
		have[c.Name] = c
	}
	want := map[string]bool{}
	for _, t := range targets {
		want[t] = true
	}
	var rows []containerStatus
	var probes []func()
	var mu sync.Mutex
	for i := range st.Containers {
		dc := &st.Containers[i]
		if len(want) > 0 && !want[dc.Spec.Name] {
			continue
		}
		r := containerStatus{Name: dc.Spec.Name, Kit: dc.Kit, Service: dc.Service, Address: dc.Address,
			Image: dc.Spec.Image, State: "missing", Health: "-", Resources: dc.Spec.Resources}
		if dc.GPU != nil {
			r.GPU = dc.GPU.String()
		}
		for _, p := range dc.Listen {
			r.Ports = append(r.Ports, strconv.Itoa(int(p)))
		}
		for _, p := range dc.Spec.Ports {
			r.Ports = append(r.Ports, fmt.Sprintf("%s->%d", netip.AddrPortFrom(p.HostIP, p.HostPort), p.ContainerPort))
		}
		if oc, ok := have[dc.Spec.Name]; ok {
			fillObserved(&r, oc)
			r.UpToDate = oc.Labels[runtime.LabelConfigHash] == dc.Hash
			if oc.State == runtime.StateRunning {
				idx := len(rows)
				addr, h, started := dc.Address, dc.Health, oc.StartedAt
				engineHealth := oc.Health
				probes = append(probes, func() {
					s, detail := probeHealth(ctx, health.Prober(e), addr, h, started, engineHealth)
					mu.Lock()
					rows[idx].Health, rows[idx].Detail = s, detail
					mu.Unlock()
				})
			}
		}
		rows = append(rows, r)
	}
	if len(want) == 0 {
		// What the project owns and the config no longer has.
		known := map[string]bool{}
		for _, c := range st.Containers {
			known[c.Spec.Name] = true
		}
		for _, oc := range obs {
			if known[oc.Name] {
				continue
			}
			r := containerStatus{Name: oc.Name, Kit: oc.Labels[runtime.LabelKit], Service: oc.Labels[runtime.LabelService],
				Image: oc.Image, Health: "-"}
			fillObserved(&r, oc)
			r.State = "orphan"
			rows = append(rows, r)
		}
	}
	var wg sync.WaitGroup
	for _, f := range probes {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	wg.Wait()
	slices.SortFunc(rows, func(a, b containerStatus) int { return strings.Compare(a.Name, b.Name) })
	if rows == nil {
		rows = []containerStatus{}
	}
	return rows, nil
}

func fillObserved(r *containerStatus, oc runtime.Container) {
	r.State = oc.State
	r.ExitCode = oc.ExitCode
	r.Resources = oc.Resources
	if oc.Health != "" {
		r.Health = oc.Health
	}
	if !r.Address.IsValid() {
		for _, a := range oc.Networks {
			r.Address = a
			break
		}
	}
	if oc.State == runtime.StateRunning && !oc.StartedAt.IsZero() {
		r.Started = oc.StartedAt
		r.Uptime = humanDuration(time.Since(oc.StartedAt))
	}
}

// probeHealth runs berth's own check once. A failure inside the check's
// start period reads as "starting": a model that is still loading is not
// unhealthy.
func probeHealth(ctx context.Context, probe func(context.Context, netip.Addr, *desired.Health) error, addr netip.Addr, h *desired.Health, started time.Time, engineHealth string) (string, string) {
	if h == nil {
		if engineHealth != "" {
			return engineHealth, ""
		}
		return "none", ""
	}
	hc := *h
	if hc.Timeout <= 0 || hc.Timeout > time.Second {
		hc.Timeout = time.Second
	}
	err := probe(ctx, addr, &hc)
	if err == nil {
		return "healthy", ""
	}
	grace := h.StartPeriod
	if grace <= 0 {
		grace = 10 * time.Second
	}
	if time.Since(started) < grace {
		return "starting", err.Error()
	}
	return "unhealthy", err.Error()
}

// humanDuration prints a duration the way people read uptimes: 45s, 12m,
// 3h20m, 2d4h.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m"
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// limitString prints resource limits compactly: mem=4GiB,cpus=2,pids=512.
// The engine's default shm size (64 MiB) is not a limit anyone set, so
// only other sizes show.
func limitString(r runtime.Resources) string {
	var parts []string
	if r.MemoryBytes > 0 {
		parts = append(parts, "mem="+bytesString(r.MemoryBytes))
	}
	if r.NanoCPUs > 0 {
		parts = append(parts, "cpus="+strconv.FormatFloat(float64(r.NanoCPUs)/1e9, 'f', -1, 64))
	}
	if r.ShmBytes > 0 && r.ShmBytes != 64<<20 {
		parts = append(parts, "shm="+bytesString(r.ShmBytes))
	}
	if r.PidsLimit > 0 {
		parts = append(parts, "pids="+strconv.FormatInt(r.PidsLimit, 10))
	}
	return strings.Join(parts, ",")
}

func bytesString(n int64) string {
	for _, u := range []struct {
		s string
		n int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.n && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
