package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/voidnxlabs/berth/project"
)

// handleLogs is `berth logs`: GET /api/logs?target=ml&follow=1&since=10m&tail=200.
// The lines come as server-sent events ("line" with a project.LogLine,
// "notice", "end", "problem") when the client accepts text/event-stream
// (EventSource does), else as NDJSON, one LogLine per line.
func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	o := project.LogsOptions{Targets: q["target"], Follow: q.Get("follow") == "1" || q.Get("follow") == "true", Tail: -1}
	if t := q.Get("tail"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			fail(w, fmt.Errorf("%w: tail=%q is not a number", errBadRequest, t))
			return
		}
		o.Tail = n
	}
	if v := q.Get("since"); v != "" {
		since, err := parseSince(v, time.Now())
		if err != nil {
			fail(w, err)
			return
		}
		o.Since = since
	}
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		sse, ok := startSSE(w)
		if !ok {
			return
		}
		o.Line = func(l project.LogLine) { _ = sse.send("line", mustJSON(l)) }
		o.Events = func(ev project.Event) { _ = sse.send("notice", mustJSON(ev)) }
		res, err := s.proj().Logs(r.Context(), o)
		if err != nil {
			_ = sse.send("problem", mustJSON(apiError{Error: err.Error(), Hint: hintOf(err)}))
			return
		}
		_ = sse.send("end", mustJSON(res))
		return
	}
	var out *ndjson
	o.Line = func(l project.LogLine) {
		if out == nil {
			out = startNDJSON(w)
		}
		out.write(l)
	}
	_, err := s.proj().Logs(r.Context(), o)
	if err != nil && out == nil {
		fail(w, err)
		return
	}
	if err != nil {
		out.write(apiError{Error: err.Error(), Hint: hintOf(err)})
	}
	if out == nil {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
}

// parseSince reads --since: a duration back from now (10m) or a time
// (RFC 3339).
func parseSince(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%w: since=%q is neither a duration (10m) nor a time (2026-12-04T10:00:00Z)", errBadRequest, v)
}

// userRE is what --user of exec takes: a name or number, and a group.
var userRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?$`)

// termControl is a text message from the terminal page: a size change.
type termControl struct {
	Type string `json:"type"` // "resize"
	Rows uint   `json:"rows"`
	Cols uint   `json:"cols"`
}

// handleTerminal is `berth enter` over a WebSocket:
// GET /api/terminal?target=ml-ollama&confirm=ml-ollama[&user=root]. Binary
// messages carry the terminal's bytes both ways; text messages from the
// page carry size changes. When the shell exits the socket closes with
// status 1000 and the reason "exit N". The confirm parameter must repeat
// the target: a shell is root in the container.
func (s *Server) handleTerminal(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	target := q.Get("target")
	if target == "" {
		fail(w, fmt.Errorf("%w: the terminal needs ?target=CONTAINER", errBadRequest))
		return
	}
	if q.Get("confirm") != target {
		fail(w, fmt.Errorf("a shell in %s %w", target, errConfirm))
		return
	}
	if _, err := s.proj().One(target); err != nil {
		fail(w, err)
		return
	}
	if u := q.Get("user"); u != "" && !userRE.MatchString(u) {
		fail(w, fmt.Errorf("%w: user %q is not NAME, UID or NAME:GROUP", errBadRequest, u))
		return
	}
	// The guard has checked Origin already; the library's own check would
	// refuse the same and more (no Origin at all), so it is told not to.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	stdinR, stdinW := io.Pipe()
	resize := make(chan [2]uint, 4)
	go func() {
		defer stdinW.Close()
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				cancel()
				return
			}
			if typ == websocket.MessageBinary {
				if _, err := stdinW.Write(data); err != nil {
					return
				}
				continue
			}
			var tc termControl
			if json.Unmarshal(data, &tc) == nil && tc.Type == "resize" && tc.Rows > 0 && tc.Cols > 0 {
				select {
				case resize <- [2]uint{tc.Rows, tc.Cols}:
				default:
				}
			}
		}
	}()
	out := &wsWriter{ctx: ctx, c: c}
	res, err := s.proj().Exec(ctx, project.ExecOptions{Target: target, User: q.Get("user"), TTY: true, Resize: resize,
		Env: []string{"TERM=xterm"}, Stdin: stdinR, Stdout: out, Stderr: out})
	s.metrics.terminal()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return
		}
		msg := err.Error()
		if h := hintOf(err); h != "" {
			msg += " (" + h + ")"
		}
		// A close reason is at most 123 bytes.
		if len(msg) > 120 {
			msg = msg[:120]
		}
		_ = c.Close(websocket.StatusInternalError, msg)
		return
	}
	_ = c.Close(websocket.StatusNormalClosure, "exit "+strconv.Itoa(res.ExitCode))
}

// wsWriter sends what the shell writes as binary messages.
type wsWriter struct {
	ctx context.Context
	c   *websocket.Conn
}

func (w *wsWriter) Write(p []byte) (int, error) {
	if err := w.c.Write(w.ctx, websocket.MessageBinary, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
