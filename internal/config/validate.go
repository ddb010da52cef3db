package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
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
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
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
