package api

import (
	"io"
	"net/http"
	"strconv"
)

// request is what the common pipeline hands to a resource handler.
type request struct {
	// account is the authenticated auth_id, equal to the path's {auth_id}.
	account string
	// params are the request's parameters (§1.3).
	params *Params
	// release undoes the route's admission (routeOptions.admit) when the request does not
	// create what it was admitted for; nil when the route has none.
	release func()
}

// routeOptions adds per-route steps to the common pipeline.
type routeOptions struct {
	// admit runs right after the REST rate limit (step 3 of §1.6). It answers the request
	// itself and returns false to refuse it, or returns a release func (possibly nil) that the
	// handler calls when the admitted work did not happen.
	admit func(w http.ResponseWriter, r *http.Request, account string) (release func(), ok bool)
	// ignoreBody skips parsing the body (routes that read no parameters); the size limit
	// still applies.
	ignoreBody bool
}

// keepAdmission marks the admitted work as done, so the admission is not released.
func (q *request) keepAdmission() { q.release = nil }

// undoAdmission calls the admission's release func, once.
func (q *request) undoAdmission() {
	if q.release != nil {
		q.release()
		q.release = nil
	}
}

// bind starts validating the request's parameters.
func (q *request) bind() *binder { return &binder{p: q.params} }

// handlerFunc handles one routed request. It writes the success response itself; a returned
// error is mapped to the error response by writeErr.
type handlerFunc func(w http.ResponseWriter, r *http.Request, q *request) error

// wrap runs the checks of §1.6 that follow routing, in order: authentication and path auth_id
// (401), rate limit (429), body size (413), body parsing (400); then the handler, which
// validates parameters (400) and asks the domain (404, 409).
func (s *server) wrap(fn handlerFunc, o routeOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		account, ok := s.checkAuth(w, r)
		if !ok {
			return
		}
		if pathVar(r, "auth_id") != account {
			s.unauthorized(w, msgAuthIDMismatch)
			return
		}
		if s.limiter != nil {
			if ok, wait := s.limiter.allow(account); !ok {
				w.Header().Set("Retry-After", strconv.Itoa(wait))
				s.writeError(w, http.StatusTooManyRequests, msgRateLimited)
				return
			}
		}
		q := &request{account: account}
		if o.admit != nil {
			release, ok := o.admit(w, r, account)
			if !ok {
				return
			}
			q.release = release
		}
		defer q.undoAdmission() // any path that did not keep the admission gives it back
		q.params = newParams()
		switch r.Method {
		case http.MethodPost, http.MethodDelete, http.MethodPut, http.MethodPatch:
			body, err := s.readBody(r)
			if err != nil {
				s.writeErr(w, r, err)
				return
			}
			if !o.ignoreBody {
				q.params, err = parseBody(r.Header.Get("Content-Type"), body)
				if err != nil {
					s.writeErr(w, r, err)
					return
				}
			}
		}
		q.params.addQuery(r.URL.Query())
		if err := fn(w, r, q); err != nil {
			s.writeErr(w, r, err)
		}
	})
}

var errTooLarge = &StatusError{Status: http.StatusRequestEntityTooLarge, Message: msgBodyTooLarge}

// readBody reads at most maxBody bytes of the request body.
func (s *server) readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > s.maxBody {
		return nil, errTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.maxBody+1))
	if err != nil {
		return nil, errMalformed
	}
	if int64(len(body)) > s.maxBody {
		return nil, errTooLarge
	}
	return body, nil
}
