package sip

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/parley-voice/parley/internal/media"
)

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sdp     string
		codec   media.Codec
		te      uint8
		dir     string
		wantErr bool
	}{
		{"pcmu first", "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 0 8 101\na=rtpmap:101 telephone-event/8000\n", media.PCMU, 101, dirSendRecv, false},
		{"caller prefers pcma", "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 18 8 0 96\na=rtpmap:96 telephone-event/8000\na=sendonly\n", media.PCMA, 96, dirSendOnly, false},
		{"session level inactive", "v=0\nc=IN IP4 10.0.0.1\na=inactive\nm=audio 4000 RTP/AVP 0\n", media.PCMU, 0, dirInactive, false},
		{"g729 only", "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 18\n", 0, 0, "", true},
		{"srtp", "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/SAVP 0\n", 0, 0, "", true},
		{"video only", "v=0\nc=IN IP4 10.0.0.1\nm=video 4000 RTP/AVP 96\n", 0, 0, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseSDP([]byte(strings.ReplaceAll(tc.sdp, "\n", "\r\n")))
			if err != nil {
				t.Fatal(err)
			}
			n, err := negotiate(r, nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			if n.codec != tc.codec || n.tePT != tc.te || n.dir != tc.dir || n.remote != netip.MustParseAddrPort("10.0.0.1:4000") {
				t.Errorf("got %+v", n)
			}
		})
	}
}

func TestBuildSDPAnswerKeepsStreamCount(t *testing.T) {
	r, err := parseSDP([]byte("v=0\r\nc=IN IP4 10.0.0.1\r\nm=video 5000 RTP/AVP 96\r\nm=audio 4000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := negotiate(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := string(buildSDP(1, 1, netip.MustParseAddr("192.0.2.5"), 20000, n.codec, n.tePT, answerDir(n.dir), r, n.mIndex, nil))
	for _, want := range []string{"m=video 0 RTP/AVP 96\r\n", "m=audio 20000 RTP/AVP 8 101\r\n", "c=IN IP4 192.0.2.5\r\n", "a=rtpmap:8 PCMA/8000", "a=sendrecv"} {
		if !strings.Contains(out, want) {
			t.Errorf("answer lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "m=video") > strings.Index(out, "m=audio") {
		t.Error("m= lines out of order")
	}
}

func TestParseRTP(t *testing.T) {
	b := make([]byte, 12+4+8+3)
	putRTPHeader(b, 101, true, 7, 1234, 99)
	b[0] |= 0x01 | 0x10 | 0x20 // one CSRC, extension, padding
	copy(b[16:], []byte{0xbe, 0xde, 0, 1})
	b[24], b[25] = 0xaa, 0xbb
	b[26] = 3 - 2 + 1 // padding count: last byte
	b = b[:27]
	b[26] = 1
	var p media.Packet
	if err := parseRTP(b, &p); err != nil {
		t.Fatal(err)
	}
	if p.PayloadType != 101 || !p.Marker || p.Seq != 7 || p.Timestamp != 1234 || p.SSRC != 99 || string(p.Payload) != "\xaa\xbb" {
		t.Errorf("got %+v", p)
	}
	for _, bad := range [][]byte{nil, {0x80}, {0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0x80, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if parseRTP(bad, &p) == nil {
			t.Errorf("accepted %x", bad)
		}
	}
}

func FuzzParseRTP(f *testing.F) {
	b := make([]byte, 172)
	putRTPHeader(b, 0, false, 1, 2, 3)
	f.Add(b)
	f.Add([]byte{0xbf, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		var p media.Packet
		if parseRTP(data, &p) == nil && len(p.Payload) > len(data) {
			t.Fatal("payload longer than packet")
		}
	})
}

func FuzzParseSDP(f *testing.F) {
	f.Add([]byte("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"))
	f.Add([]byte("m=audio x"))
	f.Add([]byte("v=0\nc=IN IP6 ::1/5\nm=audio 65536/2 RTP/AVP\na=rtpmap:\n"))
	// SDES offers (RFC 4568): crypto attributes, SAVP profiles, odd key parameters.
	f.Add([]byte("v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/SAVP 0 101\r\n" +
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\r\n" +
		"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj\r\na=rtpmap:101 telephone-event/8000\r\n"))
	f.Add([]byte("m=audio 4000 RTP/AVP 0\na=crypto:x\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:\na=crypto:99999999999 F8 inline:a|b|c|d;UNENCRYPTED_SRTP\n"))
	f.Add([]byte("m=audio 4000 UDP/TLS/RTP/SAVPF 0\na=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:" + strings.Repeat("A", 2000) + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseSDP(data)
		if err != nil {
			return
		}
		n, err := negotiate(r, nil)
		if err != nil {
			return
		}
		var key *sdesCrypto
		if n.crypto != nil {
			checkCrypto(t, n.crypto)
			key = &sdesCrypto{tag: n.crypto.tag, suite: n.crypto.suite, key: make([]byte, sdesKeyLen)}
		}
		answer := buildSDP(1, 1, netip.MustParseAddr("127.0.0.1"), 1, n.codec, n.tePT, answerDir(n.dir), r, n.mIndex, key)
		// Our answer must read back as what we meant: the same codec and, with a key, SRTP.
		back, err := parseSDP(answer)
		if err != nil {
			t.Fatalf("our answer does not parse: %v\n%s", err, answer)
		}
		nb, err := negotiate(back, nil)
		if err != nil || nb.codec != n.codec || (nb.crypto != nil) != (key != nil) {
			t.Fatalf("our answer negotiates to %+v, %v\n%s", nb, err, answer)
		}
	})
}
