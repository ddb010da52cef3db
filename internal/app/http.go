package app

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/console"
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

// demoPathPrefix starts the paths of the demo application, the only ones of our own HTTP
// listener that Parley's outgoing requests may reach.
const demoPathPrefix = "/demo/"

// newHTTPServer builds the HTTP server with the configured timeouts and limits.
func (s *Server) newHTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.httpHandler(),
		ReadHeaderTimeout: s.cfg.HTTPReadHeaderTimeout,
		ReadTimeout:       s.cfg.HTTPReadTimeout,
		WriteTimeout:      s.cfg.HTTPWriteTimeout,
		IdleTimeout:       s.cfg.HTTPIdleTimeout,
		MaxHeaderBytes:    int(s.cfg.HTTPMaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// ownListeners are the addresses the fetch policy keeps outgoing requests away from: the bound
// HTTP listener and the configured SIP listener (TCP), with this host's addresses for the
// wildcard forms.
func (s *Server) ownListeners() (self []netip.AddrPort, local []netip.Addr) {
	if ap, err := netip.ParseAddrPort(s.httpLn.Addr().String()); err == nil {
		self = append(self, ap)
	}
	if host, port, err := net.SplitHostPort(s.cfg.SIPAddr); err == nil && port != "0" {
		ip := netip.IPv6Unspecified()
		if host != "" {
			ip, _ = netip.ParseAddr(host)
		}
		if ap, err := netip.ParseAddrPort(net.JoinHostPort(ip.String(), port)); err == nil && ip.IsValid() {
			self = append(self, ap)
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				local = append(local, p.Addr().Unmap())
			}
		}
	}
	if s.cfg.PublicIP.IsValid() {
		local = append(local, s.cfg.PublicIP)
	}
	return self, local
}

// isAppPath tells the fixed paths the HTTP listener serves besides the REST API. Everything else
// goes to the API handler unchanged, so that its path normalisation decides and no path is
// ever redirected (http.ServeMux would answer 301 to a path with "..", "//" or "/." in it).
func isAppPath(path string) bool {
	switch path {
	case demoPathPrefix + "answer", demoPathPrefix + "conference", demoPathPrefix + "hangup", demoAgentPath,
		"/metrics", "/healthz":
		return true
	}
	return false
}

func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	s.demoRoutes(mux)
	confs, calls := s.listAdapters(s.localConferences(), callsAPI{s})
	rest := s.clusterREST(api.New(api.Options{
		Accounts:           accountsAPI{s},
		Conferences:        confs,
		Recordings:         s.recordingAPI(),
		Applications:       applicationsAPI{st: s.store},
		Calls:              calls,
		Streams:            streamsAPI{s},
		CallRecords:        callRecordsAPI{s},
		CallMedia:          callMediaAPI{s.callMedia},
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
		AuthFailures:       int(limitOrOff(float64(s.cfg.RESTAuthFailures))),
		AuthFailureWindow:  s.cfg.RESTAuthWindow,
		Logger:             s.log,
		Observer:           s.metrics,
	}))
	mux.Handle("/metrics", s.metricsHandler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if console.Owns(r.URL.EscapedPath()) && r.Method != http.MethodConnect {
			s.console.ServeHTTP(w, r)
			return
		}
		if isAppPath(r.URL.EscapedPath()) && r.Method != http.MethodConnect {
			mux.ServeHTTP(w, r)
			return
		}
		rest.ServeHTTP(w, r)
	})
}
