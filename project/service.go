package project

import (
	"context"
	"errors"
	"fmt"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/runtime"
)

// ErrNotEnabled: the config does not enable the service asked for.
var ErrNotEnabled = errors.New("service not enabled")

// Service returns the desired container of kit/service, or ErrNotEnabled
// with a hint.
func (p *Project) Service(kit, service string) (*desired.Container, error) {
	st, _, err := p.Desired(nil)
	if err != nil {
		return nil, err
	}
	for i := range st.Containers {
		if c := &st.Containers[i]; c.Kit == kit && c.Service == service {
			return c, nil
		}
	}
	return nil, hinted(errorOf(ErrNotEnabled, "%s/%s is not enabled in %s", kit, service, p.ConfigFile()),
		fmt.Sprintf("enable it (%s.%s.enable: true) and run 'berth up %s/%s'", kit, service, kit, service))
}

// Running is a service the helpers (psql, the Ollama and chat clients)
// talk to: its desired container, what the engine has of it, and the
// engine, which the Project owns.
type Running struct {
	Container *desired.Container
	Observed  runtime.Container
	Engine    runtime.Engine
}

// RunningService checks that kit/service is enabled, exists and runs. A
// container that does not exist is runtime.ErrNotFound, one that does not
// run ErrNotRunning, each with a hint.
func (p *Project) RunningService(ctx context.Context, kit, service string) (*Running, error) {
	dc, err := p.Service(kit, service)
	if err != nil {
		return nil, err
	}
	e, err := p.Engine(ctx)
	if err != nil {
		return nil, err
	}
	oc, err := e.InspectContainer(ctx, dc.Spec.Name)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil, hinted(errorOf(runtime.ErrNotFound, "%s does not exist", dc.Spec.Name), fmt.Sprintf("create it with 'berth up %s/%s'", kit, service))
	}
	if err != nil {
		return nil, engineError(err)
	}
	if oc.State != runtime.StateRunning {
		return nil, hinted(errorOf(ErrNotRunning, "%s is %s", dc.Spec.Name, oc.State), fmt.Sprintf("start it with 'berth start %s'", dc.Spec.Name))
	}
	return &Running{Container: dc, Observed: oc, Engine: e}, nil
}
