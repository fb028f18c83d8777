package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/voidnxlabs/berth/project"
)

func (s *Server) backupList() ([]project.BackupInfo, error) {
	ents, _, err := s.proj().Backups("")
	if err != nil {
		return nil, err
	}
	return project.BackupInfos(ents), nil
}

// backupsData is `berth backup list`, with Back up now, Verify and
// Restore (after a confirmation).
func (s *Server) backupsData(r *http.Request) (any, error) {
	list, err := s.backupList()
	if err != nil {
		return tablePage{}, err
	}
	sec := section{Head: []string{"backup", "time", "generation", "services", "files", "size", ""},
		Empty:   "no backups yet in the state directory's repository",
		Actions: []action{{Label: "Back up now", Path: "/api/backup", Body: "{}"}}}
	for i := len(list) - 1; i >= 0; i-- {
		b := list[i]
		var svcs []string
		for _, sv := range b.Services {
			svcs = append(svcs, sv.Container)
		}
		if b.Error != "" {
			svcs = []string{"damaged: " + b.Error}
		}
		verify, _ := json.Marshal(map[string]string{"id": b.ID})
		restore, _ := json.Marshal(map[string]string{"id": b.ID, "confirm": b.ID})
		sec.Rows = append(sec.Rows, tableRow{
			Cells: []string{b.ID, b.Time.Local().Format("2006-01-02 15:04:05"), strconv.Itoa(b.Generation), strings.Join(svcs, ", "),
				strconv.Itoa(b.Files), fmt.Sprintf("%.1f MB", float64(b.Bytes)/1e6)},
			Actions: []action{{Label: "Verify", Path: "/api/backups/verify", Body: string(verify)},
				{Label: "Restore", Path: "/api/restore", Body: string(restore), Danger: true,
					Confirm: "Restore backup " + b.ID + "? The services it holds are stopped and their data paths replaced; each is kept only when the service is healthy on it."}}})
	}
	return tablePage{Sections: []section{sec}}, nil
}

func (s *Server) handleBackups(w http.ResponseWriter, r *http.Request) {
	list, err := s.backupList()
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// backupRequest is the body of backup, verify and restore.
type backupRequest struct {
	Targets []string `json:"targets"`
	ID      string   `json:"id"`
	Confirm string   `json:"confirm"`
}

func decodeBackup(r *http.Request) (backupRequest, error) {
	var req backupRequest
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil && len(strings.TrimSpace(string(data))) > 0 {
		err = json.Unmarshal(data, &req)
	}
	if err != nil {
		return req, fmt.Errorf("%w: reading the request body: %v", errBadRequest, err)
	}
	return req, nil
}

// answer runs f and answers with its result, the events streamed first
// when the client asks for NDJSON.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, action string, f func(context.Context, func(project.Event)) (any, error)) {
	var out *ndjson
	var events func(project.Event)
	if streaming(r) {
		out = startNDJSON(w)
		events = func(ev project.Event) { out.write(streamLine{Event: &ev}) }
	}
	began := time.Now()
	res, err := f(r.Context(), events)
	s.metrics.ran(action, time.Since(began), err)
	switch {
	case out != nil && err != nil:
		out.write(streamLine{Error: err.Error(), Hint: hintOf(err)})
	case out != nil:
		out.write(streamLine{Result: res})
	case err != nil:
		fail(w, err)
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

// handleBackup is `berth backup [TARGET…]`.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) {
	req, err := decodeBackup(r)
	if err != nil {
		fail(w, err)
		return
	}
	s.answer(w, r, "backup", func(ctx context.Context, events func(project.Event)) (any, error) {
		res, _, err := s.proj().Backup(ctx, project.BackupOptions{Targets: req.Targets, Events: events})
		if err != nil {
			return nil, err
		}
		return project.NewBackupInfo(res.Manifest, res), nil
	})
}

// handleBackupVerify is `berth backup verify ID`.
func (s *Server) handleBackupVerify(w http.ResponseWriter, r *http.Request) {
	req, err := decodeBackup(r)
	if err == nil && req.ID == "" {
		err = fmt.Errorf("%w: name the backup: {\"id\": \"ID\"} (or \"latest\")", errBadRequest)
	}
	if err != nil {
		fail(w, err)
		return
	}
	s.answer(w, r, "backup-verify", func(ctx context.Context, events func(project.Event)) (any, error) {
		return s.proj().BackupVerify(ctx, "", req.ID, events)
	})
}

// handleRestore is `berth restore ID [TARGET…]`; confirm must repeat the
// ID.
func (s *Server) handleRestore(w http.ResponseWriter, r *http.Request) {
	req, err := decodeBackup(r)
	if err == nil && req.ID == "" {
		err = fmt.Errorf("%w: name the backup: {\"id\": \"ID\", \"confirm\": \"ID\"}", errBadRequest)
	}
	if err != nil {
		fail(w, err)
		return
	}
	if req.Confirm != req.ID {
		fail(w, fmt.Errorf("restoring %s %w", req.ID, errConfirm))
		return
	}
	s.answer(w, r, "restore", func(ctx context.Context, events func(project.Event)) (any, error) {
		return s.proj().Restore(ctx, project.RestoreOptions{ID: req.ID, Targets: req.Targets, Events: events})
	})
}
