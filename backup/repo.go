package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/voidnxlabs/berth/internal/atomicfile"
)

// Repo is a backup repository: a directory of manifests and packs. It
// holds database dumps with password hashes, so everything in it is
// private to its owner (directories 0700, files 0600).
type Repo struct {
	Dir string
	// Key authenticates the manifests (see LoadKey); without it no
	// manifest is written or trusted.
	Key []byte
}

// Entry is one backup of a listing: its manifest, or why it cannot be read.
type Entry struct {
	ID       string
	Manifest *Manifest // nil when Err is set
	Err      error
}

var idRE = regexp.MustCompile(`^[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$`)

// Open opens the repository in dir, creating it when missing; key
// authenticates its manifests.

// ErrRepoBusy: another berth is backing up to or restoring from the
// repository.
var ErrRepoBusy = errors.New("another berth is using it")

func Open(dir string, key []byte) (*Repo, error) {
	r := &Repo{Dir: dir, Key: key}
	for _, p := range []string{dir, r.path("manifests"), r.path("packs"), r.path("tmp")} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			return nil, fmt.Errorf("opening backup repository: %w", err)
		}
	}
	return r, nil
}

func (r *Repo) path(elem ...string) string { return filepath.Join(append([]string{r.Dir}, elem...)...) }

func (r *Repo) packPath(id string) string { return r.path("packs", id+".tar.zst") }

// lock takes the repository's lock for the duration of a write. A second
// berth working on the same repository is told so instead of waiting.
func (r *Repo) lock() (unlock func(), err error) {
	f, err := os.OpenFile(r.path("lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking backup repository: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("locking backup repository %s: %w", r.Dir, ErrRepoBusy)
		}
		return nil, fmt.Errorf("locking backup repository: %w", err)
	}
	// Files in tmp are partial packs and dumps of a berth that was killed;
	// holding the lock, nobody else is writing them.
	if ents, err := os.ReadDir(r.path("tmp")); err == nil {
		for _, e := range ents {
			os.RemoveAll(r.path("tmp", e.Name()))
		}
	}
	return func() { f.Close() }, nil
}

// IDs lists the backups' IDs, oldest first.
func (r *Repo) IDs() ([]string, error) {
	ents, err := os.ReadDir(r.path("manifests"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // a repository never written to
	}
	if err != nil {
		return nil, fmt.Errorf("listing backups: %w", err)
	}
	var out []string
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok && idRE.MatchString(id) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out, nil
}

// List returns every backup, oldest first. A backup whose manifest cannot
// be read is listed with its error.
func (r *Repo) List() ([]Entry, error) {
	ids, err := r.IDs()
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(ids))
	for _, id := range ids {
		m, err := r.Manifest(id)
		out = append(out, Entry{ID: id, Manifest: m, Err: err})
	}
	return out, nil
}

// Manifest reads backup id's manifest and checks its HMAC.
func (r *Repo) Manifest(id string) (*Manifest, error) {
	if !idRE.MatchString(id) {
		return nil, fmt.Errorf("backup %q: %w", id, ErrNotFound)
	}
	data, err := os.ReadFile(r.path("manifests", id+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("backup %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading backup %s: %w", id, err)
	}
	mac, err := os.ReadFile(r.path("manifests", id+".hmac"))
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(r.path("manifests", id+".sha256")); serr == nil {
			return nil, fmt.Errorf("backup %s: the manifest has no HMAC, only a checksum anyone can recompute (an older berth wrote it, or it is forged): %w", id, ErrCorrupt)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("backup %s: reading the manifest's HMAC: %v: %w", id, err, ErrCorrupt)
	}
	return decodeManifest(id, data, mac, r.Key)
}

// writeManifest stores m: the HMAC first, then the manifest, each
// atomically, so a listed manifest always has its HMAC.
func (r *Repo) writeManifest(m *Manifest) error {
	data, mac, err := encodeManifest(m, r.Key)
	if err != nil {
		return err
	}
	if err := writeFile(r.path("manifests", m.ID+".hmac"), mac); err != nil {
		return fmt.Errorf("writing manifest: %w", err)
	}
	if err := writeFile(r.path("manifests", m.ID+".json"), data); err != nil {
		return fmt.Errorf("writing manifest: %w", err)
	}
	return syncDir(r.path("manifests"))
}

// index maps every stored content to the pack holding it, from the
// readable manifests, and returns the packs' identities.
func (r *Repo) index() (map[string]string, map[string]Pack, error) {
	ents, err := r.List()
	if err != nil {
		return nil, nil, err
	}
	blobs := map[string]string{}
	packs := map[string]Pack{}
	for _, e := range ents {
		if e.Err != nil {
			continue
		}
		ok := true
		for id := range e.Manifest.Packs {
			if _, err := os.Stat(r.packPath(id)); err != nil {
				ok = false
			}
		}
		if !ok {
			continue // a damaged backup: store its files afresh
		}
		maps.Copy(packs, e.Manifest.Packs)
		e.Manifest.blobs(func(_ string, f *File) { blobs[f.SHA256] = f.Pack })
	}
	return blobs, packs, nil
}

// Retention says which backups to keep; the others are removed by Prune.
type Retention struct {
	// KeepLast keeps the newest n backups.
	KeepLast int
	// KeepDaily keeps the newest backup of each of the last n days (UTC)
	// that have backups.
	KeepDaily int
}

// Zero reports a retention that keeps everything.
func (ret Retention) Zero() bool { return ret.KeepLast <= 0 && ret.KeepDaily <= 0 }

// Select splits backups into those ret keeps and those it removes. It is
// pure; Prune applies it.
func (ret Retention) Select(ms []*Manifest) (keep, remove []*Manifest) {
	sorted := append([]*Manifest(nil), ms...)
	sort.Slice(sorted, func(i, j int) bool {
		if !sorted[i].Time.Equal(sorted[j].Time) {
			return sorted[i].Time.After(sorted[j].Time)
		}
		return sorted[i].ID > sorted[j].ID
	})
	if ret.Zero() {
		return sorted, nil
	}
	days := map[string]bool{}
	for i, m := range sorted {
		kept := i < ret.KeepLast
		day := m.Time.UTC().Format(time.DateOnly)
		if !days[day] && len(days) < ret.KeepDaily {
			days[day] = true
			kept = true
		}
		if kept {
			keep = append(keep, m)
		} else {
			remove = append(remove, m)
		}
	}
	return keep, remove
}

// Prune removes the backups ret does not keep, then the packs no remaining
// backup reads from. Backups whose manifest cannot be read are never
// removed, and while one exists no pack is removed either: nobody can tell
// which packs it needs.
func (r *Repo) Prune(ret Retention) (removed []string, err error) {
	if ret.Zero() {
		return nil, nil
	}
	unlock, err := r.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return r.prune(ret)
}

func (r *Repo) prune(ret Retention) (removed []string, err error) {
	ents, err := r.List()
	if err != nil {
		return nil, err
	}
	var ms []*Manifest
	damaged := false
	for _, e := range ents {
		if e.Err != nil {
			damaged = true
			continue
		}
		ms = append(ms, e.Manifest)
	}
	keep, remove := ret.Select(ms)
	for _, m := range remove {
		// The manifest goes first: a backup without a manifest is gone,
		// a manifest without its HMAC would read as corrupt.
		if err := os.Remove(r.path("manifests", m.ID+".json")); err != nil {
			return removed, fmt.Errorf("removing backup %s: %w", m.ID, err)
		}
		os.Remove(r.path("manifests", m.ID+".hmac"))
		removed = append(removed, m.ID)
	}
	if damaged {
		return removed, nil
	}
	used := map[string]bool{}
	for _, m := range keep {
		for id := range m.Packs {
			used[id] = true
		}
	}
	ents2, err := os.ReadDir(r.path("packs"))
	if err != nil {
		return removed, fmt.Errorf("listing packs: %w", err)
	}
	for _, e := range ents2 {
		id, ok := strings.CutSuffix(e.Name(), ".tar.zst")
		if ok && !used[id] {
			if err := os.Remove(r.path("packs", e.Name())); err != nil {
				return removed, fmt.Errorf("removing pack %s: %w", id, err)
			}
		}
	}
	return removed, nil
}

// writeFile writes data to p atomically and durably, private to the
// user.
func writeFile(p string, data []byte) error { return atomicfile.Write(p, data, 0o600) }

func syncDir(dir string) error { return atomicfile.SyncDir(dir) }
