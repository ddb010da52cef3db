package flow

import (
	"context"
	"strconv"

	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/conference"
	"github.com/parley-voice/parley/internal/vxml"
)

// Conferences lets a call join rooms.
type Conferences interface {
	Join(ctx context.Context, req conference.JoinRequest) (conference.Result, error)
}

// conference runs <Conference>: the call becomes a room member until it leaves, then goes on
// with its action URL or the next element (spec §7.6).
func (x *run) conference(e *vxml.Conference) (*vxml.Document, error) {
	if x.r.Conferences == nil {
		x.warn("conferences are not available; Conference skipped")
		return nil, nil
	}
	if err := x.answer(); err != nil {
		return nil, err
	}
	x.blocking()
	out, err := x.c.TakeOutput()
	if err != nil {
		return nil, x.ended(err)
	}

	id := x.c.Identity()
	req := conference.NewJoinRequest(id.AccountID, e.Room, conference.CallInfo{
		CallUUID: id.UUID, From: id.From, To: id.To, CallerName: id.CallerName, Direction: string(id.Direction),
	}, out)
	req.Muted = e.Muted
	req.Beep = e.Beep
	if e.HasEnterSound {
		s := e.EnterSound
		req.EnterSound = &s
	}
	if e.HasExitSound {
		s := e.ExitSound
		req.ExitSound = &s
	}
	req.StartConferenceOnEnter = e.StartConferenceOnEnter
	req.EndConferenceOnExit = e.EndConferenceOnExit
	req.StayAlone = e.StayAlone
	req.MaxParticipants = e.MaxParticipants
	req.TimeLimit = e.TimeLimit
	req.WaitSound = e.WaitSound
	req.WaitMethod = e.WaitMethod
	req.RelayDTMF = e.RelayDTMF
	req.DigitsMatch = e.DigitsMatch
	req.HangupOnStar = e.HangupOnStar
	req.Record = e.Record
	req.RecordFileFormat = e.RecordFileFormat
	req.CallbackURL = e.CallbackURL
	req.CallbackMethod = e.CallbackMethod
	req.Data = &MemberData{Call: x.c, AuthToken: x.s.AuthToken}
	req.Attach = func(in *conference.MemberInput) {
		x.c.SetAudioSink(in.PushFrame)
		x.c.SetDigitSink(in.PushDigit)
	}
	res, err := x.r.Conferences.Join(x.ctx, req)
	x.c.SetAudioSink(nil)
	x.c.SetDigitSink(nil)
	out.Release()
	if x.c.Context().Err() != nil {
		return nil, errCallEnded
	}
	if err != nil {
		x.warn("joining the conference failed", "conference", e.Room, "err", err)
		return nil, nil
	}
	x.log.Info("left conference", "conference", e.Room, "member_id", res.MemberID, "reason", res.Reason.String())
	switch {
	case res.Reason == conference.RemovedByHangupAPI:
		return nil, &stop{call.CauseNormalHangup, call.SourceAPIRequest, 0}
	case res.Reason == conference.Refused:
		return nil, nil
	case !res.Reason.ContinuesDocument():
		return nil, errCallEnded
	}
	if e.Action == "" {
		return nil, nil
	}
	params := CallParams(x.c, "")
	params.Set("ConferenceName", res.ConferenceName)
	params.Set("ConferenceUUID", res.ConferenceUUID)
	params.Set("ConferenceMemberID", strconv.FormatInt(res.MemberID, 10))
	if rec := res.Recording; rec != nil {
		u := RecordingURL(x.r.PublicBaseURL, x.c.Identity().AccountID, rec.ID, rec.Format)
		params.Set("RecordingID", rec.ID)
		params.Set("RecordUrl", u)
		params.Set("RecordFile", u)
	}
	return x.fetchDocument(actionDoc, e.Action, e.Method, params)
}

// MemberData travels with a member through the room so its events can be turned into
// callbacks about the right call.
type MemberData struct {
	Call      *call.Call
	AuthToken string
}
