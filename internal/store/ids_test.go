package store

import (
	"testing"
)

func TestNewNumericID(t *testing.T) {
	seen := make(map[string]bool)
	for range 2000 {
		id := NewNumericID()
		if !ValidNumericID(id) {
			t.Fatalf("NewNumericID() = %q, not a valid 15-digit id", id)
		}
		if seen[id] {
			t.Fatalf("NewNumericID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestValidNumericID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"100000000000000", true},
		{"999999999999999", true},
		{"193962768711692", true},
		{"099999999999999", false},
		{"10000000000000", false},
		{"1000000000000000", false},
		{"19396276871169a", false},
		{"", false},
		{"+93962768711692", false},
	}
	for _, tt := range tests {
		if got := ValidNumericID(tt.in); got != tt.want {
			t.Errorf("ValidNumericID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestNewApplicationDefaults(t *testing.T) {
	a := NewApplication("MA_X", "app", "http://h/answer")
	if a.AnswerMethod != "POST" || a.HangupURL != "http://h/answer" || a.HangupMethod != "POST" ||
		a.FallbackMethod != "POST" || a.MessageMethod != "POST" || a.SIPTransferMethod != "POST" {
		t.Errorf("NewApplication methods/urls = %+v", a)
	}
	if !a.Enabled || !a.LogIncomingMessage || a.DefaultNumberApp || a.DefaultEndpointApp || a.PublicURI {
		t.Errorf("NewApplication flags = %+v", a)
	}
	if a.FallbackAnswerURL != nil || a.MessageURL != nil || a.SIPTransferURL != nil {
		t.Errorf("NewApplication nullable urls not nil: %+v", a)
	}
}
