package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
)

// RequestObserver is told about every REST request once it has been answered: the method, the
// route template that matched (e.g. "/Account/{auth_id}/Call/{call_uuid}", never the concrete
// path, so the label set stays small), the status sent and how long it took. The app feeds it
// to counters and a latency histogram. It runs on the request's goroutine and must not block.
type RequestObserver interface {
	Request(method, route string, status int, took time.Duration)
}

// Route labels of requests that matched no route template.
const (
	RouteUnmatched = "unmatched"
	RouteOpenAPI   = "openapi"
)

// statusRecorder remembers the status a handler sent.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe serves r with serve and tells the observer about it; route names the request when
// it matched no chi route (chi fills rctx's pattern as it routes).
func (s *server) observe(w http.ResponseWriter, r *http.Request, rctx *chi.Context, route string, serve func(http.ResponseWriter)) {
	if s.opts.Observer == nil {
		serve(w)
		return
	}
	began := s.now()
	rec := &statusRecorder{ResponseWriter: w}
	serve(rec)
	if rctx != nil {
		if p := rctx.RoutePattern(); p != "" {
			route = p
		}
	}
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	s.opts.Observer.Request(r.Method, route, rec.status, s.now().Sub(began))
}
