package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"strconv"
)

// numericIDSpan is how many 15-digit decimals have a first digit 1-9 (10^15 - 10^14).
const numericIDSpan = 900_000_000_000_000

// NewNumericID returns a random app_id / endpoint_id: 15 decimal digits, first digit 1-9
// (spec §1.7). Callers must still check uniqueness.
func NewNumericID() string {
	// Rejection sampling keeps the distribution uniform: accept values below the largest
	// multiple of the span that fits in 64 bits.
	const limit = (1<<64 - 1) / numericIDSpan * numericIDSpan
	var b [8]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		v := binary.BigEndian.Uint64(b[:])
		if v < limit {
			return strconv.FormatUint(v%numericIDSpan+100_000_000_000_000, 10)
		}
	}
}

// ValidNumericID reports whether s has the app_id / endpoint_id format.
func ValidNumericID(s string) bool {
	if len(s) != 15 || s[0] < '1' || s[0] > '9' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// NewUUID returns a random lower-case UUID v4 (recording ids, outbox item ids).
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
