package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/parley-voice/parley/internal/cluster"
)

var authIDPattern = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// hostPattern is a DNS name or IPv4 address (IPv6 is checked with netip).
var hostPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// Validate checks every setting and returns all problems found, each naming its setting. The
// first account may lack both credentials (EnsureAccount fills them) when it is the only one.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key string, format string, args ...any) {
		name := key
		if _, ok := settingByKey(key); ok {
			name = fmt.Sprintf("%s (%s)", key, envName(key))
		}
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}

	for _, a := range []struct{ key, v string }{{"http_addr", c.HTTPAddr}, {"sip_addr", c.SIPAddr}} {
		if err := checkListenAddr(a.v); err != nil {
			bad(a.key, "%v", err)
		}
	}
	if c.RTPPorts.Min < 1 || c.RTPPorts.Max > 65535 || c.RTPPorts.Min > c.RTPPorts.Max {
		bad("rtp_ports", "%q %v", c.RTPPorts.String(), errPortRange)
	}
	if d := c.SIPDomainOverride; d != "" && !validHost(d) {
		bad("sip_domain", "%q is not a host name or IP address", d)
	}
	if u := c.PublicBaseURLOverride; u != "" {
		if err := checkURL(u); err != nil {
			bad("public_base_url", "%v", err)
		}
	}
	if (c.Encryption.SIPTLSCertFile == "") != (c.Encryption.SIPTLSKeyFile == "") {
		bad("sip_tls_cert_file", "sip_tls_cert_file and sip_tls_key_file must be set together")
	}
	if c.Encryption.SIPTLSEnabled() {
		if err := checkListenAddr(c.Encryption.SIPTLSAddr); err != nil {
			bad("sip_tls_addr", "%v", err)
		}
	}
	if (c.HTTPSCertFile == "") != (c.HTTPSKeyFile == "") {
		bad("https_cert_file", "https_cert_file and https_key_file must be set together")
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	if u := c.DatabaseURL; u != "" {
		if err := checkDatabaseURL(u); err != nil {
			bad("database_url", "%v", err)
		}
	}
	if c.Clustered() {
		c.validateCluster(bad)
	}
	if c.APIProfile != ProfileClassic && c.APIProfile != ProfileCurrent {
		bad("api_profile", "%q is not classic or current", c.APIProfile)
	}
	if g := c.SIPGateway; g != "" {
		if err := checkGateway(g); err != nil {
			bad("sip_gateway", "%v", err)
		}
	}
	if c.MaxBodyBytes < 1 {
		bad("max_body_bytes", "must be at least 1 byte")
	}
	c.validateASR(bad)
	for _, n := range []struct {
		key string
		neg bool
	}{
		{"rest_rate", c.RESTRate < 0}, {"rest_burst", c.RESTBurst < 0},
		{"calls_per_second", c.CallsPerSecond < 0}, {"max_concurrent_calls", c.MaxConcurrentCalls < 0},
		{"media_cache_bytes", c.MediaCacheBytes < 0}, {"tts_cache_bytes", c.TTSCacheBytes < 0},
	} {
		if n.neg {
			bad(n.key, "must not be negative")
		}
	}
	for _, d := range []struct {
		key  string
		v    int64
		zero bool
	}{
		{"webhook_timeout", int64(c.WebhookTimeout), false},
		{"webhook_max_age", int64(c.WebhookMaxAge), false},
		{"media_timeout", int64(c.MediaTimeout), true},
		{"shutdown_grace", int64(c.ShutdownGrace), true},
		{"rest_auth_window", int64(c.RESTAuthWindow), c.RESTAuthFailures == 0},
		{"http_read_header_timeout", int64(c.HTTPReadHeaderTimeout), true},
		{"http_read_timeout", int64(c.HTTPReadTimeout), true},
		{"http_write_timeout", int64(c.HTTPWriteTimeout), true},
		{"http_idle_timeout", int64(c.HTTPIdleTimeout), false},
		{"max_call_duration", int64(c.MaxCallDuration), false},
		{"cdr_retention", int64(c.CDRRetention), true},
		{"stream_max_backlog", int64(c.StreamMaxBacklog), false},
	} {
		if d.v < 0 || (!d.zero && d.v == 0) {
			bad(d.key, "must be a positive duration")
		}
	}
	if c.HTTPMaxHeaderBytes < 1<<10 || c.HTTPMaxHeaderBytes > 1<<30 {
		bad("http_max_header_bytes", "must be between 1KiB and 1GiB")
	}
	if c.TTSCommand == "" {
		bad("tts_command", "must not be empty")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log_format", "%q is not text or json", c.LogFormat)
	}

	errs = append(errs, c.validateAccounts()...)
	return errors.Join(errs...)
}

func (c *Config) validateAccounts() []error {
	var errs []error
	seen := map[string]int{}
	for i := range c.Accounts {
		a := &c.Accounts[i]
		name := c.accountName(i)
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
		}
		switch {
		case a.AuthID == "" && a.AuthToken == "" && i == 0 && len(c.Accounts) == 1:
			// EnsureAccount generates or reads the credentials.
		case a.AuthID == "":
			bad("auth_id (PARLEY_AUTH_ID for the first account) is missing")
		case !authIDPattern.MatchString(a.AuthID):
			bad("auth_id %q must be 1-64 characters of A-Z, a-z, 0-9 and _", a.AuthID)
		case a.AuthToken == "":
			bad("auth_token (PARLEY_AUTH_TOKEN for the first account) is missing")
		}
		if a.AuthID != "" {
			if j, dup := seen[a.AuthID]; dup {
				bad("auth_id %q is also used by account %d", a.AuthID, j+1)
			}
			seen[a.AuthID] = i
		}
		if strings.ContainsAny(a.AuthToken, " \t\r\n:") {
			bad("auth_token must not contain spaces or ':'")
		}
		if a.DefaultApp != nil {
			for _, e := range checkApp(*a.DefaultApp) {
				bad("default application: %v", e)
			}
		}
		numbers := map[string]bool{}
		for _, r := range a.NumberRoutes {
			if _, err := normNumber(r.Number); err != nil || strings.ContainsAny(r.Number, "+ -().") {
				bad("number route %q: not a normalised number (digits only)", r.Number)
			}
			if numbers[r.Number] {
				bad("number route %s is listed twice", r.Number)
			}
			numbers[r.Number] = true
			for _, e := range checkApp(r.App) {
				bad("number route %s: %v", r.Number, e)
			}
		}
		for _, p := range a.TrustedGateways {
			if !p.IsValid() {
				bad("invalid trusted gateway prefix")
			}
		}
	}
	// Each source address must belong to one account (spec §8.1).
	for i := range c.Accounts {
		for j := i + 1; j < len(c.Accounts); j++ {
			for _, p := range c.Accounts[i].TrustedGateways {
				for _, q := range c.Accounts[j].TrustedGateways {
					if p.Overlaps(q) {
						errs = append(errs, fmt.Errorf("trusted gateways overlap: %s of %s and %s of %s; a source address must belong to one account",
							p, c.accountName(i), q, c.accountName(j)))
					}
				}
			}
		}
	}
	return errs
}

func checkApp(a AppConfig) []error {
	var errs []error
	if a.AnswerURL == "" {
		errs = append(errs, errors.New("answer_url is missing"))
	}
	for _, u := range []struct{ key, v string }{{"answer_url", a.AnswerURL}, {"hangup_url", a.HangupURL}, {"fallback_url", a.FallbackURL}} {
		if u.v == "" || (u.key == "hangup_url" && u.v == a.AnswerURL) {
			continue // a hangup_url copied from answer_url is reported once, as answer_url
		}
		if err := checkURL(u.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u.key, err))
		}
	}
	for _, m := range []struct{ key, v string }{{"answer_method", a.AnswerMethod}, {"hangup_method", a.HangupMethod}, {"fallback_method", a.FallbackMethod}} {
		if m.v != "" && m.v != "GET" && m.v != "POST" {
			errs = append(errs, fmt.Errorf("%s: %q is not GET or POST", m.key, m.v))
		}
	}
	if len(a.Name) > 100 {
		errs = append(errs, errors.New("name: longer than 100 characters"))
	}
	return errs
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http or https URL", s)
	}
	return nil
}

func checkListenAddr(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port (use e.g. :8080 or 127.0.0.1:8080)", s)
	}
	if host != "" && !validHost(host) {
		return fmt.Errorf("%q: %q is not a host name or IP address", s, host)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: port %q is not 0-65535", s, port)
	}
	return nil
}

// checkGateway accepts host or host:port (IPv6 in brackets when a port is given).
func checkGateway(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = s, ""
	}
	if !validHost(host) {
		return fmt.Errorf("%q is not host or host:port", s)
	}
	if port != "" {
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("%q: port %q is not 1-65535", s, port)
		}
	}
	return nil
}

func validHost(h string) bool {
	if net.ParseIP(strings.Trim(h, "[]")) != nil {
		return true
	}
	return len(h) <= 253 && hostPattern.MatchString(h)
}

// validateASR checks the speech recognition and machine detection settings.
func (c *Config) validateASR(bad func(key, format string, args ...any)) {
	wsURL := func(u string) bool {
		p, err := url.Parse(u)
		return err == nil && (p.Scheme == "ws" || p.Scheme == "wss") && p.Host != ""
	}
	switch c.ASREngine {
	case "none":
	case "pocketsphinx":
		if c.ASRCommand == "" {
			bad("asr_command", "must not be empty with asr_engine=pocketsphinx")
		}
	case "vosk":
		if len(c.ASRModels) == 0 && c.ASRVoskURL == "" {
			bad("asr_vosk_url", "asr_engine=vosk needs asr_vosk_url or asr_models")
		}
		for tag, m := range c.ASRModels {
			if !wsURL(m) {
				bad("asr_models", "the model for %q must be a ws:// or wss:// URL with asr_engine=vosk, got %q", tag, m)
			}
		}
	default:
		bad("asr_engine", "%q is not none, pocketsphinx or vosk", c.ASREngine)
	}
	if u := c.ASRVoskURL; u != "" && !wsURL(u) {
		bad("asr_vosk_url", "%q is not a ws:// or wss:// URL", u)
	}
	if c.ASRMaxConcurrent < 1 {
		bad("asr_max_concurrent", "must be at least 1")
	}
	if c.ASRAutoEnd < 100*time.Millisecond || c.ASRAutoEnd > 60*time.Second {
		bad("asr_auto_end_ms", "must be 100–60000")
	}
	if c.ASRInterimInterval <= 0 {
		bad("asr_interim_interval", "must be positive")
	}
	if c.AMDSilenceThreshold < 1 || c.AMDSilenceThreshold > 32767 {
		bad("amd_silence_threshold", "must be 1–32767")
	}
}

// validateCluster checks the settings of cluster mode (nats_url set).
func (c *Config) validateCluster(bad func(key, format string, args ...any)) {
	if err := checkNATSURL(c.NATSURL); err != nil {
		bad("nats_url", "%v", err)
	}
	if c.DatabaseURL == "" {
		bad("nats_url", "nats_url needs database_url: the nodes of a cluster share one PostgreSQL database")
	}
	if c.NATSReplicas < 1 || c.NATSReplicas > 5 {
		bad("nats_replicas", "must be 1–5 (JetStream's limit)")
	}
	if c.NodeHeartbeat < 50*time.Millisecond {
		bad("node_heartbeat", "must be at least 50ms")
	}
	if c.NodePeerTimeout < 3*c.NodeHeartbeat {
		bad("node_peer_timeout", "must be at least 3 heartbeats (node_heartbeat %v)", c.NodeHeartbeat)
	}
	if err := cluster.ValidateNodeID(c.NodeID()); err != nil {
		if c.NodeIDOverride == "" {
			bad("node_id", "the host name is no node ID (%v): set node_id", err)
		} else {
			bad("node_id", "%v", err)
		}
	}
	if a := c.NodeSIPAddrOverride; a != "" {
		host, port, err := net.SplitHostPort(a)
		p, perr := strconv.Atoi(port)
		switch {
		case err != nil || !validHost(host):
			bad("node_sip_addr", "%q is not host:port", a)
		case perr != nil || p < 1 || p > 65535:
			bad("node_sip_addr", "%q: port %q is not 1-65535", a, port)
		case net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified():
			bad("node_sip_addr", "%q is a wildcard address; give the one the other nodes reach", a)
		}
	} else if _, ok := c.NodeSIPAddr(); !ok {
		bad("node_sip_addr", "sip_addr listens on every address and public_ip is unset: set node_sip_addr (or public_ip), the address the other nodes reach this node's SIP at")
	}
}

// checkNATSURL accepts a comma-separated list of nats://, tls://, ws:// or wss:// URLs with a
// host. The error never repeats a URL: it may hold a token or password.
func checkNATSURL(raw string) error {
	for i, part := range strings.Split(raw, ",") {
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil {
			return fmt.Errorf("server %d is not a URL", i+1)
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("server %d: scheme %q is not nats, tls, ws or wss", i+1, u.Scheme)
		}
		if u.Hostname() == "" {
			return fmt.Errorf("server %d has no host", i+1)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("server %d: port %q is not 1-65535", i+1, p)
			}
		}
	}
	return nil
}

// checkDatabaseURL accepts postgres:// and postgresql:// URLs with a host or socket path. The
// error never repeats the URL: it may hold a password.
func checkDatabaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a URL")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("scheme %q is not postgres (unset it to use the embedded SQLite)", u.Scheme)
	}
	if u.Host == "" && u.Query().Get("host") == "" {
		return errors.New("has no host")
	}
	return nil
}
