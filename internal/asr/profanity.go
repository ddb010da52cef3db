package asr

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// englishProfanity is the built-in list of §C.1 profanityFilter: common English swear words
// and their usual inflections, lower case, single words only (the filter matches whole words,
// so "class" or "scrapbook" are never touched). Deliberately short: a recogniser's vocabulary
// spells them this way, and the list is replaceable through Options.ProfanityWords
// (profanity_words per language).
var englishProfanity = []string{
	"arse", "arsehole", "ass", "asshole", "assholes", "bastard", "bastards", "bitch", "bitches",
	"bitching", "bollocks", "bullshit", "cock", "cocks", "cunt", "cunts", "damn", "damned",
	"dick", "dicks", "fuck", "fucked", "fucker", "fuckers", "fucking", "fucks", "goddamn",
	"motherfucker", "motherfuckers", "motherfucking", "piss", "pissed", "prick", "shit",
	"shits", "shitty", "slut", "twat", "wanker",
}

// EnglishProfanity returns a copy of the built-in English word list.
func EnglishProfanity() []string { return append([]string(nil), englishProfanity...) }

// MaskProfanity replaces each word of text found in words (compared without regard to case)
// by its first letter followed by one asterisk per remaining letter ("fuck" → "f***", "Shit!"
// → "S***!"). Words are the runs between whitespace; punctuation at either end of a run is
// kept and not part of the word. Entries of words that contain spaces are ignored (§C.1:
// single words only). Whitespace is kept as it is.
func MaskProfanity(text string, words []string) string {
	if len(words) == 0 || text == "" {
		return text
	}
	set := make(map[string]struct{}, len(words))
	for _, w := range words {
		w = strings.ToLower(strings.TrimSpace(w))
		if w != "" && !strings.ContainsFunc(w, unicode.IsSpace) {
			set[w] = struct{}{}
		}
	}
	var b strings.Builder
	b.Grow(len(text))
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if unicode.IsSpace(r) {
			b.WriteString(text[i : i+size])
			i += size
			continue
		}
		end := i + strings.IndexFunc(text[i:], unicode.IsSpace)
		if end < i {
			end = len(text)
		}
		b.WriteString(maskToken(text[i:end], set))
		i = end
	}
	return b.String()
}

// maskToken masks one whitespace-free token whose core (without surrounding punctuation) is in
// set.
func maskToken(tok string, set map[string]struct{}) string {
	isEdge := func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\'' }
	core := strings.TrimFunc(tok, isEdge)
	if core == "" {
		return tok
	}
	if _, bad := set[strings.ToLower(core)]; !bad {
		return tok
	}
	start := strings.Index(tok, core)
	first, size := utf8.DecodeRuneInString(core)
	masked := string(first) + strings.Repeat("*", utf8.RuneCountInString(core[size:]))
	return tok[:start] + masked + tok[start+len(core):]
}
