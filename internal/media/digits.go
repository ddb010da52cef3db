package media

import "time"

// DigitGap is the longest pause between two DTMF digits that still counts them as one sequence
// for a DigitMatcher; after a longer pause the earlier digits are forgotten.
const DigitGap = 5 * time.Second

// DigitMatcher watches one caller's DTMF digits for digit patterns (the digitsMatch attributes of
// <Conference> and <Dial>). Its buffer rule, the only one in Parley:
//
//   - it keeps the most recent digits, as many as the longest pattern (an older digit cannot be
//     part of a match), so the buffer is bounded by the document that set the patterns;
//   - a pause of DigitGap or more before a digit forgets the digits before the pause;
//   - a match clears the buffer, so no digit counts towards two matches;
//   - patterns are tried in order and the first one the buffer ends with is reported; empty
//     patterns never match, and non-ASCII runes are ignored.
//
// A DigitMatcher is used by one goroutine at a time.
type DigitMatcher struct {
	patterns []string
	longest  int
	buf      []byte
	last     time.Time // when the previous digit came
}

// NewDigitMatcher returns a matcher for the patterns; with none, Feed never matches.
func NewDigitMatcher(patterns []string) *DigitMatcher {
	m := &DigitMatcher{}
	for _, p := range patterns {
		if p != "" {
			m.patterns = append(m.patterns, p)
			m.longest = max(m.longest, len(p))
		}
	}
	return m
}

// Feed adds digit d, received at now, and returns the pattern the digits now end with, if any.
func (m *DigitMatcher) Feed(d rune, now time.Time) (pattern string, ok bool) {
	if m.longest == 0 || d >= 0x80 {
		return "", false
	}
	if !m.last.IsZero() && now.Sub(m.last) >= DigitGap {
		m.buf = m.buf[:0]
	}
	m.last = now
	if len(m.buf) == m.longest {
		m.buf = append(m.buf[:0], m.buf[1:]...)
	}
	m.buf = append(m.buf, byte(d))
	for _, p := range m.patterns {
		if len(m.buf) >= len(p) && string(m.buf[len(m.buf)-len(p):]) == p {
			m.buf = m.buf[:0]
			return p, true
		}
	}
	return "", false
}
