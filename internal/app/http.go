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

func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	s.demoRoutes(mux)
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
