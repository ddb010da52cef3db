package app

import (
	"errors"
	"fmt"
	"testing"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/conference"
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
