package api

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPIDocument is the OpenAPI 3.1 description of this package's routes and bodies. This
// file is the canonical copy; docs/openapi.json must be byte-identical (a test checks it), and
// the tests validate every golden response body against it.
//
//go:embed openapi.json
var openAPIDocument string

// OpenAPIDocument returns the OpenAPI 3.1 document of the REST API (JSON).
func OpenAPIDocument() []byte { return []byte(openAPIDocument) }

// isOpenAPIPath reports whether path is where the document is served, one path per base path
// of §1.1. They match exactly: the document is a file, not a routed resource.
func isOpenAPIPath(path string) bool {
	return path == "/api/v1/openapi.json" || path == "/v1/openapi.json"
}

// serveOpenAPI answers a request for the document. It needs no credentials and is not rate
// limited: it describes the API and holds no account's data.
func (s *server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		s.writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(openAPIDocument)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte(openAPIDocument))
	}
}
