// Package streamspec holds the grammar of an audio stream's parameters that the <Stream>
// element (through flow and stream) and the REST start (api) both read: contentType /
// content_type (spec/streams.md §1.4) and extraHeaders / extra_headers (§2.3).
//
// It parses and reports; it does not decide. What to do with a bad value is the caller's
// policy: REST refuses it with a 400, the element drops it with a warning. It must not import
// any other Parley package, do I/O or hold mutable state: it is the single definition of these
// rules for packages that may not import one another.
package streamspec

import (
	"strconv"
	"strings"
)

// Encodings of the wire audio (start.mediaFormat.encoding, playAudio media.contentType).
const (
	EncodingL16   = "audio/x-l16"
	EncodingMulaw = "audio/x-mulaw"
)

// Format is a wire audio format: an encoding and a sample rate in Hz.
type Format struct {
	Encoding   string
	SampleRate int
}

// DefaultFormat is the inbound format when contentType is absent or not understood (§1.4):
// L16 at 8 kHz, not μ-law.
var DefaultFormat = Format{Encoding: EncodingL16, SampleRate: 8000}

// String gives the contentType form, e.g. "audio/x-l16;rate=16000".
func (f Format) String() string {
	return f.Encoding + ";rate=" + strconv.Itoa(f.SampleRate)
}

// FrameBytes is the size of one 20 ms frame of f on the wire.
func (f Format) FrameBytes() int {
	n := f.SampleRate / 50
	if f.Encoding == EncodingL16 {
		n *= 2
	}
	return n
}

// ParseContentType reads a `<Stream contentType>` / `content_type` value (§1.4): case and the
// spaces around ";" and "=" do not matter, audio/mulaw, audio/pcmu and audio/l16 are aliases,
// a missing rate means 8000. Supported are μ-law at 8 kHz and L16 at 8, 16 and 24 kHz; for
// anything else ok is false and f is DefaultFormat.
func ParseContentType(s string) (f Format, ok bool) {
	enc, rate, ok := ParseMediaType(s)
	if !ok {
		return DefaultFormat, false
	}
	if rate == 0 {
		rate = 8000
	}
	switch {
	case enc == EncodingMulaw && rate == 8000,
		enc == EncodingL16 && (rate == 8000 || rate == 16000 || rate == 24000):
		return Format{Encoding: enc, SampleRate: rate}, true
	}
	return DefaultFormat, false
}

// MaxPlayRate bounds the sample rates ParseMediaType accepts (media.Resampler's range).
const MaxPlayRate = 192000

// ParseMediaType splits "type;rate=N" into a canonical encoding and the rate (0 when absent),
// without ParseContentType's limits on the pair: playAudio (§4.1) takes any rate up to
// MaxPlayRate; the last rate wins. Unknown parameters are ignored; an unknown type or a bad
// rate ("rate" without a value too) is not ok.
func ParseMediaType(s string) (enc string, rate int, ok bool) {
	parts := strings.Split(s, ";")
	switch strings.ToLower(strings.TrimSpace(parts[0])) {
	case "audio/x-mulaw", "audio/mulaw", "audio/pcmu", "audio/x-pcmu", "audio/basic":
		enc = EncodingMulaw
	case "audio/x-l16", "audio/l16", "audio/pcm", "audio/x-pcm":
		enc = EncodingL16
	default:
		return "", 0, false
	}
	for _, p := range parts[1:] {
		k, v, found := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(k), "rate") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if !found || err != nil || n <= 0 || n > MaxPlayRate {
			return "", 0, false
		}
		rate = n
	}
	return enc, rate, true
}

// MaxExtraHeaders is the longest extraHeaders value honoured, in bytes (§2.3).
const MaxExtraHeaders = 512

// Header is one extraHeaders pair: sent on the WebSocket upgrade, in the extra_headers JSON of
// the messages, and as X-VH-<Name> in the status callbacks.
type Header struct {
	Name  string
	Value string
}

// ParseExtraHeaders reads an extraHeaders / extra_headers value (§2.3): items split on ",",
// each on its first "=" or ":", trimmed; empty items are skipped. Pairs whose key or value is
// not [A-Za-z0-9_.-]+, and pairs naming a header of the upgrade itself (Host, Sec-WebSocket-*,
// ...), are not in pairs but in dropped, as written. A value longer than MaxExtraHeaders is
// not parsed at all (tooLong).
func ParseExtraHeaders(raw string) (pairs []Header, dropped []string, tooLong bool) {
	if len(raw) > MaxExtraHeaders {
		return nil, nil, true
	}
	for item := range strings.SplitSeq(raw, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		i := strings.IndexAny(item, "=:")
		if i < 0 {
			dropped = append(dropped, item)
			continue
		}
		k, v := strings.TrimSpace(item[:i]), strings.TrimSpace(item[i+1:])
		if !headerToken(k) || !headerToken(v) || reservedHeader(k) {
			dropped = append(dropped, item)
			continue
		}
		pairs = append(pairs, Header{Name: k, Value: v})
	}
	return pairs, dropped, false
}

// headerToken reports whether s is non-empty and made of [A-Za-z0-9_.-].
func headerToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
		default:
			return false
		}
	}
	return true
}

// reservedHeader names the upgrade's own headers, which an app's pair must not replace.
func reservedHeader(k string) bool {
	k = strings.ToLower(k)
	switch k {
	case "host", "connection", "upgrade", "content-length", "transfer-encoding":
		return true
	}
	return strings.HasPrefix(k, "sec-websocket-")
}
