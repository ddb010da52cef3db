package sip

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// SRTPOptions configure SRTP with keys exchanged in SDP (SDES, RFC 4568). An offer of RTP/SAVP
// with a usable a=crypto line is always accepted: we answer RTP/SAVP with our own key and the
// peer's suite; an RTP/SAVP offer without a usable key is refused with 488.
type SRTPOptions struct {
	// Offer makes outbound INVITEs offer RTP/SAVP with an AES_CM_128_HMAC_SHA1_80 key instead
	// of RTP/AVP. Off by default: a peer without SRTP would refuse the call.
	Offer bool
	// RequireOverTLS refuses, with 488, INVITEs received over TLS that do not offer SRTP:
	// their signalling is encrypted, so their media must be too.
	RequireOverTLS bool
}

// srtpReplayWindow is the replay window of received packets (RFC 3711 §3.3.2: at least 64).
const srtpReplayWindow = 128

// srtpMaxFailures is how many packets in a row may fail authentication before the receiving
// context is rebuilt: pion keeps state for every SSRC it is shown, so a spray of forged packets
// must not grow it without bound.
const srtpMaxFailures = 256

// srtpSession encrypts a stream's packets with our key and decrypts the peer's with theirs.
// The writer (under the stream's write lock) owns the encrypt side, the one reader the
// decrypt side.
type srtpSession struct {
	local, remote sdesCrypto

	enc    *srtp.Context
	encHdr rtp.Header
	encBuf []byte

	dec      *srtp.Context
	decHdr   rtp.Header
	failures int
	lastSSRC uint32 // SSRC of the last authenticated packet
	lastOK   bool
}

func newSRTPSession(local, remote sdesCrypto) (*srtpSession, error) {
	enc, err := srtp.CreateContext(local.key[:16], local.key[16:], local.profile())
	if err != nil {
		return nil, fmt.Errorf("SRTP sending context: %w", err)
	}
	s := &srtpSession{local: local, remote: remote, enc: enc, encBuf: make([]byte, 0, 1500+32)}
	if s.dec, err = s.newDecrypt(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *srtpSession) newDecrypt() (*srtp.Context, error) {
	opts := []srtp.ContextOption{srtp.SRTPReplayProtection(srtpReplayWindow)}
	if s.remote.mki != nil {
		opts = append(opts, srtp.MasterKeyIndicator(s.remote.mki))
	}
	dec, err := srtp.CreateContext(s.remote.key[:16], s.remote.key[16:], s.remote.profile(), opts...)
	if err != nil {
		return nil, fmt.Errorf("SRTP receiving context: %w", err)
	}
	return dec, nil
}

// sameKeys tells whether s already uses these keys (a re-INVITE that repeats them keeps the
// rollover counters and the replay window).
func (s *srtpSession) sameKeys(local, remote *sdesCrypto) bool {
	return s.local.suite == local.suite && bytes.Equal(s.local.key, local.key) &&
		s.remote.suite == remote.suite && bytes.Equal(s.remote.key, remote.key) && bytes.Equal(s.remote.mki, remote.mki)
}

// decrypt authenticates and decrypts pkt in place; the result aliases pkt.
func (s *srtpSession) decrypt(pkt []byte) ([]byte, error) {
	out, err := s.dec.DecryptRTP(pkt, pkt, &s.decHdr)
	if err == nil {
		s.failures, s.lastSSRC, s.lastOK = 0, s.decHdr.SSRC, true
		return out, nil
	}
	if s.failures++; s.failures >= srtpMaxFailures {
		s.rebuildDecrypt()
	}
	return nil, err
}

// rebuildDecrypt starts a fresh receiving context that keeps the packet index of the
// authenticated stream, so the forged SSRCs are forgotten and the real one goes on.
func (s *srtpSession) rebuildDecrypt() {
	dec, err := s.newDecrypt()
	if err != nil {
		return
	}
	if s.lastOK {
		if idx, ok := s.dec.Index(s.lastSSRC); ok {
			dec.SetIndex(s.lastSSRC, idx)
		}
	}
	s.dec, s.failures = dec, 0
}

// encrypt returns pkt (a whole RTP packet) protected; the result is valid until the next call.
func (s *srtpSession) encrypt(pkt []byte) ([]byte, error) {
	out, err := s.enc.EncryptRTP(s.encBuf[:0], pkt, &s.encHdr)
	if err != nil {
		return nil, err
	}
	s.encBuf = out[:0]
	return out, nil
}

var errSRTPRequired = errors.New("SRTP is required over TLS (RTP/SAVP with a=crypto)")

// checkSRTPPolicy refuses a plain-RTP offer received over TLS when RequireOverTLS is set.
func (s *Server) checkSRTPPolicy(transport string, n negotiated) error {
	if s.opts.SRTP.RequireOverTLS && transport == "tls" && n.crypto == nil {
		return errSRTPRequired
	}
	return nil
}

// keySRTPLocked gives the stream r the keys of the negotiated media: none for RTP/AVP; for
// RTP/SAVP our key (made once per leg, in the peer's suite, under the peer's tag) and theirs.
func (c *legCore) keySRTPLocked(r *rtpStream) error {
	n := c.neg
	if n.crypto == nil {
		r.sec.Store(nil)
		return nil
	}
	if c.localKey == nil || c.localKey.suite != n.crypto.suite {
		k, err := newLocalCrypto(n.crypto.tag, n.crypto.suite)
		if err != nil {
			return err
		}
		c.localKey = k
	}
	c.localKey.tag = n.crypto.tag
	if cur := r.sec.Load(); cur != nil && cur.sameKeys(c.localKey, n.crypto) {
		return nil
	}
	sess, err := newSRTPSession(*c.localKey, *n.crypto)
	if err != nil {
		return err
	}
	r.sec.Store(sess)
	return nil
}

// errSRTPDowngrade refuses a re-INVITE that would turn an SRTP call into plain RTP.
var errSRTPDowngrade = errors.New("the call uses SRTP: a plain RTP offer would downgrade it")

// answerMatchesOfferLocked checks an answer to our offer: to an SRTP offer (c.localKey set
// when the offer was made) the answer must be SRTP in our suite; to a plain one, plain.
func (c *legCore) answerMatchesOfferLocked(n negotiated) error {
	switch {
	case c.localKey == nil && n.crypto != nil:
		return errors.New("RTP/SAVP answer to an RTP/AVP offer")
	case c.localKey != nil && n.crypto == nil:
		return errors.New("plain RTP answer to our SRTP offer")
	case c.localKey != nil && n.crypto.suite != c.localKey.suite:
		return fmt.Errorf("SRTP answer in %s, offered %s", n.crypto.suite, c.localKey.suite)
	}
	return nil
}
