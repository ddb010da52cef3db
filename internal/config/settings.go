package config

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// setting is one scalar setting. Its YAML key is key, its environment variable PARLEY_ + key in
// upper case, its flag key with dashes. Every layer goes through set, so a value means the
// same thing wherever it comes from.
type setting struct {
	key     string
	def     string // default, as text (also shown by PrintUsage)
	help    string
	isBool  bool
	account bool // applies to the first account; in YAML it lives under accounts[]
	set     func(c *Config, v string) error
}

const keyConfig = "config"

func envName(key string) string  { return "PARLEY_" + strings.ToUpper(key) }
func flagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// settings lists every scalar setting, in the order of docs/configuration.md.
var settings = []setting{
	{key: keyConfig, help: "YAML configuration file", set: func(c *Config, v string) error { return nil }},
	{key: "http_addr", def: ":8080", help: "REST API listen address (host:port)",
		set: func(c *Config, v string) error { return setAddr(&c.HTTPAddr, v) }},
	{key: "sip_addr", def: ":5060", help: "SIP listen address, UDP and TCP (host:port)",
		set: func(c *Config, v string) error { return setAddr(&c.SIPAddr, v) }},
	{key: "rtp_ports", def: "20000-29999", help: "local UDP port range for RTP (min-max)",
		set: func(c *Config, v string) (err error) { c.RTPPorts, err = parsePortRange(v); return }},
	{key: "public_ip", help: "address announced in SDP (default: the SIP listen host when specific, else per dialog the local address toward the peer)",
		set: func(c *Config, v string) error { return setPublicIP(c, v) }},
	{key: "sip_domain", help: "SIP domain of sip_uri values and registrar realm (default: public IP, else specific SIP listen host, else 127.0.0.1)",
		set: func(c *Config, v string) error { c.SIPDomainOverride = strings.TrimSpace(v); return nil }},
	{key: "public_base_url", help: "base URL clients use to reach the REST API (default: from http_addr)",
		set: func(c *Config, v string) error { c.PublicBaseURLOverride = strings.TrimSpace(v); return nil }},
	{key: "data_dir", def: "./parley-data", help: "directory for the database, the generated account and recordings",
		set: func(c *Config, v string) error { c.DataDir = strings.TrimSpace(v); return nil }},
	{key: "database_url", help: "postgres://… URL of a shared PostgreSQL database (default: the embedded SQLite file in data_dir)",
		set: func(c *Config, v string) error { c.DatabaseURL = strings.TrimSpace(v); return nil }},
	{key: "nats_url", help: "nats://host:port[,…] of the NATS servers: this node is one of a cluster (needs database_url; default: a single node)",
		set: func(c *Config, v string) error { c.NATSURL = strings.TrimSpace(v); return nil }},
	{key: "node_id", help: "name of this node in a cluster, unique among its nodes (default: the host name)",
		set: func(c *Config, v string) error { c.NodeIDOverride = strings.TrimSpace(v); return nil }},
	{key: "node_sip_addr", help: "host:port where the other nodes of a cluster reach this node's SIP (default: sip_addr, with public_ip when its host is a wildcard)",
		set: func(c *Config, v string) error { c.NodeSIPAddrOverride = strings.TrimSpace(v); return nil }},
	{key: "nats_replicas", def: "1", help: "NATS servers that keep each of the cluster's key-value buckets when the first node creates them (3 in a NATS cluster of 3+ servers)",
		set: func(c *Config, v string) (err error) { c.NATSReplicas, err = parseCount(v); return }},
	{key: "node_heartbeat", def: "500ms", help: "how often a cluster node renews its registry entry and its room leases",
		set: func(c *Config, v string) (err error) { c.NodeHeartbeat, err = parseDuration(v); return }},
	{key: "node_peer_timeout", def: "2s", help: "how long a cluster node may stay silent before the others take it for dead (at least 3 heartbeats)",
		set: func(c *Config, v string) (err error) { c.NodePeerTimeout, err = parseDuration(v); return }},
	{key: "recordings_dir", help: "directory for recording files (default: <data_dir>/recordings)",
		set: func(c *Config, v string) error { c.RecordingsDir = strings.TrimSpace(v); return nil }},
	{key: "api_profile", def: ProfileClassic, help: "REST response profile: classic or current",
		set: func(c *Config, v string) error { c.APIProfile = strings.ToLower(strings.TrimSpace(v)); return nil }},
	{key: "sip_gateway", help: "outbound SIP gateway (host or host:port) for calls to telephone numbers",
		set: func(c *Config, v string) error { c.SIPGateway = strings.TrimSpace(v); return nil }},
	{key: "allow_direct_sip", def: "true", isBool: true, help: "let POST /Call/ send INVITEs directly to the host of any SIP URI",
		set: func(c *Config, v string) (err error) { c.AllowDirectSIP, err = parseBool(v); return }},
	{key: "max_body_bytes", def: "1MiB", help: "largest REST request body",
		set: func(c *Config, v string) (err error) { c.MaxBodyBytes, err = parseBytes(v); return }},
	{key: "rest_rate", def: "0", help: "REST requests per second per account (0 = no limit)",
		set: func(c *Config, v string) (err error) { c.RESTRate, err = parseRate(v); return }},
	{key: "rest_burst", def: "0", help: "REST request burst per account (0 = the rate rounded up)",
		set: func(c *Config, v string) (err error) { c.RESTBurst, err = parseCount(v); return }},
	{key: "rest_auth_failures", def: "10", help: "failed REST authentications per source address within rest_auth_window before it gets 429 (0 = no limit)",
		set: func(c *Config, v string) (err error) { c.RESTAuthFailures, err = parseCount(v); return }},
	{key: "rest_auth_window", def: "1m", help: "window of rest_auth_failures; a source over the limit waits until it ends",
		set: func(c *Config, v string) (err error) { c.RESTAuthWindow, err = parseDuration(v); return }},
	{key: "http_read_header_timeout", def: "10s", help: "time to read a request's headers (0 = none)",
		set: func(c *Config, v string) (err error) { c.HTTPReadHeaderTimeout, err = parseDuration(v); return }},
	{key: "http_read_timeout", def: "1m", help: "time to read a whole request, body included (0 = none)",
		set: func(c *Config, v string) (err error) { c.HTTPReadTimeout, err = parseDuration(v); return }},
	{key: "http_write_timeout", def: "5m", help: "time to write a response, from the end of its request's headers; bounds recording downloads (0 = none)",
		set: func(c *Config, v string) (err error) { c.HTTPWriteTimeout, err = parseDuration(v); return }},
	{key: "http_idle_timeout", def: "1m", help: "how long an idle keep-alive connection is kept open",
		set: func(c *Config, v string) (err error) { c.HTTPIdleTimeout, err = parseDuration(v); return }},
	{key: "http_max_header_bytes", def: "64KiB", help: "largest request header block",
		set: func(c *Config, v string) (err error) { c.HTTPMaxHeaderBytes, err = parseBytes(v); return }},
	{key: "http_max_conns", def: "4096", help: "open HTTP connections at most; when full, a new one replaces the longest idle one (0 = no cap)",
		set: func(c *Config, v string) (err error) { c.HTTPMaxConns, err = parseCount(v); return }},
	{key: "https_cert_file", help: "PEM certificate chain; with https_key_file the HTTP listener (http_addr) serves HTTPS only",
		set: func(c *Config, v string) error { c.HTTPSCertFile = strings.TrimSpace(v); return nil }},
	{key: "https_key_file", help: "PEM private key of https_cert_file",
		set: func(c *Config, v string) error { c.HTTPSKeyFile = strings.TrimSpace(v); return nil }},
	{key: "sip_invite_rate", def: "5", help: "INVITEs per second per untrusted source address (0 = no limit)",
		set: func(c *Config, v string) (err error) { c.SIP.InviteRate, err = parseRate(v); return }},
	{key: "sip_invite_burst", def: "20", help: "INVITE burst per untrusted source address",
		set: func(c *Config, v string) (err error) { c.SIP.InviteBurst, err = parseCount(v); return }},
	{key: "sip_register_rate", def: "2", help: "REGISTERs per second per untrusted source address (0 = no limit)",
		set: func(c *Config, v string) (err error) { c.SIP.RegisterRate, err = parseRate(v); return }},
	{key: "sip_register_burst", def: "10", help: "REGISTER burst per untrusted source address",
		set: func(c *Config, v string) (err error) { c.SIP.RegisterBurst, err = parseCount(v); return }},
	{key: "sip_options_rate", def: "2", help: "OPTIONS per second per untrusted source address (0 = no limit)",
		set: func(c *Config, v string) (err error) { c.SIP.OptionsRate, err = parseRate(v); return }},
	{key: "sip_options_burst", def: "10", help: "OPTIONS burst per untrusted source address",
		set: func(c *Config, v string) (err error) { c.SIP.OptionsBurst, err = parseCount(v); return }},
	{key: "sip_max_sources", def: "65536", help: "source addresses (and usernames) remembered for SIP limits and failures",
		set: func(c *Config, v string) (err error) { c.SIP.MaxSources, err = parseCount(v); return }},
	{key: "sip_auth_backoff_after", def: "3", help: "digest failures from a source or for a username before exponential back-off starts",
		set: func(c *Config, v string) (err error) { c.SIP.AuthBackoffAfter, err = parseCount(v); return }},
	{key: "sip_ban_after", def: "10", help: "digest failures from one source address that ban it",
		set: func(c *Config, v string) (err error) { c.SIP.BanAfter, err = parseCount(v); return }},
	{key: "sip_user_ban_after", def: "30", help: "digest failures for one username (from any source) that ban the username",
		set: func(c *Config, v string) (err error) { c.SIP.UserBanAfter, err = parseCount(v); return }},
	{key: "sip_ban_duration", def: "15m", help: "how long a SIP ban lasts",
		set: func(c *Config, v string) (err error) { c.SIP.BanDuration, err = parseDuration(v); return }},
	{key: "sip_nonce_ttl", def: "5m", help: "how long a digest nonce is accepted",
		set: func(c *Config, v string) (err error) { c.SIP.NonceTTL, err = parseDuration(v); return }},
	{key: "sip_scanner_user_agents", help: "User-Agent fragments to drop besides the built-in scanner list (comma-separated)",
		set: func(c *Config, v string) error { c.SIP.ScannerUserAgents = splitComma(v); return nil }},
	{key: "sip_max_pending", def: "10000", help: "SIP server transactions alive at once; over it, new requests get 503 (trusted) or no answer (0 = no cap)",
		set: func(c *Config, v string) (err error) { c.SIP.MaxPending, err = parseCount(v); return }},
	{key: "sip_tcp_max_conns", def: "2048", help: "inbound SIP-TCP connections open at once (0 = as many as the open file limit leaves)",
		set: func(c *Config, v string) (err error) { c.SIP.TCPMaxConns, err = parseCount(v); return }},
	{key: "sip_tcp_max_conns_per_source", def: "32", help: "inbound SIP-TCP connections per untrusted source address (0 = no cap)",
		set: func(c *Config, v string) (err error) { c.SIP.TCPMaxConnsPerSource, err = parseCount(v); return }},
	{key: "sip_tcp_idle_timeout", def: "15m", help: "close an inbound SIP-TCP connection that sends nothing for this long (0 = never)",
		set: func(c *Config, v string) (err error) { c.SIP.TCPIdleTimeout, err = parseDuration(v); return }},
	{key: "sip_tls_addr", def: ":5061", help: "SIP over TLS listen address (host:port); the listener runs only when sip_tls_cert_file and sip_tls_key_file are set",
		set: func(c *Config, v string) error { return setAddr(&c.Encryption.SIPTLSAddr, v) }},
	{key: "sip_tls_cert_file", help: "PEM certificate chain of the SIP-TLS listener",
		set: func(c *Config, v string) error { c.Encryption.SIPTLSCertFile = strings.TrimSpace(v); return nil }},
	{key: "sip_tls_key_file", help: "PEM private key of sip_tls_cert_file",
		set: func(c *Config, v string) error { c.Encryption.SIPTLSKeyFile = strings.TrimSpace(v); return nil }},
	{key: "sip_tls_verify", def: "true", isBool: true, help: "verify the certificates of SIP peers Parley connects to over TLS (sips: and ;transport=tls)",
		set: func(c *Config, v string) (err error) { c.Encryption.SIPTLSVerify, err = parseBool(v); return }},
	{key: "srtp_offer", def: "false", isBool: true, help: "offer SRTP (RTP/SAVP with an SDES key) in outbound INVITEs instead of plain RTP",
		set: func(c *Config, v string) (err error) { c.Encryption.SRTPOffer, err = parseBool(v); return }},
	{key: "srtp_require_over_tls", def: "false", isBool: true, help: "refuse (488) INVITEs received over TLS that do not offer SRTP",
		set: func(c *Config, v string) (err error) { c.Encryption.SRTPRequireOverTLS, err = parseBool(v); return }},
	{key: "fetch_deny", def: "169.254.0.0/16,fe80::/10,fd00:ec2::254/128", help: "networks that answer, callback, audio and stream URLs may not reach (CIDR list, or none)",
		set: setFetchDeny},
	{key: "calls_per_second", def: "100", help: "calls created by POST /Call/ per second per account (0 = no limit)",
		set: func(c *Config, v string) (err error) { c.CallsPerSecond, err = parseRate(v); return }},
	{key: "max_concurrent_calls", def: "2000", help: "live call legs per account (0 = no limit)",
		set: func(c *Config, v string) (err error) { c.MaxConcurrentCalls, err = parseCount(v); return }},
	{key: "webhook_timeout", def: "10s", help: "time limit of one webhook attempt",
		set: func(c *Config, v string) (err error) { c.WebhookTimeout, err = parseDuration(v); return }},
	{key: "webhook_tls_verify", def: "true", isBool: true, help: "verify TLS certificates of webhook targets",
		set: func(c *Config, v string) (err error) { c.WebhookTLSVerify, err = parseBool(v); return }},
	{key: "webhook_max_age", def: "24h", help: "how long an undelivered notification is retried",
		set: func(c *Config, v string) (err error) { c.WebhookMaxAge, err = parseDuration(v); return }},
	{key: "media_cache_bytes", def: "256MiB", help: "size of the cache of fetched audio files (0 = no cache)",
		set: func(c *Config, v string) (err error) { c.MediaCacheBytes, err = parseBytes(v); return }},
	{key: "media_timeout", def: "60s", help: "hang up an answered call that receives no RTP for this long (0 = never)",
		set: func(c *Config, v string) (err error) { c.MediaTimeout, err = parseDuration(v); return }},
	{key: "max_call_duration", def: "24h", help: "hang up any answered call this long after answer (cause 6000)",
		set: func(c *Config, v string) (err error) { c.MaxCallDuration, err = parseDuration(v); return }},
	{key: "cdr_retention", def: "2160h", help: "how long records of ended calls are kept (2160h = 90 days; 0 = forever)",
		set: func(c *Config, v string) (err error) { c.CDRRetention, err = parseDuration(v); return }},
	{key: "stream_max_backlog", def: "40s", help: "outgoing media an audio stream's app may leave unread before the stream is dropped",
		set: func(c *Config, v string) (err error) { c.StreamMaxBacklog, err = parseDuration(v); return }},
	{key: "shutdown_grace", def: "30s", help: "how long live calls may go on after SIGINT/SIGTERM",
		set: func(c *Config, v string) (err error) { c.ShutdownGrace, err = parseDuration(v); return }},
	{key: "tts_command", def: "espeak-ng", help: "espeak-ng program used for <Speak>",
		set: func(c *Config, v string) error { c.TTSCommand = strings.TrimSpace(v); return nil }},
	{key: "tts_cache_bytes", def: "64MiB", help: "size of the cache of synthesised speech (0 = no cache)",
		set: func(c *Config, v string) (err error) { c.TTSCacheBytes, err = parseBytes(v); return }},
	{key: "asr_engine", def: "none", help: "speech recogniser for <Gather inputType=\"speech\">: none, pocketsphinx or vosk",
		set: func(c *Config, v string) error { c.ASREngine = strings.ToLower(strings.TrimSpace(v)); return nil }},
	{key: "asr_models", help: "recognition models per language: comma-separated tag=model pairs (pocketsphinx: model directory, vosk: ws:// URL; default: the engine's en model)",
		set: setASRModels},
	{key: "asr_vosk_url", help: "Vosk server (ws://host:2700) used for en when asr_models is empty",
		set: func(c *Config, v string) error { c.ASRVoskURL = strings.TrimSpace(v); return nil }},
	{key: "asr_command", def: "pocketsphinx_continuous", help: "pocketsphinx program used by asr_engine=pocketsphinx",
		set: func(c *Config, v string) error { c.ASRCommand = strings.TrimSpace(v); return nil }},
	{key: "asr_max_concurrent", def: "16", help: "speech recognitions running at once; more hear no speech",
		set: func(c *Config, v string) (err error) { c.ASRMaxConcurrent, err = parseCount(v); return }},
	{key: "asr_auto_end_ms", def: "1500", help: "speechEndTimeout=\"auto\": silence in milliseconds that ends speech",
		set: func(c *Config, v string) error { return setMillis(&c.ASRAutoEnd, v) }},
	{key: "asr_interim_interval", def: "250ms", help: "least time between two interim speech result requests",
		set: func(c *Config, v string) (err error) { c.ASRInterimInterval, err = parseDuration(v); return }},
	{key: "amd_silence_threshold", def: "256", help: "answering-machine detection: mean absolute 16-bit sample level from which a frame is voice",
		set: func(c *Config, v string) (err error) { c.AMDSilenceThreshold, err = parseCount(v); return }},
	{key: "log_level", def: "info", help: "log level: debug, info, warn or error",
		set: func(c *Config, v string) error { c.LogLevel = normLevel(v); return nil }},
	{key: "log_format", def: "text", help: "log format: text or json",
		set: func(c *Config, v string) error { c.LogFormat = strings.ToLower(strings.TrimSpace(v)); return nil }},

	// The first account (accounts[0] in YAML).
	{key: "auth_id", account: true, help: "auth_id of the first account (default: generated on first start)",
		set: func(c *Config, v string) error { c.firstAccount().AuthID = strings.TrimSpace(v); return nil }},
	{key: "auth_token", account: true, help: "auth_token of the first account (prefer the environment: flags show in ps)",
		set: func(c *Config, v string) error { c.firstAccount().AuthToken = strings.TrimSpace(v); return nil }},
	{key: "trusted_gateways", account: true, def: "127.0.0.0/8,::1", help: "the first account's trusted SIP gateways: comma-separated addresses or CIDR prefixes, or none",
		set: setGateways},
	{key: "number_routes", account: true, help: "the first account's number routes: comma-separated number=answer_url pairs",
		set: setNumberRoutes},
	{key: "app_name", account: true, help: "name of the first account's default number application (default: default)",
		set: func(c *Config, v string) error { c.defaultApp().Name = strings.TrimSpace(v); return nil }},
	{key: "answer_url", account: true, help: "answer_url of the first account's default number application",
		set: func(c *Config, v string) error { c.defaultApp().AnswerURL = strings.TrimSpace(v); return nil }},
	{key: "answer_method", account: true, help: "answer_method of that application: GET or POST (default POST)",
		set: func(c *Config, v string) error { c.defaultApp().AnswerMethod = normMethod(v); return nil }},
	{key: "hangup_url", account: true, help: "hangup_url of that application (default: its answer_url)",
		set: func(c *Config, v string) error { c.defaultApp().HangupURL = strings.TrimSpace(v); return nil }},
	{key: "hangup_method", account: true, help: "hangup_method of that application: GET or POST (default POST)",
		set: func(c *Config, v string) error { c.defaultApp().HangupMethod = normMethod(v); return nil }},
	{key: "fallback_url", account: true, help: "fallback_answer_url of that application",
		set: func(c *Config, v string) error { c.defaultApp().FallbackURL = strings.TrimSpace(v); return nil }},
	{key: "fallback_method", account: true, help: "fallback_method of that application: GET or POST (default POST)",
		set: func(c *Config, v string) error { c.defaultApp().FallbackMethod = normMethod(v); return nil }},
}

// settingByKey finds a top-level (non-account) setting by its YAML key.
func settingByKey(key string) (setting, bool) {
	for _, s := range settings {
		if s.key == key && !s.account && s.key != keyConfig {
			return s, true
		}
	}
	return setting{}, false
}

// flagValue collects one flag's text; it is applied after file and environment.
type flagValue struct {
	s     setting
	value string
}

func (f *flagValue) String() string     { return f.value }
func (f *flagValue) Set(v string) error { f.value = v; return nil }
func (f *flagValue) IsBoolFlag() bool   { return f.s.isBool }

func newFlagSet() (*flag.FlagSet, map[string]*flagValue) {
	fs := flag.NewFlagSet("parley", flag.ContinueOnError)
	fs.SetOutput(discard{})
	values := make(map[string]*flagValue, len(settings))
	for _, s := range settings {
		fv := &flagValue{s: s}
		help := s.help + " [" + envName(s.key) + "]"
		if s.def != "" {
			help += " (default " + s.def + ")"
		}
		fs.Var(fv, flagName(s.key), help)
		values[flagName(s.key)] = fv
	}
	return fs, values
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func setAddr(dst *string, v string) error {
	*dst = strings.TrimSpace(v)
	return nil
}

func setPublicIP(c *Config, v string) error {
	v = strings.TrimSpace(v)
	if v == "" {
		c.PublicIP = netip.Addr{}
		return nil
	}
	ip, err := netip.ParseAddr(v)
	if err != nil {
		return fmt.Errorf("%q is not an IP address", v)
	}
	if ip.IsUnspecified() {
		return fmt.Errorf("%q is a wildcard address; give the address peers should send media to", v)
	}
	c.PublicIP = ip.Unmap()
	return nil
}

func setGateways(c *Config, v string) error {
	out, err := parsePrefixList(v)
	if err != nil {
		return err
	}
	c.firstAccount().TrustedGateways = out
	c.gatewaysSet = true
	return nil
}

func setFetchDeny(c *Config, v string) error {
	out, err := parsePrefixList(v)
	if err != nil {
		return err
	}
	c.FetchDeny = out
	return nil
}

// parsePrefixList reads a list of addresses and CIDR prefixes (parseGateway); "none" is the
// empty list, which is never nil: an explicit empty list differs from an unset one.
func parsePrefixList(v string) ([]netip.Prefix, error) {
	out := []netip.Prefix{}
	v = strings.TrimSpace(v)
	if strings.EqualFold(v, "none") {
		return out, nil
	}
	for _, f := range splitList(v) {
		p, err := parseGateway(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func setNumberRoutes(c *Config, v string) error {
	var routes []NumberRoute
	for _, f := range splitList(v) {
		num, url, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("%q is not number=answer_url", f)
		}
		n, err := normNumber(num)
		if err != nil {
			return err
		}
		routes = append(routes, NumberRoute{Number: n, App: AppConfig{AnswerURL: strings.TrimSpace(url)}})
	}
	c.firstAccount().NumberRoutes = routes
	return nil
}

// splitList splits on commas and white space, dropping empty items.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

// splitComma splits a comma-separated list whose items may hold spaces; empty items are dropped.
func splitComma(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseGateway accepts an address ("192.0.2.1", "::1") or a prefix ("10.0.0.0/8"); host bits
// of a prefix are cleared, and IPv4-mapped IPv6 forms become IPv4.
func parseGateway(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR prefix", s)
		}
		ip = ip.Unmap()
		return netip.PrefixFrom(ip, ip.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR prefix", s)
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// normNumber turns "+1 (415) 555-0100" into "14155550100".
func normNumber(s string) (string, error) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0, r == ' ', r == '-', r == '.', r == '(', r == ')':
		default:
			return "", fmt.Errorf("number %q: only digits, an optional leading + and separators are allowed", s)
		}
	}
	if n := b.Len(); n < 1 || n > 15 {
		return "", fmt.Errorf("number %q: must have 1 to 15 digits", s)
	}
	return b.String(), nil
}

func normMethod(v string) string { return strings.ToUpper(strings.TrimSpace(v)) }

func normLevel(v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "warning" {
		return "warn"
	}
	return v
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "t", "true", "yes", "y", "on":
		return true, nil
	case "0", "f", "false", "no", "n", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (use true or false)", v)
}

// parseDuration accepts Go syntax ("30s", "1m30s") or plain seconds ("30", "0.5").
func parseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	var d time.Duration
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64/float64(time.Second) || f < -math.MaxInt64/float64(time.Second) {
			return 0, fmt.Errorf("%q is not a usable duration", v)
		}
		d = time.Duration(f * float64(time.Second))
	} else {
		d, err = time.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (use e.g. 30s, 5m or plain seconds)", v)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("%q: a duration must not be negative", v)
	}
	return d, nil
}

// byteUnits maps size suffixes to multipliers; K/M/G and KiB/MiB/GiB are powers of 1024,
// KB/MB/GB powers of 1000.
var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30},
	{"b", 1},
}

// parseBytes accepts a byte count with an optional unit: "1048576", "1MiB", "256MB", "64k".
func parseBytes(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size in bytes (use e.g. 1048576, 1MiB or 256MB)", v)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", v)
	}
	return n * mult, nil
}

func parseRate(v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a rate (a number ≥ 0 per second)", v)
	}
	return f, nil
}

func parseCount(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a whole number ≥ 0", v)
	}
	return n, nil
}

// setMillis reads a whole number of milliseconds.
func setMillis(d *time.Duration, v string) error {
	n, err := parseCount(v)
	if err != nil {
		return fmt.Errorf("%q is not a whole number of milliseconds", v)
	}
	*d = time.Duration(n) * time.Millisecond
	return nil
}

// setASRModels reads "tag=model" pairs separated by commas; "" or "none" clears them.
func setASRModels(c *Config, v string) error {
	v = strings.TrimSpace(v)
	c.ASRModels = nil
	if v == "" || strings.EqualFold(v, "none") {
		return nil
	}
	models := map[string]string{}
	for _, pair := range strings.Split(v, ",") {
		tag, model, ok := strings.Cut(strings.TrimSpace(pair), "=")
		tag, model = strings.TrimSpace(tag), strings.TrimSpace(model)
		if !ok || tag == "" || model == "" || strings.ContainsAny(tag, " \t") {
			return fmt.Errorf("%q is not a tag=model pair (e.g. en=/usr/share/pocketsphinx/model/en-us)", pair)
		}
		models[tag] = model
	}
	c.ASRModels = models
	return nil
}

var errPortRange = errors.New(`must be "min-max" with ports 1-65535 and min ≤ max`)

func parsePortRange(v string) (PortRange, error) {
	lo, hi, ok := strings.Cut(strings.TrimSpace(v), "-")
	if !ok {
		return PortRange{}, fmt.Errorf("%q: %w", v, errPortRange)
	}
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
		return PortRange{}, fmt.Errorf("%q: %w", v, errPortRange)
	}
	return PortRange{Min: a, Max: b}, nil
}
