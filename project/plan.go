package project

import (
	"context"
	"fmt"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/kits"
	"github.com/voidnxlabs/berth/plan"
)

// PlanOptions tune Plan.
type PlanOptions struct {
	// Targets select containers; empty means the whole project.
	Targets []string
	// Action is what to plan for; up when empty.
	Action plan.Action
	// Wait adds the health waits up --wait would make.
	Wait bool
	// Events receives warnings: a selected service that publishes a port
	// on an address other machines reach.
	Events func(Event)
}

// Plan compares the config with the engine and returns the steps Up (or
// the action asked for) would take, each with its cause. It changes
// nothing. Its String form is what `berth plan` prints, its JSON form what
// `berth plan --json` prints.
func (p *Project) Plan(ctx context.Context, o PlanOptions) (*plan.Plan, error) {
	st, names, err := p.Desired(o.Targets)
	if err != nil {
		return nil, err
	}
	p.warnExposed(o.Targets, newSink(o.Events))
	e, err := p.Engine(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := p.resolveGPUs(ctx, st, e); err != nil {
		return nil, err
	}
	obs, err := plan.Observe(ctx, e, *st)
	if err != nil {
		return nil, engineError(err)
	}
	pl := plan.Compute(*st, obs, plan.Options{Action: o.Action, Targets: names, Wait: o.Wait})
	p.explainPulls(pl)
	return pl, nil
}

// explainPulls says of each image the engine lacks whether up builds it
// from one of berth's recipes or it must come from its registry.
func (p *Project) explainPulls(pl *plan.Plan) {
	env, err := p.images()
	if err != nil {
		return // the recipes' errors are up's to report
	}
	for _, op := range pl.Ops {
		if op.Kind != plan.PullImage || op.Cause != "not present" {
			continue
		}
		if name, ok := env.recipeFor(op.Target); ok {
			op.Cause = "not present; up builds it from berth's recipe " + name + " (unless --no-build)"
		} else if why := kits.WhyNotBuilt(op.Target); why != "" {
			op.Cause = "not present; it must be pulled from its registry: berth builds none, since " + why
		} else {
			op.Cause = "not present; it must be pulled from its registry (berth has no recipe for it)"
		}
	}
}

// PlanOffline is the desired state of the targeted containers, without
// asking any engine: every container with its address, ports, data paths
// and GPU request. Secrets are left out. Its String form is what
// `berth plan --offline` prints.
func (p *Project) PlanOffline(o PlanOptions) (*desired.State, error) {
	st, err := p.DesiredOffline(o.Targets)
	if err != nil {
		return nil, err
	}
	p.warnExposed(o.Targets, newSink(o.Events))
	return st, nil
}

// warnExposed warns of the selected services that publish a port on an
// address other machines reach.
func (p *Project) warnExposed(targets []string, events *sink) {
	sel, err := p.cfg.Select(targets)
	if err != nil {
		return
	}
	in := map[string]bool{}
	for _, s := range sel {
		in[s.Container] = true
	}
	for _, e := range p.cfg.Exposed() {
		if in[e.Service.Container] {
			events.emit(Event{Kind: EventWarning, Container: e.Service.Container,
				Message: fmt.Sprintf("%s publishes port %d on %s, reachable from other machines", e.Service.Container, e.Publish.HostPort, e.Publish.HostIP)})
		}
	}
}
