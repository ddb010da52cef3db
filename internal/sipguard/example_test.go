package sipguard_test

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/parley-voice/parley/internal/sipguard"
)

// Example shows the order in which a SIP edge calls the guard for a REGISTER (an INVITE is the
// same with 407 and Proxy-Authorization). Every "ignore" means: send no response at all.
func Example() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // keep the example's output stable
			}
			return a
		},
	}))
	g := sipguard.New(sipguard.Config{BanAfter: 3, Logger: logger,
		Trusted: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	src := netip.MustParseAddr("203.0.113.5")

	register := func(user string, rightPassword bool) string {
		// 1. Before anything else (before 100 Trying for an INVITE).
		if v := g.Admit(src, "REGISTER", "Linphone/5.2", now); v != sipguard.Allow {
			return "ignore (" + v.String() + ")"
		}
		// 2. No credentials: challenge with a fresh nonce.
		if user == "" {
			_ = g.Nonces().Issue(now)
			return "401 with a new nonce"
		}
		// 3. Credentials: is the username locked out, is the nonce ours?
		if v := g.CheckUser(src, user, "REGISTER", now); v != sipguard.Allow {
			return "ignore (" + v.String() + ")"
		}
		nonce := g.Nonces().Issue(now) // in real life: the nonce of the Authorization header
		if g.Nonces().Check(nonce, now) == sipguard.NonceInvalid {
			return "401 with a new nonce"
		}
		// 4. Verify the digest response with the password, then record the outcome.
		if !rightPassword {
			g.AuthFailed(src, user, now)
			return "401 with a new nonce"
		}
		switch g.Nonces().Use(nonce, "00000001", now) {
		case sipguard.NonceOK:
			g.AuthSucceeded(src, user, now)
			return "200 OK"
		case sipguard.NonceStale, sipguard.NonceReplay:
			return "401 with a new nonce, stale=true"
		}
		return "401 with a new nonce"
	}

	fmt.Println(register("", false))
	fmt.Println(register("alice", true))
	for i := 0; i < 3; i++ {
		fmt.Println(register("alice", false))
	}
	fmt.Println(register("alice", true))
	// Output:
	// 401 with a new nonce
	// 200 OK
	// 401 with a new nonce
	// 401 with a new nonce
	// level=WARN msg="parley sip ban" source=203.0.113.5 user=alice reason=source-failures failures=3 duration=15m0s
	// 401 with a new nonce
	// ignore (banned)
}
