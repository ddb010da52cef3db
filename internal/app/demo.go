package app

import (
	"encoding/xml"
	"io"
	"net/http"
	"strings"
)

// The built-in demo application answers every call of a fresh install (installDemo). Dialling
// the agent number (or the SIP user "agent") streams the call to the demo agent that Parley
// itself serves at /demo/agent; any other number joins the demo conference.
const (
	demoAgentNumber = "2000"
	demoAgentUser   = "agent"
	demoAgentPath   = "/demo/agent"
)

// demoConferenceAnswer greets the caller and puts them in the demo conference room.
const demoConferenceAnswer = `<?xml version="1.0" encoding="UTF-8"?>
<Response>
    <Speak>Welcome to Parley. You are joining the demo conference room. Anyone else who calls this number will join you.</Speak>
    <Conference callbackUrl="/demo/conference">demo</Conference>
    <Speak>You have left the demo conference. Goodbye.</Speak>
</Response>
`

// demoStreamAnswer streams the call to the demo agent at wsURL, the way a Pipecat bot's answer
// document does: bidirectional μ-law, and the call stays up while the stream runs.
func demoStreamAnswer(wsURL string) string {
	var u strings.Builder
	_ = xml.EscapeText(&u, []byte(wsURL))
	return `<?xml version="1.0" encoding="UTF-8"?>
<Response>
    <Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000">
        ` + u.String() + `
    </Stream>
    <Speak>The stream has ended. Goodbye.</Speak>
</Response>
`
}

// dialsDemoAgent reports whether a call's To (a number, or the Request-URI of a SIP user) is
// the demo agent's.
func dialsDemoAgent(to string) bool {
	user := to
	if rest, ok := strings.CutPrefix(strings.ToLower(to), "sip:"); ok {
		user, _, _ = strings.Cut(rest, "@")
	}
	return user == demoAgentNumber || user == demoAgentUser
}

// demoAgentURL is the WebSocket URL of the demo agent on Parley's own HTTP server.
func demoAgentURL(baseURL string) string {
	u := strings.TrimSuffix(baseURL, "/") + demoAgentPath
	if rest, ok := strings.CutPrefix(u, "https://"); ok {
		return "wss://" + rest
	}
	return "ws://" + strings.TrimPrefix(u, "http://")
}

// demoRoutes serves the demo application: its answer document, its callbacks and the agent.
func (s *Server) demoRoutes(mux *http.ServeMux) {
	mux.HandleFunc("/demo/answer", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		doc := demoConferenceAnswer
		if dialsDemoAgent(r.Form.Get("To")) {
			doc = demoStreamAnswer(demoAgentURL(s.routes.baseURL))
		}
		w.Header().Set("Content-Type", "application/xml")
		_, _ = io.WriteString(w, doc)
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
	mux.Handle(demoAgentPath, newDemoAgent(s.runCtx, s.synth, s.log))
}
