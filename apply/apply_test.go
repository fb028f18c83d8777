package apply_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/apply"
	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/plan/plantest"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/fake"
)

const image = "berth-test/app:latest"

func healthy(context.Context, netip.Addr, *desired.Health) error { return nil }

func state(data string, mut ...func([]plantest.Kit)) desired.State {
	k := []plantest.Kit{
		{Name: "ml", Subnet: "10.213.200.0/24", Services: []plantest.Service{
			{Name: "ollama", IP: 11, Port: 11434, Health: true, Data: []string{data + "/models"}},
			{Name: "jupyter", IP: 12, Port: 8888},
			{Name: "vllm", IP: 14, Port: 8000},
		}},
		{Name: "dev", Subnet: "10.213.210.0/24", Services: []plantest.Service{
			{Name: "chat-ui", IP: 12, Port: 3000, Connect: []string{"ml"}, DependsOn: []desired.Dependency{
				{Name: "ml-ollama", Condition: desired.ConditionHealthy},
			}},
			{Name: "postgres", IP: 15, Port: 5432, Data: []string{data + "/pg"}},
		}},
	}
	for _, m := range mut {
		m(k)
	}
	return plantest.State("proj", k...)
}

func newFake() *fake.Engine {
	e := fake.New()
	e.AddImage(image, "sha256:1111111111111111111111111111111111111111111111111111111111111111")
	return e
}

func computePlan(t *testing.T, e runtime.Engine, d desired.State, opts plan.Options) *plan.Plan {
	t.Helper()
	obs, err := plan.Observe(t.Context(), e, d)
	if err != nil {
		t.Fatal(err)
	}
	return plan.Compute(d, obs, opts)
}

// converge applies until the plan is empty, which must take one apply.
func converge(t *testing.T, e runtime.Engine, d desired.State) {
	t.Helper()
	p := computePlan(t, e, d, plan.Options{})
	if _, err := apply.Run(t.Context(), e, p, apply.Options{Probe: healthy}); err != nil {
		t.Fatalf("apply:\n%s\nerror: %v", p, err)
	}
	if p := computePlan(t, e, d, plan.Options{}); !p.Empty() {
		t.Fatalf("plan after a successful apply:\n%s", p)
	}
}

// TestCrashMidApply fails one engine call at a time, at every point of a
// first apply; the next plan and apply must converge.
func TestCrashMidApply(t *testing.T) {
	for _, op := range []string{"CreateNetwork", "CreateContainer", "StartContainer", "Connect", "InspectContainer"} {
		for nth := 1; nth <= 5; nth++ {
			t.Run(op+"/"+string(rune('0'+nth)), func(t *testing.T) {
				e := newFake()
				d := state(t.TempDir())
				e.Fail(op, nth, errors.New("injected crash"))
				p := computePlan(t, e, d, plan.Options{})
				res, err := apply.Run(t.Context(), e, p, apply.Options{Probe: healthy})
				if e.Calls(op) >= nth && err == nil {
					t.Fatalf("apply succeeded despite the fault")
				}
				if err != nil && len(res.Failed) == 0 {
					t.Errorf("error %v but no failed op", err)
				}
				converge(t, e, d)
			})
		}
	}
}

// TestCancel stops an apply halfway: what was made carries its labels, no
// new work starts, and the next apply converges.
func TestCancel(t *testing.T) {
	e := newFake()
	d := state(t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	e.Hook = func(op, target string) error {
		if op == "CreateContainer" && target == "ml-jupyter" {
			cancel()
		}
		return nil
	}
	p := computePlan(t, e, d, plan.Options{})
	res, err := apply.Run(ctx, e, p, apply.Options{Parallel: 1, Probe: healthy})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(res.Skipped) == 0 {
		t.Errorf("nothing skipped after cancel")
	}
	e.Hook = nil
	all, err := e.ListContainers(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range all {
		if c.Labels[runtime.LabelProject] != "proj" || c.Labels[runtime.LabelConfigHash] == "" {
			t.Errorf("container %s lacks its labels: %v", c.Name, c.Labels)
		}
	}
	converge(t, e, d)
}

func TestParallelBound(t *testing.T) {
	for _, parallel := range []int{1, 2, 4} {
		e := newFake()
		d := state(t.TempDir())
		var running, peak atomic.Int32
		p := computePlan(t, e, d, plan.Options{})
		_, err := apply.Run(t.Context(), e, p, apply.Options{Parallel: parallel, Probe: healthy, Events: func(ev apply.Event) {
			switch ev.Phase {
			case apply.Started:
				if n := running.Add(1); n > peak.Load() {
					peak.Store(n)
				}
			case apply.Done, apply.Failed:
				running.Add(-1)
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		if int(peak.Load()) > parallel {
			t.Errorf("Parallel %d: %d ops ran at once", parallel, peak.Load())
		}
	}
}

// TestDependencyOrder checks that a dependent starts only after its
// dependency is healthy, and is skipped when it never gets there.
func TestDependencyOrder(t *testing.T) {
	e := newFake()
	d := state(t.TempDir())
	var order []string
	p := computePlan(t, e, d, plan.Options{})
	_, err := apply.Run(t.Context(), e, p, apply.Options{Probe: healthy, Events: func(ev apply.Event) {
		if ev.Phase == apply.Done {
			order = append(order, ev.Op.ID)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	idx := func(id string) int {
		for i, o := range order {
			if o == id {
				return i
			}
		}
		t.Fatalf("%s not done: %v", id, order)
		return -1
	}
	if !(idx("create:ml-ollama") < idx("wait:ml-ollama") && idx("wait:ml-ollama") < idx("create:dev-chat-ui")) {
		t.Errorf("order = %v", order)
	}

	// Unhealthy: the dependent is not started.
	e2 := newFake()
	p = computePlan(t, e2, d, plan.Options{})
	res, err := apply.Run(t.Context(), e2, p, apply.Options{
		HealthTimeout: 200 * time.Millisecond,
		Probe:         func(context.Context, netip.Addr, *desired.Health) error { return errors.New("connection refused") },
	})
	if err == nil || !strings.Contains(err.Error(), "not healthy") {
		t.Fatalf("err = %v, want a health failure", err)
	}
	var opErr *apply.OpError
	if !errors.As(err, &opErr) || opErr.Op.ID != "wait:ml-ollama" {
		t.Errorf("failed op = %v", opErr)
	}
	for _, o := range res.Skipped {
		if o.ID == "create:dev-chat-ui" {
			return
		}
	}
	t.Errorf("create:dev-chat-ui not skipped: %v", res.Skipped)
}

// TestStaleEndpoints: a network recreate meets endpoints a crash left
// behind; they are disconnected and the network goes.
func TestStaleEndpoints(t *testing.T) {
	e := newFake()
	data := t.TempDir()
	converge(t, e, state(data))
	if err := e.AddStaleEndpoint("proj-ml", "deadbeefdeadbeefdeadbeef", netip.MustParseAddr("10.213.200.99")); err != nil {
		t.Fatal(err)
	}
	moved := state(data, func(k []plantest.Kit) { k[0].Subnet = "10.213.201.0/24" })
	converge(t, e, moved)

	// Endpoints that stay: the error says what to do.
	e.Hook = func(op, target string) error {
		if op == "RemoveNetwork" {
			return runtime.ErrInUse
		}
		return nil
	}
	back := state(data)
	p := computePlan(t, e, back, plan.Options{})
	_, err := apply.Run(t.Context(), e, p, apply.Options{Probe: healthy})
	if err == nil || !strings.Contains(err.Error(), "moby#42119") || !strings.Contains(err.Error(), "restart the Docker daemon") {
		t.Errorf("err = %v, want an explanation of stale endpoints", err)
	}
}

// addressLiar reports every container at a wrong address.
type addressLiar struct{ *fake.Engine }

func (a addressLiar) InspectContainer(ctx context.Context, name string) (runtime.Container, error) {
	c, err := a.Engine.InspectContainer(ctx, name)
	for n := range c.Networks {
		c.Networks[n] = netip.MustParseAddr("10.213.200.250")
	}
	return c, err
}

func TestAddressMismatch(t *testing.T) {
	e := addressLiar{newFake()}
	d := state(t.TempDir())
	p := computePlan(t, e, d, plan.Options{Targets: []string{"ml-jupyter"}})
	_, err := apply.Run(t.Context(), e, p, apply.Options{Probe: healthy})
	if err == nil || !strings.Contains(err.Error(), "got address 10.213.200.250") {
		t.Errorf("err = %v, want an address mismatch", err)
	}
}

// TestDataPaths: missing paths are made with owner and mode; existing ones
// are left alone; down keeps them.
func TestDataPaths(t *testing.T) {
	e := newFake()
	data := t.TempDir()
	existing := filepath.Join(data, "pg")
	if err := os.Mkdir(existing, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(existing, "PG_VERSION"), []byte("16\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := state(data)
	converge(t, e, d)
	fi, err := os.Stat(filepath.Join(data, "models"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o750 {
		t.Errorf("mode = %v, want 0750", fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 && (st.Uid != 1000 || st.Gid != 1000) {
		t.Errorf("owner = %d:%d, want 1000:1000", st.Uid, st.Gid)
	}
	if fi, _ := os.Stat(existing); fi.Mode().Perm() != 0o700 {
		t.Errorf("existing path changed mode to %v", fi.Mode().Perm())
	}

	p := computePlan(t, e, d, plan.Options{Action: plan.ActionDown})
	if _, err := apply.Run(t.Context(), e, p, apply.Options{}); err != nil {
		t.Fatal(err)
	}
	if cs, _ := e.ListContainers(t.Context(), nil); len(cs) != 0 {
		t.Errorf("after down: %d containers", len(cs))
	}
	if ns, _ := e.ListNetworks(t.Context(), nil); len(ns) != 0 {
		t.Errorf("after down: %d networks", len(ns))
	}
	if _, err := os.Stat(filepath.Join(existing, "PG_VERSION")); err != nil {
		t.Errorf("data after down: %v", err)
	}
}

// TestUnreachableStops checks that an engine that stops answering ends the
// run at once: one failure, everything else skipped with the reason.
func TestUnreachableStops(t *testing.T) {
	e := newFake()
	d := state(t.TempDir())
	p := computePlan(t, e, d, plan.Options{})
	e.Fail("CreateNetwork", 1, fmt.Errorf("%w: connection refused", runtime.ErrUnreachable))
	e.Fail("CreateNetwork", 2, fmt.Errorf("%w: connection refused", runtime.ErrUnreachable))
	res, err := apply.Run(t.Context(), e, p, apply.Options{Probe: healthy, Parallel: 1})
	if !errors.Is(err, runtime.ErrUnreachable) {
		t.Fatalf("error %v, want ErrUnreachable", err)
	}
	if len(res.Failed) != 1 {
		t.Errorf("%d failures, want 1: nothing may start after the engine is gone", len(res.Failed))
	}
	for _, o := range res.Done {
		if o.Kind != plan.EnsurePath {
			t.Errorf("%s ran after the engine was gone", o.ID)
		}
	}
	if n := len(res.Done) + len(res.Failed) + len(res.Skipped); n != len(p.Ops) {
		t.Errorf("%d of %d operations accounted for", n, len(p.Ops))
	}
	if strings.Contains(err.Error(), "dependency cycle") {
		t.Errorf("blamed a cycle: %v", err)
	}
}
