package app

import (
	"log/slog"
	"net/netip"

	"github.com/parley-voice/parley/internal/config"
	"github.com/parley-voice/parley/internal/sipguard"
)

// newSIPGuard builds the SIP edge's guard from the configuration: every account's trusted
// gateways are exempt from its limits and bans.
func newSIPGuard(cfg *config.Config, s *Server) *sipguard.Guard {
	var trusted []netip.Prefix
	for _, a := range cfg.Accounts {
		trusted = append(trusted, a.TrustedGateways...)
	}
	p := cfg.SIP
	limit := func(rate float64, burst int) sipguard.Limit {
		if rate <= 0 {
			return sipguard.Limit{Rate: -1} // off
		}
		return sipguard.Limit{Rate: rate, Burst: burst}
	}
	return sipguard.New(sipguard.Config{
		Invite:            limit(p.InviteRate, p.InviteBurst),
		Register:          limit(p.RegisterRate, p.RegisterBurst),
		Options:           limit(p.OptionsRate, p.OptionsBurst),
		MaxSources:        p.MaxSources,
		MaxUsers:          p.MaxSources,
		Trusted:           trusted,
		TrustedAlso:       s.nodeSources.trusted,
		BackoffAfter:      p.AuthBackoffAfter,
		BanAfter:          p.BanAfter,
		UserBanAfter:      p.UserBanAfter,
		BanDuration:       p.BanDuration,
		NonceTTL:          p.NonceTTL,
		ScannerUserAgents: p.ScannerUserAgents,
		Logger:            s.log,
	})
}

// fdReserve are descriptors kept free besides HTTP, RTP and SIP-TCP: the database, log files,
// outgoing HTTP, the SIP UDP socket.
const fdReserve = 256

// sipTCPConnBudget is the cap of inbound SIP-TCP connections: the configured one, lowered so
// that HTTP's cap, every RTP port and fdReserve still fit in the open file limit. Idle TCP
// connections must never take the descriptors calls need.
func sipTCPConnBudget(cfg *config.Config, limit uint64, log *slog.Logger) int {
	want := cfg.SIP.TCPMaxConns
	if limit == 0 {
		return want
	}
	left := int64(limit) - int64(cfg.HTTPMaxConns) - int64(cfg.RTPPorts.Max-cfg.RTPPorts.Min+1) - fdReserve
	budget := int(max(left, 16))
	if want == 0 || want > budget {
		if want != 0 {
			log.Warn("sip_tcp_max_conns lowered to keep descriptors for HTTP and RTP", "configured", want, "cap", budget, "open_file_limit", limit)
		}
		return budget
	}
	return want
}
