package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/voidnxlabs/berth/project"
	"github.com/voidnxlabs/berth/runtime"
)

// navItem is one page of the app.
type navItem struct {
	Page, Path, Title string
	// template is the page's content template; data fills it.
	template string
	data     func(s *Server, r *http.Request) (any, error)
}

var nav = []navItem{
	{Page: "overview", Path: "/{$}", Title: "Overview", template: "overview.html", data: (*Server).overviewData},
	{Page: "plan", Path: "/plan", Title: "Plan & apply", template: "plan.html", data: (*Server).planData},
	{Page: "logs", Path: "/logs", Title: "Logs", template: "logs.html", data: (*Server).containersData},
	{Page: "terminal", Path: "/terminal", Title: "Terminal", template: "terminal.html", data: (*Server).containersData},
	{Page: "images", Path: "/images", Title: "Images", template: "table.html", data: (*Server).imagesData},
	{Page: "backups", Path: "/backups", Title: "Backups", template: "table.html", data: (*Server).backupsData},
	{Page: "gpus", Path: "/gpus", Title: "GPUs", template: "table.html", data: (*Server).gpusData},
	{Page: "doctor", Path: "/doctor", Title: "Doctor", template: "table.html", data: (*Server).doctorData},
	{Page: "chat", Path: "/chat", Title: "Chat", template: "chat.html", data: (*Server).chatData},
}

type navLink struct{ Page, Path, Title string }

// pageData is what the layout template gets.
type pageData struct {
	Title, Page, Project, Runtime, Assets string
	Nav                                   []navLink
	Data                                  any
	Error, Hint                           string
}

func (s *Server) parseTemplates() error {
	layout, err := template.ParseFS(files, "templates/layout.html")
	if err != nil {
		return fmt.Errorf("parsing the layout: %w", err)
	}
	for _, pg := range nav {
		if _, ok := s.pages[pg.template]; ok {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(files, "templates/"+pg.template)
		if err != nil {
			return fmt.Errorf("parsing %s: %w", pg.template, err)
		}
		s.pages[pg.template] = t
	}
	s.rowTmpl = s.pages["overview.html"].Lookup("row")
	_, err = fs.Stat(files, "assets/app.js")
	return err
}

func (s *Server) page(pg navItem) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d := pageData{Title: pg.Title, Page: pg.Page, Project: s.proj().Config().Project, Runtime: s.proj().RuntimeName(), Assets: s.assets}
		for _, n := range nav {
			d.Nav = append(d.Nav, navLink{Page: n.Page, Path: strings.TrimSuffix(n.Path, "{$}"), Title: n.Title})
		}
		code := http.StatusOK
		data, err := pg.data(s, r)
		if err != nil {
			d.Error, d.Hint = err.Error(), hintOf(err)
			code = statusOf(err)
		}
		d.Data = data
		if cerr := s.configProblem(); cerr != nil && d.Error == "" {
			d.Error = "berth.yaml changed and has problems; this shows the config as it was: " + cerr.Error()
			d.Hint = "run 'berth validate' for every problem with its line"
		}
		var buf bytes.Buffer
		if err := s.pages[pg.template].ExecuteTemplate(&buf, "layout", d); err != nil {
			http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(code)
		_, _ = w.Write(buf.Bytes())
	}
}

// row is one container as the overview shows it.
type row struct {
	Name, Kit, State, Health, Detail, Address, Ports, GPU, Limits, Uptime, Image string
	ExitCode                                                                     int
	Stale, Running                                                               bool
}

type kitRows struct {
	Name string
	Rows []row
}

type overview struct {
	Kits []kitRows
}

func toRow(c project.ContainerStatus) row {
	r := row{Name: c.Name, Kit: c.Kit, State: c.State, Health: c.Health, Detail: c.Detail,
		Ports: strings.Join(c.Ports, " "), GPU: c.GPU, Limits: limits(c.Resources), Uptime: c.Uptime,
		Image: c.Image, ExitCode: c.ExitCode, Running: c.State == runtime.StateRunning}
	r.Stale = !c.UpToDate && c.State != project.StateMissing && c.State != project.StateOrphan
	if c.Address.IsValid() {
		r.Address = c.Address.String()
	}
	if r.Kit == "" {
		r.Kit = "-"
	}
	return r
}

func group(rows []row) []kitRows {
	var kits []kitRows
	for _, r := range rows {
		i := slices.IndexFunc(kits, func(k kitRows) bool { return k.Name == r.Kit })
		if i < 0 {
			kits = append(kits, kitRows{Name: r.Kit})
			i = len(kits) - 1
		}
		kits[i].Rows = append(kits[i].Rows, r)
	}
	slices.SortStableFunc(kits, func(a, b kitRows) int { return strings.Compare(a.Name, b.Name) })
	return kits
}

func (s *Server) overviewData(r *http.Request) (any, error) {
	st, err := s.proj().Status(r.Context(), project.StatusOptions{})
	if err != nil {
		return overview{}, err
	}
	rows := make([]row, len(st))
	for i, c := range st {
		rows[i] = toRow(c)
	}
	return overview{Kits: group(rows)}, nil
}

// renderRow is the HTML of one overview row: the page and the live
// updates share it, so a row looks the same however it arrived.
func (s *Server) renderRow(r row) (string, error) {
	var b bytes.Buffer
	err := s.rowTmpl.Execute(&b, r)
	return b.String(), err
}

// containersData lists the config's containers, for the pickers of the
// logs and terminal pages.
func (s *Server) containersData(r *http.Request) (any, error) {
	var names []string
	for _, c := range s.proj().Config().Enabled() {
		names = append(names, c.Container)
	}
	slices.Sort(names)
	return struct{ Containers []string }{names}, nil
}

// limits prints resource limits compactly: mem=4GiB cpus=2 pids=512. The
// engine's default shm size (64 MiB) is nobody's setting and stays out.
func limits(r runtime.Resources) string {
	var parts []string
	if r.MemoryBytes > 0 {
		parts = append(parts, "mem="+binary(r.MemoryBytes))
	}
	if r.NanoCPUs > 0 {
		parts = append(parts, "cpus="+strconv.FormatFloat(float64(r.NanoCPUs)/1e9, 'f', -1, 64))
	}
	if r.ShmBytes > 0 && r.ShmBytes != 64<<20 {
		parts = append(parts, "shm="+binary(r.ShmBytes))
	}
	if r.PidsLimit > 0 {
		parts = append(parts, "pids="+strconv.FormatInt(r.PidsLimit, 10))
	}
	return strings.Join(parts, " ")
}

// binary prints a limit the way it was most likely written: 4GiB, 512MiB.
func binary(n int64) string {
	for _, u := range []struct {
		s string
		n int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.n && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
