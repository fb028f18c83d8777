package image

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/voidnxlabs/berth/image/deb"
)

// Lock pins every package of a recipe. A build with a lock whose Inputs
// match the recipe installs exactly these files and needs no index.
type Lock struct {
	Recipe string `json:"recipe"`
	// Inputs is the sha256 of what the resolution depended on (suites,
	// mirrors, packages, excludes, architecture); a recipe whose inputs
	// differ is resolved again.
	Inputs   string          `json:"inputs"`
	Arch     string          `json:"arch"`
	Releases []LockedRelease `json:"releases"`
	Packages []LockedPackage `json:"packages"`
	// BasePasswd is read for /etc/passwd and /etc/group; it is not
	// installed.
	BasePasswd *LockedPackage `json:"basePasswd,omitempty"`
	// Build lists, per Go program, the packages unpacked for its cgo build.
	Build map[string][]LockedPackage `json:"build,omitempty"`
	// Python pins the files installed from PyPI.
	Python *LockedPython `json:"python,omitempty"`
	// Substitutes are the downloads of npm install scripts that the
	// builder gave from a Debian package instead (see Substitute).
	Substitutes []LockedSubstitute `json:"substitutes,omitempty"`
}

// LockedRelease records the signed Release a suite was resolved from.
type LockedRelease struct {
	Suite    string    `json:"suite"`
	Codename string    `json:"codename,omitempty"`
	Version  string    `json:"version,omitempty"`
	Date     time.Time `json:"date"`
}

// LockedPackage is one pinned .deb.
type LockedPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch"`
	Suite   string `json:"suite"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	URL     string `json:"url"`
}

func lockedFrom(p *deb.Package) LockedPackage {
	return LockedPackage{Name: p.Name, Version: p.Version, Arch: p.Architecture, Suite: p.Suite, SHA256: p.SHA256, Size: p.Size, URL: p.URL()}
}

// Epoch is the time the lock stands for: the newest Release date. Builds
// use it when SOURCE_DATE_EPOCH is not set.
func (l *Lock) Epoch() time.Time {
	var t time.Time
	for _, r := range l.Releases {
		if r.Date.After(t) {
			t = r.Date
		}
	}
	return t
}

// LockPath is where a recipe's lock lives in dir.
func LockPath(dir, name string) string { return filepath.Join(dir, name+".lock.json") }

// ReadLock reads a lockfile; a missing file is (nil, nil).
func ReadLock(path string) (*Lock, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading lock: %w", err)
	}
	var l Lock
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("reading lock %s: %w", path, err)
	}
	return &l, nil
}

// WriteLock writes l atomically, indented and sorted, so that a change of
// the lock reads well in a diff.
func WriteLock(path string, l *Lock) error {
	sort.Slice(l.Packages, func(i, j int) bool { return l.Packages[i].Name < l.Packages[j].Name })
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing lock: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing lock: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing lock: %w", err)
	}
	return nil
}

// sources lists the suites a recipe resolves against: the default ones
// (the suite, its -updates and -security) and the extra ones.
func (b *Builder) sources(r Recipe) (defaults, others []deb.Source) {
	mk := func(suite string) deb.Source {
		url := b.mirror
		if strings.HasSuffix(suite, "-security") {
			url = b.securityMirror
		}
		if r.Mirror != "" {
			url = r.Mirror
		}
		return deb.Source{URL: url, Suite: suite, Components: r.Components, Arch: b.arch}
	}
	if r.Suite == "" {
		return nil, nil
	}
	defaults = append(defaults, mk(r.Suite))
	if r.Updates == nil || *r.Updates {
		defaults = append(defaults, mk(r.Suite+"-updates"), mk(r.Suite+"-security"))
	}
	for _, s := range r.Suites {
		others = append(others, mk(s))
	}
	return defaults, others
}

// inputsDigest hashes what a resolution depends on.
func (b *Builder) inputsDigest(r Recipe) string {
	defaults, others := b.sources(r)
	in := struct {
		Defaults, Others []deb.Source
		Packages         []string
		Exclude          []string
		Build            map[string][]string
		Arch             string
		Python           *Python  `json:",omitempty"`
		PyRequirements   []string `json:",omitempty"`
	}{defaults, others, r.Packages, r.Exclude, map[string][]string{}, b.arch, r.Python, nil}
	if r.Python != nil {
		// The file's requirements, not its name: an edit of
		// requirements.txt resolves again.
		in.PyRequirements, _ = b.pyRequirements(r)
	}
	for _, g := range r.Go {
		in.Build[g.Name] = g.BuildPackages
	}
	for _, n := range r.Npm {
		in.Build[npmBuildKey(n.Name)] = n.BuildPackages
		for _, s := range n.Substitutes {
			// Only recipes with substitutes get this key, so that the
			// digests of the others stay what they were.
			in.Build[npmBuildKey(n.Name)+"/substitute/"+s.Npm] = []string{s.deb()}
		}
	}
	j, _ := json.Marshal(in)
	s := sha256.Sum256(j)
	return "sha256:" + hex.EncodeToString(s[:])
}

// aptMirrors reads the Debian archive URLs configured for apt: the first
// deb URI serving a non-security suite, and the one serving -security.
func aptMirrors(root string) (mirror, security string) {
	mirror, security = "http://deb.debian.org/debian", "http://deb.debian.org/debian-security"
	var foundM, foundS bool
	consider := func(uri string, suites []string) {
		for _, s := range suites {
			if strings.HasSuffix(s, "-security") || strings.HasSuffix(s, "/updates") {
				if !foundS {
					security, foundS = uri, true
				}
			} else if !foundM {
				mirror, foundM = uri, true
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(root, "etc/apt/sources.list.d/*.sources"))
	for _, f := range files {
		paras, err := readParagraphs(f)
		if err != nil {
			continue
		}
		for _, p := range paras {
			if !strings.Contains(p.Fields["Types"], "deb") || !strings.Contains(p.Fields["Signed-By"]+p.Fields["URIs"], "debian") {
				continue
			}
			if strings.EqualFold(p.Fields["Enabled"], "no") {
				continue
			}
			for _, u := range strings.Fields(p.Fields["URIs"]) {
				consider(u, strings.Fields(p.Fields["Suites"]))
			}
		}
	}
	lists, _ := filepath.Glob(filepath.Join(root, "etc/apt/sources.list.d/*.list"))
	lists = append([]string{filepath.Join(root, "etc/apt/sources.list")}, lists...)
	for _, f := range lists {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 3 || fields[0] != "deb" {
				continue
			}
			i := 1
			if strings.HasPrefix(fields[1], "[") {
				for i < len(fields) && !strings.HasSuffix(fields[i], "]") {
					i++
				}
				i++
			}
			if i+1 < len(fields) && strings.Contains(fields[i], "debian") {
				consider(fields[i], []string{fields[i+1]})
			}
		}
		fh.Close()
	}
	return strings.TrimSuffix(mirror, "/"), strings.TrimSuffix(security, "/")
}

func readParagraphs(path string) ([]deb.Paragraph, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return deb.ParseParagraphs(string(b))
}
