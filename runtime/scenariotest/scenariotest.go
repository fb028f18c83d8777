// Package scenariotest runs berth's engine scenarios (first apply, change,
// remove, kill, a lost network, an image update, a subnet move, down, and an
// apply cancelled midway) against any runtime.Engine, through plan and
// apply, checking observed state rather than output.
package scenariotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/apply"
	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/internal/fixture"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/plan/plantest"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/runtimetest"
)

// Options adapts the scenarios to an engine.
type Options struct {
	// Base is a /24 whose third octet the scenarios count up from: they
	// use the /24s at +1, +2, +3, +11 and +12. Pick a range no other test
	// running at the same time uses.
	Base netip.Prefix
	// Kill stops a container the way a crash or `kill -9` would, behind
	// the engine's back. Nil stops it through the engine with no grace.
	Kill func(ctx context.Context, name string) error
	// HealthTimeout bounds each wait for health; 30 s when zero.
	HealthTimeout time.Duration
}

// subnet returns the /24 at Base's third octet + n.
func (o Options) subnet(n byte) string {
	a := o.Base.Masked().Addr().As4()
	a[2] += n
	return netip.PrefixFrom(netip.AddrFrom4(a), 24).String()
}

// scenario is a project on a real engine: two kits of fixture containers
// at fixed addresses.
type scenario struct {
	t       *testing.T
	e       runtime.Engine
	opts    Options
	project string
	prefix  string
	image   string
	data    string
}

// newScenario loads the fixture under a reference of the test's own, which
// the image-update step may move, and removes what the test made.
func newScenario(t *testing.T, e runtime.Engine, opts Options) *scenario {
	if opts.HealthTimeout == 0 {
		opts.HealthTimeout = 30 * time.Second
	}
	b := make([]byte, 3)
	rand.Read(b)
	id := hex.EncodeToString(b)
	s := &scenario{t: t, e: e, opts: opts, project: "berthtest-" + id, prefix: "bt" + id + "-", image: "berthtest-" + id + ":app", data: t.TempDir()}
	fixture.LoadAs(t, e, fixture.Image(t, ""), s.image)
	t.Cleanup(func() {
		runtimetest.Cleanup(t, e, map[string]string{runtime.LabelProject: s.project})
		if err := e.RemoveImage(context.Background(), s.image); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return s
}

func (s *scenario) name(n string) string { return s.prefix + n }

func (s *scenario) kits(mut ...func([]plantest.Kit)) desired.State {
	k := []plantest.Kit{
		{Name: "ml", Subnet: s.opts.subnet(1), Prefix: s.prefix, Services: []plantest.Service{
			{Name: "ollama", Image: s.image, IP: 11, Port: 11434, Health: true, Data: []string{s.data + "/models"}},
			{Name: "jupyter", Image: s.image, IP: 12, Port: 8888, Health: true, Data: []string{s.data + "/notebooks"}},
		}},
		{Name: "dev", Subnet: s.opts.subnet(2), Prefix: s.prefix, Services: []plantest.Service{
			{Name: "chat-ui", Image: s.image, IP: 12, Port: 3000, Health: true, Connect: []string{"ml"}, DependsOn: []desired.Dependency{
				{Name: s.prefix + "ml-ollama", Condition: desired.ConditionHealthy},
			}},
			{Name: "postgres", Image: s.image, IP: 15, Port: 5432, Health: true, Data: []string{s.data + "/pg"}},
		}},
	}
	for _, m := range mut {
		m(k)
	}
	return plantest.State(s.project, k...)
}

func (s *scenario) plan(d desired.State) *plan.Plan {
	s.t.Helper()
	obs, err := plan.Observe(s.t.Context(), s.e, d)
	if err != nil {
		s.t.Fatal(err)
	}
	return plan.Compute(d, obs, plan.Options{})
}

// up applies d, waiting for every container's health, and checks that the
// next plan is empty.
func (s *scenario) up(d desired.State) *plan.Plan {
	s.t.Helper()
	obs, err := plan.Observe(s.t.Context(), s.e, d)
	if err != nil {
		s.t.Fatal(err)
	}
	p := plan.Compute(d, obs, plan.Options{Wait: true})
	s.t.Logf("plan:\n%s", p)
	if _, err := apply.Run(s.t.Context(), s.e, p, apply.Options{HealthTimeout: s.opts.HealthTimeout}); err != nil {
		s.t.Fatalf("apply:\n%s\nerror: %v", p, err)
	}
	if again := s.plan(d); !again.Empty() {
		s.t.Fatalf("plan after a successful apply:\n%s", again)
	}
	return p
}

func (s *scenario) ids() map[string]string {
	s.t.Helper()
	cs, err := s.e.ListContainers(s.t.Context(), map[string]string{runtime.LabelProject: s.project})
	if err != nil {
		s.t.Fatal(err)
	}
	m := map[string]string{}
	for _, c := range cs {
		m[c.Name] = c.ID
	}
	return m
}

// checkRunning checks that every desired container runs at its address and
// answers there.
func (s *scenario) checkRunning(d desired.State) {
	s.t.Helper()
	for _, dc := range d.Containers {
		c, err := s.e.InspectContainer(s.t.Context(), dc.Spec.Name)
		if err != nil {
			s.t.Fatal(err)
		}
		if c.State != runtime.StateRunning {
			s.t.Errorf("%s: state %s", dc.Spec.Name, c.State)
		}
		for _, ep := range dc.Spec.Networks {
			if c.Networks[ep.Network] != ep.IP {
				s.t.Errorf("%s on %s: address %v, want %v", dc.Spec.Name, ep.Network, c.Networks[ep.Network], ep.IP)
			}
		}
		url := fmt.Sprintf("http://%s:%d/health", dc.Address, dc.Health.Port)
		resp, err := http.Get(url)
		if err != nil {
			s.t.Errorf("%s: %v", dc.Spec.Name, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			s.t.Errorf("%s: %s", url, resp.Status)
		}
	}
}

func (s *scenario) kill(name string) {
	s.t.Helper()
	ctx := s.t.Context()
	if s.opts.Kill != nil {
		if err := s.opts.Kill(ctx, name); err != nil {
			s.t.Fatalf("killing %s: %v", name, err)
		}
	} else if err := s.e.StopContainer(ctx, name, 0); err != nil {
		s.t.Fatal(err)
	}
	runtimetest.Eventually(s.t, 10*time.Second, "killed container to exit", func() bool {
		c, err := s.e.InspectContainer(ctx, name)
		return err == nil && c.State == runtime.StateExited
	})
}

// Run runs the life of a project on e: first apply, a changed port, a
// removed service, a killed container, a network removed by hand, a new
// image under the same tag, a subnet move, and down.
func Run(t *testing.T, e runtime.Engine, opts Options) {
	s := newScenario(t, e, opts)
	ctx := t.Context()
	name := s.name

	// First apply of two kits.
	d := s.kits()
	s.up(d)
	s.checkRunning(d)
	for _, p := range []string{"models", "notebooks", "pg"} {
		if _, err := os.Stat(filepath.Join(s.data, p)); err != nil {
			t.Errorf("data path: %v", err)
		}
	}
	keep := filepath.Join(s.data, "notebooks", "analysis.ipynb")
	if err := os.WriteFile(keep, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Change one port: exactly one container is recreated.
	before := s.ids()
	d = s.kits(func(k []plantest.Kit) { k[0].Services[0].Port = 11435 })
	p := s.up(d)
	if len(p.Ops) != 2 || p.Op("recreate:"+name("ml-ollama")) == nil || p.Op("wait:"+name("ml-ollama")) == nil {
		t.Errorf("port change plan:\n%s", p)
	}
	after := s.ids()
	for n, id := range before {
		if changed := after[n] != id; changed != (n == name("ml-ollama")) {
			t.Errorf("%s: recreated = %v", n, changed)
		}
	}
	s.checkRunning(d)

	// Remove a service: it is gone and its data stays.
	d = s.kits(func(k []plantest.Kit) {
		k[0].Services[0].Port = 11435
		k[0].Services = k[0].Services[:1]
	})
	s.up(d)
	if _, err := e.InspectContainer(ctx, name("ml-jupyter")); err == nil {
		t.Errorf("removed service still has a container")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("data of the removed service: %v", err)
	}

	// Kill a container behind the engine's back: the next up starts it.
	s.kill(name("dev-postgres"))
	p = s.plan(d)
	if op := p.Op("start:" + name("dev-postgres")); op == nil || len(p.Ops) != 1 {
		t.Errorf("plan after a kill:\n%s", p)
	}
	s.up(d)
	s.checkRunning(d)

	// Remove a network by hand: the next up makes it and its containers.
	for _, c := range []string{"ml-ollama", "dev-chat-ui"} {
		if err := e.StopContainer(ctx, name(c), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.RemoveNetwork(ctx, plantest.Network(s.project, "ml")); err != nil {
		t.Fatal(err)
	}
	p = s.up(d)
	if p.Op("create-network:"+plantest.Network(s.project, "ml")) == nil {
		t.Errorf("plan after a network removal:\n%s", p)
	}
	s.checkRunning(d)

	// A new image under the same tag recreates every container.
	fixture.LoadAs(t, e, fixture.Image(t, "v2-"+s.project), s.image)
	p = s.plan(d)
	if got := p.Summary()[plan.Recreate]; got != len(d.Containers) {
		t.Errorf("plan after an image update:\n%s", p)
	}
	s.up(d)

	// A subnet change recreates the network with its containers.
	d = s.kits(func(k []plantest.Kit) {
		k[0].Services[0].Port = 11435
		k[0].Services = k[0].Services[:1]
		k[0].Subnet = s.opts.subnet(3)
	})
	s.up(d)
	s.checkRunning(d)

	// Down removes everything; the data stays.
	obs, err := plan.Observe(ctx, e, d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apply.Run(ctx, e, plan.Compute(d, obs, plan.Options{Action: plan.ActionDown}), apply.Options{}); err != nil {
		t.Fatal(err)
	}
	if ids := s.ids(); len(ids) != 0 {
		t.Errorf("after down: %v", ids)
	}
	if ns, _ := e.ListNetworks(ctx, map[string]string{runtime.LabelProject: s.project}); len(ns) != 0 {
		t.Errorf("networks after down: %v", ns)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("data after down: %v", err)
	}
}

// Cancel stops an apply after its first container, as Ctrl-C or a killed
// berth would; the next apply converges and nothing it made lacks its
// labels.
func Cancel(t *testing.T, e runtime.Engine, opts Options) {
	s := newScenario(t, e, opts)
	d := s.kits(func(k []plantest.Kit) {
		// Away from Run's subnets: both may run at once.
		k[0].Subnet, k[1].Subnet = s.opts.subnet(11), s.opts.subnet(12)
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	p := s.plan(d)
	_, err := apply.Run(ctx, e, p, apply.Options{Parallel: 1, Events: func(ev apply.Event) {
		if ev.Phase == apply.Done && ev.Op.Kind == plan.CreateContainer {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := len(s.ids()); n == 0 || n == len(d.Containers) {
		t.Errorf("%d containers after a cancel, want some but not all", n)
	}
	all, err := e.ListContainers(t.Context(), map[string]string{runtime.LabelProject: s.project})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range all {
		if c.Labels[runtime.LabelConfigHash] == "" || c.Labels[runtime.LabelService] == "" {
			t.Errorf("%s: labels %v", c.Name, c.Labels)
		}
	}
	s.up(d)
	s.checkRunning(d)
}
