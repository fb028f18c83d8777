package project

import (
	"strings"

	"github.com/voidnxlabs/berth/runtime"
)

// JupyterOptions say which Jupyter and which of its addresses.
type JupyterOptions struct {
	// Service is KIT/SERVICE; empty means ml/jupyter.
	Service string
	// Direct gives the private address even when the proxy is enabled.
	Direct bool
}

// JupyterURL is Jupyter's address with its login token, ready to open.
type JupyterURL struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

// JupyterURL returns the address of the Jupyter service with the token
// berth generated (or the config's JUPYTER_TOKEN): through the proxy when
// it is enabled, else the private address. It needs no engine.
func (p *Project) JupyterURL(o JupyterOptions) (*JupyterURL, error) {
	if o.Service == "" {
		o.Service = "ml/jupyter"
	}
	kit, svc, ok := strings.Cut(o.Service, "/")
	if !ok {
		return nil, hinted(errorOf(ErrInvalidOption, "--service %q is not KIT/SERVICE", o.Service), "e.g. --service ml/jupyter")
	}
	dc, err := p.Service(kit, svc)
	if err != nil {
		return nil, err
	}
	token := runtime.EnvValue(dc.Spec.Env, "JUPYTER_TOKEN")
	if len(dc.Secrets) > 0 {
		sd, err := p.StateDir()
		if err != nil {
			return nil, err
		}
		if token, err = sd.Secret(dc.Secrets[0]); err != nil {
			return nil, err
		}
	}
	us, _ := p.URLs([]string{dc.Spec.Name})
	base := dc.Spec.Name
	if len(us) == 1 {
		base = us[0].Direct
		if us[0].Proxy != "" && !o.Direct {
			base = us[0].Proxy
		}
	}
	u := base + "tree"
	if token != "" {
		u += "?token=" + token
	}
	return &JupyterURL{URL: u, Token: token}, nil
}
