// Package voice holds what the document parser (vxml), the REST API (api) and the synthesiser
// (tts) must agree on about synthesised speech: the languages <Speak> accepts and the SSML
// elements and attributes kept inside it (spec §7.3).
//
// It must not import any other Parley package, do I/O or hold mutable state: it is the single
// definition of these lists for packages that may not import one another.
package voice

// The <Speak> voices; Woman is the default.
const (
	Woman = "WOMAN"
	Man   = "MAN"
)

// DefaultLanguage is the language of a <Speak> without one.
const DefaultLanguage = "en-US"

// Languages returns the 29 Speak languages in their canonical case, in the order of
// calls-more.md §A.5, which XML <Speak> (§7.3), member Speak (§2.4.12) and call Speak (§A.5)
// all accept. The slice is the caller's.
func Languages() []string {
	return []string{"arb", "cmn-CN", "da-DK", "nl-NL", "en-AU", "en-IN", "en-GB", "en-US",
		"en-GB-WLS", "fr-FR", "fr-CA", "de-DE", "hi-IN", "is-IS", "it-IT", "ja-JP", "ko-KR", "nb-NO",
		"pl-PL", "pt-BR", "pt-PT", "ro-RO", "ru-RU", "es-ES", "es-US", "sv-SE", "tr-TR", "cy-GB", "yue-CN"}
}

// SSMLAttributes reports whether the SSML element (lower-case name) is kept inside <Speak> and,
// if so, the attributes kept on it; any other element is reduced to its text. <prosody> keeps
// range as well as rate, pitch and volume: SSML 1.1 defines it and espeak-ng honours it, and
// §7.3 asks for prosody "as far as the synthesiser can".
func SSMLAttributes(element string) (attrs []string, ok bool) {
	switch element {
	case "break":
		return []string{"time", "strength"}, true
	case "say-as":
		return []string{"interpret-as", "format", "detail"}, true
	case "emphasis":
		return []string{"level"}, true
	case "prosody":
		return []string{"rate", "pitch", "volume", "range"}, true
	case "p", "s":
		return nil, true
	case "sub":
		return []string{"alias"}, true
	}
	return nil, false
}
