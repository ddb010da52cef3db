package sip

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/parley-voice/parley/internal/media"
)

// SDP directions (RFC 4566 §6).
const (
	dirSendRecv = "sendrecv"
	dirSendOnly = "sendonly"
	dirRecvOnly = "recvonly"
	dirInactive = "inactive"
)

// sdpMedia is one m= line of a remote description.
type sdpMedia struct {
	kind    string // audio, video, ...
	port    int
	proto   string
	formats []string
	addr    netip.Addr        // c= of the media, else of the session
	rtpmap  map[string]string // payload type -> "name/rate" (lower case)
	dir     string
	crypto  []sdesCrypto // usable a=crypto lines, in offer order (sdp_crypto.go)
}

// remoteSDP is what we need from a peer's SDP.
type remoteSDP struct {
	media []sdpMedia
}

var errBadSDP = errors.New("malformed SDP")

// parseSDP parses the parts of an SDP body that matter for one audio stream. It never panics
// on bad input; what it does not understand it ignores.
func parseSDP(body []byte) (*remoteSDP, error) {
	r := &remoteSDP{}
	var sessAddr netip.Addr
	sessDir := ""
	var cur *sdpMedia
	sawV := false
	for _, raw := range bytes.Split(body, []byte("\n")) {
		line := strings.TrimRight(string(raw), "\r")
		if len(line) < 2 || line[1] != '=' {
			continue
		}
		val := line[2:]
		switch line[0] {
		case 'v':
			sawV = true
		case 'c':
			f := strings.Fields(val)
			if len(f) < 3 || f[0] != "IN" {
				continue
			}
			host := f[2]
			if i := strings.IndexByte(host, '/'); i >= 0 { // multicast TTL
				host = host[:i]
			}
			a, err := netip.ParseAddr(host)
			if err != nil {
				continue
			}
			if cur != nil {
				cur.addr = a
			} else {
				sessAddr = a
			}
		case 'm':
			f := strings.Fields(val)
			if len(f) < 3 {
				return nil, fmt.Errorf("%w: bad m= line %q", errBadSDP, line)
			}
			portStr := f[1]
			if i := strings.IndexByte(portStr, '/'); i >= 0 {
				portStr = portStr[:i]
			}
			port, err := strconv.Atoi(portStr)
			if err != nil || port < 0 || port > 65535 {
				return nil, fmt.Errorf("%w: bad port in %q", errBadSDP, line)
			}
			r.media = append(r.media, sdpMedia{kind: f[0], port: port, proto: f[2], formats: f[3:], rtpmap: map[string]string{}})
			cur = &r.media[len(r.media)-1]
		case 'a':
			switch val {
			case dirSendRecv, dirSendOnly, dirRecvOnly, dirInactive:
				if cur != nil {
					cur.dir = val
				} else {
					sessDir = val
				}
				continue
			}
			if cur != nil && strings.HasPrefix(val, "crypto:") {
				if c, err := parseCrypto(val[len("crypto:"):]); err == nil {
					cur.crypto = append(cur.crypto, c)
				}
				continue
			}
			if cur != nil && strings.HasPrefix(val, "rtpmap:") {
				f := strings.Fields(val[len("rtpmap:"):])
				if len(f) >= 2 {
					cur.rtpmap[f[0]] = strings.ToLower(f[1])
				}
			}
		}
	}
	if !sawV && len(r.media) == 0 {
		return nil, fmt.Errorf("%w: no v= or m= line", errBadSDP)
	}
	for i := range r.media {
		m := &r.media[i]
		if !m.addr.IsValid() {
			m.addr = sessAddr
		}
		if m.dir == "" {
			m.dir = sessDir
		}
		if m.dir == "" {
			m.dir = dirSendRecv
		}
	}
	return r, nil
}

// audio returns the index of the first usable audio stream, or -1.
func (r *remoteSDP) audio() int {
	for i, m := range r.media {
		if m.kind == "audio" && m.port != 0 {
			return i
		}
	}
	return -1
}

// negotiated is the outcome of an offer/answer on the audio stream.
type negotiated struct {
	codec   media.Codec
	tePT    uint8 // 0 = no telephone-event
	remote  netip.AddrPort
	dir     string // the peer's direction
	mIndex  int
	offered *remoteSDP
	crypto  *sdesCrypto // the peer's SRTP key (RTP/SAVP); nil for plain RTP
}

var errNoCommonCodec = errors.New("no codec in common (PCMU, PCMA over RTP/AVP or RTP/SAVP)")

// errNoSRTPKey refuses an RTP/SAVP stream without an a=crypto line we can use.
var errNoSRTPKey = errors.New("RTP/SAVP without a usable SDES key (AES_CM_128_HMAC_SHA1_80 or _32)")

// negotiate picks, in the offerer's order, the first of PCMU/PCMA, and telephone-event/8000.
// prefer, when offered, wins (keeps the codec stable across re-INVITEs).
func negotiate(r *remoteSDP, prefer *media.Codec) (negotiated, error) {
	idx := r.audio()
	if idx < 0 {
		return negotiated{}, fmt.Errorf("%w: no audio stream offered", errNoCommonCodec)
	}
	m := r.media[idx]
	n := negotiated{mIndex: idx, dir: m.dir, offered: r, remote: netip.AddrPortFrom(m.addr, uint16(m.port))}
	switch m.proto {
	case "RTP/AVP": // a=crypto lines on RTP/AVP are ignored (RFC 4568 §3.1.4: SAVP only)
	case "RTP/SAVP":
		if len(m.crypto) == 0 {
			return negotiated{}, errNoSRTPKey
		}
		n.crypto = &m.crypto[0]
	default:
		return negotiated{}, fmt.Errorf("%w: transport %s", errNoCommonCodec, m.proto)
	}
	found := false
	for _, f := range m.formats {
		pt, err := strconv.Atoi(f)
		if err != nil || pt < 0 || pt > 127 {
			continue
		}
		name := m.rtpmap[f]
		switch {
		case pt == 0 && (name == "" || name == "pcmu/8000"), pt == 8 && (name == "" || name == "pcma/8000"):
			c := media.Codec(pt)
			if !found || (prefer != nil && c == *prefer) {
				n.codec = c
			}
			found = true
		case name == "telephone-event/8000" && pt >= 96 && n.tePT == 0:
			n.tePT = uint8(pt)
		}
	}
	if !found {
		return negotiated{}, errNoCommonCodec
	}
	return n, nil
}

// answerDir is our direction in answer to the peer's.
func answerDir(remote string) string {
	switch remote {
	case dirSendOnly:
		return dirRecvOnly
	case dirRecvOnly:
		return dirSendOnly
	case dirInactive:
		return dirInactive
	}
	return dirSendRecv
}

// buildSDP writes our description. When offered is not nil it is an answer: one m= line per
// offered stream, the non-audio ones refused with port 0 (RFC 3264 §6). key, when not nil,
// makes the audio RTP/SAVP with our a=crypto line.
func buildSDP(sessID, version uint64, ip netip.Addr, port int, codec media.Codec, tePT uint8, dir string, offered *remoteSDP, mIndex int, key *sdesCrypto) []byte {
	var b strings.Builder
	writeSDPSession(&b, sessID, version, ip)
	audio := func() {
		fmt.Fprintf(&b, "m=audio %d %s %d", port, mediaProto(key), codec.PayloadType())
		if tePT != 0 {
			fmt.Fprintf(&b, " %d", tePT)
		}
		fmt.Fprintf(&b, "\r\na=rtpmap:%d %s/8000\r\n", codec.PayloadType(), codec)
		if tePT != 0 {
			fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", tePT, tePT)
		}
		fmt.Fprintf(&b, "a=ptime:20\r\na=%s\r\n", dir)
		if key != nil {
			fmt.Fprintf(&b, "a=%s\r\n", key.attr())
		}
	}
	if offered == nil {
		audio()
		return []byte(b.String())
	}
	for i, m := range offered.media {
		if i == mIndex {
			audio()
			continue
		}
		f := "0"
		if len(m.formats) > 0 {
			f = m.formats[0]
		}
		fmt.Fprintf(&b, "m=%s 0 %s %s\r\n", m.kind, m.proto, f)
	}
	return []byte(b.String())
}

// offerTEPT is the payload type we offer telephone-event/8000 with.
const offerTEPT = 101

// buildOffer writes our SDP offer: PCMU, PCMA and telephone-event/8000; over RTP/SAVP with
// our a=crypto line when key is not nil.
func buildOffer(sessID, version uint64, ip netip.Addr, port int, key *sdesCrypto) []byte {
	var b strings.Builder
	writeSDPSession(&b, sessID, version, ip)
	fmt.Fprintf(&b, "m=audio %d %s 0 8 %d\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n", port, mediaProto(key), offerTEPT)
	fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\na=ptime:20\r\na=sendrecv\r\n", offerTEPT, offerTEPT)
	if key != nil {
		fmt.Fprintf(&b, "a=%s\r\n", key.attr())
	}
	return []byte(b.String())
}

// mediaProto is the transport of our audio stream: RTP/SAVP when it has a key.
func mediaProto(key *sdesCrypto) string {
	if key != nil {
		return "RTP/SAVP"
	}
	return "RTP/AVP"
}

// writeSDPSession writes the session part of our SDP: v=, o=, s=, c= and t=.
func writeSDPSession(b *strings.Builder, sessID, version uint64, ip netip.Addr) {
	ipv := "IP4"
	if ip.Is6() && !ip.Is4In6() {
		ipv = "IP6"
	}
	ip = ip.Unmap()
	fmt.Fprintf(b, "v=0\r\no=parley %d %d IN %s %s\r\ns=parley\r\nc=IN %s %s\r\nt=0 0\r\n", sessID, version, ipv, ip, ipv, ip)
}
