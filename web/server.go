// Package web is berth's HTTP adapter: `berth serve`'s pages, JSON API,
// live events, terminal and metrics over a project.Project. Every page and
// endpoint calls the same use case the CLI does and only translates: query
// and form values into options, events into server-sent events or NDJSON,
// results into HTML or JSON (the shapes `berth … --json` prints), errors
// into status codes with their hint.
//
// Safety comes first: the server answers only to its own host names, every
// request needs the token (a cookie set from the printed ?token= address,
// or a bearer header), a request that changes something must come from the
// server's own origin, and the terminal and destructive actions need an
// explicit confirmation. See guard.go.
package web

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/voidnxlabs/berth/config"
	"github.com/voidnxlabs/berth/image"
	"github.com/voidnxlabs/berth/project"
	"github.com/voidnxlabs/berth/runtime"
	"github.com/voidnxlabs/berth/state"
)

//go:embed assets templates
var files embed.FS

// Options configure a Server.
type Options struct {
	// Project is what the server shows and acts on.
	Project *project.Project
	// Reopen, when set, opens the project again; the server calls it when
	// berth.yaml changed on disk, so that an edit shows in the plan without
	// a restart. A config with problems keeps the last good project and
	// shows them.
	Reopen func(context.Context) (*project.Project, error)
	// Token is the secret every request must carry.
	Token string
	// Listen is where the server listens; Names are the host names it
	// answers to (Listen.Names).
	Listen Listen
	Names  []string
	// TLS says the server is reached over HTTPS (the cookie gets Secure,
	// origins are https://).
	TLS bool
	// Poll is how often the live overview asks the engine for changes;
	// 250 ms when zero.
	Poll time.Duration
	// Version is berth's version, shown in the page footer and metrics.
	Version string
}

// Server is berth serve's HTTP handler.
type Server struct {
	o       Options
	p       *project.Project
	mux     *http.ServeMux
	pages   map[string]*template.Template
	rowTmpl *template.Template
	assets  string // a digest of the assets, for cache-busting URLs
	static  http.Handler
	live    *hub
	metrics *metrics

	pmu       sync.Mutex
	stamp     fileStamp // berth.yaml when p was opened
	configErr error     // why the changed berth.yaml was not taken
}

// fileStamp tells a changed file: its modification time and size.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi.ModTime(), fi.Size()}
}

// proj is the project, opened again first when berth.yaml changed.
func (s *Server) proj() *project.Project {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	if s.o.Reopen == nil {
		return s.p
	}
	st := stampOf(s.p.ConfigFile())
	if st == s.stamp {
		return s.p
	}
	s.stamp = st
	np, err := s.o.Reopen(context.Background())
	if err != nil {
		s.configErr = err
		return s.p
	}
	s.p, s.configErr = np, nil
	return s.p
}

// configProblem is why the server still shows the config as it was.
func (s *Server) configProblem() error {
	s.proj()
	s.pmu.Lock()
	defer s.pmu.Unlock()
	return s.configErr
}

// New makes a Server.
func New(o Options) (*Server, error) {
	if o.Project == nil {
		return nil, errors.New("web: no project")
	}
	if len(o.Token) < 16 {
		return nil, errors.New("web: the token is too short")
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	s := &Server{o: o, p: o.Project, mux: http.NewServeMux(), pages: map[string]*template.Template{}}
	s.stamp = stampOf(o.Project.ConfigFile())
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	assets, err := fs.Sub(files, "assets")
	if err != nil {
		return nil, err
	}
	sum := sha256.New()
	_ = fs.WalkDir(assets, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := fs.ReadFile(assets, p)
			sum.Write(data)
		}
		return nil
	})
	s.assets = hex.EncodeToString(sum.Sum(nil))[:12]
	s.static = http.StripPrefix("/static/", http.FileServerFS(assets))
	s.live = newHub(s)
	s.metrics = newMetrics(s)
	s.routes()
	return s, nil
}

// Handler is the server with its guard: what to hand to http.Server.
func (s *Server) Handler() http.Handler {
	return newGuard(s.o.Token, s.o.Names, s.o.Listen.Port, s.o.TLS, s.mux)
}

// URL is the address to open, token included.
func (s *Server) URL() string {
	scheme := "http"
	if s.o.TLS {
		scheme = "https"
	}
	host := s.o.Listen.Host
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
		if len(s.o.Names) > 0 {
			host = s.o.Names[0]
		}
	}
	return fmt.Sprintf("%s://%s/?token=%s", scheme, net.JoinHostPort(host, strconv.Itoa(s.o.Listen.Port)), s.o.Token)
}

// Serve serves on l until ctx ends, then shuts down, giving running
// requests a few seconds.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(l) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return nil
}

func (s *Server) routes() {
	m := s.mux
	m.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Asset URLs carry the digest of the assets, so they may be cached.
		w.Header().Set("Cache-Control", "private, max-age=86400")
		s.static.ServeHTTP(w, r)
	}))
	for _, pg := range nav {
		m.HandleFunc("GET "+pg.Path, s.page(pg))
	}
	m.HandleFunc("GET /events", s.handleEvents)
	m.HandleFunc("GET /api/status", s.handleStatus)
	m.HandleFunc("GET /api/plan", s.handlePlan)
	for _, a := range []string{"up", "down", "start", "stop", "restart"} {
		m.HandleFunc("POST /api/"+a, s.handleRun(a))
	}
	m.HandleFunc("GET /api/generations", s.handleGenerations)
	m.HandleFunc("GET /api/generations/{n}", s.handleGeneration)
	m.HandleFunc("GET /api/diff", s.handleDiff)
	m.HandleFunc("POST /api/rollback", s.handleRollback)
	m.HandleFunc("GET /api/logs", s.handleLogs)
	m.HandleFunc("GET /api/terminal", s.handleTerminal)
	m.HandleFunc("GET /api/images", s.handleImages)
	m.HandleFunc("POST /api/images/build", s.handleImageBuild)
	m.HandleFunc("GET /api/gpus", s.handleGPUs)
	m.HandleFunc("GET /api/doctor", s.handleDoctor)
	m.HandleFunc("GET /api/backups", s.handleBackups)
	m.HandleFunc("POST /api/backup", s.handleBackup)
	m.HandleFunc("POST /api/backups/verify", s.handleBackupVerify)
	m.HandleFunc("POST /api/restore", s.handleRestore)
	m.HandleFunc("GET /api/chat/models", s.handleModels)
	m.HandleFunc("POST /api/chat/{container}/chat", s.handleChat)
	m.HandleFunc("POST /api/chat/{container}/pull", s.handleModelPull)
	m.HandleFunc("POST /api/chat/{container}/delete", s.handleModelDelete)
	m.HandleFunc("GET /api/openapi.json", s.handleOpenAPI)
	m.Handle("GET /metrics", s.metrics.handler())
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path, "see /api/openapi.json")
	})
}

// apiError is the JSON body of every failed API request.
type apiError struct {
	Error string `json:"error"`
	Hint  string `json:"hint,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeJSONError(w http.ResponseWriter, code int, msg, hint string) {
	writeJSON(w, code, apiError{Error: msg, Hint: hint})
}

// fail answers with err's status, text and hint.
func fail(w http.ResponseWriter, err error) {
	writeJSONError(w, statusOf(err), err.Error(), hintOf(err))
}

// statusOf maps the library's errors to HTTP status codes.
func statusOf(err error) int {
	var te *config.TargetError
	var ce config.Errors
	switch {
	case errors.As(err, &te), errors.As(err, &ce), errors.Is(err, project.ErrNotOne),
		errors.Is(err, project.ErrInvalidOption), errors.Is(err, project.ErrNothingSelected), errors.Is(err, errBadRequest),
		errors.Is(err, project.ErrNoRecipe), errors.Is(err, project.ErrNoImageNamed), errors.Is(err, project.ErrNothingToBackUp),
		errors.Is(err, project.ErrNotInBackup):
		return http.StatusBadRequest
	case errors.Is(err, runtime.ErrNotFound), errors.Is(err, state.ErrNotFound), errors.Is(err, image.ErrNotBuilt), errors.Is(err, project.ErrNoBackups):
		return http.StatusNotFound
	case errors.Is(err, project.ErrNotRunning), errors.Is(err, state.ErrLocked), errors.Is(err, errBusy):
		return http.StatusConflict
	case errors.Is(err, errConfirm):
		return http.StatusPreconditionRequired
	case errors.Is(err, runtime.ErrUnreachable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func hintOf(err error) string {
	if h := project.Hint(err); h != "" {
		return h
	}
	var ae *project.ApplyError
	if errors.As(err, &ae) {
		return ae.Hint()
	}
	var te *config.TargetError
	if errors.As(err, &te) {
		return "name a container, kit, kit/service or stack of the config"
	}
	return ""
}

var (
	errBadRequest = errors.New("bad request")
	errBusy       = errors.New("already running")
	errConfirm    = errors.New("needs confirmation")
)
