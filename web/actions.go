package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/voidnxlabs/berth/project"
	"github.com/voidnxlabs/berth/state"
)

// handleStatus is `berth status --json`: GET /api/status?target=ml.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	rows, err := s.proj().Status(r.Context(), project.StatusOptions{Targets: r.URL.Query()["target"]})
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rows)
}

// handlePlan is `berth plan --json`: GET /api/plan?target=ml.
func (s *Server) handlePlan(w http.ResponseWriter, r *http.Request) {
	pl, err := s.proj().Plan(r.Context(), project.PlanOptions{Targets: r.URL.Query()["target"]})
	if err != nil {
		fail(w, err)
		return
	}
	data, err := pl.JSON()
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(data, '\n'))
}

// runRequest is the body of the changing actions.
type runRequest struct {
	// Targets select containers; none means the whole project.
	Targets []string `json:"targets"`
	// Wait waits for health after starting (up, start, restart).
	Wait bool `json:"wait"`
	// Confirm must repeat what a destructive action acts on (see
	// confirmWord); without it the action answers 428 and does nothing.
	Confirm string `json:"confirm"`
	// Generation is what rollback goes back to.
	Generation int `json:"generation"`
}

// confirmWord is what a destructive action's confirm must say: its
// targets, space-separated, or "all".
func confirmWord(targets []string) string {
	if len(targets) == 0 {
		return "all"
	}
	return strings.Join(targets, " ")
}

// destructive actions need a confirmation: they remove containers or turn
// the project back to another configuration.
var destructive = map[string]bool{"down": true, "rollback": true}

func decodeRun(r *http.Request) (runRequest, error) {
	var req runRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return req, err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return req, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("%w: reading the request body: %v", errBadRequest, err)
	}
	return req, nil
}

// streamLine is one line of an NDJSON stream of an action: events as they
// come, then the result or the error.
type streamLine struct {
	Event  *project.Event `json:"event,omitempty"`
	Result any            `json:"result,omitempty"`
	Error  string         `json:"error,omitempty"`
	Hint   string         `json:"hint,omitempty"`
}

// ndjson writes one JSON value per line and flushes each; safe for
// concurrent use.
type ndjson struct {
	mu sync.Mutex
	w  http.ResponseWriter
	f  http.Flusher
}

func startNDJSON(w http.ResponseWriter) *ndjson {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	n := &ndjson{w: w, f: f}
	n.flush()
	return n
}

func (n *ndjson) write(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	_, _ = n.w.Write(append(data, '\n'))
	n.flush()
}

func (n *ndjson) flush() {
	if n.f != nil {
		n.f.Flush()
	}
}

// streaming says whether the client asked for progress as NDJSON.
func streaming(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/x-ndjson")
}

// handleRun serves POST /api/{up,down,start,stop,restart}. The answer is
// the RunResult (`berth up --json`), or, with Accept: application/x-ndjson,
// the progress events as they happen followed by the result.
func (s *Server) handleRun(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, err := decodeRun(r)
		if err != nil {
			fail(w, err)
			return
		}
		if destructive[action] && req.Confirm != confirmWord(req.Targets) {
			fail(w, fmt.Errorf("%s %s %w", action, confirmWord(req.Targets), errConfirm))
			return
		}
		s.run(w, r, action, func(ctx context.Context, events func(project.Event)) (*project.RunResult, error) {
			lo := project.LifecycleOptions{Targets: req.Targets, Wait: req.Wait, Events: events}
			switch action {
			case "up":
				return s.proj().Up(ctx, project.UpOptions{Targets: req.Targets, Wait: req.Wait, Events: events})
			case "down":
				return s.proj().Down(ctx, project.DownOptions{Targets: req.Targets, Events: events})
			case "start":
				return s.proj().Start(ctx, lo)
			case "stop":
				return s.proj().Stop(ctx, lo)
			case "restart":
				return s.proj().Restart(ctx, lo)
			}
			return nil, fmt.Errorf("%w: unknown action %q", errBadRequest, action)
		})
	}
}

// run carries out one changing use case and answers with its result, its
// events streamed when asked for.
func (s *Server) run(w http.ResponseWriter, r *http.Request, action string, f func(context.Context, func(project.Event)) (*project.RunResult, error)) {
	began := time.Now()
	var out *ndjson
	var events func(project.Event)
	if streaming(r) {
		out = startNDJSON(w)
		events = func(ev project.Event) { out.write(streamLine{Event: &ev}) }
	}
	res, err := f(r.Context(), events)
	s.metrics.ran(action, time.Since(began), err)
	if err == nil {
		s.live.poke()
	}
	switch {
	case out != nil && err != nil:
		out.write(streamLine{Error: err.Error(), Hint: hintOf(err)})
	case out != nil:
		out.write(streamLine{Result: res})
	case err != nil:
		fail(w, err)
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

// handleGenerations is `berth generations --json`: oldest first.
func (s *Server) handleGenerations(w http.ResponseWriter, r *http.Request) {
	gens, err := s.proj().Generations()
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, gens)
}

// generationDetail is one generation with its configuration text.
type generationDetail struct {
	state.Generation
	Config string `json:"config"`
}

func (s *Server) generation(n int) (generationDetail, error) {
	g, err := s.proj().Generation(n)
	if err != nil {
		return generationDetail{}, err
	}
	return generationDetail{Generation: g, Config: string(g.Config)}, nil
}

func (s *Server) handleGeneration(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		fail(w, fmt.Errorf("%w: generation %q is not a number", errBadRequest, r.PathValue("n")))
		return
	}
	g, err := s.generation(n)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

// diffJSON is the difference between two generations' configurations.
type diffJSON struct {
	From  int    `json:"from"`
	To    int    `json:"to"`
	Diff  string `json:"diff"` // unified-style lines: " ", "-", "+"
	Equal bool   `json:"equal"`
}

// handleDiff: GET /api/diff?from=1&to=2 compares the configurations two
// generations were made from.
func (s *Server) handleDiff(w http.ResponseWriter, r *http.Request) {
	var ns [2]int
	for i, k := range []string{"from", "to"} {
		n, err := strconv.Atoi(r.URL.Query().Get(k))
		if err != nil {
			fail(w, fmt.Errorf("%w: %s=%q is not a generation number", errBadRequest, k, r.URL.Query().Get(k)))
			return
		}
		ns[i] = n
	}
	a, err := s.generation(ns[0])
	if err != nil {
		fail(w, err)
		return
	}
	b, err := s.generation(ns[1])
	if err != nil {
		fail(w, err)
		return
	}
	d := lineDiff(a.Config, b.Config)
	writeJSON(w, http.StatusOK, diffJSON{From: ns[0], To: ns[1], Diff: d, Equal: a.Config == b.Config})
}

// handleRollback: POST /api/rollback {"generation": N, "confirm": "N"}.
func (s *Server) handleRollback(w http.ResponseWriter, r *http.Request) {
	req, err := decodeRun(r)
	if err != nil {
		fail(w, err)
		return
	}
	if req.Generation <= 0 {
		fail(w, fmt.Errorf("%w: rollback needs a generation number", errBadRequest))
		return
	}
	if req.Confirm != strconv.Itoa(req.Generation) {
		fail(w, fmt.Errorf("rollback to %d %w", req.Generation, errConfirm))
		return
	}
	s.run(w, r, "rollback", func(ctx context.Context, events func(project.Event)) (*project.RunResult, error) {
		return s.proj().Rollback(ctx, project.RollbackOptions{Generation: req.Generation, Wait: req.Wait, Events: events})
	})
}

// lineDiff is a line diff of a and b by longest common subsequence, in the
// unified style without hunks: every line of both, prefixed " ", "-" or
// "+". Configurations are small, so the quadratic table is cheap.
func lineDiff(a, b string) string {
	x, y := strings.SplitAfter(a, "\n"), strings.SplitAfter(b, "\n")
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	line := func(p, s string) {
		if s == "" {
			return
		}
		out.WriteString(p + strings.TrimSuffix(s, "\n") + "\n")
	}
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case x[i] == y[j]:
			line(" ", x[i])
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			line("-", x[i])
			i++
		default:
			line("+", y[j])
			j++
		}
	}
	for ; i < n; i++ {
		line("-", x[i])
	}
	for ; j < m; j++ {
		line("+", y[j])
	}
	return out.String()
}
