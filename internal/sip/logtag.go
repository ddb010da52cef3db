package sip

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// callTagHandler adds call_uuid to a dialog's log lines once the call above the leg is known
// (the leg is made, and logs, before its call.Call exists). Every logger derived from one
// withCallTag logger shares the tag.
type callTagHandler struct {
	inner    slog.Handler
	callUUID *atomic.Pointer[string]
}

// withCallTag returns a logger whose lines carry call_uuid after tagCallUUID.
func withCallTag(l *slog.Logger) *slog.Logger {
	return slog.New(&callTagHandler{inner: l.Handler(), callUUID: new(atomic.Pointer[string])})
}

// tagCallUUID makes l's later lines (and those of loggers derived from it) carry call_uuid; it
// does nothing for a logger not made by withCallTag.
func tagCallUUID(l *slog.Logger, callUUID string) {
	if h, ok := l.Handler().(*callTagHandler); ok {
		h.callUUID.Store(&callUUID)
	}
}

func (h *callTagHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h *callTagHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := h.callUUID.Load(); id != nil {
		r = r.Clone()
		r.AddAttrs(slog.String("call_uuid", *id))
	}
	return h.inner.Handle(ctx, r)
}

func (h *callTagHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &callTagHandler{inner: h.inner.WithAttrs(attrs), callUUID: h.callUUID}
}

func (h *callTagHandler) WithGroup(name string) slog.Handler {
	return &callTagHandler{inner: h.inner.WithGroup(name), callUUID: h.callUUID}
}

// SetCallUUID implements call's optional log tagging: the leg's own log lines carry the
// CallUUID from now on, next to sip_call_id.
func (c *legCore) SetCallUUID(callUUID string) { tagCallUUID(c.log, callUUID) }
