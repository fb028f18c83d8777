package web

import (
	_ "embed"
	"net/http"
)

// openapi is the API's description (OpenAPI 3.1); openapi_test.go checks
// real responses against its schemas.
//
//go:embed openapi.json
var openapi []byte

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openapi)
}
