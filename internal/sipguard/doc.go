// Package sipguard decides who may talk to Parley's SIP edge before a transaction costs memory:
// per-source token buckets for INVITE, REGISTER and OPTIONS, known scanner User-Agents, counting
// of digest authentication failures per source address and per username with exponential
// back-off and temporary bans, and the state of digest nonces (expiry, nonce-count tracking so a
// captured Authorization header cannot be replayed, stale=true for an expired nonce).
//
// Every table it keeps has a configured capacity, so its memory is bounded by configuration and
// not by the rate of an attack; trusted networks are exempt from limits and bans.
//
// It must not do I/O (no sockets, files or timers: the caller passes the time, which makes it
// testable with a fake clock), must not import SIP libraries or other internal packages, and must
// not answer anything itself: it returns verdicts and the SIP layer acts on them. Its only output
// besides verdicts and counters is one log line per ban (see Guard.AuthFailed).
package sipguard
