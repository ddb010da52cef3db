package sip

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// checkCrypto fails t when a parsed attribute breaks what the SRTP code relies on.
func checkCrypto(t *testing.T, c *sdesCrypto) {
	t.Helper()
	if len(c.key) != sdesKeyLen || (c.suite != suiteAES80 && c.suite != suiteAES32) {
		t.Fatalf("unusable key accepted: %+v", c)
	}
	if c.mki != nil && (len(c.mki) < 1 || len(c.mki) > 128) {
		t.Fatalf("MKI of %d bytes", len(c.mki))
	}
}

func TestParseCrypto(t *testing.T) {
	key := bytes.Repeat([]byte{0xa5}, sdesKeyLen)
	b64 := base64.StdEncoding.EncodeToString(key)
	for _, tc := range []struct {
		name     string
		val      string
		ok       bool
		tag      int
		suite    string
		lifetime uint64
		mki      []byte
	}{
		{"plain", "1 AES_CM_128_HMAC_SHA1_80 inline:" + b64, true, 1, suiteAES80, 0, nil},
		{"32-bit tag", "7 AES_CM_128_HMAC_SHA1_32 inline:" + b64, true, 7, suiteAES32, 0, nil},
		{"lifetime power", "1 AES_CM_128_HMAC_SHA1_80 inline:" + b64 + "|2^20", true, 1, suiteAES80, 1 << 20, nil},
		{"lifetime decimal and MKI", "2 AES_CM_128_HMAC_SHA1_80 inline:" + b64 + "|1000|1:4", true, 2, suiteAES80, 1000, []byte{0, 0, 0, 1}},
		{"MKI only", "2 AES_CM_128_HMAC_SHA1_80 inline:" + b64 + "|258:2", true, 2, suiteAES80, 0, []byte{1, 2}},
		{"window hint", "1 AES_CM_128_HMAC_SHA1_80 inline:" + b64 + " WSH=64", true, 1, suiteAES80, 0, nil},
		{"unpadded base64", "1 AES_CM_128_HMAC_SHA1_80 inline:" + strings.TrimRight(b64, "="), true, 1, suiteAES80, 0, nil},
		{"unencrypted SRTP", "1 AES_CM_128_HMAC_SHA1_80 inline:" + b64 + " UNENCRYPTED_SRTP", false, 0, "", 0, nil},
		{"key derivation rate", "1 AES_CM_128_HMAC_SHA1_80 inline:" + b64 + " KDR=10", false, 0, "", 0, nil},
		{"AES-256", "1 AES_256_CM_HMAC_SHA1_80 inline:" + b64, false, 0, "", 0, nil},
		{"F8", "1 F8_128_HMAC_SHA1_80 inline:" + b64, false, 0, "", 0, nil},
		{"short key", "1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.StdEncoding.EncodeToString(key[:16]), false, 0, "", 0, nil},
		{"bad base64", "1 AES_CM_128_HMAC_SHA1_80 inline:!!!", false, 0, "", 0, nil},
		{"two keys", "1 AES_CM_128_HMAC_SHA1_80 inline:" + b64 + "|1:1;inline:" + b64 + "|2:1", false, 0, "", 0, nil},
		{"MKI too big for its length", "1 AES_CM_128_HMAC_SHA1_80 inline:" + b64 + "|256:1", false, 0, "", 0, nil},
		{"MKI before lifetime", "1 AES_CM_128_HMAC_SHA1_80 inline:" + b64 + "|1:1|2^20", false, 0, "", 0, nil},
		{"lifetime too long", "1 AES_CM_128_HMAC_SHA1_80 inline:" + b64 + "|2^64", false, 0, "", 0, nil},
		{"other key method", "1 AES_CM_128_HMAC_SHA1_80 uri:https://x/" + b64, false, 0, "", 0, nil},
		{"bad tag", "x AES_CM_128_HMAC_SHA1_80 inline:" + b64, false, 0, "", 0, nil},
		{"missing key", "1 AES_CM_128_HMAC_SHA1_80", false, 0, "", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseCrypto(tc.val)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			checkCrypto(t, &c)
			if c.tag != tc.tag || c.suite != tc.suite || c.lifetime != tc.lifetime || !bytes.Equal(c.mki, tc.mki) || !bytes.Equal(c.key, key) {
				t.Errorf("got %+v", c)
			}
		})
	}
}

func TestNegotiateSRTP(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, sdesKeyLen))
	for _, tc := range []struct {
		name    string
		sdp     string
		wantErr error
		suite   string
	}{
		{"first usable key wins", "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/SAVP 0\na=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:" + key + "\na=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:" + key + "\na=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:" + key + "\n", nil, suiteAES32},
		{"SAVP without crypto", "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/SAVP 0\n", errNoSRTPKey, ""},
		{"SAVP with only unusable crypto", "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key + " UNENCRYPTED_SRTP\n", errNoSRTPKey, ""},
		{"crypto on AVP is plain RTP", "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 RTP/AVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "\n", nil, ""},
		{"DTLS-SRTP is not SDES", "v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 UDP/TLS/RTP/SAVP 0\n", errNoCommonCodec, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseSDP([]byte(strings.ReplaceAll(tc.sdp, "\n", "\r\n")))
			if err != nil {
				t.Fatal(err)
			}
			n, err := negotiate(r, nil)
			if tc.wantErr != nil {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr.Error()) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.suite == "" {
				if n.crypto != nil {
					t.Fatalf("SRTP negotiated: %+v", n.crypto)
				}
				return
			}
			if n.crypto == nil || n.crypto.suite != tc.suite {
				t.Fatalf("crypto = %+v, want %s", n.crypto, tc.suite)
			}
			local, err := newLocalCrypto(n.crypto.tag, n.crypto.suite)
			if err != nil {
				t.Fatal(err)
			}
			out := string(buildSDP(1, 1, n.remote.Addr(), 20000, n.codec, n.tePT, answerDir(n.dir), r, n.mIndex, local))
			want := "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:" + base64.StdEncoding.EncodeToString(local.key) + "\r\n"
			if !strings.Contains(out, "m=audio 20000 RTP/SAVP 0\r\n") || !strings.Contains(out, want) {
				t.Errorf("answer lacks SAVP or %q:\n%s", want, out)
			}
		})
	}
}

func TestLocalKeysDiffer(t *testing.T) {
	a, err := newLocalCrypto(1, suiteAES80)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newLocalCrypto(1, suiteAES80)
	if bytes.Equal(a.key, b.key) || bytes.Equal(a.key, make([]byte, sdesKeyLen)) {
		t.Fatal("keys are not random")
	}
	back, err := parseCrypto(strings.TrimPrefix(a.attr(), "crypto:"))
	if err != nil || !bytes.Equal(back.key, a.key) || back.suite != a.suite || back.tag != 1 {
		t.Fatalf("our attribute reads back as %+v, %v", back, err)
	}
}
