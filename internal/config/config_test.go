package config

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "parley.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c, err := Load(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"http_addr", c.HTTPAddr, ":8080"},
		{"sip_addr", c.SIPAddr, ":5060"},
		{"rtp_ports", c.RTPPorts, PortRange{20000, 29999}},
		{"public_ip set", c.PublicIP.IsValid(), false},
		{"data_dir", c.DataDir, "./parley-data"},
		{"recordings_dir", c.RecordingsDir, filepath.Join("parley-data", "recordings")},
		{"api_profile", c.APIProfile, "classic"},
		{"allow_direct_sip", c.AllowDirectSIP, true},
		{"max_body_bytes", c.MaxBodyBytes, int64(1 << 20)},
		{"rest_rate", c.RESTRate, 0.0},
		{"rest_burst", c.RESTBurst, 0},
		{"rest_auth_failures", c.RESTAuthFailures, 10},
		{"rest_auth_window", c.RESTAuthWindow, time.Minute},
		{"http_read_header_timeout", c.HTTPReadHeaderTimeout, 10 * time.Second},
		{"http_read_timeout", c.HTTPReadTimeout, time.Minute},
		{"http_write_timeout", c.HTTPWriteTimeout, 5 * time.Minute},
		{"http_idle_timeout", c.HTTPIdleTimeout, time.Minute},
		{"http_max_header_bytes", c.HTTPMaxHeaderBytes, int64(64 << 10)},
		{"http_max_conns", c.HTTPMaxConns, 4096},
		{"sip_invite_rate", c.SIP.InviteRate, 5.0},
		{"sip_invite_burst", c.SIP.InviteBurst, 20},
		{"sip_register_rate", c.SIP.RegisterRate, 2.0},
		{"sip_options_burst", c.SIP.OptionsBurst, 10},
		{"sip_max_sources", c.SIP.MaxSources, 65536},
		{"sip_auth_backoff_after", c.SIP.AuthBackoffAfter, 3},
		{"sip_ban_after", c.SIP.BanAfter, 10},
		{"sip_user_ban_after", c.SIP.UserBanAfter, 30},
		{"sip_ban_duration", c.SIP.BanDuration, 15 * time.Minute},
		{"sip_nonce_ttl", c.SIP.NonceTTL, 5 * time.Minute},
		{"sip_scanner_user_agents", len(c.SIP.ScannerUserAgents), 0},
		{"sip_max_pending", c.SIP.MaxPending, 10000},
		{"sip_tcp_max_conns", c.SIP.TCPMaxConns, 2048},
		{"sip_tcp_max_conns_per_source", c.SIP.TCPMaxConnsPerSource, 32},
		{"sip_tcp_idle_timeout", c.SIP.TCPIdleTimeout, 15 * time.Minute},
		{"fetch_deny", c.FetchDeny, []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fe80::/10"), netip.MustParsePrefix("fd00:ec2::254/128")}},
		{"calls_per_second", c.CallsPerSecond, 100.0},
		{"max_concurrent_calls", c.MaxConcurrentCalls, 2000},
		{"webhook_timeout", c.WebhookTimeout, 10 * time.Second},
		{"webhook_tls_verify", c.WebhookTLSVerify, true},
		{"webhook_max_age", c.WebhookMaxAge, 24 * time.Hour},
		{"media_cache_bytes", c.MediaCacheBytes, int64(256 << 20)},
		{"media_timeout", c.MediaTimeout, 60 * time.Second},
		{"stream_max_backlog", c.StreamMaxBacklog, 40 * time.Second},
		{"shutdown_grace", c.ShutdownGrace, 30 * time.Second},
		{"max_call_duration", c.MaxCallDuration, 24 * time.Hour},
		{"cdr_retention", c.CDRRetention, 90 * 24 * time.Hour},
		{"tts_command", c.TTSCommand, "espeak-ng"},
		{"log_level", c.LogLevel, "info"},
		{"log_format", c.LogFormat, "text"},
		{"accounts", len(c.Accounts), 1},
		{"gateways", c.Accounts[0].TrustedGateways, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
		{"default app", c.Accounts[0].DefaultApp == nil, true},
		{"sip domain", c.SIPDomain(), "127.0.0.1"},
		{"base url", c.PublicBaseURL(), "http://127.0.0.1:8080"},
	}
	for _, ck := range checks {
		if !equal(ck.got, ck.want) {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if _, ok := c.SDPAddr(); ok {
		t.Errorf("SDPAddr should be left to the SIP layer with a wildcard listen address")
	}
	if d := Default(); !equal(d, c) {
		t.Errorf("Default() = %+v\nLoad(nil) = %+v", d, c)
	}
}

func equal(a, b any) bool {
	switch x := a.(type) {
	case []netip.Prefix:
		y := b.([]netip.Prefix)
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	case *Config:
		y := b.(*Config)
		return x.HTTPAddr == y.HTTPAddr && x.RecordingsDir == y.RecordingsDir && len(x.Accounts) == len(y.Accounts) &&
			equal(x.Accounts[0].TrustedGateways, y.Accounts[0].TrustedGateways) && x.MaxBodyBytes == y.MaxBodyBytes
	}
	return a == b
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "http_addr: 127.0.0.1:1001\nsip_addr: 127.0.0.1:2001\nmedia_timeout: 11s\nlog_level: debug\n"+
		"accounts:\n  - auth_id: MA_FILE\n    auth_token: ftok\n    trusted_gateways: [10.0.0.0/8]\n    default_app: {answer_url: 'http://file/a'}\n")
	e := map[string]string{
		"PARLEY_CONFIG":     file,
		"PARLEY_HTTP_ADDR":  "127.0.0.1:1002",
		"PARLEY_SIP_ADDR":   "127.0.0.1:2002",
		"PARLEY_AUTH_TOKEN": "etok",
		"PARLEY_ANSWER_URL": "http://env/a",
	}
	args := []string{"--http-addr", "127.0.0.1:1003", "--answer-url=http://flag/a", "--allow-direct-sip=false"}
	c, err := Load(args, env(e))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Accounts[0]
	for _, ck := range []struct {
		name      string
		got, want any
	}{
		{"flag beats env and file", c.HTTPAddr, "127.0.0.1:1003"},
		{"env beats file", c.SIPAddr, "127.0.0.1:2002"},
		{"file beats default", c.MediaTimeout, 11 * time.Second},
		{"file log level", c.LogLevel, "debug"},
		{"bool flag", c.AllowDirectSIP, false},
		{"file auth_id kept", a.AuthID, "MA_FILE"},
		{"env token on first account", a.AuthToken, "etok"},
		{"flag answer url", a.DefaultApp.AnswerURL, "http://flag/a"},
		{"hangup defaults to answer", a.DefaultApp.HangupURL, "http://flag/a"},
		{"method default", a.DefaultApp.AnswerMethod, "POST"},
		{"file gateways kept", len(a.TrustedGateways), 1},
		{"config file recorded", c.ConfigFile, file},
	} {
		if ck.got != ck.want {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}

	// --config beats PARLEY_CONFIG.
	other := writeFile(t, "http_addr: 127.0.0.1:1004\n")
	c, err = Load([]string{"--config", other}, env(map[string]string{"PARLEY_CONFIG": file}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:1004" || c.Accounts[0].AuthID != "" {
		t.Errorf("--config did not win over PARLEY_CONFIG: %s %q", c.HTTPAddr, c.Accounts[0].AuthID)
	}
}

func TestEnvNames(t *testing.T) {
	e := map[string]string{
		"PARLEY_HTTP_ADDR": "127.0.0.1:9000", "PARLEY_SIP_ADDR": "192.0.2.5:5070", "PARLEY_RTP_PORTS": "30000-30100",
		"PARLEY_PUBLIC_IP": "203.0.113.7", "PARLEY_SIP_DOMAIN": "pbx.example.com", "PARLEY_PUBLIC_BASE_URL": "https://x.example/",
		"PARLEY_DATA_DIR": "/tmp/pd", "PARLEY_RECORDINGS_DIR": "/tmp/rec", "PARLEY_API_PROFILE": "CURRENT",
		"PARLEY_SIP_GATEWAY": "gw.example.com:5080", "PARLEY_ALLOW_DIRECT_SIP": "off", "PARLEY_MAX_BODY_BYTES": "2048",
		"PARLEY_REST_RATE": "2.5", "PARLEY_REST_BURST": "0", "PARLEY_CALLS_PER_SECOND": "7", "PARLEY_MAX_CONCURRENT_CALLS": "9",
		"PARLEY_WEBHOOK_TIMEOUT": "3", "PARLEY_WEBHOOK_TLS_VERIFY": "false", "PARLEY_WEBHOOK_MAX_AGE": "1h",
		"PARLEY_MEDIA_CACHE_BYTES": "10MB", "PARLEY_MEDIA_TIMEOUT": "0", "PARLEY_SHUTDOWN_GRACE": "1.5",
		"PARLEY_TTS_COMMAND": "/usr/bin/espeak-ng", "PARLEY_TTS_CACHE_BYTES": "0", "PARLEY_LOG_LEVEL": "WARNING", "PARLEY_LOG_FORMAT": "json",
		"PARLEY_AUTH_ID": "MA_ENV12345", "PARLEY_AUTH_TOKEN": "tok", "PARLEY_TRUSTED_GATEWAYS": "192.0.2.0/24, 2001:db8::/32 198.51.100.1",
		"PARLEY_NUMBER_ROUTES": "+14155550100=https://a.example/n1", "PARLEY_APP_NAME": "main",
		"PARLEY_ANSWER_URL": "https://a.example/ans", "PARLEY_ANSWER_METHOD": "get", "PARLEY_HANGUP_URL": "https://a.example/h",
		"PARLEY_HANGUP_METHOD": "GET", "PARLEY_FALLBACK_URL": "https://b.example/f", "PARLEY_FALLBACK_METHOD": "GET",
	}
	c, err := Load(nil, env(e))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Accounts[0]
	app := a.DefaultApp
	for _, ck := range []struct {
		name      string
		got, want any
	}{
		{"http", c.HTTPAddr, "127.0.0.1:9000"}, {"rtp", c.RTPPorts, PortRange{30000, 30100}},
		{"public ip", c.PublicIP, netip.MustParseAddr("203.0.113.7")}, {"domain", c.SIPDomain(), "pbx.example.com"},
		{"base", c.PublicBaseURL(), "https://x.example"}, {"rec", c.RecordingsDir, "/tmp/rec"}, {"profile", c.APIProfile, "current"},
		{"gw", c.SIPGateway, "gw.example.com:5080"}, {"direct", c.AllowDirectSIP, false}, {"body", c.MaxBodyBytes, int64(2048)},
		{"rate", c.RESTRate, 2.5}, {"burst derived", c.RESTBurst, 3}, {"cps", c.CallsPerSecond, 7.0}, {"conc", c.MaxConcurrentCalls, 9},
		{"wh timeout plain seconds", c.WebhookTimeout, 3 * time.Second}, {"tls", c.WebhookTLSVerify, false},
		{"age", c.WebhookMaxAge, time.Hour}, {"cache", c.MediaCacheBytes, int64(10e6)}, {"media timeout", c.MediaTimeout, time.Duration(0)},
		{"grace fractional", c.ShutdownGrace, 1500 * time.Millisecond}, {"tts", c.TTSCommand, "/usr/bin/espeak-ng"},
		{"tts cache", c.TTSCacheBytes, int64(0)}, {"level", c.LogLevel, "warn"}, {"format", c.LogFormat, "json"},
		{"auth id", a.AuthID, "MA_ENV12345"}, {"gateways", len(a.TrustedGateways), 3},
		{"route", a.NumberRoutes[0].Number, "14155550100"}, {"route url", a.NumberRoutes[0].App.AnswerURL, "https://a.example/n1"},
		{"app name", app.Name, "main"}, {"answer method upper", app.AnswerMethod, "GET"}, {"hangup", app.HangupURL, "https://a.example/h"},
		{"fallback", app.FallbackURL, "https://b.example/f"}, {"fallback method", app.FallbackMethod, "GET"},
	} {
		if ck.got != ck.want {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if ip, ok := c.SDPAddr(); !ok || ip != c.PublicIP {
		t.Errorf("SDPAddr = %v %v, want the public IP", ip, ok)
	}
	for _, ip := range []string{"192.0.2.77", "2001:db8::5", "198.51.100.1", "::ffff:192.0.2.1"} {
		if _, ok := c.AccountForSource(netip.MustParseAddr(ip)); !ok {
			t.Errorf("AccountForSource(%s) found nothing", ip)
		}
	}
	if _, ok := c.AccountForSource(netip.MustParseAddr("127.0.0.1")); ok {
		t.Errorf("explicit gateways must replace the loopback default")
	}
}

func TestSecuritySettings(t *testing.T) {
	c, err := Load([]string{"--fetch-deny", "none", "--http-max-conns", "0"}, env(map[string]string{
		"PARLEY_REST_AUTH_FAILURES": "0", "PARLEY_REST_AUTH_WINDOW": "0", "PARLEY_HTTP_WRITE_TIMEOUT": "0",
		"PARLEY_HTTP_MAX_HEADER_BYTES": "8KiB",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.FetchDeny) != 0 || c.FetchDeny == nil || c.HTTPMaxConns != 0 || c.RESTAuthFailures != 0 || c.HTTPWriteTimeout != 0 || c.HTTPMaxHeaderBytes != 8<<10 {
		t.Errorf("got %+v", c)
	}
	c, err = Load(nil, env(map[string]string{"PARLEY_FETCH_DENY": "10.0.0.0/8 192.0.2.1, ::ffff:169.254.0.0/112"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("169.254.0.0/16")}
	if !equal(c.FetchDeny, want) {
		t.Errorf("fetch_deny = %v, want %v", c.FetchDeny, want)
	}
}

func TestDerived(t *testing.T) {
	cases := []struct {
		sip, http, public string
		domain, base      string
		sdp               string
	}{
		{":5060", ":8080", "", "127.0.0.1", "http://127.0.0.1:8080", ""},
		{"0.0.0.0:5060", "[::]:8080", "", "127.0.0.1", "http://127.0.0.1:8080", ""},
		{"192.0.2.1:5060", "192.0.2.1:80", "", "192.0.2.1", "http://192.0.2.1", "192.0.2.1"},
		{"[2001:db8::1]:5060", "[2001:db8::1]:8080", "", "[2001:db8::1]", "http://[2001:db8::1]:8080", "2001:db8::1"},
		{"192.0.2.1:5060", ":8080", "203.0.113.9", "203.0.113.9", "http://127.0.0.1:8080", "203.0.113.9"},
	}
	for _, tc := range cases {
		args := []string{"--sip-addr", tc.sip, "--http-addr", tc.http}
		if tc.public != "" {
			args = append(args, "--public-ip", tc.public)
		}
		c, err := Load(args, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.SIPDomain(); got != tc.domain {
			t.Errorf("%v: SIPDomain = %q, want %q", args, got, tc.domain)
		}
		if got := c.PublicBaseURL(); got != tc.base {
			t.Errorf("%v: PublicBaseURL = %q, want %q", args, got, tc.base)
		}
		ip, ok := c.SDPAddr()
		if (tc.sdp == "") == ok || (ok && ip.String() != tc.sdp) {
			t.Errorf("%v: SDPAddr = %v %v, want %q", args, ip, ok, tc.sdp)
		}
	}
}

func TestTwoAccountsYAML(t *testing.T) {
	file := writeFile(t, `
accounts:
  - auth_id: MA_ONE
    auth_token: t1
    trusted_gateways: [10.0.0.0/8, "192.0.2.10"]
    number_routes:
      - number: 14155550100
        app: {answer_url: "https://one.example/a", answer_method: get}
    default_app: {answer_url: "https://one.example/default"}
  - auth_id: MA_TWO
    auth_token: t2
    trusted_gateways: [172.16.0.0/12]
`)
	c, err := Load(nil, env(map[string]string{"PARLEY_CONFIG": file}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Accounts) != 2 {
		t.Fatalf("got %d accounts", len(c.Accounts))
	}
	r := c.Accounts[0].NumberRoutes[0]
	if r.Number != "14155550100" || r.App.AnswerMethod != "GET" || r.App.Name != "number 14155550100" {
		t.Errorf("route = %+v", r)
	}
	for ip, want := range map[string]string{"10.9.8.7": "MA_ONE", "192.0.2.10": "MA_ONE", "172.20.0.1": "MA_TWO", "127.0.0.1": ""} {
		a, ok := c.AccountForSource(netip.MustParseAddr(ip))
		got := ""
		if ok {
			got = a.AuthID
		}
		if got != want {
			t.Errorf("AccountForSource(%s) = %q, want %q", ip, got, want)
		}
	}
	if a, ok := c.Account("MA_TWO"); !ok || a.AuthToken != "t2" {
		t.Errorf("Account(MA_TWO) = %v %v", a, ok)
	}
}

func TestDefaultGatewaysWithoutFileGateways(t *testing.T) {
	// The first account without gateways gets loopback, unless another account claims it.
	file := writeFile(t, "accounts:\n  - {auth_id: MA_A, auth_token: a}\n  - {auth_id: MA_B, auth_token: b, trusted_gateways: ['127.0.0.1']}\n")
	c, err := Load([]string{"--config", file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := c.AccountForSource(netip.MustParseAddr("127.0.0.1"))
	if !ok || a.AuthID != "MA_B" {
		t.Errorf("127.0.0.1 belongs to %v, want MA_B", a)
	}
	a, ok = c.AccountForSource(netip.IPv6Loopback())
	if !ok || a.AuthID != "MA_A" {
		t.Errorf("::1 belongs to %v, want MA_A", a)
	}
}

func TestOverlapRefused(t *testing.T) {
	cases := []struct{ g1, g2 string }{
		{"10.0.0.0/8", "10.1.0.0/16"},
		{"::1", "::/0"},
		{"192.0.2.5", "192.0.2.0/24"},
		{"::ffff:10.0.0.1", "10.0.0.0/24"},
	}
	for _, tc := range cases {
		file := writeFile(t, "accounts:\n  - {auth_id: MA_AAA, auth_token: a, trusted_gateways: ['"+tc.g1+"']}\n"+
			"  - {auth_id: MA_BBB, auth_token: b, trusted_gateways: ['"+tc.g2+"']}\n")
		_, err := Load([]string{"--config", file}, nil)
		if err == nil {
			t.Errorf("%s vs %s: overlap accepted", tc.g1, tc.g2)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "MA_AAA") || !strings.Contains(msg, "MA_BBB") || !strings.Contains(msg, "overlap") {
			t.Errorf("%s vs %s: error does not name both accounts: %v", tc.g1, tc.g2, err)
		}
	}
	// Overlap inside one account is harmless.
	file := writeFile(t, "accounts:\n  - {auth_id: MA_AAA, auth_token: a, trusted_gateways: ['10.0.0.0/8', '10.1.0.0/16']}\n")
	if _, err := Load([]string{"--config", file}, nil); err != nil {
		t.Errorf("overlap within one account refused: %v", err)
	}
}

func TestBadValues(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want string // text the error must contain (the setting's name)
	}{
		{name: "http addr", env: map[string]string{"PARLEY_HTTP_ADDR": "8080"}, want: "http_addr"},
		{name: "sip addr port", args: []string{"--sip-addr", ":70000"}, want: "sip_addr"},
		{name: "rtp range order", env: map[string]string{"PARLEY_RTP_PORTS": "30000-20000"}, want: "PARLEY_RTP_PORTS"},
		{name: "rtp range syntax", args: []string{"--rtp-ports=20000"}, want: "--rtp-ports"},
		{name: "public ip", env: map[string]string{"PARLEY_PUBLIC_IP": "example.com"}, want: "PARLEY_PUBLIC_IP"},
		{name: "public ip wildcard", env: map[string]string{"PARLEY_PUBLIC_IP": "0.0.0.0"}, want: "PARLEY_PUBLIC_IP"},
		{name: "base url", env: map[string]string{"PARLEY_PUBLIC_BASE_URL": "ftp://x"}, want: "public_base_url"},
		{name: "profile", env: map[string]string{"PARLEY_API_PROFILE": "modern"}, want: "api_profile"},
		{name: "bool", env: map[string]string{"PARLEY_WEBHOOK_TLS_VERIFY": "maybe"}, want: "PARLEY_WEBHOOK_TLS_VERIFY"},
		{name: "duration", env: map[string]string{"PARLEY_MEDIA_TIMEOUT": "soon"}, want: "PARLEY_MEDIA_TIMEOUT"},
		{name: "negative duration", args: []string{"--shutdown-grace=-1s"}, want: "--shutdown-grace"},
		{name: "zero webhook timeout", env: map[string]string{"PARLEY_WEBHOOK_TIMEOUT": "0"}, want: "webhook_timeout"},
		{name: "zero call duration cap", env: map[string]string{"PARLEY_MAX_CALL_DURATION": "0"}, want: "max_call_duration"},
		{name: "negative cdr retention", env: map[string]string{"PARLEY_CDR_RETENTION": "-1h"}, want: "PARLEY_CDR_RETENTION"},
		{name: "bytes", env: map[string]string{"PARLEY_MAX_BODY_BYTES": "lots"}, want: "PARLEY_MAX_BODY_BYTES"},
		{name: "zero body", env: map[string]string{"PARLEY_MAX_BODY_BYTES": "0"}, want: "max_body_bytes"},
		{name: "rate", env: map[string]string{"PARLEY_REST_RATE": "-1"}, want: "PARLEY_REST_RATE"},
		{name: "count", env: map[string]string{"PARLEY_MAX_CONCURRENT_CALLS": "1.5"}, want: "PARLEY_MAX_CONCURRENT_CALLS"},
		{name: "log level", env: map[string]string{"PARLEY_LOG_LEVEL": "loud"}, want: "log_level"},
		{name: "log format", env: map[string]string{"PARLEY_LOG_FORMAT": "xml"}, want: "log_format"},
		{name: "gateway host", env: map[string]string{"PARLEY_SIP_GATEWAY": "bad host:5060"}, want: "sip_gateway"},
		{name: "auth id", env: map[string]string{"PARLEY_AUTH_ID": "MA-X", "PARLEY_AUTH_TOKEN": "t"}, want: "auth_id"},
		{name: "token missing", env: map[string]string{"PARLEY_AUTH_ID": "MA_X"}, want: "auth_token"},
		{name: "answer url", env: map[string]string{"PARLEY_ANSWER_URL": "example.com/a"}, want: "answer_url"},
		{name: "answer method", env: map[string]string{"PARLEY_ANSWER_URL": "http://a/", "PARLEY_ANSWER_METHOD": "PUT"}, want: "answer_method"},
		{name: "app without answer url", env: map[string]string{"PARLEY_HANGUP_URL": "http://a/"}, want: "answer_url"},
		{name: "trusted gateways", env: map[string]string{"PARLEY_TRUSTED_GATEWAYS": "10.0.0.0/33"}, want: "PARLEY_TRUSTED_GATEWAYS"},
		{name: "number route", env: map[string]string{"PARLEY_NUMBER_ROUTES": "12ab=http://x/"}, want: "PARLEY_NUMBER_ROUTES"},
		{name: "unknown flag", args: []string{"--no-such"}, want: "no-such"},
		{name: "extra argument", args: []string{"serve"}, want: "serve"},
		{name: "unknown file key", file: "http_adr: :1\n", want: "http_adr"},
		{name: "unknown account key", file: "accounts:\n  - {auth_id: MA_A, auth_token: a, gateways: [1.2.3.4]}\n", want: "gateways"},
		{name: "file bad value", file: "media_timeout: forever\n", want: "media_timeout"},
		{name: "file list for scalar", file: "http_addr: [a, b]\n", want: "http_addr"},
		{name: "file not yaml", file: "a: [\n", want: "YAML"},
		{name: "file bad gateway", file: "accounts:\n  - {auth_id: MA_A, auth_token: a, trusted_gateways: [nope]}\n", want: "trusted_gateways"},
		{name: "duplicate auth id", file: "accounts:\n  - {auth_id: MA_A, auth_token: a, trusted_gateways: []}\n  - {auth_id: MA_A, auth_token: b}\n", want: "MA_A"},
		{name: "second account lacks id", file: "accounts:\n  - {auth_id: MA_A, auth_token: a}\n  - {auth_token: b}\n", want: "account 2"},
		{name: "duplicate route", file: "accounts:\n  - auth_id: MA_A\n    auth_token: a\n    number_routes:\n      - {number: '+1 415', app: {answer_url: 'http://a/'}}\n      - {number: '1415', app: {answer_url: 'http://b/'}}\n", want: "1415"},
		{name: "fetch deny", env: map[string]string{"PARLEY_FETCH_DENY": "169.254.0.0/16,metadata"}, want: "PARLEY_FETCH_DENY"},
		{name: "zero idle timeout", env: map[string]string{"PARLEY_HTTP_IDLE_TIMEOUT": "0"}, want: "http_idle_timeout"},
		{name: "zero auth window", env: map[string]string{"PARLEY_REST_AUTH_WINDOW": "0"}, want: "rest_auth_window"},
		{name: "tiny header limit", env: map[string]string{"PARLEY_HTTP_MAX_HEADER_BYTES": "100"}, want: "http_max_header_bytes"},
		{name: "missing file", env: map[string]string{"PARLEY_CONFIG": "/nonexistent/parley.yaml"}, want: "config file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range tc.env {
				e[k] = v
			}
			if tc.file != "" {
				e["PARLEY_CONFIG"] = writeFile(t, tc.file)
			}
			_, err := Load(tc.args, env(e))
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	_, err := Load([]string{"-h"}, nil)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("got %v, want flag.ErrHelp", err)
	}
	var buf bytes.Buffer
	PrintUsage(&buf)
	for _, s := range settings {
		if !strings.Contains(buf.String(), "-"+flagName(s.key)) || !strings.Contains(buf.String(), envName(s.key)) {
			t.Errorf("usage lacks %s", s.key)
		}
	}
}

func TestExampleFile(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "parley.example.yaml")
	c, err := Load([]string{"--config", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Accounts) != 2 || c.Accounts[0].AuthID != "MA_SALES001" || len(c.Accounts[0].NumberRoutes) != 2 {
		t.Fatalf("example parsed wrong: %+v", c.Accounts)
	}
	if n := c.Accounts[0].NumberRoutes[1].Number; n != "14155550101" {
		t.Errorf("second route number = %q", n)
	}
	if c.Accounts[0].DefaultApp.AnswerMethod != "GET" || c.SIPGateway == "" || c.ShutdownGrace != 30*time.Second {
		t.Errorf("example values lost: %+v", c)
	}
}

// TestDocsListEverySetting keeps docs/configuration.md complete.
func TestDocsListEverySetting(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Skip("docs/configuration.md not written yet")
	}
	doc := string(data)
	for _, s := range settings {
		for _, want := range []string{envName(s.key), "--" + flagName(s.key)} {
			if !strings.Contains(doc, want) {
				t.Errorf("docs/configuration.md does not mention %s", want)
			}
		}
	}
}

func TestEnsureAccount(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var out bytes.Buffer
	c := Default()
	gen, err := EnsureAccount(c, dir, &out)
	if err != nil || !gen {
		t.Fatalf("first start: generated=%v err=%v", gen, err)
	}
	a := c.Accounts[0]
	if !regexp.MustCompile(`^MA_[A-Z0-9]{8}$`).MatchString(a.AuthID) {
		t.Errorf("auth_id %q has the wrong form", a.AuthID)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9]{32}$`).MatchString(a.AuthToken) {
		t.Errorf("auth_token %q has the wrong form", a.AuthToken)
	}
	if !strings.Contains(out.String(), a.AuthID) || !strings.Contains(out.String(), a.AuthToken) {
		t.Errorf("credentials not printed: %q", out.String())
	}
	if err := c.Validate(); err != nil {
		t.Errorf("generated account does not validate: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, AccountFile))
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("account file mode %o, want 600", fi.Mode().Perm())
	}

	// Second start: the same account, nothing printed.
	out.Reset()
	c2 := Default()
	gen, err = EnsureAccount(c2, dir, &out)
	if err != nil || gen {
		t.Fatalf("second start: generated=%v err=%v", gen, err)
	}
	if c2.Accounts[0].AuthID != a.AuthID || c2.Accounts[0].AuthToken != a.AuthToken {
		t.Errorf("second start read %+v, want %+v", c2.Accounts[0], a)
	}
	if out.Len() != 0 {
		t.Errorf("second start printed %q", out.String())
	}

	// Configured credentials win and the file is not consulted.
	c3, err := Load(nil, env(map[string]string{"PARLEY_AUTH_ID": "MA_GIVEN", "PARLEY_AUTH_TOKEN": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	if gen, err := EnsureAccount(c3, dir, &out); gen || err != nil || c3.Accounts[0].AuthID != "MA_GIVEN" {
		t.Errorf("configured account replaced: %v %v %+v", gen, err, c3.Accounts[0])
	}

	// Two generations give different accounts.
	c4 := Default()
	if _, err := EnsureAccount(c4, t.TempDir(), nil); err != nil {
		t.Fatal(err)
	}
	if c4.Accounts[0].AuthID == a.AuthID && c4.Accounts[0].AuthToken == a.AuthToken {
		t.Errorf("two data dirs got the same generated account")
	}
}

func TestEnsureAccountDamagedFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, AccountFile), []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureAccount(Default(), dir, nil); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("damaged file: err = %v", err)
	}
	// A readable file with loose permissions is tightened.
	if err := os.WriteFile(filepath.Join(dir, AccountFile), []byte("auth_id=MA_ABCDEFGH\nauth_token=tok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := Default()
	if _, err := EnsureAccount(c, dir, nil); err != nil || c.Accounts[0].AuthID != "MA_ABCDEFGH" {
		t.Fatalf("err=%v account=%+v", err, c.Accounts[0])
	}
	if fi, _ := os.Stat(filepath.Join(dir, AccountFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %o not tightened", fi.Mode().Perm())
	}
}

func FuzzLoadYAML(f *testing.F) {
	f.Add("http_addr: :1\naccounts:\n  - {auth_id: MA_A, auth_token: a, trusted_gateways: [10.0.0.0/8]}\n")
	f.Add("accounts:\n  - number_routes: [{number: 1, app: {answer_url: x}}]\n")
	f.Add("rtp_ports: 1-2\nmax_body_bytes: 9GiB\n")
	f.Fuzz(func(t *testing.T, text string) {
		c := base()
		if err := c.applyYAML([]byte(text)); err != nil {
			return
		}
		c.finish()
		_ = c.Validate()
	})
}

func FuzzParseValues(f *testing.F) {
	for _, s := range []string{"30s", "1.5", "1MiB", "20000-29999", "10.0.0.0/8", "+1 (415) 555", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, s := range settings {
			c := base()
			if s.set(c, v) == nil {
				c.finish()
				_ = c.Validate()
			}
		}
	})
}

func TestDatabaseURL(t *testing.T) {
	c, err := Load(nil, env(nil))
	if err != nil || c.DatabaseURL != "" {
		t.Fatalf("default database_url = %q, %v; want empty (SQLite)", c.DatabaseURL, err)
	}
	const good = "postgres://parley:s3cret@db.example:5432/parley?sslmode=require"
	c, err = Load(nil, env(map[string]string{"PARLEY_DATABASE_URL": good}))
	if err != nil || c.DatabaseURL != good {
		t.Fatalf("PARLEY_DATABASE_URL: %q, %v", c.DatabaseURL, err)
	}
	for _, bad := range []string{"mysql://u:s3cret@h/db", "postgres://u:s3cret@/db", "s3cret"} {
		_, err := Load([]string{"--database-url", bad}, nil)
		if err == nil || !strings.Contains(err.Error(), "database_url") {
			t.Errorf("%q: error %v, want one about database_url", bad, err)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: the error shows the password: %v", bad, err)
		}
	}
	if _, err := Load([]string{"--database-url", "postgresql:///parley?host=/run/postgresql"}, nil); err != nil {
		t.Errorf("socket URL refused: %v", err)
	}
}

func TestClusterSettings(t *testing.T) {
	const db = "postgres://parley@db.example/parley"
	c, err := Load(nil, env(nil))
	if err != nil || c.Clustered() || c.NATSURL != "" {
		t.Fatalf("default: clustered %v nats_url %q %v; want a single node", c.Clustered(), c.NATSURL, err)
	}
	host, _ := os.Hostname()
	if host != "" && c.NodeID() != host {
		t.Errorf("default node id %q, want the host name %q", c.NodeID(), host)
	}

	c, err = Load(nil, env(map[string]string{
		"PARLEY_NATS_URL": "nats://n1.example:4222, nats://n2.example", "PARLEY_DATABASE_URL": db,
		"PARLEY_NODE_ID": "node-1.dc2", "PARLEY_NODE_SIP_ADDR": "10.0.0.5:5070",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Clustered() || c.NATSURL != "nats://n1.example:4222, nats://n2.example" || c.NodeID() != "node-1.dc2" {
		t.Fatalf("env: clustered %v nats_url %q node_id %q", c.Clustered(), c.NATSURL, c.NodeID())
	}
	if a, ok := c.NodeSIPAddr(); !ok || a != "10.0.0.5:5070" {
		t.Fatalf("node_sip_addr = %q %v", a, ok)
	}
	if c.NATSReplicas != 1 {
		t.Errorf("default nats_replicas = %d, want 1", c.NATSReplicas)
	}
	if c.NodeHeartbeat != 500*time.Millisecond || c.NodePeerTimeout != 2*time.Second {
		t.Errorf("default node_heartbeat %v, node_peer_timeout %v; want 500ms, 2s", c.NodeHeartbeat, c.NodePeerTimeout)
	}
	if c, err := Load([]string{"--node-peer-timeout", "5s"}, env(map[string]string{"PARLEY_NATS_URL": "nats://n1", "PARLEY_DATABASE_URL": db,
		"PARLEY_SIP_ADDR": "10.1.1.1:5060", "PARLEY_NODE_HEARTBEAT": "1s"})); err != nil || c.NodePeerTimeout != 5*time.Second || c.NodeHeartbeat != time.Second {
		t.Errorf("--node-peer-timeout 5s with heartbeat 1s: %+v, %v", c, err)
	}
	if c, err := Load([]string{"--nats-replicas", "3"}, env(map[string]string{"PARLEY_NATS_URL": "nats://n1", "PARLEY_DATABASE_URL": db,
		"PARLEY_SIP_ADDR": "10.1.1.1:5060"})); err != nil || c.NATSReplicas != 3 {
		t.Errorf("--nats-replicas 3: %v", err)
	}
	// Flags win over the environment, as for every key.
	c, err = Load([]string{"--nats-url", "nats://flag:4222", "--node-id", "flagnode", "--database-url", db},
		env(map[string]string{"PARLEY_NATS_URL": "nats://env:4222", "PARLEY_NODE_ID": "envnode", "PARLEY_SIP_ADDR": "10.1.1.1:5060"}))
	if err != nil || c.NATSURL != "nats://flag:4222" || c.NodeID() != "flagnode" {
		t.Fatalf("flags: %q %q %v", c.NATSURL, c.NodeID(), err)
	}

	// node_sip_addr's default.
	for _, tc := range []struct {
		sip, publicIP, want string
	}{
		{"10.1.1.1:5060", "", "10.1.1.1:5060"},
		{"10.1.1.1:5060", "203.0.113.7", "10.1.1.1:5060"}, // the listen host, not the NAT address
		{":5080", "203.0.113.7", "203.0.113.7:5080"},
		{"0.0.0.0:5080", "2001:db8::7", "[2001:db8::7]:5080"},
		{"sip.internal:5060", "", "sip.internal:5060"},
		{"127.0.0.1:0", "", "127.0.0.1:0"}, // any port: the app puts in the bound one
	} {
		e := map[string]string{"PARLEY_NATS_URL": "nats://n1:4222", "PARLEY_DATABASE_URL": db, "PARLEY_SIP_ADDR": tc.sip, "PARLEY_PUBLIC_IP": tc.publicIP}
		c, err := Load(nil, env(e))
		if err != nil {
			t.Errorf("sip %s public %s: %v", tc.sip, tc.publicIP, err)
			continue
		}
		if a, ok := c.NodeSIPAddr(); !ok || a != tc.want {
			t.Errorf("sip %s public %s: node_sip_addr %q %v, want %s", tc.sip, tc.publicIP, a, ok, tc.want)
		}
	}

	// Refused, each naming its key.
	for _, tc := range []struct {
		env  map[string]string
		key  string
		want string
	}{
		{map[string]string{"PARLEY_NATS_URL": "nats://n1:4222", "PARLEY_SIP_ADDR": "10.1.1.1:5060"},
			"nats_url", "nats_url needs database_url"},
		{map[string]string{"PARLEY_NATS_URL": "http://n1:4222"}, "nats_url", "scheme"},
		{map[string]string{"PARLEY_NATS_URL": "nats://n1:4222,nats://"}, "nats_url", "server 2 has no host"},
		{map[string]string{"PARLEY_NATS_URL": "nats://tok3n@n1:99999"}, "nats_url", "port"},
		{map[string]string{"PARLEY_NATS_URL": "n1:4222"}, "nats_url", "scheme"},
		{map[string]string{"PARLEY_NATS_URL": "nats://n1", "PARLEY_NODE_ID": "node 1"}, "node_id", "only letters"},
		{map[string]string{"PARLEY_NATS_URL": "nats://n1", "PARLEY_NODE_ID": "a*"}, "node_id", "only letters"},
		{map[string]string{"PARLEY_NATS_URL": "nats://n1", "PARLEY_SIP_ADDR": ":5060"}, "node_sip_addr", "set node_sip_addr"},
		{map[string]string{"PARLEY_NATS_URL": "nats://n1", "PARLEY_NODE_SIP_ADDR": "10.0.0.5"}, "node_sip_addr", "not host:port"},
		{map[string]string{"PARLEY_NATS_URL": "nats://n1", "PARLEY_NODE_SIP_ADDR": "0.0.0.0:5060"}, "node_sip_addr", "wildcard"},
		{map[string]string{"PARLEY_NATS_URL": "nats://n1", "PARLEY_NODE_SIP_ADDR": "10.0.0.5:0"}, "node_sip_addr", "port"},
		{map[string]string{"PARLEY_NATS_URL": "nats://n1", "PARLEY_NATS_REPLICAS": "0"}, "nats_replicas", "1–5"},
		{map[string]string{"PARLEY_NATS_URL": "nats://n1", "PARLEY_NATS_REPLICAS": "6"}, "nats_replicas", "1–5"},
		{map[string]string{"PARLEY_NATS_URL": "nats://n1", "PARLEY_NODE_HEARTBEAT": "10ms"}, "node_heartbeat", "at least 50ms"},
		{map[string]string{"PARLEY_NATS_URL": "nats://n1", "PARLEY_NODE_PEER_TIMEOUT": "1s"}, "node_peer_timeout", "at least 3 heartbeats"},
	} {
		e := map[string]string{"PARLEY_DATABASE_URL": db, "PARLEY_SIP_ADDR": "10.1.1.1:5060"}
		for k, v := range tc.env {
			e[k] = v
		}
		if tc.want == "nats_url needs database_url" {
			delete(e, "PARLEY_DATABASE_URL")
		}
		_, err := Load(nil, env(e))
		if err == nil || !strings.Contains(err.Error(), tc.key+" (") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one about %s saying %q", tc.env, err, tc.key, tc.want)
		} else if strings.Contains(err.Error(), "tok3n") {
			t.Errorf("%v: the error shows the URL's token: %v", tc.env, err)
		}
	}

	// The cluster keys mean nothing on a single node: no error for what only a cluster needs.
	if _, err := Load(nil, env(map[string]string{"PARLEY_NODE_ID": "a b", "PARLEY_SIP_ADDR": ":5060"})); err != nil {
		t.Errorf("node_id without nats_url: %v", err)
	}
}
