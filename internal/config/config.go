// Package config holds Parley's configuration: the Config struct, its defaults, loading from
// command-line flags, PARLEY_* environment variables and a YAML file (precedence flag > env >
// file > default), validation, and the account generated on first start.
//
// It must not start anything, open sockets or talk to the store: it turns text into a checked
// Config, and the app package acts on it. The only file it writes is the generated account.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// API response profiles (spec §1.5).
const (
	ProfileClassic = "classic"
	ProfileCurrent = "current"
)

// Config is the whole server configuration. Zero values of optional fields mean "derive it"
// (see the methods) or "off", as each field says.
type Config struct {
	// ConfigFile is the YAML file that was read ("" when none).
	ConfigFile string

	// HTTPAddr is the REST API listen address (host:port).
	HTTPAddr string
	// SIPAddr is the SIP listen address, used for both UDP and TCP.
	SIPAddr string
	// RTPPorts is the inclusive range of local UDP ports for RTP.
	RTPPorts PortRange
	// PublicIP is the address put in SDP; the zero Addr means "not set" (see SDPAddr).
	PublicIP netip.Addr
	// SIPDomainOverride is the configured sip_domain; "" derives it (see SIPDomain).
	SIPDomainOverride string
	// PublicBaseURLOverride is the configured public_base_url; "" derives it (see PublicBaseURL).
	PublicBaseURLOverride string
	// DataDir holds the database, the generated account and, by default, recordings.
	DataDir string
	// DatabaseURL is a postgres:// URL: the store is then that PostgreSQL database (shared by
	// the nodes of a cluster). "" means the embedded SQLite file in DataDir.
	DatabaseURL string
	// RecordingsDir is where recording files go; Load sets it to DataDir/recordings when unset.
	RecordingsDir string

	// NATSURL is the NATS server list ("nats://host:port[,…]"): set, this node is one of a
	// cluster (see Clustered); "" means a single node with no bus.
	NATSURL string
	// NodeIDOverride is the configured node_id; "" derives it (see NodeID).
	NodeIDOverride string
	// NodeSIPAddrOverride is the configured node_sip_addr; "" derives it (see NodeSIPAddr).
	NodeSIPAddrOverride string
	// NATSReplicas is how many NATS servers keep the cluster's key-value buckets (1–5).
	NATSReplicas int
	// NodeHeartbeat is how often a cluster node renews its registry entry and room leases.
	NodeHeartbeat time.Duration
	// NodePeerTimeout is how long a cluster node may stay silent before the others take it
	// for dead: its calls are closed and its rooms re-homed, so a starved node must not hit it.
	NodePeerTimeout time.Duration

	// APIProfile is ProfileClassic or ProfileCurrent.
	APIProfile string
	// SIPGateway is the outbound gateway (host or host:port) for calls to E.164 numbers.
	SIPGateway string
	// AllowDirectSIP lets POST /Call/ send INVITEs straight to any SIP URI's host.
	AllowDirectSIP bool

	// MaxBodyBytes bounds REST request bodies.
	MaxBodyBytes int64
	// RESTRate is REST requests per second per account; 0 turns the limit off.
	RESTRate float64
	// RESTBurst is the REST token bucket size (at least 1 when RESTRate is on).
	RESTBurst int
	// RESTAuthFailures is how many failed REST authentications a source address may have
	// within RESTAuthWindow before its requests get 429; 0 turns the limit off.
	RESTAuthFailures int
	RESTAuthWindow   time.Duration
	// HTTPReadHeaderTimeout, HTTPReadTimeout, HTTPWriteTimeout and HTTPIdleTimeout are the
	// http.Server timeouts; 0 means none (for idle: the read timeout, as net/http does).
	HTTPReadHeaderTimeout time.Duration
	HTTPReadTimeout       time.Duration
	HTTPWriteTimeout      time.Duration
	HTTPIdleTimeout       time.Duration
	// HTTPMaxHeaderBytes bounds a request's header block.
	HTTPMaxHeaderBytes int64
	// HTTPMaxConns caps open HTTP connections; 0 means no cap.
	HTTPMaxConns int
	// HTTPSCertFile and HTTPSKeyFile, when both set, make the HTTP listener serve HTTPS only
	// (PEM certificate chain and private key).
	HTTPSCertFile, HTTPSKeyFile string
	// FetchDeny are the networks outgoing HTTP (documents, callbacks, audio, streams) may not
	// connect to; Parley's own listeners are denied besides.
	FetchDeny []netip.Prefix

	// SIP are the limits of the SIP edge against hostile traffic (docs/security.md).
	SIP SIPProtection
	// Encryption is SIP over TLS and SRTP (docs/security.md).
	Encryption Encryption

	// CallsPerSecond bounds POST /Call/ per account; 0 turns the limit off.
	CallsPerSecond float64
	// MaxConcurrentCalls bounds live legs per account; 0 turns the limit off.
	MaxConcurrentCalls int

	// WebhookTimeout is the time limit of one webhook attempt.
	WebhookTimeout time.Duration
	// WebhookTLSVerify turns certificate verification of webhook targets on.
	WebhookTLSVerify bool
	// WebhookMaxAge is how long an undelivered notification is retried.
	WebhookMaxAge time.Duration

	// MediaCacheBytes bounds the cache of fetched audio files; 0 disables it.
	MediaCacheBytes int64
	// MediaTimeout hangs up answered calls that receive no RTP for this long; 0 turns it off.
	MediaTimeout time.Duration
	// StreamMaxBacklog is how much outgoing media an audio stream's app may leave unread
	// before the stream is dropped (DegradedStream at 30, 60 and 90 %; spec/streams.md §3.2).
	StreamMaxBacklog time.Duration
	// ShutdownGrace is how long live calls may go on after SIGINT/SIGTERM.
	ShutdownGrace time.Duration
	// MaxCallDuration ends any answered call this long after answer (cause 6000).
	MaxCallDuration time.Duration
	// CDRRetention is how long records of ended calls are kept; 0 keeps them forever.
	CDRRetention time.Duration

	// TTSCommand is the espeak-ng program (a name looked up on PATH, or a path).
	TTSCommand string
	// TTSCacheBytes bounds the cache of synthesised speech; 0 disables it.
	TTSCacheBytes int64

	// ASREngine is the speech recogniser of <Gather inputType="speech"> (calls-more.md §C.5):
	// none, pocketsphinx or vosk.
	ASREngine string
	// ASRModels maps a language tag (or primary subtag) to a model: a directory for
	// pocketsphinx, a ws:// URL for vosk. Empty: the engine's default for "en".
	ASRModels map[string]string
	// ASRVoskURL is the Vosk server used for "en" when ASRModels is empty.
	ASRVoskURL string
	// ASRCommand is the pocketsphinx program (a name looked up on PATH, or a path).
	ASRCommand string
	// ASRMaxConcurrent bounds running recognitions; more hear no speech (§C.5).
	ASRMaxConcurrent int
	// ASRAutoEnd is speechEndTimeout="auto": silence after speech that ends recognition.
	ASRAutoEnd time.Duration
	// ASRInterimInterval is the least time between two interim speech requests (§C.4).
	ASRInterimInterval time.Duration
	// AMDSilenceThreshold is the mean absolute sample level from which a frame counts as
	// voice in answering-machine detection (§D.2).
	AMDSilenceThreshold int

	// LogLevel is debug, info, warn or error.
	LogLevel string
	// LogFormat is text or json.
	LogFormat string

	// Accounts are the API accounts with their gateways and number routes. The PARLEY_AUTH_*,
	// PARLEY_TRUSTED_GATEWAYS and application settings from env and flags apply to the first.
	Accounts []Account

	// gatewaysSet records that the first account's gateways were given explicitly (even as an
	// empty list), so the loopback default does not apply.
	gatewaysSet bool
}

// SIPProtection are the limits of the SIP edge. Trusted gateways are exempt from the rates,
// back-off and bans.
type SIPProtection struct {
	// InviteRate, RegisterRate and OptionsRate are requests per second per untrusted source
	// address; 0 turns that limit off. The bursts are the token bucket sizes.
	InviteRate, RegisterRate, OptionsRate    float64
	InviteBurst, RegisterBurst, OptionsBurst int
	// MaxSources caps the source addresses (and usernames) remembered for limits and failures.
	MaxSources int
	// AuthBackoffAfter failures from a source or for a username start an exponential back-off;
	// BanAfter failures from a source, or UserBanAfter for a username, ban it for BanDuration.
	AuthBackoffAfter, BanAfter, UserBanAfter int
	BanDuration                              time.Duration
	// NonceTTL is how long a digest nonce is accepted.
	NonceTTL time.Duration
	// ScannerUserAgents are User-Agent fragments dropped besides the built-in list.
	ScannerUserAgents []string
	// MaxPending caps INVITE and REGISTER requests being handled at once (0 = no cap).
	MaxPending int
	// TCPMaxConns and TCPMaxConnsPerSource cap inbound SIP-TCP connections (0 = no cap);
	// TCPIdleTimeout closes a connection that sends nothing for that long (0 = never).
	TCPMaxConns, TCPMaxConnsPerSource int
	TCPIdleTimeout                    time.Duration
}

// Encryption configures SIP over TLS and SRTP with SDES keys.
type Encryption struct {
	// SIPTLSAddr is the SIP-TLS listen address; the listener runs only when SIPTLSCertFile and
	// SIPTLSKeyFile (PEM) are set.
	SIPTLSAddr                    string
	SIPTLSCertFile, SIPTLSKeyFile string
	// SIPTLSVerify verifies the certificates of peers Parley connects to over TLS.
	SIPTLSVerify bool
	// SRTPOffer makes outbound INVITEs offer SRTP (RTP/SAVP with a key) instead of RTP.
	SRTPOffer bool
	// SRTPRequireOverTLS refuses (488) INVITEs received over TLS that do not offer SRTP.
	SRTPRequireOverTLS bool
}

// SIPTLSEnabled tells whether the SIP-TLS listener runs.
func (e Encryption) SIPTLSEnabled() bool {
	return e.SIPTLSAddr != "" && e.SIPTLSCertFile != "" && e.SIPTLSKeyFile != ""
}

// Account is one API account (spec §1.2) with the SIP sources it trusts (§8.1).
type Account struct {
	AuthID    string
	AuthToken string
	// TrustedGateways are source prefixes whose INVITEs belong to this account. Prefixes of
	// two different accounts never overlap (Validate refuses it).
	TrustedGateways []netip.Prefix
	// NumberRoutes map dialled numbers from trusted gateways to applications.
	NumberRoutes []NumberRoute
	// DefaultApp answers numbers without a route (the default_number_app); nil means none.
	DefaultApp *AppConfig
}

// NumberRoute sends calls for one number to an application.
type NumberRoute struct {
	// Number is the normalised E.164 number: digits only, no "+".
	Number string
	App    AppConfig
}

// AppConfig is an application given in configuration; the app stores it as an Application.
type AppConfig struct {
	Name           string
	AnswerURL      string
	AnswerMethod   string
	HangupURL      string
	HangupMethod   string
	FallbackURL    string
	FallbackMethod string
}

// PortRange is an inclusive range of ports.
type PortRange struct {
	Min, Max int
}

// String formats the range as "min-max".
func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.Min, r.Max) }

// Default returns the configuration used when nothing is set: one account without credentials
// (EnsureAccount fills them) that trusts loopback sources.
func Default() *Config {
	c := base()
	c.finish()
	return c
}

// base applies every setting's default, without accounts.
func base() *Config {
	c := &Config{}
	for _, s := range settings {
		if s.account || s.def == "" {
			continue
		}
		if err := s.set(c, s.def); err != nil {
			// The defaults are constants checked by the tests: this is a programming error.
			panic(fmt.Sprintf("config: default of %s: %v", s.key, err))
		}
	}
	return c
}

// Load builds the configuration from flags in args (without the program name), the
// environment read through getenv, and the YAML file named by --config or PARLEY_CONFIG, then
// validates it. Precedence: flag > env > file > default. A -h or --help flag returns an error
// wrapping flag.ErrHelp; PrintUsage prints the flags.
func Load(args []string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	fs, values := newFlagSet()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("command line: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("command line: unexpected argument %q", fs.Arg(0))
	}
	var setFlags []*flagValue
	fs.Visit(func(f *flag.Flag) { setFlags = append(setFlags, values[f.Name]) })

	c := base()

	path := getenv(envName(keyConfig))
	for _, fv := range setFlags {
		if fv.s.key == keyConfig {
			path = fv.value
		}
	}
	if path != "" {
		if err := c.loadFile(path); err != nil {
			return nil, err
		}
	}

	for _, s := range settings {
		if s.key == keyConfig {
			continue
		}
		v := getenv(envName(s.key))
		if v == "" {
			continue
		}
		if err := s.set(c, v); err != nil {
			return nil, fmt.Errorf("environment %s: %w", envName(s.key), err)
		}
	}

	for _, fv := range setFlags {
		if fv.s.key == keyConfig {
			continue
		}
		if err := fv.s.set(c, fv.value); err != nil {
			return nil, fmt.Errorf("flag --%s: %w", flagName(fv.s.key), err)
		}
	}

	c.finish()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// PrintUsage writes the list of flags with their defaults and environment names to w.
func PrintUsage(w io.Writer) {
	fs, _ := newFlagSet()
	fs.SetOutput(w)
	fmt.Fprintln(w, "Flags (each also set by the environment variable in brackets):")
	fs.PrintDefaults()
}

// finish fills values derived from other settings once every layer has been applied.
func (c *Config) finish() {
	if len(c.Accounts) == 0 {
		c.Accounts = []Account{{}}
	}
	if !c.gatewaysSet && c.Accounts[0].TrustedGateways == nil {
		c.Accounts[0].TrustedGateways = c.defaultGateways()
	}
	for i := range c.Accounts {
		a := &c.Accounts[i]
		if a.DefaultApp != nil {
			a.DefaultApp.fillDefaults("default")
		}
		for j := range a.NumberRoutes {
			a.NumberRoutes[j].App.fillDefaults("number " + a.NumberRoutes[j].Number)
		}
	}
	if c.RecordingsDir == "" && c.DataDir != "" {
		c.RecordingsDir = filepath.Join(c.DataDir, "recordings")
	}
	if c.RESTRate > 0 && c.RESTBurst == 0 {
		c.RESTBurst = max(1, int(c.RESTRate+0.999999))
	}
}

// defaultGateways is loopback, minus what another account already claims (an operator who
// gives loopback to a second account should not get an overlap error from a default).
func (c *Config) defaultGateways() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")} {
		taken := false
		for _, a := range c.Accounts[1:] {
			for _, q := range a.TrustedGateways {
				taken = taken || p.Overlaps(q)
			}
		}
		if !taken {
			out = append(out, p)
		}
	}
	return out
}

func (a *AppConfig) fillDefaults(name string) {
	if a.Name == "" {
		a.Name = name
	}
	if a.AnswerMethod == "" {
		a.AnswerMethod = "POST"
	}
	if a.HangupURL == "" {
		a.HangupURL = a.AnswerURL // as POST /Application/ does (spec §5.1)
	}
	if a.HangupMethod == "" {
		a.HangupMethod = "POST"
	}
	if a.FallbackMethod == "" {
		a.FallbackMethod = "POST"
	}
}

// AccountForSource returns the account whose trusted gateways contain addr.
func (c *Config) AccountForSource(addr netip.Addr) (*Account, bool) {
	addr = addr.Unmap()
	for i := range c.Accounts {
		for _, p := range c.Accounts[i].TrustedGateways {
			if p.Contains(addr) {
				return &c.Accounts[i], true
			}
		}
	}
	return nil, false
}

// Account returns the account with that auth_id.
func (c *Config) Account(authID string) (*Account, bool) {
	for i := range c.Accounts {
		if c.Accounts[i].AuthID == authID {
			return &c.Accounts[i], true
		}
	}
	return nil, false
}

// listenHost returns the host of addr when it is a specific address or name, else "".
func listenHost(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return ""
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		return ""
	}
	return host
}

// SDPAddr is the address to put in SDP: the public IP when set, else the SIP listen host when
// it is a specific IP. ok is false when the SIP layer must pick, per dialog, the local address
// that routes toward the peer.
func (c *Config) SDPAddr() (addr netip.Addr, ok bool) {
	if c.PublicIP.IsValid() {
		return c.PublicIP, true
	}
	if ip, err := netip.ParseAddr(listenHost(c.SIPAddr)); err == nil {
		return ip, true
	}
	return netip.Addr{}, false
}

// Clustered tells whether this node joins a cluster (nats_url is set).
func (c *Config) Clustered() bool { return c.NATSURL != "" }

// NodeID names this node in a cluster: node_id when set, else the host name.
func (c *Config) NodeID() string {
	if c.NodeIDOverride != "" {
		return c.NodeIDOverride
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "parley"
	}
	return host
}

// NodeSIPAddr is where the other nodes of a cluster reach this node's SIP (host:port):
// node_sip_addr when set, else the SIP listen address when its host is specific (the nodes
// usually share a network, where the public IP may not route), else the public IP with the
// SIP port. ok is false when none of these gives an address. The port is
// sip_addr's, so it is 0 when the SIP listener takes any port: the app then puts in the port
// it got.
func (c *Config) NodeSIPAddr() (addr string, ok bool) {
	if c.NodeSIPAddrOverride != "" {
		return c.NodeSIPAddrOverride, true
	}
	_, port, err := net.SplitHostPort(c.SIPAddr)
	if err != nil {
		return "", false
	}
	if h := listenHost(c.SIPAddr); h != "" {
		return net.JoinHostPort(h, port), true
	}
	if c.PublicIP.IsValid() {
		return net.JoinHostPort(c.PublicIP.String(), port), true
	}
	return "", false
}

// SIPDomain is the domain of sip_uri values and the registrar realm: sip_domain when set, else
// the public IP, else the SIP listen host when it is specific, else 127.0.0.1. IPv6 addresses
// come in brackets, ready for a SIP URI.
func (c *Config) SIPDomain() string {
	if c.SIPDomainOverride != "" {
		return c.SIPDomainOverride
	}
	host := "127.0.0.1"
	if c.PublicIP.IsValid() {
		host = c.PublicIP.String()
	} else if h := listenHost(c.SIPAddr); h != "" {
		host = h
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() {
		return "[" + ip.String() + "]"
	}
	return host
}

// PublicBaseURL is the URL prefix under which clients reach the REST API (for recording_url):
// public_base_url when set, else derived from the HTTP listen address (a wildcard host becomes
// 127.0.0.1). It has no trailing slash.
func (c *Config) PublicBaseURL() string {
	if c.PublicBaseURLOverride != "" {
		return strings.TrimRight(c.PublicBaseURLOverride, "/")
	}
	host, port, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil {
		return "http://127.0.0.1"
	}
	if h := listenHost(c.HTTPAddr); h != "" {
		host = h
	} else {
		host = "127.0.0.1"
	}
	scheme, defPort := "http://", 80
	if c.HTTPSEnabled() {
		scheme, defPort = "https://", 443
	}
	if p, err := strconv.Atoi(port); err == nil && p == defPort {
		return scheme + bracket(host)
	}
	return scheme + net.JoinHostPort(host, port)
}

// HTTPSEnabled tells whether the HTTP listener serves HTTPS (a certificate is configured).
func (c *Config) HTTPSEnabled() bool { return c.HTTPSCertFile != "" && c.HTTPSKeyFile != "" }

func bracket(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// SlogLevel returns LogLevel as a slog.Level (info when unknown).
func (c *Config) SlogLevel() slog.Level {
	switch c.LogLevel {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// firstAccount returns the first account, creating it when there is none.
func (c *Config) firstAccount() *Account {
	if len(c.Accounts) == 0 {
		c.Accounts = []Account{{}}
	}
	return &c.Accounts[0]
}

// defaultApp returns the first account's default application, creating it when needed.
func (c *Config) defaultApp() *AppConfig {
	a := c.firstAccount()
	if a.DefaultApp == nil {
		a.DefaultApp = &AppConfig{}
	}
	return a.DefaultApp
}

// accountName names account i in error messages.
func (c *Config) accountName(i int) string {
	if id := c.Accounts[i].AuthID; id != "" {
		return fmt.Sprintf("account %d (%s)", i+1, id)
	}
	return fmt.Sprintf("account %d", i+1)
}
