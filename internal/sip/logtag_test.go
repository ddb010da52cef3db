package sip

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestCallTagAddsCallUUIDOnceKnown(t *testing.T) {
	var buf bytes.Buffer
	base := withCallTag(slog.New(slog.NewJSONHandler(&buf, nil)).With("sip_call_id", "c1@h"))
	derived := base.With("direction", "outbound") // made before the tag, as legs do

	base.Info("before")
	tagCallUUID(base, "uuid-1")
	base.Info("after")
	derived.Info("derived")
	tagCallUUID(slog.Default(), "ignored") // a logger not made by withCallTag is left alone

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines: %q", len(lines), buf.String())
	}
	want := []string{"", "uuid-1", "uuid-1"}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		got, _ := m["call_uuid"].(string)
		if got != want[i] || m["sip_call_id"] != "c1@h" {
			t.Errorf("line %d %v: want call_uuid %q and sip_call_id c1@h", i, m, want[i])
		}
	}
}
