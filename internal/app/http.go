package app

import (
	"io"
	"net/http"
	"net/url"

	"github.com/parley-voice/parley/internal/webhook"
)

func webhookNotification(authID, rawURL, method string, params url.Values, orderKey string) webhook.Notification {
	return webhook.Notification{AuthID: authID, URL: rawURL, Method: method, Params: params, OrderKey: orderKey}
}

// demoAnswer is the built-in application of a fresh install: it greets the caller.
const demoAnswer = `<?xml version="1.0" encoding="UTF-8"?>
<Response>
    <Speak>Welcome to Parley. Your call reached the built-in demo application. Point your own application at Parley to take over this number.</Speak>
</Response>
`

func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/demo/answer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		_, _ = io.WriteString(w, demoAnswer)
	})
	mux.HandleFunc("/demo/hangup", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		s.log.Info("demo application: call ended", "call_uuid", r.Form.Get("CallUUID"), "cause", r.Form.Get("HangupCauseName"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}
