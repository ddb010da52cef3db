package media

import (
	"strings"
	"testing"
	"time"
)

func TestDigitMatcher(t *testing.T) {
	// Each step is a digit and the pause before it; want is the pattern reported then ("" none).
	type step struct {
		d     rune
		pause time.Duration
		want  string
	}
	seq := func(digits, matchAtEnd string) []step {
		var s []step
		for i, d := range digits {
			w := ""
			if i == len(digits)-1 {
				w = matchAtEnd
			}
			s = append(s, step{d: d, pause: time.Second, want: w})
		}
		return s
	}
	tests := []struct {
		name     string
		patterns []string
		steps    []step
	}{
		{"no patterns", nil, seq("1234", "")},
		{"empty patterns only", []string{"", ""}, seq("1", "")},
		{"simple", []string{"12"}, seq("12", "12")},
		{"suffix after noise", []string{"*9"}, seq("5512*9", "*9")},
		{"first listed pattern wins", []string{"9", "89"}, seq("89", "9")},
		{"longer listed first wins", []string{"89", "9"}, seq("89", "89")},
		{"buffer cleared after a match", []string{"11"}, []step{{'1', 0, ""}, {'1', time.Second, "11"}, {'1', time.Second, ""}, {'1', time.Second, "11"}}},
		{"pause below the gap keeps digits", []string{"12"}, []step{{'1', 0, ""}, {'2', DigitGap - time.Millisecond, "12"}}},
		{"pause of the gap forgets digits", []string{"12"}, []step{{'1', 0, ""}, {'2', DigitGap, ""}}},
		{"after a gap a fresh sequence matches", []string{"12"}, []step{{'1', 0, ""}, {'1', time.Minute, ""}, {'2', time.Second, "12"}}},
		{"letters break a sequence", []string{"12"}, seq("1A2", "")},
		{"non-ASCII ignored", []string{"12"}, []step{{'1', 0, ""}, {'é', time.Second, ""}, {'2', time.Second, "12"}}},
		{"hash pattern", []string{"#"}, seq("#", "#")},
		{"long pattern fits", []string{strings.Repeat("1", 300) + "#"}, seq(strings.Repeat("1", 500)+"#", strings.Repeat("1", 300)+"#")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewDigitMatcher(tt.patterns)
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, s := range tt.steps {
				now = now.Add(s.pause)
				got, ok := m.Feed(s.d, now)
				if ok != (s.want != "") || got != s.want {
					t.Fatalf("step %d (%q): got %q, %v; want %q", i, s.d, got, ok, s.want)
				}
			}
		})
	}
}

func TestDigitMatcherBufferBounded(t *testing.T) {
	m := NewDigitMatcher([]string{"123", "9"})
	now := time.Unix(0, 0)
	for range 10000 {
		now = now.Add(time.Millisecond)
		m.Feed('5', now)
	}
	if len(m.buf) > 3 {
		t.Fatalf("buffer holds %d digits, want at most the longest pattern (3)", len(m.buf))
	}
	if cap(m.buf) > 16 {
		t.Fatalf("buffer capacity grew to %d", cap(m.buf))
	}
}
