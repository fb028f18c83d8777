package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/voidnxlabs/berth/desired"
	"github.com/voidnxlabs/berth/internal/testenv"
	"github.com/voidnxlabs/berth/runtime"
)

// stubEngine stands for an engine with containers that only have a state:
// enough for the stop and start around a copy. Exec and Create are not
// expected by file backups and fail the test.
type stubEngine struct {
	mu     sync.Mutex
	state  map[string]string
	t      testing.TB
	events []string
	// failOn, when set, makes a start fail (the service exits) while the
	// data path holds this file.
	failOn string
}

func newStub(t testing.TB, running ...string) *stubEngine {
	e := &stubEngine{t: t, state: map[string]string{}}
	for _, n := range running {
		e.state[n] = runtime.StateRunning
	}
	return e
}

func (e *stubEngine) log(s string) { e.events = append(e.events, s) }

func (e *stubEngine) InspectContainer(_ context.Context, name string) (runtime.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.state[name]
	if !ok {
		return runtime.Container{}, fmt.Errorf("container %s: %w", name, runtime.ErrNotFound)
	}
	return runtime.Container{Name: name, State: st}, nil
}

func (e *stubEngine) StartContainer(_ context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.state[name]; !ok {
		return runtime.ErrNotFound
	}
	e.state[name] = runtime.StateRunning
	if e.failOn != "" {
		if _, err := os.Stat(e.failOn); err == nil {
			e.state[name] = runtime.StateExited
		}
	}
	e.log("start " + name)
	return nil
}

func (e *stubEngine) StopContainer(_ context.Context, name string, _ time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.state[name]; !ok {
		return runtime.ErrNotFound
	}
	e.state[name] = runtime.StateExited
	e.log("stop " + name)
	return nil
}

func (e *stubEngine) RemoveContainer(_ context.Context, name string) error {
	return fmt.Errorf("container %s: %w", name, runtime.ErrNotFound)
}

func (e *stubEngine) CreateContainer(context.Context, runtime.ContainerSpec) (string, error) {
	e.t.Errorf("unexpected CreateContainer")
	return "", errors.New("unexpected")
}

func (e *stubEngine) Exec(context.Context, string, runtime.ExecOptions) (int, error) {
	e.t.Errorf("unexpected Exec")
	return 1, errors.New("unexpected")
}

// target is a files service with one data path.
func target(name, host string) Target {
	return Target{Method: MethodFiles, Container: desired.Container{
		Kit: "lab", Service: name, Spec: runtime.ContainerSpec{Name: name, StopTimeout: time.Second},
		DataPaths: []desired.DataPath{{Option: "lab." + name + ".dataPath", Host: host, Target: "/data", UID: -1, GID: -1}},
	}}
}

// fill writes a small tree: nested directories, an empty file, equal
// contents at two paths, a symlink, odd modes and fixed times.
func fill(t testing.TB, dir string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "notebooks", "deep", "er"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "notebooks", "a.ipynb"), []byte(`{"cells": []}`), 0o644))
	must(os.WriteFile(filepath.Join(dir, "notebooks", "deep", "same1"), []byte("same content"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "notebooks", "deep", "er", "same2"), []byte("same content"), 0o640))
	must(os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644))
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i * 7 % 251)
	}
	must(os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644))
	must(os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755))
	must(syscall.Chmod(filepath.Join(dir, "run.sh"), 0o4755))
	must(os.Symlink("notebooks/a.ipynb", filepath.Join(dir, "link")))
	must(os.WriteFile(filepath.Join(dir, "..dotdot"), []byte("a name that starts with two dots"), 0o644))
	must(os.Chmod(filepath.Join(dir, "notebooks", "deep"), 0o750))
	ts := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	must(filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		return os.Chtimes(p, ts, ts)
	}))
}

// tree describes dir in full: every entry's type, mode, owner, time, size
// and content hash, so that two trees compare equal only when they are the
// same byte for byte.
func tree(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "%s %o %d:%d", rel, st.Mode, st.Uid, st.Gid)
		switch {
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			fmt.Fprintf(&b, " %d %s %s", len(data), hex.EncodeToString(sum[:8]), info.ModTime().UTC().Format(time.RFC3339Nano))
		case info.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			fmt.Fprintf(&b, " -> %s", l)
		default:
			fmt.Fprintf(&b, " %s", info.ModTime().UTC().Format(time.RFC3339Nano))
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func newRepo(t testing.TB) *Repo {
	r, err := Open(filepath.Join(t.TempDir(), "repo"), testKey)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBackupRestoreByteForByte(t *testing.T) {
	ctx := t.Context()
	data := filepath.Join(t.TempDir(), "data")
	fill(t, data)
	want := tree(t, data)
	r := newRepo(t)
	eng := newStub(t, "lab-notes")
	var kinds []string
	opts := Options{Project: "p", BerthVersion: "test", Generation: 3, Events: func(ev Event) { kinds = append(kinds, ev.Kind) }}
	tg := target("lab-notes", data)
	res, err := r.Backup(ctx, eng, []Target{tg}, opts)
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	if m.Generation != 3 || m.BerthVersion != "test" || !m.Services[0].Stopped {
		t.Errorf("manifest: generation %d, version %q, stopped %v", m.Generation, m.BerthVersion, m.Services[0].Stopped)
	}
	if got := strings.Join(eng.events, ","); got != "stop lab-notes,start lab-notes" {
		t.Errorf("engine calls: %s", got)
	}
	if files, bytes := m.Totals(); files != 7 || bytes != 3<<20+13+12+12+18+32 {
		t.Errorf("totals: %d files, %d bytes", files, bytes)
	}
	if !strings.Contains(strings.Join(kinds, ","), "progress") {
		t.Errorf("no progress events: %v", kinds)
	}
	if _, err := r.Verify(ctx, m.ID, nil); err != nil {
		t.Fatal(err)
	}

	// Destroy the data, then restore it.
	os.RemoveAll(filepath.Join(data, "notebooks"))
	os.WriteFile(filepath.Join(data, "big.bin"), []byte("overwritten"), 0o644)
	os.WriteFile(filepath.Join(data, "new-file"), []byte("not in the backup"), 0o644)
	eng.events = nil
	rr, err := r.Restore(ctx, eng, m.ID, []Target{tg}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := tree(t, data); got != want {
		t.Errorf("restored tree differs:\n got:\n%s\nwant:\n%s", got, want)
	}
	if !rr.Services[0].Started || rr.Services[0].Files != 7 {
		t.Errorf("restore result: %+v", rr.Services[0])
	}
	if got := strings.Join(eng.events, ","); got != "stop lab-notes,start lab-notes" {
		t.Errorf("engine calls: %s", got)
	}
	if _, err := os.Stat(restoreDir(data)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the staging directory is left: %v", err)
	}
}

// TestRestoreRollsBack restores content the service does not start on:
// the previous content is put back and the service started on it.
func TestRestoreRollsBack(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	fill(t, data)
	os.WriteFile(filepath.Join(data, "poison"), []byte("the service exits when this is present"), 0o644)
	r := newRepo(t)
	eng := newStub(t, "lab-notes")
	tg := target("lab-notes", data)
	res, err := r.Backup(t.Context(), eng, []Target{tg}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(data, "poison"))
	os.WriteFile(filepath.Join(data, "empty"), []byte("changed"), 0o644)
	before := tree(t, data)
	eng.failOn = filepath.Join(data, "poison")
	eng.events = nil
	_, err = r.Restore(t.Context(), eng, res.Manifest.ID, []Target{tg}, Options{HealthTimeout: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "exited with code 0 on the restored data; the previous content is back in place") {
		t.Fatalf("restore: %v", err)
	}
	if got := tree(t, data); got != before {
		t.Errorf("after a rolled back restore the data path differs:\n%s\nwant:\n%s", got, before)
	}
	if got := strings.Join(eng.events, ","); got != "stop lab-notes,start lab-notes,stop lab-notes,start lab-notes" {
		t.Errorf("engine calls: %s", got)
	}
	if c, _ := eng.InspectContainer(t.Context(), "lab-notes"); c.State != runtime.StateRunning {
		t.Errorf("the service is %s after the rollback", c.State)
	}
	if _, err := os.Stat(restoreDir(data)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the staging directory is left: %v", err)
	}
}

// TestLinkedDataPath backs up and restores a data path that is a link to
// the directory holding the data: the link stays, the content is swapped
// where it lives.
func TestLinkedDataPath(t *testing.T) {
	tmp := t.TempDir()
	real := filepath.Join(tmp, "disk", "notes")
	fill(t, real)
	link := filepath.Join(tmp, "notes")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	want := tree(t, real)
	r := newRepo(t)
	eng := newStub(t)
	tg := target("lab-notes", link)
	res, err := r.Backup(t.Context(), eng, []Target{tg}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if files, _ := res.Manifest.Totals(); files != 7 {
		t.Fatalf("backed up %d files through the link", files)
	}
	os.RemoveAll(filepath.Join(real, "notebooks"))
	if _, err := r.Restore(t.Context(), eng, res.Manifest.ID, []Target{tg}, Options{}); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(link); err != nil || l != real {
		t.Errorf("the link is now %q, %v", l, err)
	}
	if got := tree(t, real); got != want {
		t.Errorf("restored tree differs:\n got:\n%s\nwant:\n%s", got, want)
	}
}

func TestRestoreIntoMissingPath(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	fill(t, data)
	want := tree(t, data)
	r := newRepo(t)
	eng := newStub(t)
	tg := target("lab-notes", data)
	res, err := r.Backup(t.Context(), eng, []Target{tg}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(data)
	if _, err := r.Restore(t.Context(), eng, res.Manifest.ID, []Target{tg}, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, data); got != want {
		t.Errorf("restored tree differs:\n got:\n%s\nwant:\n%s", got, want)
	}
}

func TestDedupe(t *testing.T) {
	ctx := t.Context()
	data := filepath.Join(t.TempDir(), "data")
	fill(t, data)
	r := newRepo(t)
	eng := newStub(t)
	tg := target("lab-notes", data)
	first, err := r.Backup(ctx, eng, []Target{tg}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Equal contents at two paths are stored once: 6 distinct contents.
	if n := countEntries(t, r, first.Manifest.ID); n != 6 {
		t.Errorf("first pack has %d entries, want 6", n)
	}
	second, err := r.Backup(ctx, eng, []Target{tg}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if second.Stored != 0 || len(second.Manifest.Packs) != 1 {
		t.Errorf("an unchanged tree stored %d bytes in packs %v", second.Stored, second.Manifest.Packs)
	}
	if _, err := os.Stat(r.packPath(second.Manifest.ID)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an unchanged tree made a pack")
	}
	if first.Reused != 0 || second.Reused != 7 {
		t.Errorf("files taken unread from the previous backup: %d, then %d; want 0, then 7", first.Reused, second.Reused)
	}
	rehashed, err := r.Backup(ctx, eng, []Target{tg}, Options{Rehash: true})
	if err != nil {
		t.Fatal(err)
	}
	if rehashed.Reused != 0 || rehashed.Stored != 0 {
		t.Errorf("--rehash: %d files reused, %d bytes stored", rehashed.Reused, rehashed.Stored)
	}
	// A write that keeps the size and puts the mtime back still changes
	// the ctime: the file is read again and its new content stored.
	sneaky := filepath.Join(data, "notebooks", "deep", "same1")
	info, _ := os.Stat(sneaky)
	os.WriteFile(sneaky, []byte("SAME CONTENT"), 0o600)
	os.Chtimes(sneaky, info.ModTime(), info.ModTime())
	sneaked, err := r.Backup(ctx, eng, []Target{tg}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sneaked.Reused != 6 || countEntries(t, r, sneaked.Manifest.ID) != 1 {
		t.Errorf("a same-size, same-mtime change: %d files reused, want 6", sneaked.Reused)
	}
	os.WriteFile(filepath.Join(data, "notebooks", "a.ipynb"), []byte(`{"cells": [1]}`), 0o644)
	third, err := r.Backup(ctx, eng, []Target{tg}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := countEntries(t, r, third.Manifest.ID); n != 1 {
		t.Errorf("one changed file stored %d entries", n)
	}
	if third.Stored > 1024 {
		t.Errorf("one changed 14-byte file stored %d bytes", third.Stored)
	}
	for _, id := range []string{first.Manifest.ID, second.Manifest.ID, third.Manifest.ID} {
		if _, err := r.Verify(ctx, id, nil); err != nil {
			t.Errorf("verify %s: %v", id, err)
		}
	}
	// The second backup, made of the first one's pack, restores alone.
	want := tree(t, data)
	os.RemoveAll(data)
	if _, err := r.Restore(ctx, eng, third.Manifest.ID, []Target{tg}, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, data); got != want {
		t.Errorf("restored tree differs:\n got:\n%s\nwant:\n%s", got, want)
	}
}

func countEntries(t *testing.T, r *Repo, id string) int {
	t.Helper()
	n := 0
	if err := readPack(r.packPath(id), Pack{}, func(string, int64, io.Reader) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCorruption damages a backup in each way that matters and checks
// that verify finds it and restore refuses it without touching the data.
func TestCorruption(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, r *Repo, m *Manifest)
		want   string
	}{
		{"pack byte flipped", func(t *testing.T, r *Repo, m *Manifest) {
			p := r.packPath(m.ID)
			data, _ := os.ReadFile(p)
			data[len(data)/2] ^= 0x40
			os.WriteFile(p, data, 0o600)
		}, "pack " /* the decoder or the hash notices */},
		{"pack truncated", func(t *testing.T, r *Repo, m *Manifest) {
			p := r.packPath(m.ID)
			info, _ := os.Stat(p)
			os.Truncate(p, info.Size()/2)
		}, "pack "},
		{"pack missing", func(t *testing.T, r *Repo, m *Manifest) {
			os.Remove(r.packPath(m.ID))
		}, "no such file"},
		{"manifest edited", func(t *testing.T, r *Repo, m *Manifest) {
			p := r.path("manifests", m.ID+".json")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(data), `"size": 12`, `"size": 13`, 1)), 0o600)
		}, "manifest authentication failed"},
		{"manifest HMAC lost", func(t *testing.T, r *Repo, m *Manifest) {
			os.Remove(r.path("manifests", m.ID+".hmac"))
		}, "reading the manifest's HMAC"},
		{"entry leaves the data path", func(t *testing.T, r *Repo, m *Manifest) {
			// A manifest rewritten with a valid HMAC whose entry
			// points outside the data path.
			m.Services[0].Paths[0].Files[1].Path = "../escaped"
			if err := r.writeManifest(m); err != nil {
				t.Fatal(err)
			}
		}, "leaves the data path"},
		{"content swapped", func(t *testing.T, r *Repo, m *Manifest) {
			// A manifest that is consistent with its HMAC but names
			// a content the pack does not hold.
			m.Services[0].Paths[0].Files[1].SHA256 = strings.Repeat("ab", 32)
			if err := r.writeManifest(m); err != nil {
				t.Fatal(err)
			}
		}, "missing or damaged"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			fill(t, data)
			r := newRepo(t)
			eng := newStub(t, "lab-notes")
			tg := target("lab-notes", data)
			res, err := r.Backup(t.Context(), eng, []Target{tg}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(data, "after"), []byte("written after the backup"), 0o644)
			before := tree(t, data)
			c.damage(t, r, res.Manifest)
			vr, err := r.Verify(t.Context(), res.Manifest.ID, nil)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("verify: %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), c.want) || len(vr.Problems) == 0 {
				t.Errorf("verify: %v (problems %q), want %q", err, vr.Problems, c.want)
			}
			eng.events = nil
			_, err = r.Restore(t.Context(), eng, res.Manifest.ID, []Target{tg}, Options{})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("restore: %v, want ErrCorrupt", err)
			}
			if got := tree(t, data); got != before {
				t.Errorf("a refused restore changed the data path")
			}
			if len(eng.events) != 0 {
				t.Errorf("a refused restore touched the service: %v", eng.events)
			}
		})
	}
}

func TestRetentionSelect(t *testing.T) {
	day := func(d, h int) *Manifest {
		tm := time.Date(2026, 11, d, h, 0, 0, 0, time.UTC)
		return &Manifest{ID: tm.Format("20060102-150405") + "-0000", Time: tm}
	}
	ms := []*Manifest{day(20, 1), day(20, 5), day(21, 1), day(23, 9), day(23, 10), day(24, 2), day(24, 3), day(24, 4)}
	ids := func(ms []*Manifest) string {
		var s []string
		for _, m := range ms {
			s = append(s, m.ID[4:11])
		}
		return strings.Join(s, " ")
	}
	for _, c := range []struct {
		ret  Retention
		keep string
	}{
		{Retention{}, "1124-04 1124-03 1124-02 1123-10 1123-09 1121-01 1120-05 1120-01"},
		{Retention{KeepLast: 2}, "1124-04 1124-03"},
		{Retention{KeepDaily: 3}, "1124-04 1123-10 1121-01"},
		{Retention{KeepLast: 2, KeepDaily: 4}, "1124-04 1124-03 1123-10 1121-01 1120-05"},
		{Retention{KeepLast: 100}, "1124-04 1124-03 1124-02 1123-10 1123-09 1121-01 1120-05 1120-01"},
	} {
		keep, remove := c.ret.Select(ms)
		if got := ids(keep); got != c.keep {
			t.Errorf("%+v keeps %s, want %s", c.ret, got, c.keep)
		}
		if len(keep)+len(remove) != len(ms) {
			t.Errorf("%+v: %d kept + %d removed != %d", c.ret, len(keep), len(remove), len(ms))
		}
	}
}

func TestPruneKeepsSharedPacks(t *testing.T) {
	ctx := t.Context()
	data := filepath.Join(t.TempDir(), "data")
	fill(t, data)
	r := newRepo(t)
	eng := newStub(t)
	tg := target("lab-notes", data)
	clock := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	opts := Options{Now: func() time.Time { clock = clock.Add(24 * time.Hour); return clock }}
	var ids []string
	for i := range 4 {
		os.WriteFile(filepath.Join(data, "counter"), []byte(fmt.Sprint(i)), 0o644)
		res, err := r.Backup(ctx, eng, []Target{tg}, opts)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Manifest.ID)
	}
	removed, err := r.Prune(Retention{KeepLast: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 3 {
		t.Errorf("removed %v", removed)
	}
	left, _ := r.IDs()
	if len(left) != 1 || left[0] != ids[3] {
		t.Errorf("left %v", left)
	}
	// The last backup still reads the first one's pack (the unchanged
	// files) and its own (the counter); the middle packs are gone.
	packs, _ := os.ReadDir(r.path("packs"))
	if len(packs) != 2 {
		t.Errorf("packs left: %d, want 2", len(packs))
	}
	if _, err := r.Verify(ctx, ids[3], nil); err != nil {
		t.Fatal(err)
	}
}

func TestLocked(t *testing.T) {
	r := newRepo(t)
	unlock, err := r.lock()
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = r.Backup(t.Context(), newStub(t), nil, Options{})
	if err == nil || !strings.Contains(err.Error(), "another berth is using it") {
		t.Fatalf("second writer: %v", err)
	}
}

// TestKilled kills a berth (this test binary, run again) with SIGKILL at
// each hook point and checks that the data path is as it was before, at
// once or after Recover, and that the repository still works.
func TestKilled(t *testing.T) {
	if os.Getenv("BERTH_BACKUP_HELPER") != "" {
		t.Skip("helper process")
	}
	for _, point := range []string{"backup-copying", "restore-staged", "restore-swapped"} {
		t.Run(point, func(t *testing.T) {
			tmp := t.TempDir()
			data := filepath.Join(tmp, "data")
			fill(t, data)
			r, err := Open(filepath.Join(tmp, "repo"), testKey)
			if err != nil {
				t.Fatal(err)
			}
			tg := target("lab-notes", data)
			eng := newStub(t)
			res, err := r.Backup(t.Context(), eng, []Target{tg}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(data, "notebooks", "a.ipynb"), []byte("changed after the backup"), 0o644)
			os.RemoveAll(filepath.Join(data, "notebooks", "deep"))
			before := tree(t, data)
			idsBefore, _ := r.IDs()

			killAt(t, point, "BERTH_HELPER_REPO="+r.Dir, "BERTH_HELPER_DATA="+data, "BERTH_HELPER_ID="+res.Manifest.ID)

			if point == "restore-swapped" {
				// Killed after the swap: the restored content is in
				// place until recovery puts the previous one back.
				if tree(t, data) == before {
					t.Fatalf("the helper was killed before the swap")
				}
			} else if got := tree(t, data); got != before {
				t.Errorf("killed at %s, the data path changed:\n%s\nwant:\n%s", point, got, before)
			}
			if err := r.Recover(t.Context(), eng, []Target{tg}, Options{}); err != nil {
				t.Fatal(err)
			}
			if got := tree(t, data); got != before {
				t.Errorf("after recovery from %s, the data path differs:\n%s\nwant:\n%s", point, got, before)
			}
			if _, err := os.Stat(restoreDir(data)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("recovery left the staging directory")
			}
			if ids, _ := r.IDs(); len(ids) != len(idsBefore) {
				t.Errorf("a killed run added a backup: %v", ids)
			}
			// The repository is usable: a new backup and a full verify.
			res2, err := r.Backup(t.Context(), eng, []Target{tg}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Verify(t.Context(), res2.Manifest.ID, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// killAt runs TestHelper in a new process with env, waits until it
// reaches point, and kills it with SIGKILL.
func killAt(t *testing.T, point string, env ...string) {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelper$")
	cmd.Env = append(append(os.Environ(), "BERTH_BACKUP_HELPER="+point, "BERTH_HELPER_READY="+ready), env...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the helper never reached %s:\n%s", point, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}

// TestHelper is the berth that TestKilled kills: it runs a backup or a
// restore and stops at the hook point named in its environment.
func TestHelper(t *testing.T) {
	point := os.Getenv("BERTH_BACKUP_HELPER")
	if point == "" {
		t.Skip("run by TestKilled")
	}
	r := &Repo{Dir: os.Getenv("BERTH_HELPER_REPO"), Key: testKey}
	tgs := []Target{target("lab-notes", os.Getenv("BERTH_HELPER_DATA"))}
	var eng Engine = newStub(t)
	if f := os.Getenv("BERTH_HELPER_TARGETS"); f != "" {
		// A run on the real engine: the targets come from the parent.
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &tgs); err != nil {
			t.Fatal(err)
		}
		eng = testenv.Docker(t)
	}
	opts := Options{Hook: func(p string) {
		if p != point {
			return
		}
		os.WriteFile(os.Getenv("BERTH_HELPER_READY"), nil, 0o644)
		time.Sleep(time.Hour) // until the kill
	}}
	var err error
	if strings.HasPrefix(point, "backup") {
		_, err = r.Backup(context.Background(), eng, tgs, opts)
	} else {
		_, err = r.Restore(context.Background(), eng, os.Getenv("BERTH_HELPER_ID"), tgs, opts)
	}
	t.Fatalf("the run ended without reaching %s: %v", point, err)
}

// TestModelNames saves an Ollama models path as the names the running
// Ollama lists, and restore leaves the path alone and reports the names.
func TestModelNames(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/tags" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, `{"models":[{"name":"tiny:latest","size":500000},{"name":"qwen2.5:0.5b"}]}`)
	}))
	defer srv.Close()
	ap := netip.MustParseAddrPort(strings.TrimPrefix(srv.URL, "http://"))
	models := filepath.Join(t.TempDir(), "models")
	fill(t, models)
	before := tree(t, models)
	c := desired.Container{Kit: "ml", Service: "ollama", Spec: runtime.ContainerSpec{Name: "ml-ollama"}, Backup: "ollama",
		Address: ap.Addr(), Listen: []uint16{ap.Port()},
		DataPaths: []desired.DataPath{{Option: "ml.ollama.modelsPath", Host: models, Target: "/root/.ollama/models"}}}
	st := &desired.State{Containers: []desired.Container{c}}
	if tg := Targets(st, false); len(tg) != 1 || tg[0].ModelNames {
		t.Fatalf("without the option: %+v", tg)
	}
	tg := Targets(st, true)
	if len(tg) != 1 || !tg[0].ModelNames {
		t.Fatalf("with the option: %+v", tg)
	}
	r := newRepo(t)
	eng := newStub(t, "ml-ollama")
	res, err := r.Backup(t.Context(), eng, tg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Manifest.Services[0]
	if strings.Join(s.Models, ",") != "qwen2.5:0.5b,tiny:latest" || !s.Paths[0].ModelNames || len(s.Paths[0].Files) != 0 || s.Stopped {
		t.Errorf("service: %+v", s)
	}
	if res.Stored != 0 || len(eng.events) != 0 {
		t.Errorf("stored %d bytes, engine calls %v", res.Stored, eng.events)
	}
	os.WriteFile(filepath.Join(models, "empty"), []byte("changed"), 0o644)
	before = tree(t, models)
	rr, err := r.Restore(t.Context(), eng, res.Manifest.ID, tg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tree(t, models); got != before {
		t.Errorf("restore of model names changed the models path")
	}
	if len(eng.events) != 0 {
		t.Errorf("restoring nothing touched the service: %v", eng.events)
	}
	if strings.Join(rr.Services[0].Models, ",") != "qwen2.5:0.5b,tiny:latest" {
		t.Errorf("restore result: %+v", rr.Services[0])
	}
}
