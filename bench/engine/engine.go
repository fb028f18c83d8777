package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/voidnxlabs/berth/apply"
	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/project"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/docker"
)

// callStat sums the engine calls of one kind.
type callStat struct {
	N     int
	Total time.Duration
	Max   time.Duration
}

// timed wraps an engine and times every call berth's up makes, so that a
// slow run says which calls it waited on.
type timed struct {
	runtime.Engine
	mu    sync.Mutex
	calls map[string]*callStat
}

func newTimed(e runtime.Engine) *timed { return &timed{Engine: e, calls: map[string]*callStat{}} }

func (t *timed) rec(name string, start time.Time) {
	d := time.Since(start)
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.calls[name]
	if s == nil {
		s = &callStat{}
		t.calls[name] = s
	}
	s.N++
	s.Total += d
	s.Max = max(s.Max, d)
}

func (t *timed) ListNetworks(ctx context.Context, l map[string]string) ([]runtime.Network, error) {
	defer t.rec("ListNetworks", time.Now())
	return t.Engine.ListNetworks(ctx, l)
}

func (t *timed) CreateNetwork(ctx context.Context, s runtime.NetworkSpec) (string, error) {
	defer t.rec("CreateNetwork", time.Now())
	return t.Engine.CreateNetwork(ctx, s)
}

func (t *timed) ListContainers(ctx context.Context, l map[string]string) ([]runtime.Container, error) {
	defer t.rec("ListContainers", time.Now())
	return t.Engine.ListContainers(ctx, l)
}

func (t *timed) InspectContainer(ctx context.Context, id string) (runtime.Container, error) {
	defer t.rec("InspectContainer", time.Now())
	return t.Engine.InspectContainer(ctx, id)
}

func (t *timed) CreateContainer(ctx context.Context, s runtime.ContainerSpec) (string, error) {
	defer t.rec("CreateContainer", time.Now())
	return t.Engine.CreateContainer(ctx, s)
}

func (t *timed) StartContainer(ctx context.Context, id string) error {
	defer t.rec("StartContainer", time.Now())
	return t.Engine.StartContainer(ctx, id)
}

func (t *timed) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	defer t.rec("InspectImage", time.Now())
	return t.Engine.InspectImage(ctx, ref)
}

// libRun is one berth up through the library.
type libRun struct {
	Total  time.Duration
	Phases map[string]time.Duration // compile, connect, plan, apply
	Ops    int
	Calls  map[string]callStat
	// MaxAtOnce is the most container operations apply ran at once.
	MaxAtOnce int
}

var phaseOrder = []string{"compile", "connect", "plan", "apply"}

// berthUp runs berth's up for w through the library, as the CLI does
// (project.Up), timing each phase: open the generated berth.yaml and
// compile it, connect to the engine, plan (lock, observe, compute: up to
// the first operation) and apply (to the end, generation included).
// parallel 0 leaves apply's default.
func berthUp(ctx context.Context, w Workload, parallel int) (libRun, error) {
	r := libRun{Phases: map[string]time.Duration{}}
	start := time.Now()
	dir, err := os.MkdirTemp("", "berth-bench-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "berth.yaml")
	if err := os.WriteFile(file, w.BerthYAML(), 0o644); err != nil {
		return r, err
	}
	de, err := docker.New(ctx)
	if err != nil {
		return r, err
	}
	defer de.Close()
	connected := time.Now()
	r.Phases["connect"] = connected.Sub(start)
	e := newTimed(de)
	p, err := project.Open(ctx, project.Options{ConfigFile: file, StateDir: filepath.Join(dir, "state"), Engine: e})
	if err != nil {
		return r, err
	}
	defer p.Close()
	if _, _, err := p.Desired(nil); err != nil {
		return r, err
	}
	upStart := time.Now()
	r.Phases["compile"] = upStart.Sub(connected)
	var applyStart time.Time
	inflight := 0
	events := func(ev project.Event) {
		if ev.Kind != project.EventApply {
			return
		}
		if applyStart.IsZero() {
			applyStart = ev.Time
		}
		if ev.Op.Kind != plan.CreateContainer {
			return
		}
		switch ev.Phase {
		case apply.Started:
			inflight++
			r.MaxAtOnce = max(r.MaxAtOnce, inflight)
		case apply.Done, apply.Failed:
			inflight--
		}
	}
	res, err := p.Up(ctx, project.UpOptions{Parallel: parallel, NoBuild: true, Events: events})
	if err != nil {
		return r, fmt.Errorf("berth up of %s: %w", w.Name, err)
	}
	end := time.Now()
	if applyStart.IsZero() {
		applyStart = end
	}
	r.Phases["plan"] = applyStart.Sub(upStart)
	r.Phases["apply"] = end.Sub(applyStart)
	r.Ops = len(res.Plan.Ops)
	r.Total = end.Sub(start)
	r.Calls = map[string]callStat{}
	for k, v := range e.calls {
		r.Calls[k] = *v
	}
	return r, nil
}

// floorUp makes the containers of st directly through the moby API: the
// network, then each container's create and start, parallel at a time.
// It is what any tool must ask of the engine, and nothing more.
func floorUp(ctx context.Context, c *client.Client, st *desired.State, parallel int) (time.Duration, error) {
	start := time.Now()
	for _, n := range st.Networks {
		_, err := c.NetworkCreate(ctx, n.Spec.Name, client.NetworkCreateOptions{
			Driver: "bridge",
			IPAM:   &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: n.Spec.Subnet, Gateway: n.Spec.Gateway}}},
			Labels: n.Spec.Labels,
		})
		if err != nil {
			return 0, fmt.Errorf("floor: creating network %s: %w", n.Spec.Name, err)
		}
	}
	sem := make(chan struct{}, parallel)
	errs := make([]error, len(st.Containers))
	var wg sync.WaitGroup
	for i, dc := range st.Containers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = floorContainer(ctx, c, dc.Spec)
		}()
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

func floorContainer(ctx context.Context, c *client.Client, s runtime.ContainerSpec) error {
	if len(s.Networks) != 1 || len(s.Ports)+len(s.Mounts)+len(s.Devices)+len(s.GPUs) > 0 {
		return fmt.Errorf("floor: container %s: only plain services on one network are covered", s.Name)
	}
	stop := int(s.StopTimeout / time.Second)
	cfg := &container.Config{Hostname: s.Hostname, Image: s.Image, Entrypoint: s.Entrypoint, Cmd: s.Cmd, Env: s.Env,
		User: s.User, WorkingDir: s.WorkingDir, Labels: s.Labels, StopTimeout: &stop}
	ep := s.Networks[0]
	hc := &container.HostConfig{NetworkMode: container.NetworkMode(ep.Network), RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyMode(s.Restart)}}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		ep.Network: {Aliases: ep.Aliases, IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ep.IP}},
	}}
	res, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: s.Name, Config: cfg, HostConfig: hc, NetworkingConfig: nc})
	if err != nil {
		return fmt.Errorf("floor: creating %s: %w", s.Name, err)
	}
	if _, err := c.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("floor: starting %s: %w", s.Name, err)
	}
	return nil
}

// verify checks that w runs: N containers with its bench label, all
// running, each at its address on its network. Every tool's run is checked
// the same way, outside the timings.
func verify(ctx context.Context, c *client.Client, w Workload) error {
	res, err := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", benchLabel+"="+w.Name)})
	if err != nil {
		return fmt.Errorf("verifying %s: %w", w.Name, err)
	}
	want := map[string]string{}
	for i := range w.N {
		want["/"+w.Container(i)] = w.Addr(i).String()
	}
	var problems []string
	for _, s := range res.Items {
		name := s.Names[0]
		addr, ok := want[name]
		if !ok {
			problems = append(problems, "unexpected container "+name)
			continue
		}
		delete(want, name)
		if s.State != container.StateRunning {
			problems = append(problems, fmt.Sprintf("%s is %s", name, s.State))
		}
		var got string
		if s.NetworkSettings != nil && s.NetworkSettings.Networks[w.Network()] != nil {
			got = s.NetworkSettings.Networks[w.Network()].IPAddress.String()
		}
		if got != addr {
			problems = append(problems, fmt.Sprintf("%s has address %q on %s, want %s", name, got, w.Network(), addr))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		problems = append(problems, "missing container "+name)
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("verifying %s: %s", w.Name, strings.Join(problems, "; "))
	}
	return nil
}

// cleanup removes w's containers and network, whichever tool made them.
// A network the engine keeps stale endpoints on (moby#42119) is left and
// reported: only a restart of the daemon clears those.
func (b *bench) cleanup(ctx context.Context, w Workload) error {
	res, err := b.c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", benchLabel+"="+w.Name)})
	if err != nil {
		return fmt.Errorf("cleaning up %s: %w", w.Name, err)
	}
	var ids []string
	for _, s := range res.Items {
		ids = append(ids, s.ID)
	}
	if err := removeContainers(ctx, b.c, ids); err != nil {
		return fmt.Errorf("cleaning up %s: %w", w.Name, err)
	}
	if _, err := b.c.NetworkRemove(ctx, w.Network(), client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
		if strings.Contains(err.Error(), "active endpoints") {
			fmt.Fprintf(os.Stderr, "bench: network %s keeps stale endpoints after its containers were removed (moby#42119); leaving it\n", w.Network())
			b.leaked = append(b.leaked, w.Network())
			return nil
		}
		return fmt.Errorf("cleaning up %s: %w", w.Name, err)
	}
	return nil
}

// removeContainers stops, then removes containers, a few at a time, as
// berth's and compose's own removals do.
func removeContainers(ctx context.Context, c *client.Client, ids []string) error {
	sem := make(chan struct{}, 4)
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			timeout := 2
			if _, err := c.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &timeout}); err != nil && !isNotFound(err) {
				errs[i] = err
				return
			}
			if _, err := c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil && !isNotFound(err) {
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }
