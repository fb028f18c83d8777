package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/health"
	"github.com/voidnxlabs/berth/internal/extract"
	"github.com/voidnxlabs/berth/runtime"
)

// RestoreResult is what Restore did.
type RestoreResult struct {
	ID       string            `json:"id"`
	Services []RestoredService `json:"services"`
}

// RestoredService is one service put back.
type RestoredService struct {
	Container string `json:"container"`
	Method    string `json:"method"`
	Files     int    `json:"files"`
	Bytes     int64  `json:"bytes"`
	// Started says the service was started on the restored data and
	// found healthy; a service that was not running is left stopped.
	Started bool `json:"started"`
	// Models are Ollama models saved as names: pull them again.
	Models []string `json:"models,omitempty"`
}

// Restore puts the services of targets back as backup id holds them. The
// whole backup is verified first; a corrupt one is refused before anything
// is touched. Each data path is rebuilt in a staging directory beside it,
// the service is stopped, the staged content swapped in, and the service
// started again; the previous content is removed only once the service is
// healthy, and swapped back when it is not.
func (r *Repo) Restore(ctx context.Context, eng Engine, id string, targets []Target, opts Options) (*RestoreResult, error) {
	unlock, err := r.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := r.restartStopped(ctx, eng, &opts); err != nil {
		return nil, err
	}
	m, err := r.Manifest(id)
	if err != nil {
		return nil, err
	}
	type pair struct {
		t Target
		s *Service
	}
	var todo []pair
	for _, t := range targets {
		var s *Service
		for i := range m.Services {
			if m.Services[i].Container == t.Container.Spec.Name {
				s = &m.Services[i]
			}
		}
		if s == nil {
			return nil, fmt.Errorf("backup %s holds no %s (it holds %s)", id, t.Container.Spec.Name, strings.Join(m.Containers(), ", "))
		}
		todo = append(todo, pair{t, s})
	}
	if _, err := r.Verify(ctx, id, nil); err != nil {
		return nil, err
	}
	res := &RestoreResult{ID: id, Services: []RestoredService{}}
	for _, p := range todo {
		if err := recoverTarget(ctx, eng, p.t, &opts); err != nil {
			return res, err
		}
		rs, err := r.restoreService(ctx, eng, m, p.t, p.s, &opts)
		if err != nil {
			return res, fmt.Errorf("restoring %s: %w", p.t.Container.Spec.Name, err)
		}
		res.Services = append(res.Services, rs)
	}
	return res, nil
}

// staged is one data path being restored.
type staged struct {
	host, dir string
	j         *journal
}

func (r *Repo) restoreService(ctx context.Context, eng Engine, m *Manifest, t Target, s *Service, opts *Options) (RestoredService, error) {
	c := &t.Container
	name := c.Spec.Name
	rs := RestoredService{Container: name, Method: s.Method, Models: s.Models}
	opts.emit(Event{Kind: EventService, Container: name, Msg: "restoring " + s.Method})
	var work []*staged
	cleanup := func() {
		for _, w := range work {
			os.RemoveAll(w.dir)
		}
	}
	begin := func(host string) (*staged, error) {
		host = realPath(host)
		w := &staged{host: host, dir: restoreDir(host), j: &journal{Backup: m.ID, Container: name}}
		if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
			return nil, err
		}
		if err := os.Mkdir(w.dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating staging directory: %w", err)
		}
		work = append(work, w)
		return w, writeJournal(w.dir, w.j)
	}
	switch {
	case s.Dump != nil:
		if len(c.DataPaths) != 1 {
			return rs, fmt.Errorf("a pg_dumpall backup restores into one data path; the service has %d", len(c.DataPaths))
		}
		w, err := begin(c.DataPaths[0].Host)
		if err != nil {
			cleanup()
			return rs, err
		}
		if err := r.stagePostgres(ctx, eng, c, s.Dump, m.Packs[s.Dump.Pack], filepath.Join(w.dir, "stage"), opts); err != nil {
			cleanup()
			return rs, err
		}
		rs.Files, rs.Bytes = 1, s.Dump.Size
	default:
		for _, p := range s.Paths {
			if p.ModelNames {
				continue
			}
			host, ok := hostFor(c, p)
			if !ok {
				cleanup()
				return rs, fmt.Errorf("the backup's path %s (%s) is not a data path of %s in the current config: %w", p.Option, p.Host, name, ErrNotDataPath)
			}
			if p.Missing {
				opts.emit(Event{Kind: EventWarning, Container: name, Path: host, Msg: "the data path did not exist at backup time; left as it is"})
				continue
			}
			w, err := begin(host)
			if err != nil {
				cleanup()
				return rs, err
			}
			n, b, err := r.extract(ctx, p, m.Packs, filepath.Join(w.dir, "stage"), func(done, total int64) {
				opts.emit(Event{Kind: EventProgress, Container: name, Path: host, Done: done, Total: total})
			})
			if err != nil {
				cleanup()
				return rs, err
			}
			rs.Files += n
			rs.Bytes += b
		}
	}
	opts.hook("restore-staged")
	if len(work) == 0 {
		return rs, nil // nothing to put in place: leave the service alone
	}

	running := false
	if ctr, err := eng.InspectContainer(ctx, name); err == nil {
		running = ctr.State == runtime.StateRunning || ctr.State == runtime.StateRestarting
	} else if !errors.Is(err, runtime.ErrNotFound) {
		cleanup()
		return rs, err
	}
	if running {
		for _, w := range work {
			w.j.Stopped = true
			if err := writeJournal(w.dir, w.j); err != nil {
				cleanup()
				return rs, err
			}
		}
		if err := eng.StopContainer(ctx, name, stopTimeout(c)); err != nil {
			cleanup()
			return rs, fmt.Errorf("stopping: %w", err)
		}
		opts.emit(Event{Kind: EventStop, Container: name})
	}
	rollback := func(cause error) error {
		if running {
			eng.StopContainer(ctx, name, stopTimeout(c))
		}
		var errs []error
		for _, w := range work {
			if err := swapBack(w.host, w.dir, w.j); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			// Keep the staging directories: they hold the previous content.
			return errors.Join(append([]error{cause}, errs...)...)
		}
		cleanup()
		if running {
			if err := eng.StartContainer(ctx, name); err != nil {
				return errors.Join(cause, fmt.Errorf("starting with the previous content: %w", err))
			}
		}
		return fmt.Errorf("%w; the previous content is back in place", cause)
	}
	for _, w := range work {
		if err := swapIn(w.host, w.dir, w.j); err != nil {
			return rs, rollback(err)
		}
	}
	opts.emit(Event{Kind: EventSwap, Container: name})
	opts.hook("restore-swapped")
	if running {
		if err := eng.StartContainer(ctx, name); err != nil {
			return rs, rollback(fmt.Errorf("starting on the restored data: %w", err))
		}
		opts.emit(Event{Kind: EventStart, Container: name})
		if err := waitHealthy(ctx, eng, c, opts.HealthTimeout); err != nil {
			return rs, rollback(err)
		}
		rs.Started = true
		opts.emit(Event{Kind: EventHealthy, Container: name})
	}
	cleanup()
	return rs, nil
}

// ErrNotDataPath reports a backed-up path that the current config does not
// have: a restore writes only where the config says data lives, never to
// a place a manifest names.
var ErrNotDataPath = errors.New("not a data path of the current config")

// hostFor is where a backed-up path goes now: the data path of the same
// option in the current config. The manifest's Host is only a record.
func hostFor(c *desired.Container, p Path) (string, bool) {
	for _, dp := range c.DataPaths {
		if dp.Option == p.Option {
			return dp.Host, true
		}
	}
	return "", false
}

// waitHealthy waits for the container to run and pass its health check.
func waitHealthy(ctx context.Context, eng Engine, c *desired.Container, timeout time.Duration) error {
	return waitHealthyOn(ctx, eng, c, timeout, "on the restored data")
}

// waitHealthyOn waits for c's health check (running, without one); where
// says on what it must pass, for the error.
func waitHealthyOn(ctx context.Context, eng Engine, c *desired.Container, timeout time.Duration, where string) error {
	o := health.WaitOptions{Timeout: timeout, Probe: health.Prober(eng), Address: c.Address}
	if c.Health != nil && !c.Address.IsValid() {
		c = &desired.Container{Spec: c.Spec} // nowhere to probe: running is enough
	}
	err := health.WaitContainer(ctx, eng, c, o)
	var ee *health.ExitedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return fmt.Errorf("the service exited with code %d %s", ee.Code, where)
	case ctx.Err() != nil:
		return fmt.Errorf("the service did not become healthy %s: %w", where, ctx.Err())
	}
	return fmt.Errorf("the service did not become healthy %s: %w", where, err)
}

// extract writes path p's entries into dir, reading each content from its
// pack and checking its hash, then sets owners, modes and times. Every
// name is resolved beneath dir without following a symlink (see
// internal/extract): a symlink entry "esc -> /" and a file "esc/x" are
// refused, and no mode or owner goes through a link.
//
// Setuid and setgid bits are restored as the manifest has them: an
// authenticated manifest was written by berth from the data path itself,
// so such a bit was in the original data.
func (r *Repo) extract(ctx context.Context, p Path, packs map[string]Pack, dir string, progress func(done, total int64)) (files int, bytes int64, err error) {
	entries := append([]File(nil), p.Files...)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })
	if err := os.Mkdir(dir, 0o700); err != nil {
		return 0, 0, err
	}
	t, err := extract.Open(dir, extract.Options{OwnersIfRoot: true})
	if err != nil {
		return 0, 0, err
	}
	defer t.Close()
	need := map[string]map[string][]string{} // pack → content → destinations
	var total int64
	for _, f := range entries {
		// Verify refused such entries already; this guards the writes.
		if c := path.Clean(f.Path); path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") || c != f.Path {
			return 0, 0, fmt.Errorf("entry %q leaves the data path: %w", f.Path, ErrCorrupt)
		}
		if f.Path == "." && f.Type != TypeDir {
			return 0, 0, fmt.Errorf("entry %q: the data path itself must be a directory: %w", f.Path, ErrCorrupt)
		}
		switch f.Type {
		case TypeDir:
			err = t.Mkdir(f.Path)
		case TypeSymlink:
			err = t.Symlink(f.Path, f.Link)
		case TypeFile:
			if need[f.Pack] == nil {
				need[f.Pack] = map[string][]string{}
			}
			need[f.Pack][f.SHA256] = append(need[f.Pack][f.SHA256], f.Path)
			total += f.Size
			files++
		}
		if err != nil {
			return 0, 0, err
		}
	}
	var pids []string
	for pid := range need {
		pids = append(pids, pid)
	}
	sort.Strings(pids)
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		err := readPack(r.packPath(pid), packs[pid], func(name string, size int64, rd io.Reader) error {
			dsts, ok := need[pid][name]
			if !ok {
				return nil
			}
			delete(need[pid], name)
			if err := writeContent(t, dsts[0], rd, name); err != nil {
				return err
			}
			for _, d := range dsts[1:] {
				if err := copyContent(t, dsts[0], d); err != nil {
					return err
				}
			}
			bytes += size * int64(len(dsts))
			progress(bytes, total)
			return nil
		})
		if err != nil {
			return 0, 0, fmt.Errorf("reading pack %s: %w", pid, err)
		}
		for sum := range need[pid] {
			return 0, 0, fmt.Errorf("pack %s lacks content %s: %w", pid, short(sum), ErrCorrupt)
		}
	}
	// Metadata last, deepest first, so that a directory's mode and time
	// are set after its content is written.
	for i := len(entries) - 1; i >= 0; i-- {
		f := entries[i]
		if err := t.SetMeta(f.Path, extract.Meta{Mode: f.Mode, UID: f.UID, GID: f.GID, MTime: f.MTime}); err != nil {
			return 0, 0, err
		}
	}
	return files, bytes, syncTree(dir)
}

func writeContent(t *extract.Tree, dst string, rd io.Reader, sum string) error {
	h := sha256.New()
	if _, err := t.WriteFile(dst, io.TeeReader(rd, h), nil); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("content %s reads back as %s: %w", short(sum), short(got), ErrCorrupt)
	}
	return nil
}

func copyContent(t *extract.Tree, src, dst string) error {
	in, err := t.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	_, err = t.WriteFile(dst, in, nil)
	return err
}

// syncTree flushes the staged files, so that the swap never exposes
// content still in the page cache only.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
}

// stagePostgres builds a fresh cluster in stage from a pg_dumpall output:
// a throwaway container of the service's image initialises it and loads
// the dump, then stops cleanly.
func (r *Repo) stagePostgres(ctx context.Context, eng Engine, c *desired.Container, dump *File, pack Pack, stage string, opts *Options) error {
	dp := c.DataPaths[0]
	if err := os.Mkdir(stage, 0o700); err != nil {
		return err
	}
	if dp.UID >= 0 {
		if err := os.Chown(stage, dp.UID, dp.GID); err != nil {
			return err
		}
	}
	tmp, err := os.CreateTemp(r.path("tmp"), "restore-*.sql")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	tmp.Close()
	found := false
	err = readPack(r.packPath(dump.Pack), pack, func(name string, _ int64, rd io.Reader) error {
		if name != dump.SHA256 || found {
			return nil
		}
		found = true
		out, err := os.OpenFile(tmp.Name(), os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(io.MultiWriter(out, h), rd)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != name {
			return fmt.Errorf("content %s reads back as %s: %w", short(name), short(got), ErrCorrupt)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the dump: %w", err)
	}
	if !found {
		return fmt.Errorf("pack %s lacks the dump: %w", dump.Pack, ErrCorrupt)
	}

	var pw [16]byte
	rand.Read(pw[:])
	password := hex.EncodeToString(pw[:])
	spec := c.Spec
	spec.Name = restoreContainer(c.Spec.Name)
	spec.Networks, spec.Ports, spec.Healthcheck = nil, nil, nil
	spec.Restart = "no"
	spec.Labels = map[string]string{"io.berth.restore-of": c.Spec.Name}
	spec.Mounts = nil
	for _, mt := range c.Spec.Mounts {
		if filepath.Clean(mt.Source) == filepath.Clean(dp.Host) {
			mt.Source = stage
		}
		spec.Mounts = append(spec.Mounts, mt)
	}
	// Any password initialises the cluster; the dump then sets the roles'
	// own password hashes. The service's own password, as a value or as a
	// mounted secret file (which the image prefers), must not reach the
	// loading container: the server would take it and refuse this one.
	var env []string
	for _, kv := range c.Spec.Env {
		if !strings.HasPrefix(kv, "POSTGRES_PASSWORD=") && !strings.HasPrefix(kv, "POSTGRES_PASSWORD_FILE=") {
			env = append(env, kv)
		}
	}
	spec.Env = append(env, "POSTGRES_PASSWORD="+password)
	sort.Strings(spec.Env)
	if err := eng.RemoveContainer(ctx, spec.Name); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return err
	}
	if _, err := eng.CreateContainer(ctx, spec); err != nil {
		return fmt.Errorf("creating a container to load the dump: %w", err)
	}
	defer eng.RemoveContainer(context.WithoutCancel(ctx), spec.Name)
	if err := eng.StartContainer(ctx, spec.Name); err != nil {
		return fmt.Errorf("starting a container to load the dump: %w", err)
	}
	user := envOf(c.Spec.Env, "POSTGRES_USER", "postgres")
	psql := func(stdin io.Reader, stderr io.Writer, args ...string) (int, error) {
		return eng.Exec(ctx, spec.Name, runtime.ExecOptions{
			Cmd: append([]string{"psql", "-X", "-U", user, "-d", "postgres", "-w"}, args...), User: "postgres",
			Env: []string{"PGPASSWORD=" + password}, Stdin: stdin, Stdout: io.Discard, Stderr: stderr,
		})
	}
	// Ready when the server answers on TCP: images that initialise with a
	// temporary server listen only on the socket until the real one runs.
	deadline := time.Now().Add(max(opts.HealthTimeout, 2*time.Minute))
	for {
		var errb bytes.Buffer
		code, err := psql(nil, &errb, "-h", "127.0.0.1", "-tAc", "select 1")
		if err == nil && code == 0 {
			break
		}
		ctr, ierr := eng.InspectContainer(ctx, spec.Name)
		if ierr == nil && ctr.State == runtime.StateExited {
			return fmt.Errorf("the container loading the dump exited with %d", ctr.ExitCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the container loading the dump never answered: %s", lastLines(errb.String(), 3))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	opts.hook("restore-loading")
	in, err := os.Open(tmp.Name())
	if err != nil {
		return err
	}
	defer in.Close()
	var errb bytes.Buffer
	code, err := psql(in, &errb, "-q", "-f", "-")
	if err != nil {
		return fmt.Errorf("loading the dump: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("loading the dump: psql exited with %d: %s", code, lastLines(errb.String(), 5))
	}
	// A fresh cluster already has the bootstrap role and maybe the
	// default database; any other error is a failed restore.
	var bad []string
	for _, line := range strings.Split(errb.String(), "\n") {
		if strings.Contains(line, "ERROR:") && !strings.Contains(line, "already exists") {
			bad = append(bad, strings.TrimSpace(line))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("loading the dump: %s", lastLines(strings.Join(bad, "\n"), 3))
	}
	// A clean shutdown leaves a cluster that starts without recovery.
	if err := eng.StopContainer(ctx, spec.Name, 60*time.Second); err != nil {
		return fmt.Errorf("stopping the container that loaded the dump: %w", err)
	}
	return nil
}

func restoreContainer(name string) string { return name + "-berth-restore" }

// Recover undoes what a killed backup or restore of targets left: services
// stopped for a copy are started, a swapped-in restore that was never
// confirmed healthy is swapped back, and staging directories are removed.
// Backup and Restore run it first; the CLI runs it on its own with
// `berth restore --recover`.
func (r *Repo) Recover(ctx context.Context, eng Engine, targets []Target, opts Options) error {
	unlock, err := r.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := r.restartStopped(ctx, eng, &opts); err != nil {
		return err
	}
	return RecoverRestores(ctx, eng, targets, opts.Events)
}

// RecoverRestores undoes the restores of targets' data paths that were cut
// off, without a repository: what `berth up` can run before it starts
// services, so that none starts on a restore that was never confirmed.
func RecoverRestores(ctx context.Context, eng Engine, targets []Target, events func(Event)) error {
	opts := &Options{Events: events}
	for _, t := range targets {
		if err := recoverTarget(ctx, eng, t, opts); err != nil {
			return err
		}
	}
	return nil
}

func recoverTarget(ctx context.Context, eng Engine, t Target, opts *Options) error {
	c := &t.Container
	name := c.Spec.Name
	if err := eng.RemoveContainer(ctx, restoreContainer(name)); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("removing %s: %w", restoreContainer(name), err)
	}
	start := false
	for _, dp := range c.DataPaths {
		host := realPath(dp.Host)
		dir := restoreDir(host)
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		j, err := readJournal(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("recovering %s: %w", host, err)
		}
		if j != nil {
			if j.Swapping {
				cur, err := inode(host)
				if err != nil {
					return err
				}
				if cur != j.OrigIno || j.OrigMissing && cur != 0 {
					// The service may run on the restored content.
					if err := eng.StopContainer(ctx, name, stopTimeout(c)); err != nil && !errors.Is(err, runtime.ErrNotFound) {
						return fmt.Errorf("recovering %s: stopping %s: %w", host, name, err)
					}
				}
				if err := swapBack(host, dir, j); err != nil {
					return fmt.Errorf("recovering %s: %w (the previous content is kept in %s)", host, err, dir)
				}
			}
			start = start || j.Stopped
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("recovering %s: %w", host, err)
		}
		opts.emit(Event{Kind: EventRecover, Container: name, Path: host, Msg: "an interrupted restore was undone"})
	}
	if start {
		if err := eng.StartContainer(ctx, name); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("recovering: starting %s: %w", name, err)
		}
	}
	return nil
}
