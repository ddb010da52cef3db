package flow

import (
	"net/url"
	"strconv"
	"time"

	"github.com/parley-voice/parley/internal/call"
)

// Time layouts of spec §9.5.
const (
	sessionStartLayout = "2006-01-02 15:04:05.000000"
	webhookTimeLayout  = "2006-01-02 15:04:05"
)

// CallParams returns the standard call parameters (set S of spec §9.5) for a request about c.
// event is the Event parameter, "" for none.
func CallParams(c *call.Call, event string) url.Values {
	id := c.Identity()
	v := url.Values{}
	v.Set("CallUUID", id.UUID)
	v.Set("RequestUUID", id.UUID)
	v.Set("From", id.From)
	v.Set("To", id.To)
	v.Set("CallerName", id.CallerName)
	v.Set("Direction", string(id.Direction))
	v.Set("CallStatus", liveStatus(c))
	v.Set("SessionStart", id.Created.UTC().Format(sessionStartLayout))
	v.Set("ParentAuthID", id.AccountID)
	if id.Direction == call.Outbound {
		aLeg := id.UUID
		if id.ALegUUID != "" {
			aLeg = id.ALegUUID
		}
		v.Set("ALegUUID", aLeg)
		v.Set("ALegRequestUUID", aLeg)
	}
	if id.ForwardedFrom != "" {
		v.Set("ForwardedFrom", id.ForwardedFrom)
	}
	for k, val := range id.CustomHeaders {
		v.Set(k, val)
	}
	if event != "" {
		v.Set("Event", event)
	}
	if m := machineParam(c); m != "" {
		v.Set("Machine", m)
	}
	return v
}

func liveStatus(c *call.Call) string {
	if c.AnswerTime().IsZero() {
		return "ringing"
	}
	return "in-progress"
}

// FinalStatus is the CallStatus of a hangup webhook (spec §8.8 and §10.2).
func FinalStatus(id call.Identity, o call.Outcome) string {
	if id.Direction == call.Inbound || !o.Answered.IsZero() {
		return "completed"
	}
	switch o.Cause.Code {
	case call.CauseBusy.Code, call.CauseRejected.Code:
		return "busy"
	case call.CauseNoAnswer.Code, call.CauseScheduledHangup.Code, call.CauseRingTimeout.Code:
		return "no-answer"
	case call.CauseRequestTimeout.Code:
		return "timeout"
	case call.CauseCanceled.Code:
		return "cancel"
	}
	return "failed"
}

// HangupParams returns the parameters of the hangup webhook of an ended call (spec §9.5).
func HangupParams(c *call.Call) url.Values {
	o, _ := c.Outcome()
	return EndedCallParams(CallParams(c, "Hangup"), c.Identity(), o)
}

// EndedCallParams completes start, the parameters of a call's hangup webhook that were known
// before it ended (CallParams with Event "Hangup"), with its outcome, in place, and returns
// it. A cluster node sends the hangup webhook of a dead node's call with it.
func EndedCallParams(start url.Values, id call.Identity, o call.Outcome) url.Values {
	v := start
	if v == nil {
		v = url.Values{}
	}
	v.Set("CallStatus", FinalStatus(id, o))
	v.Set("StartTime", id.Created.UTC().Format(webhookTimeLayout))
	answer, duration := "", 0
	if !o.Answered.IsZero() {
		answer = o.Answered.UTC().Format(webhookTimeLayout)
		duration = int(o.Ended.Sub(o.Answered) / time.Second)
	}
	v.Set("AnswerTime", answer)
	v.Set("EndTime", o.Ended.UTC().Format(webhookTimeLayout))
	v.Set("Duration", strconv.Itoa(duration))
	v.Set("BillDuration", strconv.Itoa(duration))
	v.Set("BillRate", "0.00000")
	v.Set("TotalCost", "0.00000")
	v.Set("HangupCause", o.Cause.Cause)
	v.Set("HangupCauseCode", strconv.Itoa(o.Cause.Code))
	v.Set("HangupCauseName", o.Cause.Name)
	v.Set("HangupSource", o.Source)
	v.Set("STIRVerification", "Not Applicable")
	v.Set("stir_verification", "Not Applicable")
	v.Set("STIRAttestation", "")
	return v
}

// RecordingURL is where a recording file is downloaded (spec §6.2 recording_url).
func RecordingURL(publicBaseURL, authID, recordingID, format string) string {
	return publicBaseURL + "/api/v1/Account/" + authID + "/Recording/" + recordingID + "." + format
}
