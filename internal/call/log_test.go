package call_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	. "github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/call/calltest"
)

// taggedLeg records the CallUUID that New hands to a leg which logs on its own.
type taggedLeg struct {
	*calltest.Leg
	callUUID string
}

func (l *taggedLeg) SetCallUUID(id string) { l.callUUID = id }

// TestLoggerCarriesBothIDs checks that one key of either kind finds every line of a call: the
// call's logger carries call_uuid and sip_call_id, and a leg that logs on its own is told the
// CallUUID.
func TestLoggerCarriesBothIDs(t *testing.T) {
	var buf bytes.Buffer
	leg := &taggedLeg{Leg: calltest.NewLeg()}
	leg.LegInfo.CallID = "a84b4c76e66710@127.0.0.1"
	c := New(Identity{UUID: "5d3f6a1e-0c1b-4f53-9b0e-2a7c9d1e4f00", AccountID: "MA_TEST"}, leg,
		Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	t.Cleanup(func() { c.Hangup(CauseNormalHangup, SourceVobiz, 0) })

	c.Logger().Info("probe")
	var line map[string]any
	if err := json.Unmarshal(bytes.SplitN(buf.Bytes(), []byte("\n"), 2)[0], &line); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	if line["msg"] != "probe" || line["call_uuid"] != c.UUID() || line["sip_call_id"] != "a84b4c76e66710@127.0.0.1" {
		t.Errorf("log line %v: want call_uuid %s and sip_call_id a84b4c76e66710@127.0.0.1", line, c.UUID())
	}
	if leg.callUUID != c.UUID() {
		t.Errorf("leg was told CallUUID %q, want %q", leg.callUUID, c.UUID())
	}
}
