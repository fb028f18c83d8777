package plan_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voidnxlabs/berth/apply"
	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/internal/golden"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/plan/plantest"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/runtime/fake"
)

const (
	project = "proj"
	image   = "berth-test/app:latest"
	imageID = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
)

// kits is the seed's shape: an ML kit and a dev kit whose chat UI reaches
// the ML network and needs Ollama healthy and Postgres started.
func kits(data string) []plantest.Kit {
	return []plantest.Kit{
		{Name: "ml", Subnet: "10.213.200.0/24", Services: []plantest.Service{
			{Name: "ollama", IP: 11, Port: 11434, Publish: 11434, Health: true, Data: []string{data + "/ollama"}},
			{Name: "jupyter", IP: 12, Port: 8888, Data: []string{data + "/notebooks"}},
		}},
		{Name: "dev", Subnet: "10.213.210.0/24", Services: []plantest.Service{
			{Name: "chat-ui", IP: 12, Port: 3000, Connect: []string{"ml"}, DependsOn: []desired.Dependency{
				{Name: "ml-ollama", Condition: desired.ConditionHealthy},
				{Name: "dev-postgres", Condition: desired.ConditionStarted},
			}},
			{Name: "postgres", IP: 15, Port: 5432, Data: []string{data + "/postgres"}},
		}},
	}
}

type world struct {
	t    *testing.T
	e    *fake.Engine
	data string
}

func newWorld(t *testing.T) *world {
	e := fake.New()
	e.AddImage(image, imageID)
	return &world{t: t, e: e, data: t.TempDir()}
}

func (w *world) state(mut ...func(k []plantest.Kit)) desired.State {
	k := kits(w.data)
	for _, m := range mut {
		m(k)
	}
	return plantest.State(project, k...)
}

func (w *world) plan(d desired.State, opts plan.Options) *plan.Plan {
	w.t.Helper()
	obs, err := plan.Observe(w.t.Context(), w.e, d)
	if err != nil {
		w.t.Fatal(err)
	}
	return plan.Compute(d, obs, opts)
}

func (w *world) apply(p *plan.Plan) {
	w.t.Helper()
	_, err := apply.Run(w.t.Context(), w.e, p, apply.Options{
		Probe: func(context.Context, netip.Addr, *desired.Health) error { return nil },
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// up applies d and checks that the plan after it is empty.
func (w *world) up(d desired.State, opts plan.Options) {
	w.t.Helper()
	w.apply(w.plan(d, opts))
	if p := w.plan(d, opts); !p.Empty() {
		w.t.Fatalf("plan after apply is not empty:\n%s", p)
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name+".golden"), []byte(got))
}

func TestPlans(t *testing.T) {
	tests := []struct {
		name string
		// before changes the world after a first apply; nil means no
		// first apply.
		before func(w *world)
		// desired, when set, changes the config for the plan under test.
		desired func(k []plantest.Kit)
		opts    plan.Options
	}{
		{name: "fresh"},
		{name: "fresh-targets", opts: plan.Options{Targets: []string{"dev-chat-ui"}}},
		{name: "fresh-wait", opts: plan.Options{Wait: true}},
		{name: "converged", before: func(w *world) {}},
		{name: "port-changed", before: func(w *world) {}, desired: func(k []plantest.Kit) {
			k[0].Services[0].Port, k[0].Services[0].Publish = 11435, 11435
		}},
		{name: "memory-changed", before: func(w *world) {}, desired: func(k []plantest.Kit) {
			k[1].Services[1].Memory = 512 << 20
		}},
		{name: "service-removed", before: func(w *world) {}, desired: func(k []plantest.Kit) {
			k[0].Services = k[0].Services[:1]
		}},
		{name: "kit-removed", before: func(w *world) {}, desired: func(k []plantest.Kit) {
			k[1].Services = nil
		}},
		{name: "killed", before: func(w *world) {
			if err := w.e.Kill("ml-ollama", 137); err != nil {
				w.t.Fatal(err)
			}
		}},
		{name: "container-removed", before: func(w *world) {
			if err := w.e.RemoveContainer(w.t.Context(), "dev-postgres"); err != nil {
				w.t.Fatal(err)
			}
		}},
		{name: "network-removed", before: func(w *world) {
			ctx := w.t.Context()
			for _, c := range []string{"ml-ollama", "ml-jupyter", "dev-chat-ui"} {
				if err := w.e.StopContainer(ctx, c, 0); err != nil {
					w.t.Fatal(err)
				}
			}
			if err := w.e.RemoveNetwork(ctx, "proj-ml"); err != nil {
				w.t.Fatal(err)
			}
		}},
		{name: "subnet-changed", before: func(w *world) {}, desired: func(k []plantest.Kit) {
			k[0].Subnet = "10.213.201.0/24"
		}},
		{name: "image-updated", before: func(w *world) {
			w.e.AddImage(image, "sha256:2222222222222222222222222222222222222222222222222222222222222222")
		}},
		{name: "image-missing", desired: func(k []plantest.Kit) {
			k[0].Services[1].Image = "registry.example/jupyter:1"
		}},
		{name: "disconnected", before: func(w *world) {
			if err := w.e.Disconnect(w.t.Context(), "dev-chat-ui", "proj-ml"); err != nil {
				w.t.Fatal(err)
			}
			if err := w.e.StopContainer(w.t.Context(), "dev-chat-ui", 0); err != nil {
				w.t.Fatal(err)
			}
		}},
		{name: "down", before: func(w *world) {}, opts: plan.Options{Action: plan.ActionDown}},
		{name: "down-kit", before: func(w *world) {}, opts: plan.Options{Action: plan.ActionDown, Targets: []string{"ml-ollama", "ml-jupyter"}}},
		{name: "down-one", before: func(w *world) {}, opts: plan.Options{Action: plan.ActionDown, Targets: []string{"dev-chat-ui"}}},
		{name: "stop-all", before: func(w *world) {}, opts: plan.Options{Action: plan.ActionStop}},
		{name: "restart-one", before: func(w *world) {}, opts: plan.Options{Action: plan.ActionRestart, Targets: []string{"ml-ollama"}}},
		{name: "start-after-stop", before: func(w *world) {
			for _, c := range []string{"ml-ollama", "dev-chat-ui", "dev-postgres"} {
				if err := w.e.StopContainer(w.t.Context(), c, 0); err != nil {
					w.t.Fatal(err)
				}
			}
		}, opts: plan.Options{Action: plan.ActionStart, Targets: []string{"dev-chat-ui"}}},
		{name: "orphan-network", before: func(w *world) {
			_, err := w.e.CreateNetwork(w.t.Context(), runtime.NetworkSpec{
				Name: "proj-old", Subnet: netip.MustParsePrefix("10.213.220.0/24"),
				Labels: map[string]string{runtime.LabelProject: project, runtime.LabelKit: "old"},
			})
			if err != nil {
				w.t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			if tc.before != nil {
				w.up(w.state(), plan.Options{})
				tc.before(w)
			}
			var muts []func([]plantest.Kit)
			if tc.desired != nil {
				muts = append(muts, tc.desired)
			}
			d := w.state(muts...)
			p := w.plan(d, tc.opts)
			text := strings.ReplaceAll(p.String(), w.data, "$DATA")
			checkGolden(t, tc.name, text)

			if tc.name == "image-missing" {
				return // nothing to pull from here
			}
			// Whatever the plan, applying it converges.
			w.apply(p)
			again := tc.opts
			if again.Action == plan.ActionRestart {
				again.Action = plan.ActionStart // a restart repeats itself
			}
			if p := w.plan(d, again); !p.Empty() {
				t.Fatalf("plan after apply is not empty:\n%s", p)
			}
		})
	}
}

func TestPlanJSON(t *testing.T) {
	w := newWorld(t)
	d := w.state()
	p := w.plan(d, plan.Options{Targets: []string{"ml-ollama"}})
	b, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "fresh-ollama.json", strings.ReplaceAll(string(b), w.data, "$DATA")+"\n")

	empty, err := (&plan.Plan{Project: project}).JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(empty), `"ops": []`) {
		t.Errorf("empty plan JSON = %s, want an empty ops list", empty)
	}
}

func TestComputeIsPure(t *testing.T) {
	w := newWorld(t)
	d := w.state()
	obs, err := plan.Observe(t.Context(), w.e, d)
	if err != nil {
		t.Fatal(err)
	}
	first := plan.Compute(d, obs, plan.Options{}).String()
	for range 20 {
		if got := plan.Compute(d, obs, plan.Options{}).String(); got != first {
			t.Fatalf("plans differ between runs:\n%s\n---\n%s", first, got)
		}
	}
}
