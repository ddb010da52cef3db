package app

import (
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
		BackoffAfter:      p.AuthBackoffAfter,
		BanAfter:          p.BanAfter,
		UserBanAfter:      p.UserBanAfter,
		BanDuration:       p.BanDuration,
		NonceTTL:          p.NonceTTL,
		ScannerUserAgents: p.ScannerUserAgents,
		Logger:            s.log,
	})
}
