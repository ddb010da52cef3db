package asr

import "testing"

func TestMaskProfanity(t *testing.T) {
	en := EnglishProfanity()
	cases := []struct {
		in, want string
		words    []string
	}{
		{"what the fuck", "what the f***", en},
		{"Shit! that's bad", "S***! that's bad", en},
		{"(damn)   it", "(d***)   it", en},
		{"class assessment scrapbook", "class assessment scrapbook", en},
		{"fucking hell", "f****** hell", en},
		{"", "", en},
		{"no words to mask", "no words to mask", nil},
		{"drat and darn", "d*** and d***", []string{"DRAT", "darn"}},
		{"son of a gun", "son of a gun", []string{"son of a gun"}},
		{"ça merde alors", "ça m**** alors", []string{"merde"}},
		{"élan", "é***", []string{"ÉLAN"}},
	}
	for _, tc := range cases {
		if got := MaskProfanity(tc.in, tc.words); got != tc.want {
			t.Errorf("MaskProfanity(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// The built-in list is a copy: changing it does not change the next call.
	en[0] = "what"
	if got := MaskProfanity("what", EnglishProfanity()); got != "what" {
		t.Errorf("built-in list was modified through its copy: %q", got)
	}
}
