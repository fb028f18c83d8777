package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"net/http"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/voidnxlabs/berth/image/deb"
)

// DefaultRepository prefixes the names of built images, so that the seed's
// references (ghcr.io/voidnxlabs/python-ml:latest) find them in the engine.
const DefaultRepository = "ghcr.io/voidnxlabs"

// defaultMaxLayers leaves room under overlayfs's limit of 128 layers for
// images built on top of this one.
const defaultMaxLayers = 48

// Event reports the progress of a build. The library never prints; the
// CLI turns events into a display.
type Event struct {
	Image   string
	Stage   string // resolve, download, fetch, unpack, layer, go, npm, substitute, done
	Item    string // a package, a layer or a program
	Done    int64  // items or bytes done
	Total   int64  // items or bytes in all; 0 when unknown
	Message string
	// Elapsed is how long a running step (go, npm) has taken so far; it
	// is set on the heartbeat events a long subprocess sends every 10 s.
	Elapsed time.Duration
	// Output is the last line the step's subprocess wrote, shortened.
	Output string
}

// Options configure a Builder. The zero value works on a Debian machine:
// apt's mirrors, Debian's keyring, the user's cache directory.
type Options struct {
	CacheDir string // default: $XDG_CACHE_HOME/berth
	LockDir  string // where <name>.lock.json files live; default: CacheDir/locks
	WorkDir  string // base of relative file sources and Go packages; default: "."
	Keyrings []string
	// Mirror and SecurityMirror default to those configured for apt.
	Mirror, SecurityMirror string
	// IgnoreValidUntil accepts expired Release files (snapshot mirrors).
	IgnoreValidUntil bool
	// SourceDateEpoch fixes the time of berth's own layers and of the
	// image config; zero means the lock's newest Release date.
	SourceDateEpoch time.Time
	Relock          bool // resolve again even if the lock matches
	Locked          bool // fail instead of resolving when the lock is missing or stale
	Offline         bool // never touch the network
	// NoLayerCache makes every package layer again from its .deb instead
	// of reusing the one an earlier build made.
	NoLayerCache bool
	Arch         string
	Repository   string
	HTTPClient   *http.Client
	Progress     func(Event)
	// GoCommand is the go tool used for Go programs (default "go").
	GoCommand string
}

// Builder builds images from recipes, one at a time: it is not safe for
// concurrent use.
type Builder struct {
	opts                   Options
	arch                   string
	mirror, securityMirror string
	fetcher                *deb.Fetcher
	keyring                openpgp.EntityList
	event                  func(Event)
	current                string // the recipe being built, for download events
}

// NewBuilder prepares a builder; it reads the keyring and apt's mirrors
// but touches no network.
func NewBuilder(opts Options) (*Builder, error) {
	if opts.CacheDir == "" {
		d, err := deb.DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		opts.CacheDir = d
	}
	if opts.LockDir == "" {
		opts.LockDir = opts.CacheDir + "/locks"
	}
	if opts.WorkDir == "" {
		opts.WorkDir = "."
	}
	if len(opts.Keyrings) == 0 {
		opts.Keyrings = []string{deb.DefaultKeyring}
	}
	if opts.Repository == "" {
		opts.Repository = DefaultRepository
	}
	if opts.GoCommand == "" {
		opts.GoCommand = "go"
	}
	b := &Builder{opts: opts, arch: opts.Arch, event: opts.Progress}
	if b.arch == "" {
		b.arch = "amd64"
	}
	if b.event == nil {
		b.event = func(Event) {}
	}
	b.mirror, b.securityMirror = aptMirrors("/")
	if opts.Mirror != "" {
		b.mirror = strings.TrimSuffix(opts.Mirror, "/")
	}
	if opts.SecurityMirror != "" {
		b.securityMirror = strings.TrimSuffix(opts.SecurityMirror, "/")
	}
	b.fetcher = &deb.Fetcher{Client: opts.HTTPClient, Cache: &deb.Cache{Dir: opts.CacheDir}, Offline: opts.Offline, HTTPS: deb.HaveCACerts(),
		Progress: func(url string, done, total int64) {
			b.event(Event{Image: b.current, Stage: "download", Item: path.Base(url), Done: done, Total: total})
		}}
	return b, nil
}

func (b *Builder) loadKeyring() error {
	if b.keyring != nil {
		return nil
	}
	kr, err := deb.LoadKeyring(b.opts.Keyrings...)
	if err != nil {
		return err
	}
	b.keyring = kr
	return nil
}

// Ref is the reference a recipe's image is tagged with.
func (b *Builder) Ref(name string) string { return b.opts.Repository + "/" + name + ":latest" }

// Resolve resolves a recipe against the signed indexes and writes its lock.
func (b *Builder) Resolve(ctx context.Context, r Recipe) (*Lock, error) {
	b.current = r.Name
	if err := b.loadKeyring(); err != nil {
		return nil, err
	}
	if b.opts.Offline {
		return nil, fmt.Errorf("resolving %s: the lock is missing or stale and the build is offline", r.Name)
	}
	arch := &deb.Archive{Fetcher: b.fetcher, Keyring: b.keyring, IgnoreValidUntil: b.opts.IgnoreValidUntil, NotBefore: map[string]time.Time{}}
	// A relock never goes back to an older index than the lock has: a
	// mirror (or someone between it and us) replaying an old Release
	// would hold back updates. A snapshot mirror (IgnoreValidUntil) may
	// be moved back on purpose.
	if old, err := ReadLock(LockPath(b.opts.LockDir, r.Name)); err == nil && old != nil && !b.opts.IgnoreValidUntil {
		for _, rel := range old.Releases {
			arch.NotBefore[rel.Suite] = rel.Date
		}
	}
	defaults, others := b.sources(r)
	lock := &Lock{Recipe: r.Name, Inputs: b.inputsDigest(r), Arch: b.arch}
	var sets [][]*deb.Package
	var defNames, otherNames []string
	for i, src := range append(append([]deb.Source(nil), defaults...), others...) {
		b.event(Event{Image: r.Name, Stage: "resolve", Item: src.Suite, Done: int64(i), Total: int64(len(defaults) + len(others)), Message: "reading index of " + src.Suite})
		pkgs, rel, err := arch.Packages(ctx, src)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", r.Name, err)
		}
		sets = append(sets, pkgs)
		lock.Releases = append(lock.Releases, LockedRelease{Suite: src.Suite, Codename: rel.Codename, Version: rel.Version, Date: rel.Date})
		if i < len(defaults) {
			defNames = append(defNames, src.Suite)
		} else {
			otherNames = append(otherNames, src.Suite)
		}
	}
	u := deb.NewUniverse(b.arch, defNames, otherNames, sets...)
	pkgs, err := u.Resolve(deb.Request{Packages: r.Packages, Exclude: r.Exclude})
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", r.Name, err)
	}
	for _, p := range pkgs {
		lock.Packages = append(lock.Packages, lockedFrom(p))
	}
	if bp, err := u.Resolve(deb.Request{Packages: []string{"base-passwd"}, Exclude: []string{"*"}}); err == nil && len(bp) == 1 {
		l := lockedFrom(bp[0])
		lock.BasePasswd = &l
	}
	for _, g := range r.Go {
		if len(g.BuildPackages) == 0 {
			continue
		}
		// Only the headers are wanted, so dependencies are not followed.
		bp, err := u.Resolve(deb.Request{Packages: g.BuildPackages, Exclude: []string{"*"}})
		if err != nil {
			return nil, fmt.Errorf("resolving build packages of %s: %w", g.Name, err)
		}
		if lock.Build == nil {
			lock.Build = map[string][]LockedPackage{}
		}
		for _, p := range bp {
			lock.Build[g.Name] = append(lock.Build[g.Name], lockedFrom(p))
		}
	}
	if err := resolveNpmBuild(u, r, lock); err != nil {
		return nil, err
	}
	if err := b.resolvePython(ctx, r, lock); err != nil {
		return nil, err
	}
	if err := b.resolveSubstitutes(u, r, lock); err != nil {
		return nil, err
	}
	if err := WriteLock(LockPath(b.opts.LockDir, r.Name), lock); err != nil {
		return nil, err
	}
	return lock, nil
}

// lockFor returns the recipe's lock, resolving when there is none, when
// it is stale or when asked to.
func (b *Builder) lockFor(ctx context.Context, r Recipe) (*Lock, error) {
	if r.Suite == "" {
		return &Lock{Recipe: r.Name, Arch: b.arch}, nil
	}
	if !b.opts.Relock {
		l, err := ReadLock(LockPath(b.opts.LockDir, r.Name))
		if err != nil {
			return nil, err
		}
		if l != nil && l.Inputs == b.inputsDigest(r) {
			return l, nil
		}
		if b.opts.Locked {
			if l == nil {
				return nil, fmt.Errorf("building %s: no lock at %s (run 'berth image lock %s')", r.Name, LockPath(b.opts.LockDir, r.Name), r.Name)
			}
			return nil, fmt.Errorf("building %s: the lock does not match the recipe (run 'berth image lock %s')", r.Name, r.Name)
		}
	}
	return b.Resolve(ctx, r)
}

// LayerInfo describes one layer of a built image.
type LayerInfo struct {
	Digest   string
	Size     int64 // compressed
	Packages []string
	What     string // base, packages, generated, go
}

// Result is a built image.
type Result struct {
	Name   string
	Ref    string
	Image  v1.Image
	Digest v1.Hash
	Lock   *Lock
	Layers []LayerInfo
	Size   int64 // compressed, all layers plus config and manifest
}

// Build builds the image of r. Every .deb is checked against its sha256
// before it is read, so a tampered download stops the build.
func (b *Builder) Build(ctx context.Context, r Recipe) (*Result, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	b.current = r.Name
	lock, err := b.lockFor(ctx, r)
	if err != nil {
		return nil, err
	}
	epoch := b.opts.SourceDateEpoch
	if epoch.IsZero() {
		epoch = lock.Epoch()
	}
	if epoch.IsZero() {
		// No suite, no Release date: the Unix epoch, as ko uses.
		epoch = time.Unix(0, 0)
	}
	epoch = epoch.UTC().Truncate(time.Second)

	// Fetch and verify every package first: nothing is assembled from a
	// partial or tampered set.
	paths := map[string]string{}
	all := append([]LockedPackage(nil), lock.Packages...)
	if lock.BasePasswd != nil {
		all = append(all, *lock.BasePasswd)
	}
	var total, done int64
	for _, p := range all {
		total += p.Size
	}
	for _, p := range all {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fp, err := b.fetchVerified(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("building %s: %w", r.Name, err)
		}
		paths[p.Name] = fp
		done += p.Size
		b.event(Event{Image: r.Name, Stage: "fetch", Item: p.Name, Done: done, Total: total})
	}

	flt, err := newFilter(r)
	if err != nil {
		return nil, err
	}
	var lc *layerCache
	if !b.opts.NoLayerCache {
		lc = &layerCache{dir: b.opts.CacheDir}
	}
	var pkgs []*unpacked
	for i, p := range lock.Packages {
		b.event(Event{Image: r.Name, Stage: "unpack", Item: p.Name, Done: int64(i), Total: int64(len(lock.Packages))})
		var key string
		if lc != nil {
			key = lc.key(p, flt)
			if m := lc.meta(key); m != nil {
				u, err := fromMeta(m, paths[p.Name], p, flt)
				if err == nil {
					u.key = key
					pkgs = append(pkgs, u)
					continue
				}
			}
		}
		u, err := unpack(paths[p.Name], p, flt)
		if err != nil {
			return nil, fmt.Errorf("building %s: unpacking %s: %w", r.Name, p.Name, err)
		}
		u.key = key
		if lc != nil {
			lc.putMeta(key, metaOf(u))
		}
		pkgs = append(pkgs, u)
	}
	pkgs = installOrder(pkgs)

	var basePasswd map[string][]byte
	if lock.BasePasswd != nil {
		basePasswd, err = readFiles(paths[lock.BasePasswd.Name], "usr/share/base-passwd/passwd.master", "usr/share/base-passwd/group.master")
		if err != nil {
			return nil, fmt.Errorf("building %s: reading base-passwd: %w", r.Name, err)
		}
	}

	var sets []*fileSet
	var infos []LayerInfo
	sets = append(sets, baseLayer())
	infos = append(infos, LayerInfo{What: "base"})
	maxLayers := r.MaxLayers
	if maxLayers == 0 {
		maxLayers = defaultMaxLayers
	}
	// made holds layers taken from the cache, by position in sets.
	made := map[int]*blobLayer{}
	for _, g := range groupPackages(pkgs, maxLayers-3) {
		var names []string
		for _, u := range g {
			names = append(names, u.name)
		}
		if len(g) == 1 && lc != nil {
			if l := lc.layer(g[0].key, lc.meta(g[0].key)); l != nil {
				made[len(sets)] = l
				sets = append(sets, nil)
				infos = append(infos, LayerInfo{What: "packages", Packages: names})
				continue
			}
		}
		fs := newFileSet(time.Time{})
		for _, u := range g {
			if err := u.load(); err != nil {
				return nil, fmt.Errorf("building %s: unpacking %s: %w", r.Name, u.name, err)
			}
			u.addTo(fs)
		}
		sets = append(sets, fs)
		infos = append(infos, LayerInfo{What: "packages", Packages: names})
		if len(g) == 1 && lc != nil {
			l, err := newLayer(fs)
			if err != nil {
				return nil, fmt.Errorf("building %s: writing layer: %w", r.Name, err)
			}
			lc.putLayer(g[0].key, metaOf(g[0]), l)
			made[len(sets)-1] = l
		}
	}
	gen, err := b.generated(r, lock, pkgs, basePasswd, epoch)
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", r.Name, err)
	}
	sets = append(sets, gen)
	infos = append(infos, LayerInfo{What: "generated"})
	if len(r.Go) > 0 {
		gofs, err := b.buildGo(ctx, r, lock, epoch)
		if err != nil {
			return nil, fmt.Errorf("building %s: %w", r.Name, err)
		}
		sets = append(sets, gofs)
		infos = append(infos, LayerInfo{What: "go"})
	}
	if len(r.Npm) > 0 {
		l, err := b.buildNpm(ctx, r, lock, epoch)
		if err != nil {
			return nil, fmt.Errorf("building %s: %w", r.Name, err)
		}
		made[len(sets)] = l
		sets = append(sets, nil)
		infos = append(infos, LayerInfo{What: "npm"})
	}
	if r.Python != nil {
		pyfs, err := b.buildPython(ctx, r, lock, epoch)
		if err != nil {
			return nil, fmt.Errorf("building %s: %w", r.Name, err)
		}
		sets = append(sets, pyfs)
		infos = append(infos, LayerInfo{What: "python"})
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	var adds []mutate.Addendum
	for i, fs := range sets {
		b.event(Event{Image: r.Name, Stage: "layer", Item: infos[i].What, Done: int64(i), Total: int64(len(sets))})
		l := made[i]
		if l == nil {
			var err error
			if l, err = newLayer(fs); err != nil {
				return nil, fmt.Errorf("building %s: writing layer: %w", r.Name, err)
			}
		}
		infos[i].Digest = l.digest.String()
		infos[i].Size = int64(len(l.compressed))
		created := infos[i].What
		if len(infos[i].Packages) > 0 {
			created = "packages: " + strings.Join(infos[i].Packages, " ")
		}
		adds = append(adds, mutate.Addendum{Layer: l, History: v1.History{
			Created:   v1.Time{Time: epoch},
			CreatedBy: "berth image build: " + created,
			Comment:   "berth",
		}})
	}
	img, err = mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", r.Name, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = b.arch, "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config = b.runtimeConfig(r, lock)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", r.Name, err)
	}
	dg, err := img.Digest()
	if err != nil {
		return nil, err
	}
	res := &Result{Name: r.Name, Ref: b.Ref(r.Name), Image: img, Digest: dg, Lock: lock, Layers: infos}
	for _, l := range infos {
		res.Size += l.Size
	}
	if raw, err := img.RawConfigFile(); err == nil {
		res.Size += int64(len(raw))
	}
	if raw, err := img.RawManifest(); err == nil {
		res.Size += int64(len(raw))
	}
	b.event(Event{Image: r.Name, Stage: "done", Message: dg.String()})
	return res, nil
}

// fetchVerified returns the cached path of a pinned package, downloading it
// if needed; a cached copy is hashed again, so a cache altered after the
// download is caught as well.
func (b *Builder) fetchVerified(ctx context.Context, p LockedPackage) (string, error) {
	cached := b.fetcher.Cache.Has(p.SHA256)
	fp, err := b.fetcher.Fetch(ctx, p.URL, p.SHA256, p.Size)
	if err != nil {
		return "", err
	}
	if cached {
		if err := deb.VerifyFile(fp, p.SHA256); err != nil {
			return "", fmt.Errorf("verifying %s: %w", p.Name, err)
		}
	}
	return fp, nil
}

func (b *Builder) runtimeConfig(r Recipe, lock *Lock) v1.Config {
	env := map[string]string{"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	for k, v := range r.Env {
		env[k] = v
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	c := v1.Config{Entrypoint: r.Entrypoint, Cmd: r.Cmd, User: r.User, WorkingDir: r.Workdir}
	for _, k := range keys {
		c.Env = append(c.Env, k+"="+env[k])
	}
	if len(r.Ports) > 0 {
		c.ExposedPorts = map[string]struct{}{}
		for _, p := range r.Ports {
			c.ExposedPorts[string(p)] = struct{}{}
		}
	}
	c.Labels = map[string]string{
		"io.berth.image":                 r.Name,
		"org.opencontainers.image.title": r.Name,
	}
	if r.Description != "" {
		c.Labels["org.opencontainers.image.description"] = r.Description
	}
	if len(lock.Releases) > 0 {
		c.Labels["io.berth.image.suite"] = lock.Releases[0].Suite
	}
	for k, v := range r.Labels {
		c.Labels[k] = v
	}
	return c
}

// baseLayer is the skeleton every image shares: merged /usr (Debian's
// layout since bookworm: /bin, /sbin, /lib and /lib64 link into /usr),
// /tmp, /run and root's home. Its times are the Unix epoch rather than the
// build's, so that it is the same layer in every image.
func baseLayer() *fileSet {
	t := time.Unix(0, 0)
	fs := newFileSet(t)
	for _, l := range [][2]string{{"bin", "usr/bin"}, {"sbin", "usr/sbin"}, {"lib", "usr/lib"}, {"lib64", "usr/lib64"}, {"var/run", "../run"}, {"var/lock", "../run/lock"}} {
		fs.addLink(l[0], l[1], t)
	}
	for _, d := range []string{"usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "usr/local/bin", "etc", "home", "var/lib", "var/cache", "var/log", "run", "proc", "sys", "dev"} {
		fs.addDir(d, 0o755, 0, 0, t)
	}
	// Sticky, world-writable: programs expect to create temporary files.
	fs.addDir("tmp", 0o1777, 0, 0, t)
	fs.addDir("var/tmp", 0o1777, 0, 0, t)
	fs.addDir("run/lock", 0o1777, 0, 0, t)
	fs.addDir("root", 0o700, 0, 0, t)
	return fs
}

// filter decides which files of a package go into the image.
type filter struct {
	drop, keep []string
}

// defaultDrop is what a container has no use for: documentation (the
// copyright files stay, for licence notices), manual and info pages,
// translations, and files only Debian's tools read.
var defaultDrop = []string{
	"/usr/share/doc/**", "/usr/share/man/**", "/usr/share/info/**", "/usr/share/locale/**",
	"/usr/share/lintian/**", "/usr/share/bug/**", "/usr/share/doc-base/**", "/usr/share/linda/**",
	"/usr/share/gtk-doc/**", "/usr/share/help/**",
}

var defaultKeep = []string{"/usr/share/doc/*/copyright"}

func newFilter(r Recipe) (*filter, error) {
	f := &filter{drop: r.Drop, keep: append(append([]string(nil), defaultKeep...), r.Keep...)}
	for _, p := range append(append([]string(nil), f.drop...), f.keep...) {
		if _, err := path.Match(strings.TrimSuffix(p, "/**"), "x"); err != nil {
			return nil, fmt.Errorf("images.%s: bad pattern %q: %w", r.Name, p, err)
		}
	}
	return f, nil
}

func matchAny(patterns []string, name string) bool {
	p := "/" + strings.TrimSuffix(name, "/")
	for _, pat := range patterns {
		if prefix, ok := strings.CutSuffix(pat, "/**"); ok {
			if p == prefix || strings.HasPrefix(p, prefix+"/") {
				return true
			}
			// A glob in the prefix ("/usr/lib/*/bitcode/**").
			for d := p; d != "/" && d != "."; d = path.Dir(d) {
				if ok, _ := path.Match(prefix, d); ok {
					return true
				}
			}
			continue
		}
		if ok, _ := path.Match(pat, p); ok {
			return true
		}
	}
	return false
}

func (f *filter) admit(name string) bool {
	if matchAny(f.drop, name) {
		return false
	}
	if matchAny(defaultDrop, name) && !matchAny(f.keep, name) {
		return false
	}
	return true
}

// unpacked is a package's files, ready to be written into a layer.
type unpacked struct {
	name     string
	depends  []deb.Clause
	provides []deb.Dep
	files    []*entry
	control  []byte
	md5sums  []byte
	postinst string
	size     int64
	newest   time.Time
	caCerts  map[string][]byte
	paths    []string // every path the package installs

	// Set when only the metadata came from the layer cache: the files
	// are read from file on demand.
	file string
	lp   LockedPackage
	flt  *filter
	key  string
}

// load reads the package's files if only its metadata is known.
func (u *unpacked) load() error {
	if u.files != nil || u.file == "" {
		return nil
	}
	full, err := unpack(u.file, u.lp, u.flt)
	if err != nil {
		return err
	}
	u.files = full.files
	return nil
}

// canonical maps a path from a package to its place in a merged-/usr
// tree: bookworm packages still ship files under /bin and /lib, which the
// image makes links into /usr; /var/run is a link to /run.
func canonical(name string) string {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	for _, top := range []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"} {
		if name == top || strings.HasPrefix(name, top+"/") {
			return "usr/" + name
		}
	}
	if name == "var/run" || strings.HasPrefix(name, "var/run/") {
		return strings.TrimPrefix(name, "var/")
	}
	if name == "var/lock" || strings.HasPrefix(name, "var/lock/") {
		return "run/lock" + strings.TrimPrefix(name, "var/lock")
	}
	return name
}

func unpack(file string, lp LockedPackage, flt *filter) (*unpacked, error) {
	d, err := deb.Open(file)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	ctl, err := d.Control()
	if err != nil {
		return nil, err
	}
	paras, err := deb.ParseParagraphs(string(ctl["control"]))
	if err != nil || len(paras) == 0 {
		return nil, fmt.Errorf("reading control file: %v", err)
	}
	pk, err := deb.PackageFromParagraph(paras[0])
	if err != nil {
		return nil, err
	}
	if pk.Name != lp.Name || pk.Version != lp.Version {
		return nil, fmt.Errorf("verifying %s: the .deb is %s %s, the lock says %s", lp.Name, pk.Name, pk.Version, lp.Version)
	}
	u := &unpacked{name: lp.Name, depends: pk.Depends, provides: pk.Provides, control: ctl["control"], md5sums: ctl["md5sums"], postinst: string(ctl["postinst"]), caCerts: map[string][]byte{}}
	err = d.Walk(func(h *tar.Header, r io.Reader) error {
		orig := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if orig == "" || orig == "." {
			return nil
		}
		name := canonical(orig)
		if !flt.admit(name) {
			return nil
		}
		e := &entry{hdr: tar.Header{Name: name, Mode: h.Mode, Uid: h.Uid, Gid: h.Gid, ModTime: h.ModTime, Typeflag: h.Typeflag}}
		if h.ModTime.After(u.newest) {
			u.newest = h.ModTime
		}
		switch h.Typeflag {
		case tar.TypeDir:
			e.hdr.Name = name + "/"
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archives use TypeRegA
			e.hdr.Typeflag = tar.TypeReg
			data, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			e.data = data
			u.size += int64(len(data))
			if strings.HasPrefix(name, "usr/share/ca-certificates/") && strings.HasSuffix(name, ".crt") {
				u.caCerts[name] = data
			}
		case tar.TypeSymlink:
			e.hdr.Linkname = relink(orig, name, h.Linkname)
		case tar.TypeLink:
			e.hdr.Linkname = canonical(strings.TrimPrefix(path.Clean("/"+h.Linkname), "/"))
		default:
			// Device nodes and fifos have no place in an image layer.
			return nil
		}
		u.files = append(u.files, e)
		u.paths = append(u.paths, strings.TrimSuffix(e.hdr.Name, "/"))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if u.files == nil {
		u.files = []*entry{} // loaded, and empty
	}
	return u, nil
}

// relink keeps a relative symlink pointing at the same file after its
// path moved from orig to name (merged /usr).
func relink(orig, name, target string) string {
	if path.IsAbs(target) || orig == name {
		return target
	}
	abs := canonical(path.Join(path.Dir(orig), target))
	rel, err := relPath(path.Dir(name), abs)
	if err != nil {
		return "/" + abs
	}
	return rel
}

func relPath(from, to string) (string, error) {
	f := strings.Split(strings.Trim(from, "/"), "/")
	t := strings.Split(strings.Trim(to, "/"), "/")
	if from == "." || from == "" {
		f = nil
	}
	i := 0
	for i < len(f) && i < len(t) && f[i] == t[i] {
		i++
	}
	parts := make([]string, 0, len(f)-i+len(t)-i)
	for range f[i:] {
		parts = append(parts, "..")
	}
	parts = append(parts, t[i:]...)
	if len(parts) == 0 {
		return "", errors.New("same path")
	}
	return strings.Join(parts, "/"), nil
}

// addTo writes the package's files and its dpkg status record. Parent
// directories the package does not ship get the package's newest file
// time, so the layer depends on the package alone and is shared by every
// image that installs it.
func (u *unpacked) addTo(fs *fileSet) {
	if fs.dirTime.Before(u.newest) {
		fs.dirTime = u.newest
	}
	for _, e := range u.files {
		c := *e
		fs.add(&c)
	}
	// Image scanners (Trivy, Grype, Syft) read one status file per package
	// from status.d, as in distroless images.
	status := strings.TrimRight(string(u.control), "\n") + "\nStatus: install ok installed\n"
	fs.addFile("var/lib/dpkg/status.d/"+u.name, 0o644, 0, 0, u.newest, []byte(status))
	if len(u.md5sums) > 0 {
		fs.addFile("var/lib/dpkg/status.d/"+u.name+".md5sums", 0o644, 0, 0, u.newest, u.md5sums)
	}
}

func installOrder(us []*unpacked) []*unpacked {
	byName := map[string]*unpacked{}
	var pkgs []*deb.Package
	for _, u := range us {
		byName[u.name] = u
		pkgs = append(pkgs, &deb.Package{Name: u.name, Depends: u.depends, Provides: u.provides})
	}
	var out []*unpacked
	for _, p := range deb.InstallOrder(pkgs) {
		out = append(out, byName[p.Name])
	}
	return out
}

// groupPackages gives the largest packages a layer each and puts the rest
// together in one layer, below them, so that an image has at most budget
// package layers. A package alone in its layer makes the same layer in
// every image that installs it.
func groupPackages(us []*unpacked, budget int) [][]*unpacked {
	if budget < 1 {
		budget = 1
	}
	if len(us) <= budget {
		out := make([][]*unpacked, len(us))
		for i, u := range us {
			out[i] = []*unpacked{u}
		}
		return out
	}
	bySize := append([]*unpacked(nil), us...)
	sort.SliceStable(bySize, func(i, j int) bool {
		if bySize[i].size != bySize[j].size {
			return bySize[i].size > bySize[j].size
		}
		return bySize[i].name < bySize[j].name
	})
	own := map[string]bool{}
	for _, u := range bySize[:budget-1] {
		own[u.name] = true
	}
	var rest []*unpacked
	out := [][]*unpacked{nil}
	for _, u := range us {
		if own[u.name] {
			out = append(out, []*unpacked{u})
		} else {
			rest = append(rest, u)
		}
	}
	out[0] = rest
	return out
}

// readFiles reads named files from a .deb's data.
func readFiles(file string, names ...string) (map[string][]byte, error) {
	d, err := deb.Open(file)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string][]byte{}
	err = d.Walk(func(h *tar.Header, r io.Reader) error {
		n := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if want[n] {
			b, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			out[n] = b
		}
		return nil
	})
	return out, err
}

var alternativeRE = regexp.MustCompile(`update-alternatives\s+(?:--quiet\s+|--force\s+)*--install\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)((?:\s+--slave\s+\S+\s+\S+\s+\S+)*)`)
var slaveRE = regexp.MustCompile(`--slave\s+(\S+)\s+(\S+)\s+(\S+)`)

type alternative struct {
	link, name, target string
	prio               int
	pkg                string
}

// alternatives reads the update-alternatives calls of the packages'
// postinst scripts: the links (libblas.so.3, awk, …) that dpkg would have
// made. For each name the highest priority wins, as in auto mode.
func alternatives(us []*unpacked) []alternative {
	best := map[string]alternative{}
	for _, u := range us {
		if u.postinst == "" {
			continue
		}
		script := strings.ReplaceAll(u.postinst, "\\\n", " ")
		for _, m := range alternativeRE.FindAllStringSubmatch(script, -1) {
			if strings.Contains(m[0], "$") {
				continue // a computed path: not something to guess
			}
			prio, _ := strconv.Atoi(m[4])
			alts := []alternative{{link: m[1], name: m[2], target: m[3], prio: prio, pkg: u.name}}
			for _, s := range slaveRE.FindAllStringSubmatch(m[5], -1) {
				alts = append(alts, alternative{link: s[1], name: s[2], target: s[3], prio: prio, pkg: u.name})
			}
			master := alts[0].name
			if old, ok := best[master]; ok && (old.prio > prio || (old.prio == prio && old.pkg < u.name)) {
				continue
			}
			for k := range best {
				if strings.HasPrefix(k, master+"\x00") {
					delete(best, k) // the slaves of the replaced choice
				}
			}
			best[master] = alts[0]
			for _, a := range alts[1:] {
				best[master+"\x00"+a.name] = a
			}
		}
	}
	keys := make([]string, 0, len(best))
	for k := range best {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]alternative, 0, len(keys))
	for _, k := range keys {
		out = append(out, best[k])
	}
	return out
}

// generated is the layer of what maintainer scripts would have made, and
// of the recipe's own users, directories and files.
func (b *Builder) generated(r Recipe, lock *Lock, us []*unpacked, basePasswd map[string][]byte, t time.Time) (*fileSet, error) {
	fs := newFileSet(t)
	installed := map[string]bool{}
	files := map[string]bool{}
	for _, u := range us {
		installed[u.name] = true
		for _, p := range u.paths {
			files[p] = true
		}
	}

	// Users and groups.
	passwd, group, err := accounts(r, basePasswd)
	if err != nil {
		return nil, err
	}
	fs.addFile("etc/passwd", 0o644, 0, 0, t, passwd)
	fs.addFile("etc/group", 0o644, 0, 0, t, group)
	// glibc reads users, groups and hosts from files; without this file
	// its built-in defaults differ between versions.
	fs.addFile("etc/nsswitch.conf", 0o644, 0, 0, t, []byte("passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n"))

	// os-release, which scanners read to know the distribution.
	if len(lock.Releases) > 0 {
		rel := lock.Releases[0]
		major, _, _ := strings.Cut(rel.Version, ".")
		osr := fmt.Sprintf("PRETTY_NAME=\"Debian GNU/Linux %s (%s)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"%s\"\nVERSION=\"%s (%s)\"\nVERSION_CODENAME=%s\nID=debian\nHOME_URL=\"https://www.debian.org/\"\nSUPPORT_URL=\"https://www.debian.org/support\"\nBUG_REPORT_URL=\"https://bugs.debian.org/\"\n",
			major, rel.Codename, major, major, rel.Codename, rel.Codename)
		fs.addFile("usr/lib/os-release", 0o644, 0, 0, t, []byte(osr))
		fs.addLink("etc/os-release", "../usr/lib/os-release", t)
		fs.addFile("etc/debian_version", 0o644, 0, 0, t, []byte(rel.Version+"\n"))
	}

	// The CA bundle update-ca-certificates would write: every certificate
	// the packages ship, in name order.
	var certNames []string
	certs := map[string][]byte{}
	for _, u := range us {
		for n, d := range u.caCerts {
			certs[n] = d
			certNames = append(certNames, n)
		}
	}
	if len(certNames) > 0 {
		sort.Strings(certNames)
		var bundle bytes.Buffer
		for _, n := range certNames {
			bundle.Write(certs[n])
			if !bytes.HasSuffix(certs[n], []byte("\n")) {
				bundle.WriteByte('\n')
			}
		}
		fs.addFile("etc/ssl/certs/ca-certificates.crt", 0o644, 0, 0, t, bundle.Bytes())
		if !files["usr/lib/ssl/cert.pem"] {
			// OpenSSL's default CA file, which the openssl package links.
			fs.addLink("usr/lib/ssl/cert.pem", "/etc/ssl/certs/ca-certificates.crt", t)
		}
	}

	for _, a := range alternatives(us) {
		if !files[canonical(strings.TrimPrefix(a.target, "/"))] {
			continue // the target was dropped or lives in a package not installed
		}
		fs.addLink("etc/alternatives/"+a.name, a.target, t)
		link := canonical(strings.TrimPrefix(a.link, "/"))
		if !files[link] {
			fs.addLink(link, "/etc/alternatives/"+a.name, t)
		}
	}

	// The recipe's own directories and files, owned as asked.
	ids, gids := idMaps(passwd, group)
	owner := func(spec string) (int, int, error) {
		if spec == "" {
			return 0, 0, nil
		}
		u, g, hasG := strings.Cut(spec, ":")
		uid, ok := ids[u]
		if !ok {
			n, err := strconv.Atoi(u)
			if err != nil {
				return 0, 0, fmt.Errorf("images.%s: owner %q: no such user", r.Name, spec)
			}
			uid = n
		}
		gid := primaryGID(passwd, u, uid)
		if hasG {
			gg, ok := gids[g]
			if !ok {
				n, err := strconv.Atoi(g)
				if err != nil {
					return 0, 0, fmt.Errorf("images.%s: owner %q: no such group", r.Name, spec)
				}
				gg = n
			}
			gid = gg
		}
		return uid, gid, nil
	}
	for _, usr := range r.Users {
		if usr.Home != "" && usr.Home != "/nonexistent" {
			uid, gid, _ := owner(usr.Name)
			fs.addDir(strings.TrimPrefix(usr.Home, "/"), 0o755, uid, gid, t)
		}
	}
	for _, d := range r.Dirs {
		uid, gid, err := owner(d.Owner)
		if err != nil {
			return nil, err
		}
		mode := int64(d.Mode)
		if mode == 0 {
			mode = 0o755
		}
		fs.addDir(canonical(d.Path), mode, uid, gid, t)
	}
	for _, f := range r.Files {
		uid, gid, err := owner(f.Owner)
		if err != nil {
			return nil, err
		}
		name := canonical(f.Path)
		if f.Link != "" {
			fs.addLink(name, f.Link, t)
			continue
		}
		data := []byte(f.Content)
		mode := int64(f.Mode)
		if f.Source != "" {
			var perm os.FileMode
			data, perm, err = b.readSource(f.Source)
			if err != nil {
				return nil, fmt.Errorf("images.%s: file %s: %w", r.Name, f.Path, err)
			}
			// The default 0644 must not open a file to more people in
			// the image than on the host (a 0600 key would become
			// world-readable): such a file needs its mode said.
			if mode == 0 && os.FileMode(0o644)&^perm != 0 {
				return nil, fmt.Errorf("images.%s: file %s: the source %s is %04o on the host, and the image's default is 0644; give the mode it should have (mode: \"%04o\")", r.Name, f.Path, f.Source, perm, perm)
			}
		}
		if mode == 0 {
			mode = 0o644
		}
		fs.addFile(name, mode, uid, gid, t, data)
	}
	return fs, nil
}

// readSource reads a recipe's files.source beneath the work directory
// (the recipe's directory): an absolute name, "..", or a symlink that
// leads out of it is refused, so that a recipe from someone else cannot
// copy the builder's files (keys, /etc/shadow) into an image.
func (b *Builder) readSource(src string) ([]byte, os.FileMode, error) {
	if path.IsAbs(src) || !iofs.ValidPath(path.Clean(src)) {
		return nil, 0, fmt.Errorf("source %q must be a relative path beneath the recipe's directory", src)
	}
	root, err := os.OpenRoot(b.opts.WorkDir)
	if err != nil {
		return nil, 0, err
	}
	defer root.Close()
	f, err := root.Open(path.Clean(src))
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("source %q is not a regular file", src)
	}
	data, err := io.ReadAll(f)
	return data, fi.Mode().Perm(), err
}

// accounts writes /etc/passwd and /etc/group: base-passwd's master files
// (root, daemon, www-data, nobody, …) followed by the recipe's users and
// groups, each user with a group of its own unless told otherwise.
func accounts(r Recipe, basePasswd map[string][]byte) (passwd, group []byte, err error) {
	p := string(basePasswd["usr/share/base-passwd/passwd.master"])
	g := string(basePasswd["usr/share/base-passwd/group.master"])
	if p == "" {
		// No base-passwd (a recipe without a suite): root and nobody.
		p = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
		g = "root:x:0:\nnogroup:x:65534:\n"
	}
	var pb, gb bytes.Buffer
	pb.WriteString(strings.TrimRight(p, "\n") + "\n")
	gb.WriteString(strings.TrimRight(g, "\n") + "\n")
	users, groups := idMaps([]byte(p), []byte(g))
	members := map[string][]string{}
	for _, grp := range r.Groups {
		if _, ok := groups[grp.Name]; ok {
			continue
		}
		groups[grp.Name] = grp.GID
		fmt.Fprintf(&gb, "%s:x:%d:\n", grp.Name, grp.GID)
	}
	for _, u := range r.Users {
		if _, ok := users[u.Name]; ok {
			return nil, nil, fmt.Errorf("images.%s.users: %s is already a system user", r.Name, u.Name)
		}
		gid := u.UID
		if u.GID != nil {
			gid = *u.GID
		}
		if _, ok := groups[u.Name]; !ok && u.GID == nil {
			groups[u.Name] = gid
			fmt.Fprintf(&gb, "%s:x:%d:\n", u.Name, gid)
		}
		home := u.Home
		if home == "" {
			home = "/nonexistent"
		}
		shell := u.Shell
		if shell == "" {
			shell = "/usr/sbin/nologin"
		}
		users[u.Name] = u.UID
		fmt.Fprintf(&pb, "%s:x:%d:%d:%s:%s:%s\n", u.Name, u.UID, gid, u.Name, home, shell)
		for _, sg := range u.Groups {
			members[sg] = append(members[sg], u.Name)
		}
	}
	if len(members) > 0 {
		lines := strings.Split(strings.TrimRight(gb.String(), "\n"), "\n")
		for i, l := range lines {
			name, _, _ := strings.Cut(l, ":")
			if m := members[name]; len(m) > 0 {
				sep := ","
				if strings.HasSuffix(l, ":") {
					sep = ""
				}
				lines[i] = l + sep + strings.Join(m, ",")
			}
		}
		gb.Reset()
		gb.WriteString(strings.Join(lines, "\n") + "\n")
	}
	return pb.Bytes(), gb.Bytes(), nil
}

func idMaps(passwd, group []byte) (users, groups map[string]int) {
	users, groups = map[string]int{}, map[string]int{}
	for _, l := range strings.Split(string(passwd), "\n") {
		f := strings.Split(l, ":")
		if len(f) >= 4 {
			if n, err := strconv.Atoi(f[2]); err == nil {
				users[f[0]] = n
			}
		}
	}
	for _, l := range strings.Split(string(group), "\n") {
		f := strings.Split(l, ":")
		if len(f) >= 3 {
			if n, err := strconv.Atoi(f[2]); err == nil {
				groups[f[0]] = n
			}
		}
	}
	return users, groups
}

func primaryGID(passwd []byte, name string, uid int) int {
	for _, l := range strings.Split(string(passwd), "\n") {
		f := strings.Split(l, ":")
		if len(f) >= 4 && f[0] == name {
			if n, err := strconv.Atoi(f[3]); err == nil {
				return n
			}
		}
	}
	return uid
}

// CacheDir is where the builder keeps downloads, layers and programs.
func (b *Builder) CacheDir() string { return b.opts.CacheDir }

// Fetch pins the recipe's packages, resolving when its lock is missing or
// stale as Build does, and returns the verified .deb of each by package
// name, without building an image: for callers that need a package's
// files on the host (berth's toolbox).
func (b *Builder) Fetch(ctx context.Context, r Recipe) (*Lock, map[string]string, error) {
	if err := r.Validate(); err != nil {
		return nil, nil, err
	}
	b.current = r.Name
	lock, err := b.lockFor(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	paths := map[string]string{}
	for _, p := range lock.Packages {
		fp, err := b.fetchVerified(ctx, p)
		if err != nil {
			return nil, nil, fmt.Errorf("fetching %s: %w", r.Name, err)
		}
		paths[p.Name] = fp
	}
	return lock, paths, nil
}
