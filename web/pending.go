package web

import (
	"errors"
	"github.com/voidnxlabs/berth/project"
	"net/http"
)

// errPending: a page whose use case the library does not offer yet.
var errPending = errors.New("not available in berth serve yet")

// TODO(project): Project.Backups (list, run, verify, restore).
func (s *Server) backupsData(r *http.Request) (any, error) {
	return tablePage{}, hinted(errPending, "use 'berth backup list'")
}
func (s *Server) handleBackups(w http.ResponseWriter, r *http.Request) { fail(w, errPending) }

func hinted(err error, hint string) error { return &project.Error{Err: err, Hint: hint} }
