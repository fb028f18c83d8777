package web

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// guard is the gate every request passes before a handler sees it. The
// order matters: the Host header first (a DNS-rebinding page carries a
// foreign one and must learn nothing, not even that a token is needed),
// then the token, then, for requests that change something, the Origin.
type guard struct {
	token  string
	cookie string          // the cookie's name: one per port, since cookies ignore ports
	hosts  map[string]bool // lower-case host[:port] values this server answers to
	tls    bool
	next   http.Handler
}

// newGuard guards next with token. hosts are the names (host or
// host:port) the server is reached by; port is the listening port.
func newGuard(token string, hosts []string, port int, tls bool, next http.Handler) *guard {
	g := &guard{token: token, cookie: "berth_" + strconv.Itoa(port), hosts: map[string]bool{}, tls: tls, next: next}
	for _, h := range hosts {
		h = strings.ToLower(h)
		if _, _, err := net.SplitHostPort(h); err != nil {
			// A bare name is reachable at the listening port; a browser
			// leaves the port out of Host only for the scheme's default.
			if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
				h = "[" + h + "]"
			}
			g.hosts[net.JoinHostPort(strings.Trim(h, "[]"), strconv.Itoa(port))] = true
			if (tls && port == 443) || (!tls && port == 80) {
				g.hosts[h] = true
			}
			continue
		}
		g.hosts[h] = true
	}
	return g
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w.Header())
	if !g.hosts[strings.ToLower(r.Host)] {
		// No DNS rebinding: a page on evil.example that resolves its name
		// to 127.0.0.1 sends Host: evil.example.
		http.Error(w, "berth serve: this server does not answer to host "+strconv.Quote(r.Host), http.StatusForbidden)
		return
	}
	via, ok := g.authenticated(r)
	if !ok {
		if t := r.URL.Query().Get("token"); t != "" && g.equal(t) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			g.setCookie(w)
			// Drop the token from the address bar and history.
			u := *r.URL
			q := u.Query()
			q.Del("token")
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		unauthorized(w, r)
		return
	}
	if changes(r) && !g.sameOrigin(r, via) {
		http.Error(w, "berth serve: refused a request from another origin ("+strconv.Quote(r.Header.Get("Origin"))+")", http.StatusForbidden)
		return
	}
	g.next.ServeHTTP(w, r)
}

// authenticated says whether r carries the token, and how: "cookie" or
// "bearer".
func (g *guard) authenticated(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") && g.equal(strings.TrimPrefix(h, "Bearer ")) {
		return "bearer", true
	}
	if c, err := r.Cookie(g.cookie); err == nil && g.equal(c.Value) {
		return "cookie", true
	}
	return "", false
}

func (g *guard) equal(t string) bool {
	return subtle.ConstantTimeCompare([]byte(t), []byte(g.token)) == 1
}

func (g *guard) setCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: g.cookie, Value: g.token, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: g.tls,
	})
}

// changes reports a request that may change something: any method but
// GET and HEAD, and a WebSocket upgrade (the terminal), which is a GET
// that a foreign page could otherwise open with the user's cookie.
func changes(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return true
	}
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// sameOrigin checks the Origin of a state-changing request. Browsers send
// Origin on every such request, so a cookie-authenticated one without it
// is refused; a client that sends the token itself (curl with a bearer
// token) is no cross-site request and may leave it out.
func (g *guard) sameOrigin(r *http.Request, via string) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return via == "bearer"
	}
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	scheme := "http"
	if g.tls {
		scheme = "https"
	}
	return u.Scheme == scheme && strings.EqualFold(u.Host, r.Host) && u.Path == "" && g.hosts[strings.ToLower(u.Host)]
}

func unauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="berth"`)
	if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/metrics" || r.URL.Path == "/events" {
		writeJSONError(w, http.StatusUnauthorized, "no valid token", "open the address 'berth serve' printed (it carries ?token=), or send 'Authorization: Bearer TOKEN'")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(unauthorizedPage))
}

const unauthorizedPage = `<!doctype html><html lang="en"><meta charset="utf-8"><title>berth: sign in</title>
<main><h1>berth serve needs its token</h1>
<p>Open the address that <code>berth serve</code> printed: it ends in <code>?token=…</code> and signs this browser in.
<code>berth serve --print-token</code> prints the token for API clients.</p></main></html>
`

// secureHeaders are set on every answer. The policy allows only this
// server's own scripts, styles and connections: no inline script, no
// framing by another site.
func secureHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}
