package sip

import (
	"net/netip"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

// The source rules of received RTP (docs/security.md, "RTP sources"). A leg accepts RTP from
// one source at a time:
//   - the address its peer's SDP names is always accepted (it is what the peer declared);
//   - another address is learned only within latchWindow after the SDP address was set or the
//     leg was answered (phones behind NAT send from an address they do not know), and only
//     after a probation: latchProbation packets in sequence with one SSRC from the IP address
//     of the SIP peer or of the SDP address (a NAT'd phone), foreignProbation from any other
//     IP address (so that a sprayer loses the race against a phone, which sends at once);
//   - once a source is learned, another replaces it only when the learned one has been silent
//     for relatchQuiet and the newcomer passes the probation with another SSRC, and, after
//     the window, only a newcomer with the IP address of the SIP peer or of the SDP address
//     (NAT rebinding); the SDP address replaces a learned foreign source at once.
//
// Everything else is dropped and counted (rtpStats.foreign): it never reaches the reader (so
// it neither reaches a room nor resets the media timeout) and never changes where our RTP
// goes (so it draws no packet back).
const (
	latchWindow      = 5 * time.Second
	latchProbation   = 3
	foreignProbation = 10
	relatchQuiet     = 2 * time.Second
)

// sourceRank orders the claims of an address to be the peer's media source.
type sourceRank uint8

const (
	rankForeign sourceRank = iota // neither the SDP address nor the peer's IP
	rankPeerIP                    // the IP of the SIP peer or of the SDP address, another port
	rankSDP                       // exactly the SDP address
)

// sourceView is what signalling has said about the peer's media, read by the RTP reader.
type sourceView struct {
	expected    netip.AddrPort // the SDP address (may be invalid or unspecified)
	peer        netip.Addr     // the SIP peer's address (may be invalid)
	gen         uint64         // bumped on every change of expected: learning starts over
	windowUntil int64          // Unix ns; until then a foreign source may be learned
}

// sourceFilter applies the source rules. Only the stream's one reader uses it.
type sourceFilter struct {
	gen     uint64
	source  netip.AddrPort // learned source; invalid while none
	rank    sourceRank
	ssrc    uint32
	lastAcc int64 // Unix ns of the last accepted packet

	cand      netip.AddrPort // candidate in probation
	candSSRC  uint32
	candSeq   uint16
	candCount int
}

func (v *sourceView) rankOf(from netip.AddrPort) sourceRank {
	switch {
	case from == v.expected:
		return rankSDP
	case v.peer.IsValid() && from.Addr() == v.peer,
		v.expected.Addr().IsValid() && !v.expected.Addr().IsUnspecified() && from.Addr() == v.expected.Addr():
		return rankPeerIP
	}
	return rankForeign
}

// admit decides on one valid RTP packet p from from at now. learned is true when from became
// the source (the send address must follow it).
func (f *sourceFilter) admit(from netip.AddrPort, p *media.Packet, now int64, v *sourceView) (accept, learned bool) {
	if v.gen != f.gen {
		*f = sourceFilter{gen: v.gen}
	}
	if f.source.IsValid() && from == f.source {
		f.ssrc, f.lastAcc = p.SSRC, now
		return true, false
	}
	rank := v.rankOf(from)
	if rank == rankSDP && f.rank < rankSDP {
		f.learn(from, rank, p, now)
		return true, true
	}
	inWindow := now < v.windowUntil
	if f.source.IsValid() {
		// Another source while one is learned: only a strict re-latch.
		if now-f.lastAcc < int64(relatchQuiet) || p.SSRC == f.ssrc || (rank == rankForeign && !inWindow) {
			return false, false
		}
	} else if !inWindow {
		return false, false // nothing learned and the window is over: only the SDP address
	}
	need := latchProbation
	if rank == rankForeign {
		need = foreignProbation
	}
	if !f.probe(from, p, need) {
		return false, false
	}
	f.learn(from, rank, p, now)
	return true, true
}

// probe counts p toward from's probation: need packets with one SSRC, each numbered one
// after the previous. It reports whether the probation is passed.
func (f *sourceFilter) probe(from netip.AddrPort, p *media.Packet, need int) bool {
	if from != f.cand || p.SSRC != f.candSSRC || p.Seq != f.candSeq+1 {
		f.cand, f.candSSRC, f.candSeq, f.candCount = from, p.SSRC, p.Seq, 1
		return need <= 1
	}
	f.candSeq = p.Seq
	f.candCount++
	return f.candCount >= need
}

func (f *sourceFilter) learn(from netip.AddrPort, rank sourceRank, p *media.Packet, now int64) {
	f.source, f.rank, f.ssrc, f.lastAcc = from, rank, p.SSRC, now
	f.cand, f.candCount = netip.AddrPort{}, 0
}
