package project

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/proxy"
	"github.com/voidnxlabs/berth/runtime"
)

// ErrNoProxy: the config does not enable the dev proxy.
var ErrNoProxy = errors.New("the dev proxy is not enabled")

// devProxy is the desired state and the proxy's container in it.
func (p *Project) devProxy() (*desired.State, *desired.Container, error) {
	st, _, err := p.Desired(nil)
	if err != nil {
		return nil, nil, err
	}
	c := proxy.Find(st)
	if c == nil {
		return nil, nil, hinted(ErrNoProxy, "enable it: dev.proxy.enable: true")
	}
	return st, c, nil
}

// ProxyRoutes lists the names and paths the dev proxy serves; never nil.
// A config without the proxy gives ErrNoProxy with a hint.
func (p *Project) ProxyRoutes() ([]proxy.Route, error) {
	st, c, err := p.devProxy()
	if err != nil {
		return nil, err
	}
	rs := proxy.Routes(st, c.Spec.Name)
	if rs == nil {
		rs = []proxy.Route{}
	}
	return rs, nil
}

// ProxyConfig is the proxy's Caddy configuration (JSON), made from the
// config.
func (p *Project) ProxyConfig() ([]byte, error) {
	st, c, err := p.devProxy()
	if err != nil {
		return nil, err
	}
	httpPort, httpsPort := proxy.Ports(c)
	return proxy.Config(proxy.Routes(st, c.Spec.Name), httpPort, httpsPort)
}

// ProxyReloadResult says what a reload did.
type ProxyReloadResult struct {
	Container string `json:"container"`
	// Running is false when the proxy does not run: it starts with the
	// configuration written.
	Running bool `json:"running"`
	// Routes counts the routes loaded into the running proxy.
	Routes int `json:"routes"`
}

// ProxyReload writes the configuration where the proxy resumes from on its
// next start and, when the proxy runs, loads it through Caddy's admin API
// (waiting up to timeout for it) without dropping connections.
func (p *Project) ProxyReload(ctx context.Context, timeout time.Duration) (*ProxyReloadResult, error) {
	st, c, err := p.devProxy()
	if err != nil {
		return nil, err
	}
	if _, err := proxy.Prepare(st); err != nil {
		return nil, err
	}
	res := &ProxyReloadResult{Container: c.Spec.Name}
	e, err := p.Engine(ctx)
	if err != nil {
		return nil, err
	}
	oc, err := e.InspectContainer(ctx, c.Spec.Name)
	if errors.Is(err, runtime.ErrNotFound) || (err == nil && oc.State != runtime.StateRunning) {
		return res, nil
	}
	if err != nil {
		return nil, engineError(err)
	}
	rs, err := proxy.Sync(ctx, st, timeout)
	if err != nil {
		return nil, hinted(err, fmt.Sprintf("see the proxy's log: 'berth logs %s'", c.Spec.Name))
	}
	res.Running, res.Routes = true, len(rs)
	return res, nil
}
