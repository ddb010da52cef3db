package voice

import (
	"slices"
	"testing"
)

func TestLanguages(t *testing.T) {
	ls := Languages()
	if len(ls) != 29 || !slices.Contains(ls, DefaultLanguage) {
		t.Fatalf("got %d languages %v, want the 29 of calls-more.md §A.5 with %s", len(ls), ls, DefaultLanguage)
	}
	ls[0] = "changed"
	if Languages()[0] == "changed" {
		t.Error("Languages shares its slice between callers")
	}
}

func TestSSMLAttributes(t *testing.T) {
	tests := []struct {
		element string
		ok      bool
		attrs   []string
	}{
		{"break", true, []string{"time", "strength"}},
		{"say-as", true, []string{"interpret-as", "format", "detail"}},
		{"emphasis", true, []string{"level"}},
		{"prosody", true, []string{"rate", "pitch", "volume", "range"}},
		{"p", true, nil},
		{"s", true, nil},
		{"sub", true, []string{"alias"}},
		{"speak", false, nil}, // the root is the synthesiser's wrapper, never content
		{"audio", false, nil},
		{"voice", false, nil},
		{"Prosody", false, nil}, // names are given lower case
		{"", false, nil},
	}
	for _, tt := range tests {
		attrs, ok := SSMLAttributes(tt.element)
		if ok != tt.ok || !slices.Equal(attrs, tt.attrs) {
			t.Errorf("SSMLAttributes(%q) = %v, %v; want %v, %v", tt.element, attrs, ok, tt.attrs, tt.ok)
		}
	}
}
