package sip

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/pion/srtp/v3"
)

// SDES crypto suites we accept (RFC 4568 §6.2); both use a 128-bit key and a 112-bit salt.
const (
	suiteAES80 = "AES_CM_128_HMAC_SHA1_80"
	suiteAES32 = "AES_CM_128_HMAC_SHA1_32"
)

// sdesKeyLen is the master key plus master salt of both suites, in bytes.
const sdesKeyLen = 16 + 14

// sdesCrypto is one usable a=crypto attribute (RFC 4568 §9.1):
//
//	a=crypto:<tag> <crypto-suite> inline:<key||salt base64>[|<lifetime>][|<MKI>:<length>] [<session-params>]
type sdesCrypto struct {
	tag      int
	suite    string
	key      []byte // master key || master salt, sdesKeyLen bytes
	lifetime uint64 // packets; 0 when not given
	mki      []byte // MKI value in its length in bytes; nil when none
}

var errCrypto = errors.New("unusable crypto attribute")

// parseCrypto reads the value of an a=crypto attribute (after "crypto:"). It refuses what it
// cannot honour: unknown suites, several keys, session parameters that weaken or change
// SRTP (UNENCRYPTED_SRTP, UNAUTHENTICATED_SRTP, KDR, FEC_*). It never panics.
func parseCrypto(val string) (sdesCrypto, error) {
	var c sdesCrypto
	f := strings.Fields(val)
	if len(f) < 3 {
		return c, fmt.Errorf("%w: %d fields", errCrypto, len(f))
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil || tag < 0 || tag > 999999999 {
		return c, fmt.Errorf("%w: tag %q", errCrypto, f[0])
	}
	c.tag = tag
	switch f[1] {
	case suiteAES80, suiteAES32:
		c.suite = f[1]
	default:
		return c, fmt.Errorf("%w: suite %q is not supported", errCrypto, f[1])
	}
	if strings.Contains(f[2], ";") {
		return c, fmt.Errorf("%w: several keys", errCrypto)
	}
	method, info, ok := strings.Cut(f[2], ":")
	if !ok || method != "inline" {
		return c, fmt.Errorf("%w: key method %q", errCrypto, method)
	}
	parts := strings.Split(info, "|")
	if len(parts) > 3 {
		return c, fmt.Errorf("%w: key parameters %q", errCrypto, info)
	}
	if c.key, err = decodeKey(parts[0]); err != nil {
		return c, err
	}
	for _, p := range parts[1:] {
		if v, l, isMKI := strings.Cut(p, ":"); isMKI {
			if c.mki != nil {
				return c, fmt.Errorf("%w: two MKIs", errCrypto)
			}
			if c.mki, err = parseMKI(v, l); err != nil {
				return c, err
			}
			continue
		}
		if c.lifetime != 0 || c.mki != nil { // the lifetime comes before the MKI
			return c, fmt.Errorf("%w: key parameter %q", errCrypto, p)
		}
		if c.lifetime, err = parseLifetime(p); err != nil {
			return c, err
		}
	}
	for _, sp := range f[3:] {
		name, _, _ := strings.Cut(sp, "=")
		switch name {
		case "WSH", "UNENCRYPTED_SRTCP", "UNAUTHENTICATED_SRTCP": // a hint, and RTCP we do not use
		default:
			return c, fmt.Errorf("%w: session parameter %q", errCrypto, sp)
		}
	}
	return c, nil
}

func decodeKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		k, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil || len(k) != sdesKeyLen {
		return nil, fmt.Errorf("%w: key is not %d bytes of base64", errCrypto, sdesKeyLen)
	}
	return k, nil
}

// parseLifetime reads a key lifetime: a decimal count or 2^n (n at most 48 for SRTP).
func parseLifetime(s string) (uint64, error) {
	if e, ok := strings.CutPrefix(s, "2^"); ok {
		n, err := strconv.Atoi(e)
		if err != nil || n < 1 || n > 48 {
			return 0, fmt.Errorf("%w: lifetime %q", errCrypto, s)
		}
		return 1 << n, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v == 0 || v > 1<<48 {
		return 0, fmt.Errorf("%w: lifetime %q", errCrypto, s)
	}
	return v, nil
}

// parseMKI reads "value:length": a decimal value sent in length bytes (1-128).
func parseMKI(value, length string) ([]byte, error) {
	n, err := strconv.Atoi(length)
	if err != nil || n < 1 || n > 128 || len(value) > 400 {
		return nil, fmt.Errorf("%w: MKI length %q", errCrypto, length)
	}
	v, ok := new(big.Int).SetString(value, 10)
	if !ok || v.Sign() < 0 || v.BitLen() > 8*n {
		return nil, fmt.Errorf("%w: MKI value %q", errCrypto, value)
	}
	return v.FillBytes(make([]byte, n)), nil
}

// profile is the pion protection profile of the suite.
func (c *sdesCrypto) profile() srtp.ProtectionProfile {
	if c.suite == suiteAES32 {
		return srtp.ProtectionProfileAes128CmHmacSha1_32
	}
	return srtp.ProtectionProfileAes128CmHmacSha1_80
}

// attr is the attribute's value as we send it (our keys carry no lifetime and no MKI).
func (c *sdesCrypto) attr() string {
	return fmt.Sprintf("crypto:%d %s inline:%s", c.tag, c.suite, base64.StdEncoding.EncodeToString(c.key))
}

// newLocalCrypto makes our own key for suite with tag, from crypto/rand.
func newLocalCrypto(tag int, suite string) (*sdesCrypto, error) {
	k := make([]byte, sdesKeyLen)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("making an SRTP key: %w", err)
	}
	return &sdesCrypto{tag: tag, suite: suite, key: k}, nil
}
