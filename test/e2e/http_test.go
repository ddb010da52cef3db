package e2e

import (
	"net/http"
	"strings"
)

// newRequestFromRecord rebuilds a received request for signature checks.
func newRequestFromRecord(r recorded) (*http.Request, error) {
	req, err := http.NewRequest(r.Method, r.URL, strings.NewReader(""))
	if err != nil {
		return nil, err
	}
	req.Header = r.Header.Clone()
	return req, nil
}
