// Package proxy makes the dev kit's Caddy configuration from the desired
// state, and loads it into the running Caddy through its admin API.
//
// Every enabled service of every kit gets a name, <service>.<kit>.localhost
// (browsers resolve *.localhost to the loopback address by themselves), and
// a path route, /<kit>/<service>/, with the prefix stripped. Both are
// served over HTTP on httpPort and over HTTPS on httpsPort with a
// certificate from Caddy's internal CA. WebSocket upgrades (Jupyter's
// kernels, code-server) pass through, and survive a reload: streams are
// kept open across config changes.
//
// Every route is bound to host names. A name route answers only its own
// name; path routes and the index page answer only the proxy's own names
// (OwnHosts: localhost and the loopback addresses). A request for any
// other Host is refused with 421 Misdirected Request: a web page that
// rebinds its own DNS name to 127.0.0.1 sends its name as Host, and so
// cannot reach Ollama, vLLM, ComfyUI or LocalAI, none of which ask for a
// login.
//
// The admin API listens on a Unix socket in the proxy's data directory,
// never on the network, with mode 0660; berth reaches it through the bind
// mount.
package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/voidnxlabs/berth/desired"
)

// Kit and Service name the catalog's proxy, which Find looks for.
const (
	Kit     = "dev"
	Service = "proxy"
)

// DataTarget is where the proxy's data directory is mounted in its
// container; the admin socket lives in it.
const DataTarget = "/data"

// SocketName is the admin socket's file name in the data directory.
const SocketName = "admin.sock"

// Domain is the parent domain of the service names.
const Domain = "localhost"

// OwnHosts are the Host values path routes and the index page answer:
// the proxy's own names on this machine. A browser sends one of them only
// for a URL that names the loopback address or localhost itself.
var OwnHosts = []string{Domain, "127.0.0.1", "::1"}

// MisdirectedStatus answers a request whose Host the proxy does not serve.
const MisdirectedStatus = http.StatusMisdirectedRequest

// Route is one service behind the proxy.
type Route struct {
	Kit       string
	Service   string
	Container string
	Host      string // ollama.ml.localhost
	Path      string // /ml/ollama/
	Upstream  string // 192.168.200.11:11434
}

// Routes lists the services the proxy serves: every container of st but
// the proxy itself that serves HTTP on a port, sorted by host name.
func Routes(st *desired.State, self string) []Route {
	var out []Route
	for _, c := range st.Containers {
		if c.Spec.Name == self || len(c.Listen) == 0 || !c.Address.IsValid() || !IsHTTP(&c) {
			continue
		}
		out = append(out, Route{
			Kit: c.Kit, Service: c.Service, Container: c.Spec.Name,
			Host:     HostName(c.Kit, c.Service),
			Path:     "/" + c.Kit + "/" + c.Service + "/",
			Upstream: net.JoinHostPort(c.Address.String(), strconv.Itoa(int(c.Listen[0]))),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}

// IsHTTP reports whether a container serves HTTP on its main port, as
// its readiness check says: an HTTP check, or none at all (a service of
// the user's). A database with a TCP check is not proxied.
func IsHTTP(c *desired.Container) bool {
	return c.Health == nil || c.Health.Kind == "http" || c.Health.Kind == ""
}

// HostName is the name the proxy gives a service.
func HostName(kit, service string) string { return service + "." + kit + "." + Domain }

// Find returns the proxy's container in st, or nil when it is disabled.
func Find(st *desired.State) *desired.Container {
	for i := range st.Containers {
		c := &st.Containers[i]
		if c.Kit == Kit && c.Service == Service {
			return c
		}
	}
	return nil
}

// Ports returns the proxy container's HTTP and HTTPS ports (its first and
// second listening ports).
func Ports(c *desired.Container) (httpPort, httpsPort uint16) {
	if len(c.Listen) > 0 {
		httpPort = c.Listen[0]
	}
	if len(c.Listen) > 1 {
		httpsPort = c.Listen[1]
	}
	return httpPort, httpsPort
}

// Socket returns the host path of the proxy's admin socket: the socket
// file in the host directory mounted at DataTarget.
func Socket(c *desired.Container) (string, error) {
	for _, p := range c.DataPaths {
		if p.Target == DataTarget {
			return filepath.Join(p.Host, SocketName), nil
		}
	}
	return "", fmt.Errorf("container %s has no data path mounted at %s", c.Spec.Name, DataTarget)
}

// Config is the proxy's Caddy configuration (JSON) for routes.
func Config(routes []Route, httpPort, httpsPort uint16) ([]byte, error) {
	if httpPort == 0 {
		return nil, errors.New("making the proxy config: no HTTP port")
	}
	hosts := []string{}
	var rs []any
	for _, r := range routes {
		up := map[string]any{
			"handler":   "reverse_proxy",
			"upstreams": []any{map[string]any{"dial": r.Upstream}},
			// Streamed answers (Ollama's tokens, Jupyter's output) pass
			// through at once rather than when a buffer fills.
			"flush_interval": -1,
			// WebSockets stay open across a config reload for up to a
			// day, instead of being closed with the old config.
			"stream_close_delay": "24h",
		}
		hosts = append(hosts, r.Host)
		rs = append(rs,
			map[string]any{
				"match":    []any{map[string]any{"host": []string{r.Host}}},
				"handle":   []any{up},
				"terminal": true,
			},
			map[string]any{
				"match": []any{map[string]any{"host": OwnHosts, "path": []string{r.Path + "*"}}},
				"handle": []any{
					map[string]any{"handler": "rewrite", "strip_path_prefix": strings.TrimSuffix(r.Path, "/")},
					up,
				},
				"terminal": true,
			},
		)
	}
	rs = append(rs, map[string]any{
		"match": []any{map[string]any{"host": OwnHosts}},
		"handle": []any{map[string]any{
			"handler":     "static_response",
			"status_code": 200,
			"headers":     map[string][]string{"Content-Type": {"text/html; charset=utf-8"}},
			"body":        index(routes),
		}},
		"terminal": true,
	}, map[string]any{"handle": []any{map[string]any{
		"handler":     "static_response",
		"status_code": MisdirectedStatus,
		"headers":     map[string][]string{"Content-Type": {"text/plain; charset=utf-8"}},
		"body":        "berth proxy: unknown host; use a service's name (NAME.KIT." + Domain + ") or http://localhost/KIT/NAME/\n",
	}}})
	servers := map[string]any{
		"http": map[string]any{
			"listen":          []string{":" + strconv.Itoa(int(httpPort))},
			"routes":          rs,
			"automatic_https": map[string]any{"disable": true},
		},
	}
	apps := map[string]any{}
	if httpsPort != 0 {
		servers["https"] = map[string]any{
			"listen": []string{":" + strconv.Itoa(int(httpsPort))},
			"routes": rs,
			// Plain HTTP keeps working on httpPort: no redirects.
			"automatic_https": map[string]any{"disable_redirects": true},
			// Clients that send no server name (an address in the URL)
			// get the localhost certificate.
			"tls_connection_policies": []any{map[string]any{"default_sni": Domain}},
		}
		subjects := append([]string{Domain, "127.0.0.1"}, hosts...)
		apps["tls"] = map[string]any{
			"certificates": map[string]any{"automate": subjects},
			"automation": map[string]any{"policies": []any{map[string]any{
				"subjects": subjects,
				"issuers":  []any{map[string]any{"module": "internal"}},
			}}},
		}
		// The CA's root is not put into the container's trust store (it
		// has none to write to); `berth url` says where the root is.
		apps["pki"] = map[string]any{"certificate_authorities": map[string]any{"local": map[string]any{"install_trust": false}}}
	}
	apps["http"] = map[string]any{
		"http_port":  int(httpPort),
		"https_port": int(httpsPort),
		"servers":    servers,
	}
	cfg := map[string]any{
		"admin": map[string]any{"listen": "unix/" + DataTarget + "/" + SocketName + "|0660"},
		"apps":  apps,
	}
	// encoding/json sorts map keys: the same routes give the same bytes.
	return json.MarshalIndent(cfg, "", "  ")
}

// index is the page at the proxy's root: the list of services.
func index(routes []Route) string {
	var b strings.Builder
	b.WriteString("<!doctype html>\n<title>berth</title>\n<h1>berth services</h1>\n<ul>\n")
	for _, r := range routes {
		fmt.Fprintf(&b, "<li><a href=\"%s\">%s</a> (<a href=\"%s\">%s</a>) &rarr; %s</li>\n",
			html.EscapeString("//"+r.Host+"/"), html.EscapeString(r.Host),
			html.EscapeString(r.Path), html.EscapeString(r.Path), html.EscapeString(r.Container))
	}
	b.WriteString("</ul>\n")
	return b.String()
}

// Admin talks to a Caddy admin API on a Unix socket.
type Admin struct {
	Socket string
}

func (a Admin) client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", a.Socket)
		},
		DisableKeepAlives: true,
	}}
}

func (a Admin) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://caddy-admin"+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	}
	return data, nil
}

// Load replaces the running config with cfg. Caddy swaps it in
// gracefully: connections in flight finish on the old config, and new
// ones use the new one.
func (a Admin) Load(ctx context.Context, cfg []byte) error {
	if _, err := a.do(ctx, http.MethodPost, "/load", cfg); err != nil {
		return fmt.Errorf("loading the proxy config: %w", err)
	}
	return nil
}

// Config returns the running config.
func (a Admin) Config(ctx context.Context) ([]byte, error) {
	b, err := a.do(ctx, http.MethodGet, "/config/", nil)
	if err != nil {
		return nil, fmt.Errorf("reading the proxy config: %w", err)
	}
	return b, nil
}

// Sync loads the config for st into the proxy of st, waiting up to
// timeout for its admin socket to answer (the container may have just
// started). It returns the routes it loaded; nil, nil when st has no proxy.
func Sync(ctx context.Context, st *desired.State, timeout time.Duration) ([]Route, error) {
	c := Find(st)
	if c == nil {
		return nil, nil
	}
	sock, err := Socket(c)
	if err != nil {
		return nil, err
	}
	routes := Routes(st, c.Spec.Name)
	httpPort, httpsPort := Ports(c)
	cfg, err := Config(routes, httpPort, httpsPort)
	if err != nil {
		return nil, err
	}
	a := Admin{Socket: sock}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err = a.Load(ctx, cfg)
		if err == nil {
			return routes, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("proxy %s: %w", c.Spec.Name, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// AutosavePath is where Caddy keeps the last loaded config, relative to
// the data directory (XDG_CONFIG_HOME=/data/config in berth's image); the
// image starts Caddy with --resume, which prefers it to the bootstrap
// config.
const AutosavePath = "config/caddy/autosave.json"

// Prepare writes the config for st where the proxy resumes from, so that
// a proxy created or restarted by the next apply starts with it instead of
// the bootstrap config. Files are owned like the data directory. It
// returns the config's host path; "" when st has no proxy.
func Prepare(st *desired.State) (string, error) {
	c := Find(st)
	if c == nil {
		return "", nil
	}
	var data *desired.DataPath
	for i := range c.DataPaths {
		if c.DataPaths[i].Target == DataTarget {
			data = &c.DataPaths[i]
		}
	}
	if data == nil {
		return "", fmt.Errorf("container %s has no data path mounted at %s", c.Spec.Name, DataTarget)
	}
	httpPort, httpsPort := Ports(c)
	cfg, err := Config(Routes(st, c.Spec.Name), httpPort, httpsPort)
	if err != nil {
		return "", err
	}
	uid, gid := data.UID, data.GID
	if fi, err := os.Stat(data.Host); err == nil {
		if s, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(s.Uid), int(s.Gid)
		}
	}
	p := filepath.Join(data.Host, AutosavePath)
	for _, d := range []string{data.Host, filepath.Join(data.Host, "config"), filepath.Dir(p)} {
		if _, err := os.Stat(d); err == nil {
			continue
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("writing the proxy config: %w", err)
		}
		if uid >= 0 {
			os.Chown(d, uid, gid)
		}
	}
	tmp := p + ".berth"
	if err := os.WriteFile(tmp, cfg, 0o644); err != nil {
		return "", fmt.Errorf("writing the proxy config: %w", err)
	}
	if uid >= 0 {
		os.Chown(tmp, uid, gid)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("writing the proxy config: %w", err)
	}
	return p, nil
}
