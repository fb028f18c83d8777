package project

import (
	"net"
	"slices"
	"strconv"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/proxy"
	"github.com/voidnxlabs/berth/runtime"
)

// URL is where a service answers; its JSON form is what `berth url
// --json` prints.
type URL struct {
	Name    string `json:"name"`
	Kit     string `json:"kit"`
	Service string `json:"service"`
	// Direct is the service's address on its kit network, in the form its
	// clients use (http://…/, postgresql://user@…/db, or host:port).
	Direct string `json:"direct"`
	// Proxy and ProxyPath are the proxy's names for it, on the host's
	// published port; HTTPS the same over TLS.
	Proxy     string `json:"proxy,omitempty"`
	ProxyPath string `json:"proxyPath,omitempty"`
	HTTPS     string `json:"https,omitempty"`
}

// URLs gives the addresses of the targeted services that listen on a
// port: the private address and, when the dev proxy is enabled, its names
// for them. None selected is ErrNothingSelected.
func (p *Project) URLs(targets []string) ([]URL, error) {
	st, names, err := p.Desired(targets)
	if err != nil {
		return nil, err
	}
	us := urlsOf(st, names)
	if len(us) == 0 {
		return nil, hinted(errorOf(ErrNothingSelected, "no service with a port is selected"), "name a service that listens on a port, e.g. 'berth url ml-ollama'")
	}
	return us, nil
}

func urlsOf(st *desired.State, names []string) []URL {
	px := proxy.Find(st)
	var httpBase, httpsBase string
	var hasHTTP, hasHTTPS bool
	if px != nil {
		httpPort, httpsPort := proxy.Ports(px)
		for _, p := range px.Spec.Ports {
			switch p.ContainerPort {
			case httpPort:
				httpBase, hasHTTP = portSuffix("http", p.HostPort), true
			case httpsPort:
				httpsBase, hasHTTPS = portSuffix("https", p.HostPort), true
			}
		}
	}
	var out []URL
	for _, c := range st.Containers {
		if names != nil && !slices.Contains(names, c.Spec.Name) {
			continue
		}
		if len(c.Listen) == 0 {
			continue
		}
		u := URL{Name: c.Spec.Name, Kit: c.Kit, Service: c.Service, Direct: directURL(&c)}
		if px != nil && c.Spec.Name != px.Spec.Name && proxy.IsHTTP(&c) {
			host := proxy.HostName(c.Kit, c.Service)
			if hasHTTP {
				u.Proxy = "http://" + host + httpBase + "/"
				u.ProxyPath = "http://127.0.0.1" + httpBase + "/" + c.Kit + "/" + c.Service + "/"
			}
			if hasHTTPS {
				u.HTTPS = "https://" + host + httpsBase + "/"
			}
		}
		out = append(out, u)
	}
	return out
}

// directURL is a service's private address in the form its clients use.
func directURL(c *desired.Container) string {
	hp := net.JoinHostPort(c.Address.String(), strconv.Itoa(int(c.Listen[0])))
	switch {
	case isPostgres(c):
		user, db := runtime.EnvValue(c.Spec.Env, "POSTGRES_USER"), runtime.EnvValue(c.Spec.Env, "POSTGRES_DB")
		if user == "" {
			user = "postgres"
		}
		return "postgresql://" + user + "@" + hp + "/" + db
	case proxy.IsHTTP(c):
		return "http://" + hp + "/"
	}
	return hp
}

// portSuffix is ":port", or nothing for the scheme's default port.
func portSuffix(scheme string, port uint16) string {
	if (scheme == "http" && port == 80) || (scheme == "https" && port == 443) {
		return ""
	}
	return ":" + strconv.Itoa(int(port))
}
