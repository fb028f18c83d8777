package deb

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// Universe is the set of packages a resolution may choose from, drawn from
// one or more suites.
type Universe struct {
	byName    map[string][]*Package
	providers map[string][]*Package
	rank      map[string]int  // suite → order given; lower is preferred
	defaults  map[string]bool // suites whose packages are candidates by default
	arch      string
}

// NewUniverse indexes packages. defaultSuites are preferred for every
// choice, as apt's default release is; packages of the other suites
// (backports, a newer release) are taken only when asked for by name
// ("pkg/trixie") or when no default candidate meets a version constraint.
func NewUniverse(arch string, defaultSuites, otherSuites []string, pkgs ...[]*Package) *Universe {
	u := &Universe{
		byName:    map[string][]*Package{},
		providers: map[string][]*Package{},
		rank:      map[string]int{},
		defaults:  map[string]bool{},
		arch:      arch,
	}
	for i, s := range defaultSuites {
		u.rank[s] = i
		u.defaults[s] = true
	}
	for i, s := range otherSuites {
		u.rank[s] = len(defaultSuites) + i
	}
	for _, set := range pkgs {
		for _, p := range set {
			if p.Architecture != arch && p.Architecture != "all" {
				continue
			}
			u.byName[p.Name] = append(u.byName[p.Name], p)
			for _, pr := range p.Provides {
				u.providers[pr.Name] = append(u.providers[pr.Name], p)
			}
		}
	}
	for _, list := range u.byName {
		u.sortCandidates(list)
	}
	for _, list := range u.providers {
		u.sortCandidates(list)
	}
	return u
}

// sortCandidates orders packages by preference: default suites before
// others, then the highest version, then suite order.
func (u *Universe) sortCandidates(list []*Package) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if da, db := u.defaults[a.Suite], u.defaults[b.Suite]; da != db {
			return da
		}
		if !u.defaults[a.Suite] && u.rank[a.Suite] != u.rank[b.Suite] {
			return u.rank[a.Suite] < u.rank[b.Suite]
		}
		if c := CompareVersions(a.Version, b.Version); c != 0 {
			return c > 0
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return u.rank[a.Suite] < u.rank[b.Suite]
	})
}

// Request is what to install.
type Request struct {
	// Packages are "name", "name=version" or "name/suite".
	Packages []string
	// Exclude lists names or path.Match patterns never to install; a
	// dependency whose alternatives are all excluded is dropped.
	Exclude []string
}

// ResolveError explains why a package could not be installed.
type ResolveError struct {
	Chain []string // requested package … the package whose dependency failed
	Need  string
	Why   string
}

func (e *ResolveError) Error() string {
	return fmt.Sprintf("resolving %s: %s depends on %s: %s", e.Chain[0], strings.Join(e.Chain, " → "), e.Need, e.Why)
}

type constraint struct {
	rel     Relation
	version string
}

// Resolve picks a package for every requested name and, transitively, for
// every Pre-Depends and Depends clause. Alternatives are tried in order;
// a clause already met by a chosen package (or one it Provides) adds
// nothing. The result is sorted by name.
func (u *Universe) Resolve(req Request) ([]*Package, error) {
	chosen := map[string]*Package{}
	cons := map[string][]constraint{}
	parent := map[string]string{}
	type item struct {
		from *Package
		cl   Clause
	}
	var queue []item
	excluded := func(name string) bool {
		for _, pat := range req.Exclude {
			if ok, _ := path.Match(pat, name); ok || pat == name {
				return true
			}
		}
		return false
	}
	chain := func(p *Package) []string {
		var c []string
		for n := p.Name; n != ""; n = parent[n] {
			c = append([]string{n}, c...)
			if len(c) > 64 {
				break
			}
		}
		return c
	}
	add := func(p *Package, from *Package) {
		if old := chosen[p.Name]; old == p {
			return
		}
		chosen[p.Name] = p
		if from != nil {
			if _, ok := parent[p.Name]; !ok {
				parent[p.Name] = from.Name
			}
		}
		for _, cl := range p.Depends {
			queue = append(queue, item{p, cl})
		}
	}
	// pick returns the preferred candidate named n meeting every
	// constraint recorded for n plus c.
	pick := func(n string, c constraint, suite string) *Package {
		for _, p := range u.byName[n] {
			if suite != "" && p.Suite != suite {
				continue
			}
			if !Satisfies(p.Version, c.rel, c.version) {
				continue
			}
			ok := true
			for _, o := range cons[n] {
				if !Satisfies(p.Version, o.rel, o.version) {
					ok = false
					break
				}
			}
			if ok {
				return p
			}
		}
		return nil
	}
	met := func(d Dep) bool {
		if p := chosen[d.Name]; p != nil && Satisfies(p.Version, d.Rel, d.Version) {
			return true
		}
		for _, p := range u.providers[d.Name] {
			if chosen[p.Name] != p {
				continue
			}
			if providesMatch(p, d) {
				return true
			}
		}
		return false
	}

	for _, spec := range req.Packages {
		name, suite, version := spec, "", ""
		if n, v, ok := strings.Cut(spec, "="); ok {
			name, version = n, v
		} else if n, s, ok := strings.Cut(spec, "/"); ok {
			name, suite = n, s
		}
		c := constraint{}
		if version != "" {
			c = constraint{RelEQ, version}
		}
		p := pick(name, c, suite)
		if p == nil {
			why := "no such package"
			if len(u.byName[name]) > 0 {
				why = "no candidate matches"
			} else if len(u.providers[name]) > 0 {
				why = "it is a virtual package; name one of its providers: " + providerNames(u.providers[name])
			}
			return nil, fmt.Errorf("resolving %s: %s", spec, why)
		}
		if c.rel != RelAny {
			cons[name] = append(cons[name], c)
		}
		add(p, nil)
	}

	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		if chosen[it.from.Name] != it.from {
			continue // the package was replaced by another version
		}
		satisfied := false
		for _, d := range it.cl {
			if met(d) {
				satisfied = true
				break
			}
		}
		if satisfied {
			continue
		}
		allExcluded := true
		var chosenOne *Package
		var why []string
		for _, d := range it.cl {
			if excluded(d.Name) {
				continue
			}
			allExcluded = false
			c := constraint{d.Rel, d.Version}
			if old := chosen[d.Name]; old != nil {
				// A version is already chosen but does not meet this
				// constraint: move to one that meets all of them.
				if p := pick(d.Name, c, ""); p != nil {
					cons[d.Name] = append(cons[d.Name], c)
					chosenOne = p
					break
				}
				why = append(why, fmt.Sprintf("%s %s is chosen and no version meets every constraint", d.Name, old.Version))
				continue
			}
			if p := pick(d.Name, c, ""); p != nil {
				if c.rel != RelAny {
					cons[d.Name] = append(cons[d.Name], c)
				}
				chosenOne = p
				break
			}
			var provs []*Package
			for _, p := range u.providers[d.Name] {
				if !excluded(p.Name) && providesMatch(p, d) {
					provs = append(provs, p)
				}
			}
			if len(provs) > 0 {
				sortProviders(provs)
				chosenOne = provs[0]
				break
			}
			if len(u.byName[d.Name]) > 0 || len(u.providers[d.Name]) > 0 {
				why = append(why, fmt.Sprintf("no version of %s matches", d.Name))
			} else {
				why = append(why, fmt.Sprintf("%s is not in any suite", d.Name))
			}
		}
		if allExcluded {
			continue
		}
		if chosenOne == nil {
			return nil, &ResolveError{Chain: chain(it.from), Need: it.cl.String(), Why: strings.Join(why, "; ")}
		}
		add(chosenOne, it.from)
	}

	out := make([]*Package, 0, len(chosen))
	for _, p := range chosen {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// providesMatch reports whether p provides d: any Provides of the name
// meets an unversioned dependency; a versioned one needs "(= version)".
func providesMatch(p *Package, d Dep) bool {
	for _, pr := range p.Provides {
		if pr.Name != d.Name {
			continue
		}
		if d.Rel == RelAny || (pr.Rel == RelEQ && Satisfies(pr.Version, d.Rel, d.Version)) {
			return true
		}
	}
	return false
}

var priorityRank = map[string]int{"required": 0, "important": 1, "standard": 2, "optional": 3, "extra": 4}

// sortProviders orders the real packages providing a virtual one: the most
// basic priority first, then by name, so the choice is stable.
func sortProviders(ps []*Package) {
	sort.SliceStable(ps, func(i, j int) bool {
		ri, ok := priorityRank[ps[i].Priority]
		if !ok {
			ri = 5
		}
		rj, ok := priorityRank[ps[j].Priority]
		if !ok {
			rj = 5
		}
		if ri != rj {
			return ri < rj
		}
		return ps[i].Name < ps[j].Name
	})
}

func providerNames(ps []*Package) string {
	seen := map[string]bool{}
	var names []string
	for _, p := range ps {
		if !seen[p.Name] {
			seen[p.Name] = true
			names = append(names, p.Name)
		}
	}
	sort.Strings(names)
	if len(names) > 8 {
		names = append(names[:8], "…")
	}
	return strings.Join(names, ", ")
}

// InstallOrder sorts packages so that each comes after what it depends on
// (cycles broken by name), for a stable layer order.
func InstallOrder(pkgs []*Package) []*Package {
	byName := map[string]*Package{}
	prov := map[string]string{}
	for _, p := range pkgs {
		byName[p.Name] = p
	}
	for _, p := range pkgs {
		for _, pr := range p.Provides {
			if _, ok := prov[pr.Name]; !ok {
				prov[pr.Name] = p.Name
			}
		}
	}
	sorted := append([]*Package(nil), pkgs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	state := map[string]int{} // 1 visiting, 2 done
	var out []*Package
	var visit func(p *Package)
	visit = func(p *Package) {
		if state[p.Name] != 0 {
			return
		}
		state[p.Name] = 1
		for _, cl := range p.Depends {
			for _, d := range cl {
				n := d.Name
				if byName[n] == nil {
					n = prov[n]
				}
				if q := byName[n]; q != nil {
					visit(q)
					break
				}
			}
		}
		state[p.Name] = 2
		out = append(out, p)
	}
	for _, p := range sorted {
		visit(p)
	}
	return out
}
