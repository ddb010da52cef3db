package app

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/call/calltest"
	"github.com/parley-voice/parley/internal/conference"
	"github.com/parley-voice/parley/internal/flow"
)

// TestAPIErr checks that the room manager's domain errors become the REST API's errors, which
// carry the wire texts (conference's own texts name no REST parameter).
func TestAPIErr(t *testing.T) {
	tests := []struct {
		in   error
		want error
	}{
		{conference.ErrConferenceNotFound, api.ErrConferenceNotFound},
		{conference.ErrRecordingInProgress, api.ErrRecordingInProgress},
		{fmt.Errorf("kick: %w", conference.ErrInvalidSelector), api.ErrInvalidMemberSelector},
	}
	for _, tt := range tests {
		if got := apiErr(tt.in); !errors.Is(got, tt.want) {
			t.Errorf("apiErr(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	var mnf *api.MemberNotFoundError
	if got := apiErr(&conference.MemberNotFoundError{IDs: []string{"7", "9"}}); !errors.As(got, &mnf) || fmt.Sprint(mnf.IDs) != "[7 9]" {
		t.Errorf("member not found: %v", got)
	}
	if apiErr(nil) != nil {
		t.Error("apiErr(nil) is not nil")
	}
}

// TestConferenceEventsOrderedPerRoomAndCall: the callbacks of one room share its key, whichever
// member they concern, so one member's enter is attempted before the next one's; each is also
// keyed by the member's call, whose hangup webhook (the call's key alone) so waits for its exit
// (spec §9.4).
func TestConferenceEventsOrderedPerRoomAndCall(t *testing.T) {
	var keys [][]string
	for i, uuid := range []string{"call-1", "call-2"} {
		c := call.New(call.Identity{AccountID: "MA_X", Direction: call.Inbound, From: "1", To: "2"}, calltest.NewLeg(), call.Options{})
		defer c.Hangup(call.CauseNormalHangup, call.SourceVobiz, 0)
		for _, kind := range []conference.EventKind{conference.EventEnter, conference.EventExit} {
			n, ok := conferenceNotification(conference.Event{Kind: kind, AccountID: "MA_X", ConferenceName: "Room",
				ConferenceUUID: "room-uuid", MemberID: int64(i + 1), Call: conference.CallInfo{CallUUID: uuid},
				CallbackURL: "https://app.test/events", Data: &flow.MemberData{Call: c}})
			if !ok {
				t.Fatal("no notification for an event with a callback")
			}
			keys = append(keys, n.OrderKeys())
		}
	}
	want := [][]string{{"room-uuid", "call-1"}, {"room-uuid", "call-1"}, {"room-uuid", "call-2"}, {"room-uuid", "call-2"}}
	if !slices.EqualFunc(keys, want, slices.Equal) {
		t.Errorf("order keys %q, want %q: the room and the member's call", keys, want)
	}
}
