package project

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/voidnxlabs/berth/backup"
)

// Errors of the backup use cases.
var (
	// ErrNothingToBackUp: the selected services have no data paths.
	ErrNothingToBackUp = errors.New("nothing to back up")
	// ErrNoBackups: the repository holds no backup ("latest" names none).
	ErrNoBackups = errors.New("no backups")
	// ErrNotInBackup: a selected service is not in the backup.
	ErrNotInBackup = errors.New("service not in the backup")
)

// BackupRepo opens a backup repository: dir when given, else the state
// directory's backups. With create false (the read use cases) a missing
// directory is not made, so that a mistyped path makes nothing; it reads
// as an empty repository.
func (p *Project) BackupRepo(dir string, create bool) (*backup.Repo, error) {
	root := p.StateRoot()
	if dir == "" {
		dir = filepath.Join(root, "backups")
	}
	// The key that authenticates manifests stays in the state directory,
	// whichever repository is used.
	key, err := backup.LoadKey(root, create)
	if err != nil && (create || !errors.Is(err, fs.ErrNotExist)) {
		return nil, hinted(err, "the key that authenticates backups must be a private file: chmod 600 "+filepath.Join(root, backup.KeyFile))
	}
	if !create {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return &backup.Repo{Dir: dir, Key: key}, nil
		}
	}
	r, err := backup.Open(dir, key)
	if err != nil {
		return nil, hinted(err, "pass a writable directory with --to DIR")
	}
	return r, nil
}

// BackupID resolves "latest" to the newest backup's ID.
func BackupID(r *backup.Repo, id string) (string, error) {
	if id != "latest" {
		return id, nil
	}
	ids, err := r.IDs()
	if err != nil {
		return "", err
	}
	if len(ids) == 0 {
		return "", hinted(errorOf(ErrNoBackups, "%s holds no backups", r.Dir), "take one with 'berth backup'")
	}
	return ids[len(ids)-1], nil
}

// BackupOptions tune Backup.
type BackupOptions struct {
	// Targets select services; empty means all with data paths.
	Targets []string
	// Repo is the repository directory; the state directory's backups
	// when empty.
	Repo string
	// Retention prunes older backups afterwards.
	Retention backup.Retention
	// ModelsAsNames saves Ollama's models as the list of their names.
	ModelsAsNames bool
	// Rehash reads and hashes every file, also those unchanged.
	Rehash bool
	// Events receives the backup's steps (EventBackup).
	Events func(Event)
	// Pause, when set, is called at named points of a backup or restore
	// (tests stop berth there).
	Pause func(point string)
}

// Backup takes a consistent copy of each selected service into a
// repository: PostgreSQL dumped from its running container, other data
// paths copied with the service stopped and started again. It holds the
// project's lock.
func (p *Project) Backup(ctx context.Context, o BackupOptions) (*backup.Result, *backup.Repo, error) {
	st, names, err := p.Desired(o.Targets)
	if err != nil {
		return nil, nil, err
	}
	targets := backup.Targets(only(st, names), o.ModelsAsNames)
	if len(targets) == 0 {
		return nil, nil, hinted(errorOf(ErrNothingToBackUp, "nothing to back up: the selected services have no data paths"),
			"services keep data in their data paths (dataPath, modelsPath, ...) and mounts; see 'berth options'")
	}
	r, err := p.BackupRepo(o.Repo, true)
	if err != nil {
		return nil, nil, err
	}
	events := newSink(o.Events)
	sd, err := p.StateDir()
	if err != nil {
		return nil, r, err
	}
	l, err := lock(ctx, sd, "backup", false, events)
	if err != nil {
		return nil, r, err
	}
	defer l.Unlock()
	e, err := p.Engine(ctx)
	if err != nil {
		return nil, r, err
	}
	gen := 0
	if latest, err := sd.Latest(); err == nil {
		gen = latest.Number
	}
	res, err := r.Backup(ctx, e, targets, backup.Options{
		Project: p.cfg.Project, BerthVersion: Version(), Generation: gen,
		Events: events.backupEvent, Retention: o.Retention, Hook: o.Pause, Rehash: o.Rehash,
	})
	if err != nil {
		return res, r, backupError(r, err, "")
	}
	return res, r, nil
}

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// ID is the backup ("latest" for the newest); Recover, instead, only
	// undoes what an interrupted backup or restore left.
	ID      string
	Recover bool
	// Targets select services; empty means every service the backup
	// holds that the config has.
	Targets []string
	Repo    string
	Events  func(Event)
	Pause   func(point string)
}

// Restore puts services' data back from a verified backup: each data path
// is rebuilt beside itself, swapped in with one rename, and kept only when
// the service is healthy on it. A service the backup holds but the config
// does not is reported (EventWarning) and left out. It holds the project's
// lock.
func (p *Project) Restore(ctx context.Context, o RestoreOptions) (*backup.RestoreResult, error) {
	r, err := p.BackupRepo(o.Repo, true)
	if err != nil {
		return nil, err
	}
	id := ""
	if !o.Recover {
		if id, err = BackupID(r, o.ID); err != nil {
			return nil, err
		}
	}
	st, names, err := p.Desired(o.Targets)
	if err != nil {
		return nil, err
	}
	all := backup.Targets(only(st, names), false)
	events := newSink(o.Events)
	sd, err := p.StateDir()
	if err != nil {
		return nil, err
	}
	l, err := lock(ctx, sd, "restore", false, events)
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	e, err := p.Engine(ctx)
	if err != nil {
		return nil, err
	}
	opts := backup.Options{Project: p.cfg.Project, BerthVersion: Version(), Events: events.backupEvent, Hook: o.Pause}
	if o.Recover {
		if err := r.Recover(ctx, e, all, opts); err != nil {
			return nil, backupError(r, err, "")
		}
		return &backup.RestoreResult{}, nil
	}
	m, err := r.Manifest(id)
	if err != nil {
		return nil, backupError(r, err, "")
	}
	held := map[string]bool{}
	for _, c := range m.Containers() {
		held[c] = true
	}
	var targets []backup.Target
	for _, t := range all {
		if held[t.Container.Spec.Name] {
			targets = append(targets, t)
		} else if names != nil {
			return nil, hinted(errorOf(ErrNotInBackup, "backup %s holds no %s (it holds %s)", id, t.Container.Spec.Name, strings.Join(m.Containers(), ", ")),
				"name only services the backup holds, or pick another backup")
		}
	}
	for _, c := range m.Containers() {
		if st.Container(c) == nil && names == nil {
			events.emit(Event{Kind: EventWarning, Container: c, Message: c + " is in the backup but not in the config; left out"})
		}
	}
	if len(targets) == 0 {
		return nil, hinted(errorOf(ErrNotInBackup, "backup %s holds none of the selected services", id), "it holds "+strings.Join(m.Containers(), ", "))
	}
	res, err := r.Restore(ctx, e, id, targets, opts)
	if err != nil {
		return res, backupError(r, err, "")
	}
	return res, nil
}

// Backups lists the backups of a repository (the state directory's when
// repo is empty), oldest first; a damaged one has its Err set.
func (p *Project) Backups(repo string) ([]backup.Entry, *backup.Repo, error) {
	r, err := p.BackupRepo(repo, false)
	if err != nil {
		return nil, nil, err
	}
	ents, err := r.List()
	return ents, r, err
}

// BackupVerify reads a backup back in full and checks every checksum. A
// damaged one gives a *backup.CorruptError listing every problem, with the
// result of what was read.
func (p *Project) BackupVerify(ctx context.Context, repo, id string, events func(Event)) (*backup.VerifyResult, error) {
	r, err := p.BackupRepo(repo, false)
	if err != nil {
		return nil, err
	}
	if id, err = BackupID(r, id); err != nil {
		return nil, err
	}
	res, err := r.Verify(ctx, id, newSink(events).backupEvent)
	if err != nil {
		return res, backupError(r, err, "this backup cannot be restored; take a new one with 'berth backup', and check the disk "+r.Dir+" is on")
	}
	return res, nil
}

// BackupPrune removes the backups ret does not keep, then the packs no
// remaining backup reads from, and returns the IDs removed.
func (p *Project) BackupPrune(repo string, ret backup.Retention) ([]string, error) {
	if ret.Zero() {
		return nil, hinted(fmt.Errorf("%w: prune needs a retention", ErrInvalidOption), "pass --keep-last N, --keep-daily N or both")
	}
	r, err := p.BackupRepo(repo, true)
	if err != nil {
		return nil, err
	}
	removed, err := r.Prune(ret)
	if err != nil {
		return removed, backupError(r, err, "")
	}
	return append([]string{}, removed...), nil
}

// backupError adds hints to the backup library's errors; corruptHint is
// the one for a damaged backup.
func backupError(r *backup.Repo, err error, corruptHint string) error {
	if corruptHint == "" {
		corruptHint = "nothing was restored or changed; pick another backup from 'berth backup list'"
	}
	switch {
	case errors.Is(err, backup.ErrCorrupt):
		return hinted(err, corruptHint)
	case errors.Is(err, backup.ErrNotFound):
		return hinted(err, fmt.Sprintf("'berth backup list' shows the backups in %s; --to DIR picks another repository", r.Dir))
	case errors.Is(err, backup.ErrRepoBusy):
		return hinted(err, "wait for the other backup or restore to finish")
	}
	return engineError(err)
}

// Version is berth's version as the build recorded it.
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// BackupInfo is one backup as `berth backup list --json` prints it and the
// web server serves it; a damaged one has only ID and Error.
type BackupInfo struct {
	ID           string              `json:"id"`
	Time         time.Time           `json:"time"`
	Project      string              `json:"project"`
	Generation   int                 `json:"generation"`
	BerthVersion string              `json:"berthVersion"`
	Files        int                 `json:"files"`
	Bytes        int64               `json:"bytes"`
	Services     []BackupServiceInfo `json:"services"`
	// Stored, Reused and Removed: a backup just taken (what it wrote, the
	// chunks it found already stored, what its retention removed).
	Stored  *int64   `json:"stored,omitempty"`
	Reused  *int     `json:"reused,omitempty"`
	Removed []string `json:"removed,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// BackupServiceInfo is one service of a BackupInfo.
type BackupServiceInfo struct {
	Container string   `json:"container"`
	Method    string   `json:"method"`
	Stopped   bool     `json:"stopped"`
	Files     int      `json:"files"`
	Bytes     int64    `json:"bytes"`
	Models    []string `json:"models,omitempty"`
}

// NewBackupInfo summarises a backup's manifest and, for one just taken,
// the result of taking it (res may be nil).
func NewBackupInfo(m *backup.Manifest, res *backup.Result) BackupInfo {
	out := BackupInfo{ID: m.ID, Time: m.Time, Project: m.Project, Generation: m.Generation, BerthVersion: m.BerthVersion, Services: []BackupServiceInfo{}}
	out.Files, out.Bytes = m.Totals()
	for _, s := range m.Services {
		one := backup.Manifest{Services: []backup.Service{s}}
		si := BackupServiceInfo{Container: s.Container, Method: s.Method, Stopped: s.Stopped, Models: s.Models}
		si.Files, si.Bytes = one.Totals()
		out.Services = append(out.Services, si)
	}
	if res != nil {
		out.Stored, out.Reused, out.Removed = &res.Stored, &res.Reused, res.Removed
	}
	return out
}

// BackupInfos summarises what Backups lists; never nil.
func BackupInfos(ents []backup.Entry) []BackupInfo {
	out := []BackupInfo{}
	for _, e := range ents {
		if e.Err != nil {
			out = append(out, BackupInfo{ID: e.ID, Services: []BackupServiceInfo{}, Error: e.Err.Error()})
			continue
		}
		out = append(out, NewBackupInfo(e.Manifest, nil))
	}
	return out
}
