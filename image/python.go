package image

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Python installs packages from PyPI into the image's Python (Debian's
// python3), without pip in the image: requirements are resolved against
// PyPI's JSON API, a wheel is chosen per package for the image's Python
// and glibc, every file is pinned by name, version and sha256 in the lock,
// and the wheels are unpacked into site-packages by the builder itself.
type Python struct {
	// Requirements are PEP 508 lines: jupyterlab>=4,<5.
	Requirements []string `yaml:"requirements,omitempty"`
	// File is a requirements.txt or a pyproject.toml ([project]
	// dependencies), relative to the recipe's directory.
	File string `yaml:"file,omitempty"`
	// Provided names projects the image's Debian packages already give
	// (numpy from python3-numpy): they satisfy dependencies and are not
	// installed from PyPI.
	Provided []string `yaml:"provided,omitempty"`
	// Version is the image's Python, such as 3.11; by default that of
	// the locked python3 package.
	Version string `yaml:"version,omitempty"`
	// Index is PyPI's address (default https://pypi.org).
	Index string `yaml:"index,omitempty"`
	// Target is the site-packages directory (default
	// /usr/local/lib/pythonX.Y/dist-packages, on Debian's sys.path).
	Target string `yaml:"target,omitempty"`
}

// LockedPython pins a recipe's Python packages.
type LockedPython struct {
	Version     string        `json:"version"`     // 3.11
	FullVersion string        `json:"fullVersion"` // 3.11.2
	Glibc       string        `json:"glibc"`       // for manylinux tags
	Files       []LockedWheel `json:"files"`
}

// LockedWheel is one pinned file from PyPI.
type LockedWheel struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	File    string `json:"file"`
	URL     string `json:"url"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
}

const defaultPyPI = "https://pypi.org"

// pyRequirements returns the recipe's requirement lines, those of its
// file included.
func (b *Builder) pyRequirements(r Recipe) ([]string, error) {
	py := r.Python
	out := append([]string(nil), py.Requirements...)
	if py.File != "" {
		f := py.File
		if !path.IsAbs(f) {
			f = path.Join(b.opts.WorkDir, f)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("images.%s.python.file: %w", r.Name, err)
		}
		var more []string
		if strings.HasSuffix(f, ".toml") {
			more, err = parsePyproject(string(data))
		} else {
			more, err = parseRequirementsTxt(string(data))
		}
		if err != nil {
			return nil, fmt.Errorf("images.%s.python.file %s: %w", r.Name, py.File, err)
		}
		out = append(out, more...)
	}
	return out, nil
}

// pyProject is what PyPI's JSON API says of a project.
type pyProject struct {
	Info struct {
		Name string `json:"name"`
	} `json:"info"`
	Releases map[string][]pyFile `json:"releases"`
}

type pyFile struct {
	Filename       string  `json:"filename"`
	URL            string  `json:"url"`
	Size           int64   `json:"size"`
	PackageType    string  `json:"packagetype"`
	RequiresPython *string `json:"requires_python"`
	Yanked         bool    `json:"yanked"`
	Digests        struct {
		SHA256 string `json:"sha256"`
	} `json:"digests"`
}

// pyResolver resolves requirements against PyPI.
type pyResolver struct {
	b        *Builder
	index    string
	env      pyEnv
	glibc    [2]int
	tags     *pyTags
	projects map[string]*pyProject
	requires map[string][]string // name==version → Requires-Dist
}

type pyPick struct {
	name    string
	version pyVersion
	file    pyFile
}

// resolvePython pins the recipe's Python packages into lock.Python.
func (b *Builder) resolvePython(ctx context.Context, r Recipe, lock *Lock) error {
	if r.Python == nil {
		return nil
	}
	lines, err := b.pyRequirements(r)
	if err != nil {
		return err
	}
	ver, full := r.Python.Version, ""
	for _, p := range lock.Packages {
		if m := regexp.MustCompile(`^python(3\.\d+)$`).FindStringSubmatch(p.Name); m != nil && (ver == "" || ver == m[1]) {
			ver = m[1]
			full = regexp.MustCompile(`^(\d+\.\d+\.\d+)`).FindString(p.Version)
		}
	}
	if ver == "" {
		return fmt.Errorf("images.%s.python: the image has no Debian python3 package: add python3 to packages, or set python.version", r.Name)
	}
	if full == "" {
		full = ver + ".0"
	}
	glibc := "2.36"
	for _, p := range lock.Packages {
		if p.Name == "libc6" {
			if m := regexp.MustCompile(`^(\d+\.\d+)`).FindString(p.Version); m != "" {
				glibc = m
			}
		}
	}
	res := &pyResolver{b: b, index: strings.TrimSuffix(r.Python.Index, "/"), env: pyEnv{pythonVersion: ver, pythonFull: full},
		projects: map[string]*pyProject{}, requires: map[string][]string{}}
	if res.index == "" {
		res.index = defaultPyPI
	}
	gm, gn, _ := strings.Cut(glibc, ".")
	res.glibc[0], _ = strconv.Atoi(gm)
	res.glibc[1], _ = strconv.Atoi(gn)
	res.tags = newPyTags(ver, res.glibc)
	var top []pyReq
	for _, l := range lines {
		q, err := parsePyReq(l)
		if err != nil {
			return fmt.Errorf("images.%s.python: %w", r.Name, err)
		}
		top = append(top, q)
	}
	provided := map[string]bool{}
	for _, p := range r.Python.Provided {
		provided[normPyName(p)] = true
	}
	picks, err := res.resolve(ctx, r.Name, top, provided)
	if err != nil {
		return err
	}
	lp := &LockedPython{Version: ver, FullVersion: full, Glibc: glibc}
	for _, p := range picks {
		lp.Files = append(lp.Files, LockedWheel{Name: p.name, Version: p.version.raw, File: p.file.Filename, URL: p.file.URL, SHA256: p.file.Digests.SHA256, Size: p.file.Size})
	}
	sort.Slice(lp.Files, func(i, j int) bool { return lp.Files[i].Name < lp.Files[j].Name })
	lock.Python = lp
	return nil
}

type pyConstraint struct {
	spec pySpecifier
	from string
}

// resolve picks, for every project the requirements reach, the newest
// version that meets every constraint on it. A pass walks the graph from
// the top-level requirements, picking each project with what this pass
// and the previous one know of it; passes repeat until a pass picks
// what the one before did. That is not a backtracking resolver, but the
// dependency graphs of PyPI's scientific stack converge in a few passes,
// and a conflict is reported with who asked for what.
func (res *pyResolver) resolve(ctx context.Context, image string, top []pyReq, provided map[string]bool) ([]*pyPick, error) {
	prev := map[string][]pyConstraint{}
	var prevPicks map[string]string
	for pass := 0; pass < 30; pass++ {
		cons := map[string][]pyConstraint{}
		extras := map[string]map[string]bool{}
		picks := map[string]*pyPick{}
		var order []string
		queue := []pyReq{}
		for i := range top {
			if ok, err := evalMarker(orTrue(top[i].Marker), res.env); err != nil || !ok {
				continue
			}
			queue = append(queue, top[i])
		}
		froms := make([]string, len(queue))
		for i := range froms {
			froms[i] = "images." + image + ".python"
		}
		for len(queue) > 0 {
			q, who := queue[0], froms[0]
			queue, froms = queue[1:], froms[1:]
			if provided[q.Name] {
				continue
			}
			cons[q.Name] = append(cons[q.Name], pyConstraint{q.Spec, who})
			if extras[q.Name] == nil {
				extras[q.Name] = map[string]bool{}
			}
			newExtra := false
			for _, e := range q.Extras {
				if !extras[q.Name][e] {
					extras[q.Name][e] = true
					newExtra = true
				}
			}
			if p, ok := picks[q.Name]; ok && !newExtra && q.Spec.contains(p.version) {
				continue
			}
			all := append(append([]pyConstraint(nil), prev[q.Name]...), cons[q.Name]...)
			p, err := res.pick(ctx, q.Name, all)
			if err != nil {
				return nil, fmt.Errorf("resolving images.%s.python: %w", image, err)
			}
			if _, seen := picks[q.Name]; !seen {
				order = append(order, q.Name)
			}
			picks[q.Name] = p
			deps, err := res.requiresDist(ctx, p)
			if err != nil {
				return nil, fmt.Errorf("resolving images.%s.python: %w", image, err)
			}
			for _, d := range deps {
				dq, err := parsePyReq(d)
				if err != nil {
					continue // a malformed line of someone's metadata
				}
				if !res.wanted(dq, extras[q.Name]) {
					continue
				}
				queue = append(queue, dq)
				froms = append(froms, q.Name+" "+p.version.raw)
			}
		}
		now := map[string]string{}
		for n, p := range picks {
			now[n] = p.version.raw
		}
		if prevPicks != nil && equalMaps(now, prevPicks) {
			out := make([]*pyPick, 0, len(order))
			for _, n := range order {
				out = append(out, picks[n])
			}
			return out, nil
		}
		prevPicks, prev = now, cons
	}
	return nil, fmt.Errorf("resolving images.%s.python: the requirements did not settle after 30 passes; pin the packages that move", image)
}

func orTrue(m string) string {
	if m == "" {
		return "python_version > '0'"
	}
	return m
}

// wanted reports whether a dependency applies to the image: its marker
// holds with no extra, or with one of the extras asked for.
func (res *pyResolver) wanted(q pyReq, extras map[string]bool) bool {
	if q.Marker == "" {
		return true
	}
	env := res.env
	if ok, err := evalMarker(q.Marker, env); err == nil && ok {
		return true
	}
	for e := range extras {
		env.extra = e
		if ok, err := evalMarker(q.Marker, env); err == nil && ok {
			return true
		}
	}
	return false
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func (res *pyResolver) project(ctx context.Context, name string) (*pyProject, error) {
	if p, ok := res.projects[name]; ok {
		return p, nil
	}
	res.b.event(Event{Image: res.b.current, Stage: "resolve", Item: name, Message: "reading PyPI's index of " + name})
	u := res.index + "/pypi/" + url.PathEscape(name) + "/json"
	data, err := res.b.fetcher.ReadAll(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("reading PyPI's index of %s: %w", name, err)
	}
	var p pyProject
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("reading PyPI's index of %s: %w", name, err)
	}
	// A mirror may give file addresses relative to the index's.
	base, err := url.Parse(u)
	if err != nil {
		return nil, err
	}
	for _, files := range p.Releases {
		for i := range files {
			if ref, err := url.Parse(files[i].URL); err == nil {
				files[i].URL = base.ResolveReference(ref).String()
			}
		}
	}
	res.projects[name] = &p
	return &p, nil
}

// pick returns the newest version of name that meets every constraint and
// has a file the image can install.
func (res *pyResolver) pick(ctx context.Context, name string, cons []pyConstraint) (*pyPick, error) {
	proj, err := res.project(ctx, name)
	if err != nil {
		return nil, err
	}
	pre := false
	for _, c := range cons {
		pre = pre || c.spec.allowsPre()
	}
	var vs []pyVersion
	for raw := range proj.Releases {
		v, err := parsePyVersion(raw)
		if err == nil {
			vs = append(vs, v)
		}
	}
	sort.Slice(vs, func(i, j int) bool { return comparePy(vs[i], vs[j]) > 0 })
	pyv, _ := parsePyVersion(res.env.pythonFull)
	noFile := ""
	for _, v := range vs {
		if v.isPre() && !pre {
			continue
		}
		ok := true
		for _, c := range cons {
			if !c.spec.contains(v) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		var best *pyFile
		bestRank := 1 << 30
		for i, f := range proj.Releases[v.raw] {
			if f.Yanked || f.PackageType != "bdist_wheel" || len(f.Digests.SHA256) != 64 {
				continue
			}
			if f.RequiresPython != nil && *f.RequiresPython != "" {
				if sp, err := parsePySpecifier(*f.RequiresPython); err == nil && !sp.contains(pyv) {
					continue
				}
			}
			rank, ok := res.tags.rank(f.Filename)
			if ok && (rank < bestRank || rank == bestRank && f.Filename < best.Filename) {
				best, bestRank = &proj.Releases[v.raw][i], rank
			}
		}
		if best == nil {
			if noFile == "" {
				noFile = v.raw
			}
			continue
		}
		return &pyPick{name: name, version: v, file: *best}, nil
	}
	var asked []string
	for _, c := range cons {
		if len(c.spec) > 0 {
			asked = append(asked, fmt.Sprintf("%s (from %s)", c.spec, c.from))
		}
	}
	msg := fmt.Sprintf("no version of %s", name)
	if len(asked) > 0 {
		msg += " meets " + strings.Join(asked, " and ")
	}
	if noFile != "" {
		msg += fmt.Sprintf("; %s %s has no wheel for Python %s on manylinux x86_64 (berth installs wheels only)", name, noFile, res.env.pythonVersion)
	}
	return nil, fmt.Errorf("%s", msg)
}

// requiresDist reads a picked file's dependencies from its metadata: the
// file PyPI serves beside each wheel (PEP 658), else the wheel itself.
func (res *pyResolver) requiresDist(ctx context.Context, p *pyPick) ([]string, error) {
	key := p.name + "==" + p.version.raw
	if r, ok := res.requires[key]; ok {
		return r, nil
	}
	meta, err := res.b.fetcher.ReadAll(ctx, p.file.URL+".metadata")
	if err != nil {
		fp, ferr := res.b.fetcher.Fetch(ctx, p.file.URL, p.file.Digests.SHA256, p.file.Size)
		if ferr != nil {
			return nil, ferr
		}
		zr, zerr := zip.OpenReader(fp)
		if zerr != nil {
			return nil, fmt.Errorf("reading %s: %w", p.file.Filename, zerr)
		}
		for _, f := range zr.File {
			if strings.HasSuffix(f.Name, ".dist-info/METADATA") && strings.Count(f.Name, "/") == 1 {
				rc, _ := f.Open()
				meta, _ = io.ReadAll(rc)
				rc.Close()
			}
		}
		zr.Close()
	}
	var out []string
	for _, line := range strings.Split(string(meta), "\n") {
		if line == "" || line == "\r" {
			break // the headers end at the first empty line
		}
		if v, ok := strings.CutPrefix(line, "Requires-Dist:"); ok {
			out = append(out, strings.TrimSpace(v))
		}
	}
	res.requires[key] = out
	return out, nil
}

// pyTags ranks wheel tags for one Python and glibc: lower is better, as
// pip prefers the most specific build.
type pyTags struct {
	minor int
	glibc [2]int
}

func newPyTags(ver string, glibc [2]int) *pyTags {
	_, m, _ := strings.Cut(ver, ".")
	n, _ := strconv.Atoi(m)
	return &pyTags{minor: n, glibc: glibc}
}

var manylinuxRE = regexp.MustCompile(`^manylinux_(\d+)_(\d+)_x86_64$`)

// rank returns how well a wheel's tags fit; ok is false when none fits.
func (t *pyTags) rank(filename string) (int, bool) {
	base := strings.TrimSuffix(filename, ".whl")
	parts := strings.Split(base, "-")
	if len(parts) < 5 {
		return 0, false
	}
	pys, abis, plats := strings.Split(parts[len(parts)-3], "."), strings.Split(parts[len(parts)-2], "."), strings.Split(parts[len(parts)-1], ".")
	best, found := 1<<30, false
	for _, py := range pys {
		for _, abi := range abis {
			for _, plat := range plats {
				r, ok := t.one(py, abi, plat)
				if ok && r < best {
					best, found = r, true
				}
			}
		}
	}
	return best, found
}

func (t *pyTags) one(py, abi, plat string) (int, bool) {
	cp := fmt.Sprintf("cp3%d", t.minor)
	var interp int
	switch {
	case py == cp && (abi == cp || abi == "none"):
		interp = 0
	case strings.HasPrefix(py, "cp3") && abi == "abi3":
		n, err := strconv.Atoi(py[3:])
		if err != nil || n > t.minor {
			return 0, false
		}
		interp = 1 + (t.minor - n)
	case abi == "none" && (py == "py3" || py == fmt.Sprintf("py3%d", t.minor)):
		interp = 40
	case abi == "none" && strings.HasPrefix(py, "py3"):
		n, err := strconv.Atoi(py[3:])
		if err != nil || n > t.minor {
			return 0, false
		}
		interp = 41
	default:
		return 0, false
	}
	var platRank int
	switch plat {
	case "any":
		platRank = 500
	case "manylinux1_x86_64":
		platRank = 400 - 5
	case "manylinux2010_x86_64":
		platRank = 400 - 12
	case "manylinux2014_x86_64":
		platRank = 400 - 17
	default:
		m := manylinuxRE.FindStringSubmatch(plat)
		if m == nil {
			return 0, false
		}
		maj, _ := strconv.Atoi(m[1])
		mn, _ := strconv.Atoi(m[2])
		if maj != t.glibc[0] && maj > t.glibc[0] || maj == t.glibc[0] && mn > t.glibc[1] {
			return 0, false
		}
		platRank = 400 - mn
	}
	return platRank*100 + interp, true
}

// pyTarget is the site-packages directory the wheels go to.
func pyTarget(r Recipe, lp *LockedPython) string {
	if r.Python.Target != "" {
		return r.Python.Target
	}
	return "/usr/local/lib/python" + lp.Version + "/dist-packages"
}

// buildPython unpacks the locked wheels into one layer, as pip would have
// installed them, without pip: files into site-packages, the wheel's
// scripts and data where they belong, console scripts for its entry
// points, INSTALLER and a RECORD of what was written.
func (b *Builder) buildPython(ctx context.Context, r Recipe, lock *Lock, t time.Time) (*fileSet, error) {
	lp := lock.Python
	if lp == nil {
		return nil, fmt.Errorf("the lock has no Python packages (run 'berth image lock %s')", r.Name)
	}
	fs := newFileSet(t)
	site := strings.TrimPrefix(pyTarget(r, lp), "/")
	interp := "/usr/bin/python" + lp.Version
	for i, w := range lp.Files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b.event(Event{Image: r.Name, Stage: "python", Item: w.Name, Done: int64(i), Total: int64(len(lp.Files)), Message: "installing " + w.File})
		fp, err := b.fetcher.Fetch(ctx, w.URL, w.SHA256, w.Size)
		if err != nil {
			return nil, fmt.Errorf("fetching %s %s: %w", w.Name, w.Version, err)
		}
		if err := verifyCached(fp, w.SHA256); err != nil {
			return nil, fmt.Errorf("verifying %s: %w", w.File, err)
		}
		if err := installWheel(fs, fp, w, site, interp, t); err != nil {
			return nil, fmt.Errorf("installing %s: %w", w.File, err)
		}
	}
	return fs, nil
}

// verifyCached hashes a cached file again, so that a cache altered after
// the download is caught.
func verifyCached(fp, sum string) error {
	f, err := os.Open(fp)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != sum {
		return fmt.Errorf("sha256 %s, the lock says %s", got, sum)
	}
	return nil
}

func recordHash(data []byte) string {
	s := sha256.Sum256(data)
	return "sha256=" + base64.RawURLEncoding.EncodeToString(s[:])
}

func installWheel(fs *fileSet, file string, w LockedWheel, site, interp string, t time.Time) error {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return err
	}
	defer zr.Close()
	var distInfo, dataDir string
	for _, f := range zr.File {
		top, _, _ := strings.Cut(f.Name, "/")
		if strings.HasSuffix(top, ".dist-info") && distInfo == "" {
			distInfo = top
		}
		if strings.HasSuffix(top, ".data") && dataDir == "" {
			dataDir = top
		}
	}
	if distInfo == "" {
		return fmt.Errorf("%s has no .dist-info", w.File)
	}
	var record []string
	add := func(dest string, mode int64, data []byte) error {
		dest = path.Clean(dest)
		if strings.HasPrefix(dest, "../") || dest == ".." || path.IsAbs(dest) {
			return fmt.Errorf("%s writes outside the image: %s", w.File, dest)
		}
		fs.addFile(dest, mode, 0, 0, t, data)
		rel := relTo(site, dest)
		record = append(record, fmt.Sprintf("%s,%s,%d", csvField(rel), recordHash(data), len(data)))
		return nil
	}
	var entryPoints []byte
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		name := path.Clean(f.Name)
		if strings.HasPrefix(name, "../") || path.IsAbs(name) {
			return fmt.Errorf("%s holds %q, outside its root", w.File, f.Name)
		}
		if name == distInfo+"/RECORD" || strings.HasPrefix(name, distInfo+"/RECORD.") {
			continue // written anew below, for where the files went
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		mode := int64(0o644)
		if f.Mode()&0o111 != 0 {
			mode = 0o755
		}
		if name == distInfo+"/entry_points.txt" {
			entryPoints = data
		}
		dest := path.Join(site, name)
		if dataDir != "" && strings.HasPrefix(name, dataDir+"/") {
			sub := strings.TrimPrefix(name, dataDir+"/")
			kind, rest, _ := strings.Cut(sub, "/")
			switch kind {
			case "purelib", "platlib":
				dest = path.Join(site, rest)
			case "scripts":
				dest = path.Join("usr/local/bin", rest)
				mode = 0o755
				if bytes.HasPrefix(data, []byte("#!python")) {
					_, after, _ := bytes.Cut(data, []byte("\n"))
					data = append([]byte("#!"+interp+"\n"), after...)
				}
			case "headers":
				dest = path.Join("usr/local/include", "python"+strings.TrimPrefix(path.Base(interp), "python"), w.Name, rest)
			case "data":
				dest = path.Join("usr/local", rest)
			default:
				return fmt.Errorf("%s: unknown data directory %s", w.File, kind)
			}
		}
		if err := add(dest, mode, data); err != nil {
			return err
		}
	}
	for _, s := range consoleScripts(entryPoints) {
		script := fmt.Sprintf("#!%s\n# -*- coding: utf-8 -*-\n# Written by berth from %s's entry point %s.\nimport re\nimport sys\nfrom %s import %s\nif __name__ == \"__main__\":\n    sys.argv[0] = re.sub(r\"(-script\\.pyw|\\.exe)?$\", \"\", sys.argv[0])\n    sys.exit(%s())\n",
			interp, w.Name, s.name, s.module, strings.Split(s.attr, ".")[0], s.attr)
		if err := add(path.Join("usr/local/bin", s.name), 0o755, []byte(script)); err != nil {
			return err
		}
	}
	if err := add(path.Join(site, distInfo, "INSTALLER"), 0o644, []byte("berth\n")); err != nil {
		return err
	}
	record = append(record, csvField(distInfo+"/RECORD")+",,")
	sort.Strings(record)
	fs.addFile(path.Join(site, distInfo, "RECORD"), 0o644, 0, 0, t, []byte(strings.Join(record, "\n")+"\n"))
	return nil
}

// relTo is dest relative to site-packages, as RECORD writes paths.
func relTo(site, dest string) string {
	if strings.HasPrefix(dest, site+"/") {
		return strings.TrimPrefix(dest, site+"/")
	}
	up := strings.Repeat("../", strings.Count(site, "/")+1)
	return up + dest
}

func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

type consoleScript struct{ name, module, attr string }

var entryRE = regexp.MustCompile(`^([^=\s]+)\s*=\s*([\w.]+)\s*:\s*([\w.]+)`)

// consoleScripts reads [console_scripts] and [gui_scripts] of an
// entry_points.txt.
func consoleScripts(data []byte) []consoleScript {
	var out []consoleScript
	section := ""
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[] ")
			continue
		}
		if section != "console_scripts" && section != "gui_scripts" {
			continue
		}
		if m := entryRE.FindStringSubmatch(line); m != nil && !strings.ContainsAny(m[1], "/\\") {
			out = append(out, consoleScript{m[1], m[2], m[3]})
		}
	}
	return out
}
