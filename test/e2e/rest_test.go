package e2e

import (
	"sort"
	"testing"
)

// keys returns the sorted keys of m.
func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func assertKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	sort.Strings(want)
	got := keys(m)
	if len(got) != len(want) {
		t.Errorf("%s keys %v, want exactly %v", what, got, want)
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s keys %v, want exactly %v", what, got, want)
			return
		}
	}
}
