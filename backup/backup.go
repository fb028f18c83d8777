package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/runtime"
)

// Engine is what backups and restores need from a container engine.
type Engine interface {
	InspectContainer(ctx context.Context, nameOrID string) (runtime.Container, error)
	CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error)
	StartContainer(ctx context.Context, nameOrID string) error
	StopContainer(ctx context.Context, nameOrID string, timeout time.Duration) error
	RemoveContainer(ctx context.Context, nameOrID string) error
	Exec(ctx context.Context, container string, opts runtime.ExecOptions) (int, error)
}

// Target is one service to back up or restore: its desired container (name,
// spec, data paths, address and health check) and how to copy it.
type Target struct {
	Container desired.Container
	Method    string // MethodFiles or MethodPgDumpall
	// ModelNames saves an Ollama models path as the list of its models'
	// names, to pull again, instead of as files.
	ModelNames bool
}

// Targets returns the services of st that have something to back up, with
// the method their desired container carries (from the catalog). modelNames saves Ollama's models
// as names.
func Targets(st *desired.State, modelNames bool) []Target {
	var out []Target
	for _, c := range st.Containers {
		t := Target{Container: c, Method: MethodFiles}
		if c.Backup == MethodPgDumpall {
			t.Method = MethodPgDumpall
		}
		if c.Backup == "ollama" && modelNames {
			t.ModelNames = true
		}
		if len(c.DataPaths) == 0 {
			continue
		}
		out = append(out, t)
	}
	return out
}

// Event kinds.
const (
	EventService  = "service"  // a service's backup or restore begins; Msg says how
	EventStop     = "stop"     // the service was stopped
	EventStart    = "start"    // the service was started again
	EventProgress = "progress" // Done of Total bytes of Path are copied
	EventWarning  = "warning"  // something was left out; Msg says what
	EventSwap     = "swap"     // the restored content is in place, the old kept aside
	EventHealthy  = "healthy"  // the service answers on restored data
	EventRecover  = "recover"  // an interrupted restore or backup was undone
)

// Event reports progress. The library never prints; the CLI draws these.
type Event struct {
	Kind      string
	Container string
	Path      string
	Done      int64
	Total     int64
	Msg       string
}

// Options tune Backup and Restore.
type Options struct {
	Project      string
	BerthVersion string
	Generation   int
	Events       func(Event)
	// Retention, when set, prunes the repository after a backup.
	Retention Retention
	// HealthTimeout bounds the wait for a restored service to be healthy
	// (default 2 minutes).
	HealthTimeout time.Duration
	// Hook is called at named points (backup-copying, restore-loading,
	// restore-staged, restore-swapped) so tests can kill berth there.
	Hook func(point string)
	// Now stands in for the clock in tests.
	Now func() time.Time
	// Rehash reads and hashes every file, also those unchanged since the
	// previous backup.
	Rehash bool
}

func (o *Options) emit(ev Event) {
	if o.Events != nil {
		o.Events(ev)
	}
}

func (o *Options) hook(p string) {
	if o.Hook != nil {
		o.Hook(p)
	}
}

// Result is what Backup did.
type Result struct {
	Manifest *Manifest
	// Stored is the size of the new pack: what this backup added to the
	// repository besides its manifest.
	Stored int64
	// Removed lists backups pruned by the retention.
	Removed []string
	// Reused counts files found unchanged since the previous backup
	// (same inode, size, mtime and ctime) and not read again.
	Reused int
}

// Backup backs up targets into r and returns the new backup's manifest.
// Services copied as files are stopped for the copy and started again;
// PostgreSQL is dumped from its running container.
func (r *Repo) Backup(ctx context.Context, eng Engine, targets []Target, opts Options) (*Result, error) {
	unlock, err := r.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := r.restartStopped(ctx, eng, &opts); err != nil {
		return nil, err
	}
	for _, t := range targets {
		if err := recoverTarget(ctx, eng, t, &opts); err != nil {
			return nil, err
		}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	var rnd [2]byte
	rand.Read(rnd[:])
	t0 := now().UTC()
	m := &Manifest{
		Format: Format, ID: t0.Format("20060102-150405") + "-" + hex.EncodeToString(rnd[:]),
		Time: t0, Project: opts.Project, BerthVersion: opts.BerthVersion, Generation: opts.Generation,
		Services: []Service{}, Packs: map[string]Pack{},
	}
	blobs, packs, err := r.index()
	if err != nil {
		return nil, err
	}
	pw, err := newPackWriter(r, m.ID, blobs)
	if err != nil {
		return nil, err
	}
	defer pw.abort()
	b := &backupRun{r: r, eng: eng, opts: &opts, pw: pw, prev: r.previous()}
	for _, t := range targets {
		s, err := b.service(ctx, t)
		if err != nil {
			return nil, err
		}
		m.Services = append(m.Services, s)
	}
	pack, err := pw.finish()
	if err != nil {
		return nil, err
	}
	m.blobs(func(_ string, f *File) {
		if f.Pack == m.ID {
			m.Packs[f.Pack] = pack
		} else {
			m.Packs[f.Pack] = packs[f.Pack]
		}
	})
	if err := r.writeManifest(m); err != nil {
		return nil, err
	}
	res := &Result{Manifest: m, Stored: pack.Size, Reused: b.reused}
	if !opts.Retention.Zero() {
		res.Removed, err = r.prune(opts.Retention)
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

type backupRun struct {
	r    *Repo
	eng  Engine
	opts *Options
	pw   *packWriter
	// hooked says the backup-copying hook was called.
	hooked bool
	// prev holds the files of the newest earlier backup of each service,
	// by prevKey; reused counts the files taken from it unread.
	prev   map[string]File
	reused int
}

func prevKey(ctr, host, rel string) string { return ctr + "\x00" + host + "\x00" + rel }

// unchanged reports whether f is the same version on disk as the earlier
// backup's pf: same inode, size, mtime and ctime.
func unchanged(f, pf *File) bool {
	return pf.Type == TypeFile && pf.SHA256 != "" && !pf.CTime.IsZero() &&
		f.Ino == pf.Ino && f.Size == pf.Size && f.MTime.Equal(pf.MTime) && f.CTime.Equal(pf.CTime)
}

// previous returns the files of the newest readable backup of each of the
// containers.
func (r *Repo) previous() map[string]File {
	out := map[string]File{}
	ents, err := r.List()
	if err != nil {
		return out
	}
	seen := map[string]bool{}
	for i := len(ents) - 1; i >= 0; i-- {
		if ents[i].Err != nil {
			continue
		}
		for _, s := range ents[i].Manifest.Services {
			if seen[s.Container] {
				continue
			}
			seen[s.Container] = true
			for _, p := range s.Paths {
				for _, f := range p.Files {
					if f.Type == TypeFile {
						out[prevKey(s.Container, p.Host, f.Path)] = f
					}
				}
			}
		}
	}
	return out
}

func (b *backupRun) service(ctx context.Context, t Target) (Service, error) {
	c := &t.Container
	name := c.Spec.Name
	s := Service{Container: name, Kit: c.Kit, Service: c.Service, Method: t.Method, Paths: []Path{}}
	running := false
	if ctr, err := b.eng.InspectContainer(ctx, name); err == nil {
		running = ctr.State == runtime.StateRunning || ctr.State == runtime.StateRestarting
	} else if !errors.Is(err, runtime.ErrNotFound) {
		return s, fmt.Errorf("backing up %s: %w", name, err)
	}
	if t.Method == MethodPgDumpall {
		if running {
			b.opts.emit(Event{Kind: EventService, Container: name, Msg: "pg_dumpall from the running container"})
			f, err := b.dumpPostgres(ctx, c)
			if err != nil {
				return s, fmt.Errorf("backing up %s: %w", name, err)
			}
			s.Dump = f
			return s, nil
		}
		// A stopped cluster is consistent on disk: copy its files.
		s.Method = MethodFiles
	}
	var paths []desired.DataPath
	for _, p := range c.DataPaths {
		if t.ModelNames && strings.HasSuffix(p.Option, ".modelsPath") {
			names, err := ollamaModels(ctx, c)
			if err != nil {
				return s, fmt.Errorf("backing up %s: listing models: %w", name, err)
			}
			s.Models = names
			s.Paths = append(s.Paths, Path{Option: p.Option, Host: p.Host, Target: p.Target, ModelNames: true, Files: []File{}})
			continue
		}
		paths = append(paths, p)
	}
	if len(paths) == 0 {
		return s, nil
	}
	b.opts.emit(Event{Kind: EventService, Container: name, Msg: "files, service stopped for the copy"})
	if running {
		if err := b.r.stopForBackup(ctx, b.eng, c); err != nil {
			return s, fmt.Errorf("backing up %s: %w", name, err)
		}
		s.Stopped = true
		b.opts.emit(Event{Kind: EventStop, Container: name})
	}
	var copyErr error
	for _, p := range paths {
		bp, err := b.copyPath(p, name)
		if err != nil {
			copyErr = err
			break
		}
		s.Paths = append(s.Paths, bp)
	}
	if running {
		// Start the service again even when the copy failed: a backup
		// must not leave a service down.
		if err := b.r.startAfterBackup(ctx, b.eng, name); err != nil {
			return s, errors.Join(copyErr, fmt.Errorf("starting %s again: %w", name, err))
		}
		b.opts.emit(Event{Kind: EventStart, Container: name})
		// Healthy again before the backup returns, so that what follows
		// it (a script's next command, the next service's copy) finds
		// the service answering, as before the backup.
		if copyErr == nil {
			if err := waitHealthyOn(ctx, b.eng, c, b.opts.HealthTimeout, "after the backup (the copy is complete)"); err != nil {
				return s, fmt.Errorf("backing up %s: %w", name, err)
			}
		}
	}
	if copyErr != nil {
		return s, fmt.Errorf("backing up %s: %w", name, copyErr)
	}
	sort.Slice(s.Paths, func(i, j int) bool { return s.Paths[i].Host < s.Paths[j].Host })
	return s, nil
}

// copyPath records every entry under p and stores the contents not yet in
// the repository.
func (b *backupRun) copyPath(p desired.DataPath, ctr string) (Path, error) {
	out := Path{Option: p.Option, Host: p.Host, Target: p.Target, Files: []File{}}
	root := realPath(p.Host)
	files, total, err := scan(root, func(msg string) { b.opts.emit(Event{Kind: EventWarning, Container: ctr, Path: p.Host, Msg: msg}) })
	if errors.Is(err, fs.ErrNotExist) {
		out.Missing = true
		b.opts.emit(Event{Kind: EventWarning, Container: ctr, Path: p.Host, Msg: "data path does not exist; nothing to copy"})
		return out, nil
	}
	if err != nil {
		return out, err
	}
	var done int64
	b.opts.emit(Event{Kind: EventProgress, Container: ctr, Path: p.Host, Done: 0, Total: total})
	for i := range files {
		f := &files[i]
		if f.Type != TypeFile {
			continue
		}
		full := filepath.Join(root, filepath.FromSlash(f.Path))
		if pf, ok := b.prev[prevKey(ctr, p.Host, f.Path)]; ok && !b.opts.Rehash && unchanged(f, &pf) {
			if pack, ok := b.pw.known[pf.SHA256]; ok {
				f.SHA256, f.Pack = pf.SHA256, pack
				b.reused++
				done += f.Size
				b.opts.emit(Event{Kind: EventProgress, Container: ctr, Path: p.Host, Done: done, Total: total})
				continue
			}
		}
		sum, err := hashFile(full, f.Size, f.Ino)
		if err != nil {
			return out, err
		}
		f.SHA256 = sum
		if f.Pack, err = b.pw.add(sum, f.Size, func(w io.Writer) error { return copyFile(w, full, f.Size, sum, f.Ino) }); err != nil {
			return out, err
		}
		done += f.Size
		if !b.hooked {
			b.hooked = true
			b.opts.hook("backup-copying")
		}
		b.opts.emit(Event{Kind: EventProgress, Container: ctr, Path: p.Host, Done: done, Total: total})
	}
	out.Files = files
	return out, nil
}

// realPath resolves the links in a data path, so that a data path that
// links to another disk is copied, and swapped on restore, where its
// content is.
func realPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// scan lists root and everything under it in lexical order. Sockets,
// devices and pipes are left out with a warning.
func scan(root string, warn func(string)) ([]File, int64, error) {
	var out []File
	var total int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if p == root && !info.IsDir() {
			return fmt.Errorf("data path %s is not a directory", root)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		f := File{Path: filepath.ToSlash(rel), MTime: info.ModTime().UTC()}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			f.UID, f.GID = int(st.Uid), int(st.Gid)
			f.Mode = st.Mode & 0o7777
			if info.Mode().IsRegular() {
				f.Ino = st.Ino
				f.CTime = time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec)).UTC()
			}
		}
		switch {
		case info.IsDir():
			f.Type = TypeDir
		case info.Mode().IsRegular():
			f.Type = TypeFile
			f.Size = info.Size()
			total += f.Size
		case info.Mode()&fs.ModeSymlink != 0:
			f.Type = TypeSymlink
			if f.Link, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			warn(fmt.Sprintf("%s: left out (%s)", rel, info.Mode().Type()))
			return nil
		}
		out = append(out, f)
		return nil
	})
	return out, total, err
}

// openListed opens the regular file that scan listed at p as inode ino
// (0: any), never a symlink put in its place, or a file reached through a
// parent swapped for one, since: berth reads as root, and whoever can
// write the data path must not get /etc/shadow into a backup that they
// can restore.
func openListed(p string, ino uint64) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && (!fi.Mode().IsRegular() || ino != 0 && fi.Sys().(*syscall.Stat_t).Ino != ino) {
		err = fmt.Errorf("%s changed while being backed up (it is no longer the file listed)", p)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func hashFile(p string, size int64, ino uint64) (string, error) {
	f, err := openListed(p, ino)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", p, err)
	}
	if n != size {
		return "", fmt.Errorf("%s changed while being backed up (size %d, then %d)", p, size, n)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copyFile writes p's content to w and checks it still has the hash it was
// listed with.
func copyFile(w io.Writer, p string, size int64, sum string, ino uint64) error {
	f, err := openListed(p, ino)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(w, h), f, size); err != nil {
		return fmt.Errorf("copying %s: %w", p, err)
	}
	if hex.EncodeToString(h.Sum(nil)) != sum {
		return fmt.Errorf("%s changed while being backed up", p)
	}
	return nil
}

// packWriter writes the new contents of one backup as a zstd-compressed
// tar stream.
type packWriter struct {
	r     *Repo
	id    string
	known map[string]string // content → pack, from the repository
	f     *os.File
	sum   hash.Hash
	count *countWriter
	zw    *zstd.Encoder
	tw    *tar.Writer
	n     int
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func newPackWriter(r *Repo, id string, known map[string]string) (*packWriter, error) {
	f, err := os.CreateTemp(r.path("tmp"), id+"-*.tar.zst")
	if err != nil {
		return nil, fmt.Errorf("creating pack: %w", err)
	}
	pw := &packWriter{r: r, id: id, known: known, f: f, sum: sha256.New()}
	pw.count = &countWriter{w: io.MultiWriter(f, pw.sum)}
	// One encoder goroutine keeps memory flat; the default level is a
	// good trade on database dumps and notebooks.
	pw.zw, err = zstd.NewWriter(pw.count, zstd.WithEncoderConcurrency(1))
	if err != nil {
		f.Close()
		return nil, err
	}
	pw.tw = tar.NewWriter(pw.zw)
	return pw, nil
}

// add stores a content unless the repository or this pack has it, and
// returns the pack that holds it.
func (pw *packWriter) add(sum string, size int64, write func(io.Writer) error) (string, error) {
	if p, ok := pw.known[sum]; ok {
		return p, nil
	}
	// Entries carry no owner, mode or time of their own: those are in the
	// manifest, and fixed values keep equal contents byte-equal.
	hdr := &tar.Header{Name: sum, Mode: 0o600, Size: size, ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := pw.tw.WriteHeader(hdr); err != nil {
		return "", fmt.Errorf("writing pack: %w", err)
	}
	if err := write(pw.tw); err != nil {
		return "", err
	}
	pw.known[sum] = pw.id
	pw.n++
	return pw.id, nil
}

// finish closes the pack and moves it into the repository. A backup that
// added nothing leaves no pack.
func (pw *packWriter) finish() (Pack, error) {
	if err := pw.tw.Close(); err != nil {
		return Pack{}, fmt.Errorf("writing pack: %w", err)
	}
	if err := pw.zw.Close(); err != nil {
		return Pack{}, fmt.Errorf("writing pack: %w", err)
	}
	if err := pw.f.Sync(); err != nil {
		return Pack{}, fmt.Errorf("writing pack: %w", err)
	}
	if err := pw.f.Close(); err != nil {
		return Pack{}, fmt.Errorf("writing pack: %w", err)
	}
	if pw.n == 0 {
		os.Remove(pw.f.Name())
		return Pack{}, nil
	}
	if err := os.Rename(pw.f.Name(), pw.r.packPath(pw.id)); err != nil {
		return Pack{}, fmt.Errorf("storing pack: %w", err)
	}
	if err := syncDir(pw.r.path("packs")); err != nil {
		return Pack{}, err
	}
	return Pack{SHA256: hex.EncodeToString(pw.sum.Sum(nil)), Size: pw.count.n}, nil
}

func (pw *packWriter) abort() {
	pw.f.Close()
	os.Remove(pw.f.Name())
}

// dumpPostgres runs pg_dumpall in the service's container, over its Unix
// socket, and stores the output.
func (b *backupRun) dumpPostgres(ctx context.Context, c *desired.Container) (*File, error) {
	tmp, err := os.CreateTemp(b.r.path("tmp"), "dump-*.sql")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	user := envOf(c.Spec.Env, "POSTGRES_USER", "postgres")
	var stderr bytes.Buffer
	code, err := b.eng.Exec(ctx, c.Spec.Name, runtime.ExecOptions{
		Cmd: []string{"pg_dumpall", "-U", user, "-w"}, User: "postgres", Stdout: tmp, Stderr: &stderr,
	})
	if err != nil {
		return nil, fmt.Errorf("running pg_dumpall: %w", err)
	}
	if code != 0 {
		return nil, fmt.Errorf("pg_dumpall exited with %d: %s", code, lastLines(stderr.String(), 5))
	}
	if err := tmp.Sync(); err != nil {
		return nil, err
	}
	info, err := tmp.Stat()
	if err != nil {
		return nil, err
	}
	sum, err := hashFile(tmp.Name(), info.Size(), 0)
	if err != nil {
		return nil, err
	}
	f := &File{Path: "pg_dumpall.sql", Type: TypeFile, Mode: 0o600, MTime: time.Now().UTC(), Size: info.Size(), SHA256: sum}
	f.Pack, err = b.pw.add(sum, f.Size, func(w io.Writer) error { return copyFile(w, tmp.Name(), f.Size, sum, 0) })
	if err != nil {
		return nil, err
	}
	b.opts.emit(Event{Kind: EventProgress, Container: c.Spec.Name, Path: "pg_dumpall", Done: f.Size, Total: f.Size})
	return f, nil
}

// ollamaModels asks a running Ollama which models it has.
func ollamaModels(ctx context.Context, c *desired.Container) ([]string, error) {
	if len(c.Listen) == 0 || !c.Address.IsValid() {
		return nil, fmt.Errorf("no address to ask")
	}
	url := "http://" + net.JoinHostPort(c.Address.String(), strconv.Itoa(int(c.Listen[0]))) + "/api/tags"
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var tags struct {
		Models []struct {
			Name string `json:"name"`
		} `json:"models"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tags); err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	names := []string{}
	for _, m := range tags.Models {
		names = append(names, m.Name)
	}
	sort.Strings(names)
	return names, nil
}

func envOf(env []string, key, def string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key && v != "" {
			return v
		}
	}
	return def
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// stopTimeout is how long a service gets to stop cleanly.
func stopTimeout(c *desired.Container) time.Duration {
	if c.Spec.StopTimeout > 0 {
		return c.Spec.StopTimeout
	}
	return 30 * time.Second
}

// stopForBackup stops a service and notes it in the repository's journal
// first, so that a berth killed during the copy has it started again by
// the next backup or restore.
func (r *Repo) stopForBackup(ctx context.Context, eng Engine, c *desired.Container) error {
	names, err := r.stopped()
	if err != nil {
		return err
	}
	names = append(names, c.Spec.Name)
	data, _ := json.Marshal(names)
	if err := writeFile(r.path("stopped.json"), data); err != nil {
		return fmt.Errorf("writing journal: %w", err)
	}
	if err := eng.StopContainer(ctx, c.Spec.Name, stopTimeout(c)); err != nil {
		return fmt.Errorf("stopping: %w", err)
	}
	return nil
}

func (r *Repo) startAfterBackup(ctx context.Context, eng Engine, name string) error {
	if err := eng.StartContainer(ctx, name); err != nil {
		return err
	}
	names, err := r.stopped()
	if err != nil {
		return err
	}
	var rest []string
	for _, n := range names {
		if n != name {
			rest = append(rest, n)
		}
	}
	if len(rest) == 0 {
		return os.Remove(r.path("stopped.json"))
	}
	data, _ := json.Marshal(rest)
	return writeFile(r.path("stopped.json"), data)
}

func (r *Repo) stopped() ([]string, error) {
	data, err := os.ReadFile(r.path("stopped.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading journal: %w", err)
	}
	var names []string
	if err := json.Unmarshal(data, &names); err != nil {
		return nil, fmt.Errorf("reading journal %s: %w", r.path("stopped.json"), err)
	}
	return names, nil
}

// restartStopped starts the services an interrupted backup stopped.
func (r *Repo) restartStopped(ctx context.Context, eng Engine, opts *Options) error {
	names, err := r.stopped()
	if err != nil || len(names) == 0 {
		return err
	}
	for _, n := range names {
		if err := eng.StartContainer(ctx, n); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("starting %s, stopped by an interrupted backup: %w", n, err)
		}
		opts.emit(Event{Kind: EventRecover, Container: n, Msg: "started again after an interrupted backup"})
	}
	return os.Remove(r.path("stopped.json"))
}
