package api

import (
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

type seenRequest struct {
	method, route string
	status        int
}

type requestLog struct {
	mu  sync.Mutex
	got []seenRequest
}

func (l *requestLog) Request(method, route string, status int, took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, seenRequest{method, route, status})
}

// TestRequestObserver: every request is reported once, by its route template (never the
// concrete path) and the status actually sent, including refusals of the common pipeline and
// paths that match no route.
func TestRequestObserver(t *testing.T) {
	obs := &requestLog{}
	h := New(Options{Accounts: fakeAccounts{testAccount: testToken}, Conferences: newFakeConferences(),
		Observer: obs, Logger: discardLogger()})
	base := "/api/v1/Account/" + testAccount
	for _, c := range []struct {
		method, path string
		auth         bool
		want         seenRequest
	}{
		{"GET", base + "/Conference/", true, seenRequest{"GET", "/Account/{auth_id}/Conference", 200}},
		{"GET", base + "/Conference/Nope/", true, seenRequest{"GET", "/Account/{auth_id}/Conference/{name}", 404}},
		{"GET", base + "/Conference/", false, seenRequest{"GET", "/Account/{auth_id}/Conference", 401}},
		{"GET", base + "/NoSuchThing/", true, seenRequest{"GET", RouteUnmatched, 404}},
		{"GET", "/api/v1/openapi.json", false, seenRequest{"GET", RouteOpenAPI, 200}},
	} {
		r := httptest.NewRequest(c.method, c.path, nil)
		if c.auth {
			r.Header.Set("X-Auth-ID", testAccount)
			r.Header.Set("X-Auth-Token", testToken)
		}
		w := httptest.NewRecorder()
		before := len(obs.got)
		h.ServeHTTP(w, r)
		if len(obs.got) != before+1 {
			t.Errorf("%s %s: reported %d times, want once", c.method, c.path, len(obs.got)-before)
			continue
		}
		if got := obs.got[before]; got != c.want || got.status != w.Code {
			t.Errorf("%s %s: reported %+v (sent %d), want %+v", c.method, c.path, got, w.Code, c.want)
		}
	}
}
