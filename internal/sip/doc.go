// Package sip is Parley's SIP and RTP edge: it listens for SIP over UDP and TCP (and TLS when
// a certificate is configured, tls.go), answers
// inbound INVITEs (100 Trying at once, 180, 183 with early media, 200, 4xx-6xx, CANCEL, BYE,
// re-INVITE for hold), places outbound legs (Server.Dial, the call.Dialer: parallel INVITEs
// to every registered contact, first 200 wins, CANCEL, ring and no-response timeouts, digest
// answers to the far end's challenges), runs a registrar (REGISTER with digest auth, an
// in-memory registration table) and challenges INVITEs with 407 when the app asks it to
// (Options.Authenticate). It negotiates PCMU/PCMA plus telephone-event and moves RTP packets
// between the network and the call.Leg interface; DTMF also travels as SIP INFO
// (application/dtmf-relay), received and, when telephone-event was not negotiated, sent. Each new inbound call is handed to a
// handler function; the handler decides everything else.
//
// SRTP with SDES keys (RFC 4568) is accepted when offered and optionally offered
// (sdp_crypto.go, srtp.go): packets are authenticated and decrypted before the RTP source
// rules see them.
//
// It is the only package that imports the SIP/RTP libraries (sipgo for SIP transactions and
// dialogs). RTP sockets, SDP offer/answer, digest authentication and RTP packet I/O are our
// own small code: each Server allocates RTP ports from its own configured range (no package
// globals, so several servers can run in one process), reads and writes go straight to the
// UDP socket without pacing or extra goroutines, and symmetric RTP is built in, under the
// RTP source rules of rtpsource.go: packets from any other source are dropped before the caller
// sees them. Before anything is answered, a sipguard.Guard decides whether an untrusted source
// may cost anything (rate limits, scanners, digest back-off and bans, nonce state); refused
// requests get no response at all, and challenges to untrusted sources are never retransmitted.
//
// It must not know about flows, conferences, documents, webhooks or storage (passwords come
// through the Registrar interface, routing decisions through Authenticate), and it must not
// decode audio: it hands raw RTP packets (audio and RFC 4733 events alike) up to the caller.
// Registrations live in memory only: a restart forgets them until phones re-register.
package sip
