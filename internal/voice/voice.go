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

// Languages returns the <Speak> languages in their canonical case, in the spec's order. The
// slice is the caller's.
func Languages() []string {
	return []string{"da-DK", "nl-NL", "en-AU", "en-GB", "en-US", "fr-FR", "fr-CA", "de-DE",
		"it-IT", "pl-PL", "pt-PT", "pt-BR", "ru-RU", "es-ES", "es-US", "sv-SE"}
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
