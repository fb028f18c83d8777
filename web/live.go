package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/voidnxlabs/berth/project"
)

// hub keeps the overview live. While at least one browser listens, it
// watches the project (Project.Watch: one cheap list call every Poll, for
// every listener together); when anything changed, after an action, and
// every refresh interval for health and uptime, it runs Status and sends
// the rows whose HTML changed to every listener as server-sent events.
// With no listener it does nothing.
type hub struct {
	s       *Server
	refresh time.Duration

	mu     sync.Mutex
	subs   map[chan message]bool
	rows   map[string]string // container → the row's HTML last sent
	kits   map[string]string // container → kit
	cancel context.CancelFunc
	pokes  chan struct{}
}

// message is one server-sent event.
type message struct {
	event string
	data  []byte
}

func newHub(s *Server) *hub {
	return &hub{s: s, refresh: 5 * time.Second, subs: map[chan message]bool{}, pokes: make(chan struct{}, 1), rows: map[string]string{}, kits: map[string]string{}}
}

// rowEvent is the data of a "row" event: a container's row as HTML, or
// Gone when the container left the overview.
type rowEvent struct {
	Name string `json:"name"`
	Kit  string `json:"kit"`
	HTML string `json:"html,omitempty"`
	Gone bool   `json:"gone,omitempty"`
}

func (h *hub) subscribe() (chan message, func()) {
	h.mu.Lock()
	ch := make(chan message, 256+len(h.rows))
	h.subs[ch] = true
	// A new listener gets every row known, so that it catches what
	// changed between its page's render and its connection.
	for name, html := range h.rows {
		data, _ := json.Marshal(rowEvent{Name: name, Kit: h.kits[name], HTML: html})
		ch <- message{"row", data}
	}
	if h.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h.cancel = cancel
		go h.run(ctx)
	}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs, ch)
		if len(h.subs) == 0 && h.cancel != nil {
			h.cancel()
			h.cancel = nil
			// Rows go stale while nobody listens.
			clear(h.rows)
		}
	}
}

func (h *hub) broadcast(m message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- m:
		default: // a listener that does not read loses events, not the hub
		}
	}
}

// run is the watch loop. A config reload opens another project: the
// watch follows it.
func (h *hub) run(ctx context.Context) {
	p := h.s.proj()
	w := h.watch(ctx, p)
	defer func() { w.stop() }()
	t := time.NewTicker(h.refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case c, ok := <-w.changes:
			if !ok {
				return
			}
			if c.Err != nil {
				h.broadcast(message{"problem", mustJSON(apiError{Error: c.Err.Error(), Hint: hintOf(c.Err)})})
				continue
			}
		case <-t.C:
		case <-h.pokes: // an action ended: refresh now
		}
		if np := h.s.proj(); np != p {
			w.stop()
			p, w = np, h.watch(ctx, np)
		}
		if h.update(ctx) != nil && ctx.Err() == nil {
			time.AfterFunc(h.s.o.Poll, h.poke) // try again soon
		}
	}
}

// watching is a running Project.Watch.
type watching struct {
	changes <-chan project.Change
	stop    context.CancelFunc
}

func (h *hub) watch(ctx context.Context, p *project.Project) watching {
	ctx, stop := context.WithCancel(ctx)
	return watching{p.Watch(ctx, project.WatchOptions{Interval: h.s.o.Poll}), stop}
}

// poke asks for a refresh now, after an action that changed something.
func (h *hub) poke() {
	select {
	case h.pokes <- struct{}{}:
	default:
	}
}

// update runs Status and sends the rows that changed.
func (h *hub) update(ctx context.Context) error {
	st, err := h.s.proj().Status(ctx, project.StatusOptions{})
	if err != nil {
		if ctx.Err() == nil {
			h.broadcast(message{"problem", mustJSON(apiError{Error: err.Error(), Hint: hintOf(err)})})
		}
		return err
	}
	h.s.metrics.observe(st)
	seen := map[string]bool{}
	var out []message
	h.mu.Lock()
	for _, c := range st {
		r := toRow(c)
		seen[r.Name] = true
		html, err := h.s.renderRow(r)
		if err != nil {
			continue
		}
		if h.rows[r.Name] == html {
			continue
		}
		h.rows[r.Name], h.kits[r.Name] = html, r.Kit
		out = append(out, message{"row", mustJSON(rowEvent{Name: r.Name, Kit: r.Kit, HTML: html})})
	}
	for name := range h.rows {
		if !seen[name] {
			delete(h.rows, name)
			out = append(out, message{"row", mustJSON(rowEvent{Name: name, Kit: h.kits[name], Gone: true})})
		}
	}
	h.mu.Unlock()
	for _, m := range out {
		h.broadcast(m)
	}
	h.broadcast(message{"ok", mustJSON(map[string]any{"time": time.Now().UTC(), "containers": len(st)})})
	return nil
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return data
}

// handleEvents streams the overview's live rows as server-sent events:
// "row" (a rowEvent), "ok" after each refresh, "problem" (an apiError)
// when the engine does not answer.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	sse, ok := startSSE(w)
	if !ok {
		return
	}
	ch, done := s.live.subscribe()
	defer done()
	keepalive := time.NewTicker(20 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case m := <-ch:
			if sse.send(m.event, m.data) != nil {
				return
			}
		case <-keepalive.C:
			if sse.comment("keepalive") != nil {
				return
			}
		}
	}
}

// sseWriter writes server-sent events and flushes each.
type sseWriter struct {
	w http.ResponseWriter
	f http.Flusher
}

func startSSE(w http.ResponseWriter) (*sseWriter, bool) {
	f, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return nil, false
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	f.Flush()
	return &sseWriter{w: w, f: f}, true
}

func (s *sseWriter) send(event string, data []byte) error {
	// JSON has no raw newlines, so one data line carries it.
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", event, data); err != nil {
		return err
	}
	s.f.Flush()
	return nil
}

func (s *sseWriter) comment(c string) error {
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", c); err != nil {
		return err
	}
	s.f.Flush()
	return nil
}
