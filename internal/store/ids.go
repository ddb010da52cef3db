package store

import (
	"crypto/rand"
	"encoding/binary"
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
