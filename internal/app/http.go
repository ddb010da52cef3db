package app

import (
	"github.com/parley-voice/parley/internal/api"
	"io"
	"net/http"
	"net/url"

	"github.com/parley-voice/parley/internal/webhook"
)

func webhookNotification(authID, rawURL, method string, params url.Values, orderKey string) webhook.Notification {
	return webhook.Notification{AuthID: authID, URL: rawURL, Method: method, Params: params, OrderKey: orderKey}
}

// limitOrOff maps the configuration's 0 (off) to the API's negative (off).
func limitOrOff(v float64) float64 {
	if v == 0 {
		return -1
	}
	return v
}

// demoAnswer is the built-in application of a fresh install: it greets the caller.
const demoAnswer = `<?xml version="1.0" encoding="UTF-8"?>
<Response>
    <Speak>Welcome to Parley. You are joining the demo conference room. Anyone else who calls this number will join you.</Speak>
    <Conference callbackUrl="/demo/conference">demo</Conference>
    <Speak>You have left the demo conference. Goodbye.</Speak>
</Response>
`

func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/demo/answer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		_, _ = io.WriteString(w, demoAnswer)
	})
	mux.HandleFunc("/demo/conference", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		s.log.Info("demo application: conference event", "event", r.Form.Get("Event"), "conference", r.Form.Get("ConferenceName"),
			"member_id", r.Form.Get("ConferenceMemberID"), "call_uuid", r.Form.Get("CallUUID"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/demo/hangup", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		s.log.Info("demo application: call ended", "call_uuid", r.Form.Get("CallUUID"), "cause", r.Form.Get("HangupCauseName"))
		w.WriteHeader(http.StatusNoContent)
	})
	rest := api.New(api.Options{
		Accounts:           accountsAPI{s},
		Conferences:        conferenceAPI{m: s.conf, audio: s.runner.Audio, synth: s.synth, awaitEnded: s.awaitEnded},
		Recordings:         recordingAPI{st: s.store},
		Applications:       applicationsAPI{st: s.store},
		Calls:              callsAPI{s},
		Streams:            streamsAPI{s},
		CallsPerSecond:     limitOrOff(s.cfg.CallsPerSecond),
		MaxConcurrentCalls: int(limitOrOff(float64(s.cfg.MaxConcurrentCalls))),
		Endpoints:          endpointsAPI{st: s.store, reg: s.sip},
		SIPDomain:          s.cfg.SIPDomain(),
		HasSIPGateway:      s.cfg.SIPGateway != "",
		Profile:            api.Profile(s.cfg.APIProfile),
		PublicBaseURL:      s.routes.baseURL,
		MaxBodyBytes:       s.cfg.MaxBodyBytes,
		RESTRate:           s.cfg.RESTRate,
		RESTBurst:          s.cfg.RESTBurst,
		Logger:             s.log,
	})
	mux.Handle("/api/", rest)
	mux.Handle("/v1/", rest)
	mux.HandleFunc("/metrics", s.metrics)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}
