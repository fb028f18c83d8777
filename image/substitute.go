package image

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/klauspost/compress/gzip"

	"github.com/voidnxlabs/berth/image/deb"
)

// Substitute names an npm package whose install script downloads from a
// host outside the registries berth reaches (GitHub release assets), and
// the Debian package the builder gives it instead. The builder resolves
// that package with the recipe's suites, pins it by sha256 in the lock,
// and places what the script would have downloaded where the script
// looks first, so that the script finds it and downloads nothing.
//
//	npm:
//	  - name: code-server
//	    substitutes:
//	      - npm: "@vscode/ripgrep@1.15.11"   # GitHub's ripgrep → Debian's
//	        deb: ripgrep
//
// Only packages berth has a rule for can be substituted (npmRules): the
// rule knows, from the package's own install script at that version,
// which file it looks for and where.
type Substitute struct {
	// Npm is the package and exact version: @vscode/ripgrep@1.15.11.
	Npm string `yaml:"npm"`
	// Deb is the Debian package that stands in (default: the rule's).
	Deb string `yaml:"deb,omitempty"`
}

// LockedSubstitute records one substitution in the lock: what the install
// script would have downloaded, and the pinned Debian package that gave
// the file instead.
type LockedSubstitute struct {
	Program  string        `json:"program"`  // the recipe's npm program
	For      string        `json:"for"`      // npm package@version
	Download string        `json:"download"` // what its script would fetch
	Placed   string        `json:"placed"`   // where the builder puts it, under the step's TMPDIR
	Package  LockedPackage `json:"package"`
}

// npmRule is how berth stands in for one npm package's download.
type npmRule struct {
	deb  string // the default Debian package
	from string // the host the script would download from, for messages
	// place returns the file the script looks for (relative to TMPDIR),
	// what it would have downloaded, and the archive to write there from
	// the Debian package's files.
	place func(version, arch string) (rel, download string, err error)
	// member is the file taken from the .deb; name is its name in the
	// archive written for the script.
	member, name string
}

// ripgrepReleases maps @vscode/ripgrep versions to the ripgrep-prebuilt
// release their lib/postinstall.js asks for (its VERSION constant), read
// from each version's package on npm. lib/download.js caches the asset
// at $TMPDIR/vscode-ripgrep-cache-<package version>/ripgrep-<release>-
// <target>.tar.gz and uses a file found there without downloading
// ("Using cached download"); the archive holds rg at its top.
var ripgrepReleases = map[string]string{
	"1.15.9":  "v13.0.0-10",
	"1.15.10": "v13.0.0-10",
	"1.15.11": "v13.0.0-10",
	"1.15.14": "v13.0.0-13",
}

// npmRules are the packages berth knows how to stand in for, by npm name.
var npmRules = map[string]npmRule{
	"@vscode/ripgrep": {
		deb: "ripgrep", from: "api.github.com (microsoft/ripgrep-prebuilt releases)",
		member: "usr/bin/rg", name: "rg",
		place: func(version, arch string) (string, string, error) {
			rel, ok := ripgrepReleases[version]
			if !ok {
				return "", "", fmt.Errorf("berth knows the install script of @vscode/ripgrep at %s only", strings.Join(sortedKeys(ripgrepReleases), ", "))
			}
			// postinstall.js's getTarget for Linux.
			target := map[string]string{"amd64": "x86_64-unknown-linux-musl", "arm64": "aarch64-unknown-linux-musl"}[arch]
			if target == "" {
				return "", "", fmt.Errorf("no ripgrep-prebuilt target for %s", arch)
			}
			asset := "ripgrep-" + rel + "-" + target + ".tar.gz"
			return filepath.Join("vscode-ripgrep-cache-"+version, asset), "github.com/microsoft/ripgrep-prebuilt/releases/" + rel + "/" + asset, nil
		},
	},
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// splitNpmSpec splits name@version (the name may start with @).
func splitNpmSpec(s string) (name, version string) {
	at := strings.LastIndex(s, "@")
	if at <= 0 {
		return s, ""
	}
	return s[:at], s[at+1:]
}

// check reports what is wrong with a substitute, or nil.
func (s Substitute) check(arch string) error {
	name, version := splitNpmSpec(s.Npm)
	rule, ok := npmRules[name]
	if !ok {
		return fmt.Errorf("berth has no substitute for npm package %q (it has for %s)", name, strings.Join(sortedKeys(npmRules), ", "))
	}
	if version == "" {
		return fmt.Errorf("%q: name the exact version (%s@VERSION)", s.Npm, name)
	}
	if _, _, err := rule.place(version, arch); err != nil {
		return fmt.Errorf("%s: %w", s.Npm, err)
	}
	return nil
}

func (s Substitute) deb() string {
	if s.Deb != "" {
		return s.Deb
	}
	name, _ := splitNpmSpec(s.Npm)
	return npmRules[name].deb
}

// resolveSubstitutes pins the Debian packages of the recipe's npm
// substitutes: the package itself, without its dependencies (only one of
// its files is used).
func (b *Builder) resolveSubstitutes(u *deb.Universe, r Recipe, lock *Lock) error {
	for _, n := range r.Npm {
		for _, s := range n.Substitutes {
			if err := s.check(b.arch); err != nil {
				return fmt.Errorf("substitute of %s: %w", n.Name, err)
			}
			name, version := splitNpmSpec(s.Npm)
			rel, download, _ := npmRules[name].place(version, b.arch)
			ps, err := u.Resolve(deb.Request{Packages: []string{s.deb()}, Exclude: []string{"*"}})
			if err != nil {
				return fmt.Errorf("resolving the substitute of %s for %s: %w", s.Npm, n.Name, err)
			}
			if len(ps) != 1 {
				return fmt.Errorf("resolving the substitute of %s for %s: %d packages", s.Npm, n.Name, len(ps))
			}
			lock.Substitutes = append(lock.Substitutes, LockedSubstitute{Program: n.Name, For: s.Npm, Download: download, Placed: filepath.ToSlash(rel), Package: lockedFrom(ps[0])})
		}
	}
	return nil
}

// placeSubstitutes writes the files of the program's substitutes under
// tmpdir (the install step's private TMPDIR), each from its pinned and
// verified .deb, and reports each as an event.
func (b *Builder) placeSubstitutes(ctx context.Context, image, program string, lock *Lock, tmpdir string) error {
	for _, s := range lock.Substitutes {
		if s.Program != program {
			continue
		}
		name, _ := splitNpmSpec(s.For)
		rule, ok := npmRules[name]
		if !ok {
			return fmt.Errorf("the lock substitutes %s, for which berth has no rule", s.For)
		}
		fp, err := b.fetchVerified(ctx, s.Package)
		if err != nil {
			return err
		}
		data, err := debMember(fp, rule.member)
		if err != nil {
			return fmt.Errorf("substituting %s: %w", s.For, err)
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		// Fixed owner, mode and time: the archive is only unpacked by the
		// script, but the same inputs should give the same bytes.
		if err := tw.WriteHeader(&tar.Header{Name: rule.name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg, Format: tar.FormatPAX, ModTime: lock.Epoch()}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
		if err := tw.Close(); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		dst := filepath.Join(tmpdir, filepath.FromSlash(s.Placed))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
			return err
		}
		b.event(Event{Image: image, Stage: "substitute", Item: program,
			Message: fmt.Sprintf("%s would download %s from %s; Debian's %s %s (sha256 %s…) stands in", s.For, filepath.Base(s.Download), rule.from, s.Package.Name, s.Package.Version, s.Package.SHA256[:12])})
	}
	return nil
}

// debMember reads one regular file from a .deb's data.
func debMember(file, member string) ([]byte, error) {
	d, err := deb.Open(file)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var data []byte
	err = d.Walk(func(h *tar.Header, r io.Reader) error {
		if canonical(h.Name) != member || h.Typeflag != tar.TypeReg {
			return nil
		}
		var err error
		data, err = io.ReadAll(r)
		return err
	})
	if err != nil {
		return nil, err
	}
	if data == nil {
		return nil, fmt.Errorf("%s holds no /%s", filepath.Base(file), member)
	}
	return data, nil
}

// unreachableHost finds the host an install script failed to reach in
// npm's output (getaddrinfo ENOTFOUND api.github.com), or "".
var enotfound = regexp.MustCompile(`(?:ENOTFOUND|EAI_AGAIN)\s+([A-Za-z0-9.-]+)`)

func unreachableHost(out string) string {
	if m := enotfound.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}
