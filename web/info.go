package web

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/voidnxlabs/berth/doctor"
	"github.com/voidnxlabs/berth/plan"
	"github.com/voidnxlabs/berth/project"
)

// planPage is the plan page's data.
type planPage struct {
	Steps       []*plan.Op
	Summary     string
	Empty       bool
	Generations []genRow
}

type genRow struct {
	Number        int
	Time, Command string
	Containers    int
	Current       bool
}

func (s *Server) planData(r *http.Request) (any, error) {
	var d planPage
	gens, err := s.proj().Generations()
	if err != nil {
		return d, err
	}
	for i := len(gens) - 1; i >= 0; i-- {
		g := gens[i]
		d.Generations = append(d.Generations, genRow{Number: g.Number, Time: g.Time.Local().Format("2006-01-02 15:04:05"),
			Command: g.Command, Containers: g.Containers, Current: i == len(gens)-1})
	}
	pl, err := s.proj().Plan(r.Context(), project.PlanOptions{})
	if err != nil {
		d.Empty = true
		return d, err
	}
	d.Steps, d.Empty, d.Summary = pl.Ops, pl.Empty(), summary(pl)
	return d, nil
}

// summary counts a plan's steps by kind: "2 create, 1 start".
func summary(pl *plan.Plan) string {
	if pl.Empty() {
		return "nothing to do"
	}
	var parts []string
	counts := pl.Summary()
	seen := map[plan.Kind]bool{}
	for _, o := range pl.Ops {
		if !seen[o.Kind] {
			seen[o.Kind] = true
			parts = append(parts, fmt.Sprintf("%d %s", counts[o.Kind], o.Kind))
		}
	}
	return strings.Join(parts, ", ")
}

// tablePage is what the generic table template shows: sections of tables,
// findings or text.
type tablePage struct {
	Sections []section
}

type section struct {
	Title    string
	Head     []string
	Rows     []tableRow
	Empty    string
	Text     string
	Findings []finding
	Actions  []action
}

type tableRow struct {
	Cells   []string
	Actions []action
}

// action is a button that POSTs Body to Path, after a confirmation when
// Confirm is set.
type action struct {
	Label, Path, Body, Confirm string
	Danger                     bool
}

type finding struct {
	Title, Level, Class, Detail, Fix string
}

// gpusData is `berth gpu` and what each container asks for.
func (s *Server) gpusData(r *http.Request) (any, error) {
	inv, err := s.proj().GPUInventory(r.Context())
	if err != nil {
		return tablePage{}, err
	}
	d := tablePage{}
	gpus := section{Title: "This host's GPUs", Head: []string{"PCI address", "vendor", "model", "driver", "UUID"},
		Empty: "no GPU found (sources: " + strings.Join(inv.Sources, ", ") + ")"}
	for _, g := range inv.GPUs {
		gpus.Rows = append(gpus.Rows, tableRow{Cells: []string{g.Address, g.Vendor, g.Model, g.Driver, g.UUID}})
	}
	d.Sections = append(d.Sections, gpus)
	want := section{Title: "What containers ask for", Head: []string{"container", "request"}, Empty: "no container asks for a GPU"}
	st, _, err := s.proj().Desired(nil)
	if err == nil {
		for _, c := range st.Containers {
			if c.GPU != nil {
				want.Rows = append(want.Rows, tableRow{Cells: []string{c.Spec.Name, c.GPU.String()}})
			}
		}
	}
	d.Sections = append(d.Sections, want)
	d.Sections = append(d.Sections, section{Title: "Details", Text: inv.String()})
	return d, nil
}

func (s *Server) handleGPUs(w http.ResponseWriter, r *http.Request) {
	inv, err := s.proj().GPUInventory(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, inv)
}

// doctorData is `berth doctor`: every finding with its fix.
func (s *Server) doctorData(r *http.Request) (any, error) {
	rep, err := s.proj().Doctor(r.Context(), project.DoctorOptions{})
	if err != nil {
		return tablePage{}, err
	}
	sec := section{}
	for _, f := range rep.Findings {
		class := map[doctor.Status]string{doctor.OK: "ok", doctor.Warn: "warn", doctor.Fail: "bad"}[f.Status]
		sec.Findings = append(sec.Findings, finding{Title: f.Check, Level: string(f.Status), Class: class, Detail: f.Detail, Fix: f.Fix})
	}
	return tablePage{Sections: []section{sec}}, nil
}

// handleDoctor is `berth doctor --json`.
func (s *Server) handleDoctor(w http.ResponseWriter, r *http.Request) {
	rep, err := s.proj().Doctor(r.Context(), project.DoctorOptions{})
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// imagesData is `berth image list`: recipes and the images built from
// them, each with a Build button that streams the build's progress.
func (s *Server) imagesData(r *http.Request) (any, error) {
	infos, err := s.proj().Images()
	if err != nil {
		return tablePage{}, err
	}
	sec := section{Head: []string{"recipe", "origin", "locked", "size", "digest", "description", ""}, Empty: "no recipes"}
	for _, in := range infos {
		size, dg, locked := "-", "-", "no"
		if in.Digest != "" {
			size, dg = fmt.Sprintf("%.1f MB", float64(in.Size)/1e6), in.Digest
			if len(dg) > 19 {
				dg = dg[:19]
			}
		}
		if in.Locked {
			locked = "yes"
		}
		body, _ := json.Marshal(imageBuildRequest{Names: []string{in.Name}, Load: true})
		sec.Rows = append(sec.Rows, tableRow{Cells: []string{in.Name, in.Origin, locked, size, dg, in.Description},
			Actions: []action{{Label: "Build", Path: "/api/images/build", Body: string(body)}}})
	}
	return tablePage{Sections: []section{sec}}, nil
}

// handleImages is `berth image list --json`.
func (s *Server) handleImages(w http.ResponseWriter, r *http.Request) {
	infos, err := s.proj().Images()
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, infos)
}

// imageBuildRequest is the body of POST /api/images/build.
type imageBuildRequest struct {
	Names []string `json:"names"`
	All   bool     `json:"all"`
	// Load loads each image into the engine once built.
	Load bool `json:"load"`
}

// handleImageBuild is `berth image build [--load]`: the built images'
// records, or with Accept: application/x-ndjson the build's events first.
func (s *Server) handleImageBuild(w http.ResponseWriter, r *http.Request) {
	var req imageBuildRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		fail(w, fmt.Errorf("%w: reading the request body: %v", errBadRequest, err))
		return
	}
	var out *ndjson
	var events func(project.Event)
	if streaming(r) {
		out = startNDJSON(w)
		events = func(ev project.Event) { out.write(streamLine{Event: &ev}) }
	}
	began := time.Now()
	recs, err := s.proj().ImageBuild(r.Context(), project.ImageBuildOptions{Names: req.Names, All: req.All, Load: req.Load, Events: events})
	s.metrics.ran("image-build", time.Since(began), err)
	switch {
	case out != nil && err != nil:
		out.write(streamLine{Error: err.Error(), Hint: hintOf(err)})
	case out != nil:
		out.write(streamLine{Result: recs})
	case err != nil:
		fail(w, err)
	default:
		writeJSON(w, http.StatusOK, recs)
	}
}
