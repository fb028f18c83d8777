package project

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/health"
	"github.com/voidnxlabs/berth/runtime"
)

// ContainerStatus is one container of Status; its JSON form is what
// `berth status --json` prints, and it is stable.
type ContainerStatus struct {
	Name    string `json:"name"`
	Kit     string `json:"kit"`
	Service string `json:"service"`
	// State is the engine's state (running, exited, …), StateMissing when
	// the container does not exist and StateOrphan for a container the
	// project owns that the config no longer has.
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
	// Restarts counts the engine's restarts of the container under its
	// restart policy since it was created.
	Restarts int `json:"restarts"`
	// Usage is a running container's resource use, when asked for
	// (StatusOptions.Usage) and the engine reports it.
	Usage *runtime.Stats `json:"usage,omitempty"`
}

// States Status reports besides the engine's.
const (
	StateMissing = "missing"
	StateOrphan  = "orphan"
)

// StatusOptions tune Status.
type StatusOptions struct {
	// Targets select containers; empty means the whole project, with the
	// orphans (containers the project owns that the config no longer has).
	Targets []string
	// Usage asks the engine for each running container's CPU time, memory
	// and processes (engines with the runtime.StatsReader capability).
	Usage bool
}

// Status lists the containers of the config and what the engine has of
// them, sorted by name. The health of running containers is berth's own
// check, run from the host against the container's address, all at once.
func (p *Project) Status(ctx context.Context, o StatusOptions) ([]ContainerStatus, error) {
	st, names, err := p.Desired(o.Targets)
	if err != nil {
		return nil, err
	}
	e, err := p.Engine(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := p.status(ctx, e, st, names, o.Usage)
	if err != nil {
		return nil, engineError(err)
	}
	return rows, nil
}

func (p *Project) status(ctx context.Context, e runtime.Engine, st *desired.State, targets []string, usage bool) ([]ContainerStatus, error) {
	stats, _ := e.(runtime.StatsReader)
	if !usage {
		stats = nil
	}
	obs, err := e.ListContainers(ctx, map[string]string{runtime.LabelProject: st.Project})
	if err != nil {
		return nil, err
	}
	have := map[string]runtime.Container{}
	for _, c := range obs {
		have[c.Name] = c
	}
	probe := p.probe(e)
	var rows []ContainerStatus
	var probes []func()
	var mu sync.Mutex
	for i := range st.Containers {
		dc := &st.Containers[i]
		if targets != nil && !slices.Contains(targets, dc.Spec.Name) {
			continue
		}
		r := ContainerStatus{Name: dc.Spec.Name, Kit: dc.Kit, Service: dc.Service, Address: dc.Address,
			Image: dc.Spec.Image, State: StateMissing, Health: "-", Resources: dc.Spec.Resources}
		if dc.GPU != nil {
			r.GPU = dc.GPU.String()
		}
		for _, port := range dc.Listen {
			r.Ports = append(r.Ports, strconv.Itoa(int(port)))
		}
		for _, port := range dc.Spec.Ports {
			r.Ports = append(r.Ports, fmt.Sprintf("%s->%d", netip.AddrPortFrom(port.HostIP, port.HostPort), port.ContainerPort))
		}
		if oc, ok := have[dc.Spec.Name]; ok {
			fillObserved(&r, oc)
			r.UpToDate = oc.Labels[runtime.LabelConfigHash] == dc.Hash
			if oc.State == runtime.StateRunning {
				idx := len(rows)
				addr, h, started := dc.Address, dc.Health, oc.StartedAt
				engineHealth := oc.Health
				probes = append(probes, func() {
					s, detail := probeHealth(ctx, probe, addr, h, started, engineHealth)
					mu.Lock()
					rows[idx].Health, rows[idx].Detail = s, detail
					mu.Unlock()
				})
				if stats != nil {
					id := oc.ID
					probes = append(probes, func() {
						// A container that stopped since the list has no
						// sample: its row simply has none.
						if u, err := stats.Stats(ctx, id); err == nil {
							mu.Lock()
							rows[idx].Usage = &u
							mu.Unlock()
						}
					})
				}
			}
		}
		rows = append(rows, r)
	}
	if targets == nil {
		known := map[string]bool{}
		for _, c := range st.Containers {
			known[c.Spec.Name] = true
		}
		for _, oc := range obs {
			if known[oc.Name] {
				continue
			}
			r := ContainerStatus{Name: oc.Name, Kit: oc.Labels[runtime.LabelKit], Service: oc.Labels[runtime.LabelService],
				Image: oc.Image, Health: "-"}
			fillObserved(&r, oc)
			r.State = StateOrphan
			rows = append(rows, r)
		}
	}
	var wg sync.WaitGroup
	for _, f := range probes {
		wg.Go(f)
	}
	wg.Wait()
	slices.SortFunc(rows, func(a, b ContainerStatus) int { return strings.Compare(a.Name, b.Name) })
	if rows == nil {
		rows = []ContainerStatus{}
	}
	return rows, nil
}

func fillObserved(r *ContainerStatus, oc runtime.Container) {
	r.State = oc.State
	r.ExitCode = oc.ExitCode
	r.Restarts = oc.RestartCount
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
		r.Uptime = HumanDuration(time.Since(oc.StartedAt))
	}
}

// probeHealth runs berth's own check once, quickly (a second at most: a
// status lists many). A failure inside the check's start period reads as
// "starting": a model that is still loading is not unhealthy. Without a
// check of berth's, the engine's own health is shown.
func probeHealth(ctx context.Context, probe health.ProbeFunc, addr netip.Addr, h *desired.Health, started time.Time, engineHealth string) (string, string) {
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
	r := health.Check(ctx, probe, addr, &hc, started)
	if r.Err != nil {
		return string(r.State), r.Err.Error()
	}
	return string(r.State), ""
}

// HumanDuration prints a duration the way people read uptimes: 45s, 12m,
// 3h20m, 2d4h.
func HumanDuration(d time.Duration) string {
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
