package apply_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/apply"
	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/internal/fixture"
	"github.com/voidnxlabs/berth/internal/testenv"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/plan/plantest"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/runtimetest"
)

// dockerScenario is a project on the real daemon: two kits of fixture
// containers at fixed addresses in 10.214.0.0/16, a range no other test
// package uses.
type dockerScenario struct {
	t       *testing.T
	e       runtime.Engine
	project string
	prefix  string
	image   string
	data    string
}

// newDockerScenario loads the fixture under a reference of the test's own,
// which the image-update step may move, and removes what the test made.
func newDockerScenario(t *testing.T, e runtime.Engine, id string) *dockerScenario {
	s := &dockerScenario{t: t, e: e, project: "berthtest-" + id, prefix: "bt" + id + "-", image: "berthtest-" + id + ":app", data: t.TempDir()}
	fixture.LoadAs(t, e, fixture.Image(t, ""), s.image)
	t.Cleanup(func() {
		runtimetest.Cleanup(t, e, map[string]string{runtime.LabelProject: s.project})
		if err := e.RemoveImage(context.Background(), s.image); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return s
}

func (s *dockerScenario) kits(mut ...func([]plantest.Kit)) desired.State {
	k := []plantest.Kit{
		{Name: "ml", Subnet: "10.214.1.0/24", Prefix: s.prefix, Services: []plantest.Service{
			{Name: "ollama", Image: s.image, IP: 11, Port: 11434, Health: true, Data: []string{s.data + "/models"}},
			{Name: "jupyter", Image: s.image, IP: 12, Port: 8888, Health: true, Data: []string{s.data + "/notebooks"}},
		}},
		{Name: "dev", Subnet: "10.214.2.0/24", Prefix: s.prefix, Services: []plantest.Service{
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

func (s *dockerScenario) plan(d desired.State) *plan.Plan {
	s.t.Helper()
	obs, err := plan.Observe(s.t.Context(), s.e, d)
	if err != nil {
		s.t.Fatal(err)
	}
	return plan.Compute(d, obs, plan.Options{})
}

// up applies d, waiting for every container's health, and checks that the
// next plan is empty.
func (s *dockerScenario) up(d desired.State) *plan.Plan {
	s.t.Helper()
	obs, err := plan.Observe(s.t.Context(), s.e, d)
	if err != nil {
		s.t.Fatal(err)
	}
	p := plan.Compute(d, obs, plan.Options{Wait: true})
	s.t.Logf("plan:\n%s", p)
	if _, err := apply.Run(s.t.Context(), s.e, p, apply.Options{HealthTimeout: 30 * time.Second}); err != nil {
		s.t.Fatalf("apply:\n%s\nerror: %v", p, err)
	}
	if again := s.plan(d); !again.Empty() {
		s.t.Fatalf("plan after a successful apply:\n%s", again)
	}
	return p
}

func (s *dockerScenario) ids() map[string]string {
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
func (s *dockerScenario) checkRunning(d desired.State) {
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

func TestDockerScenarios(t *testing.T) {
	e := testenv.Docker(t)
	b := make([]byte, 3)
	rand.Read(b)
	id := hex.EncodeToString(b)
	s := newDockerScenario(t, e, id)
	ctx := t.Context()
	name := func(n string) string { return s.prefix + n }

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

	// Kill a container by hand: the next up starts it again.
	if out, err := exec.CommandContext(ctx, "docker", "kill", name("dev-postgres")).CombinedOutput(); err != nil {
		t.Logf("docker kill: %v %s; stopping through the API", err, out)
		if err := e.StopContainer(ctx, name("dev-postgres"), 0); err != nil {
			t.Fatal(err)
		}
	}
	runtimetest.Eventually(t, 10*time.Second, "killed container to exit", func() bool {
		c, err := e.InspectContainer(ctx, name("dev-postgres"))
		return err == nil && c.State == runtime.StateExited
	})
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
	fixture.LoadAs(t, e, fixture.Image(t, "v2-"+id), s.image)
	p = s.plan(d)
	if got := p.Summary()[plan.Recreate]; got != len(d.Containers) {
		t.Errorf("plan after an image update:\n%s", p)
	}
	s.up(d)

	// A subnet change recreates the network with its containers.
	moved := func(k []plantest.Kit) {
		k[0].Services[0].Port = 11435
		k[0].Services = k[0].Services[:1]
		k[0].Subnet = "10.214.3.0/24"
	}
	d = s.kits(moved)
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

// TestDockerCancel stops an apply on the real daemon after its first
// container, as Ctrl-C or a killed berth would; the next apply converges
// and nothing it made lacks its labels.
func TestDockerCancel(t *testing.T) {
	e := testenv.Docker(t)
	b := make([]byte, 3)
	rand.Read(b)
	id := hex.EncodeToString(b)
	s := newDockerScenario(t, e, id)
	d := s.kits(func(k []plantest.Kit) {
		// Away from TestDockerScenarios' subnets: both may run at once.
		k[0].Subnet, k[1].Subnet = "10.214.11.0/24", "10.214.12.0/24"
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
	// Every container with a berth-looking name carries the labels.
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
