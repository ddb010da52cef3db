package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/parley-voice/parley/internal/config"
	"github.com/parley-voice/parley/internal/sip"
)

// httpsListener wraps ln in TLS with the configured certificate when HTTPS is on (https_cert_file
// and https_key_file); the listener then serves HTTPS only. TLS 1.2 is the oldest version
// offered; HTTP/2 is negotiated by ALPN.
func httpsListener(ln net.Listener, certFile, keyFile string) (net.Listener, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the HTTPS certificate (https_cert_file, https_key_file): %w", err)
	}
	return tls.NewListener(ln, &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}), nil
}

// trustOwnCertificate adds the certificates of certFile to t's trusted roots (beside the
// system's), so that Parley's fetches of its own documents (the demo application at
// public_base_url) verify even when the HTTPS certificate is self-signed.
func trustOwnCertificate(t *http.Transport, certFile string) error {
	pem, err := os.ReadFile(certFile)
	if err != nil {
		return fmt.Errorf("reading https_cert_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("https_cert_file %s holds no PEM certificate", certFile)
	}
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	if !t.TLSClientConfig.InsecureSkipVerify {
		t.TLSClientConfig.RootCAs = pool
	}
	return nil
}

// sipTLSOptions are the SIP server's TLS settings: a listener when a certificate is configured,
// and how outbound TLS verifies its peers.
func sipTLSOptions(cfg *config.Config) sip.TLSOptions {
	e := cfg.Encryption
	o := sip.TLSOptions{Client: &tls.Config{MinVersion: tls.VersionTLS12}}
	if !e.SIPTLSVerify {
		o.Client.InsecureSkipVerify = true //nolint:gosec // operator's explicit choice (sip_tls_verify=false)
	}
	if e.SIPTLSEnabled() {
		o.ListenAddr, o.CertFile, o.KeyFile = e.SIPTLSAddr, e.SIPTLSCertFile, e.SIPTLSKeyFile
	}
	return o
}
