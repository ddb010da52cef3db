// Package tts turns text (plain or SSML, as found in <Speak>) into 8 kHz mono PCM: the
// Synthesizer interface, an espeak-ng implementation that runs the program as a subprocess, and
// an LRU cache that also merges identical concurrent requests.
//
// It must not know about calls, conferences or XML documents beyond the SSML inside <Speak>,
// and must never run a shell: text reaches espeak-ng on its standard input only.
package tts

import (
	"context"
	"fmt"
	"strings"

	"github.com/parley-voice/parley/internal/voice"
)

// Request is one piece of speech to synthesise.
type Request struct {
	// Text is the text to speak; with SSML set it may hold SSML markup (without a <speak> root).
	Text string
	// SSML says Text is SSML markup.
	SSML bool
	// Voice is voice.Woman or voice.Man; "" means voice.Woman.
	Voice string
	// Language is one of voice.Languages(), e.g. "en-US"; "" means voice.DefaultLanguage.
	Language string
}

// Synthesizer turns a Request into 8 kHz mono signed 16-bit PCM samples.
type Synthesizer interface {
	Synthesize(ctx context.Context, r Request) ([]int16, error)
}

// espeakVoices maps each <Speak> language (spec §7.3) to an installed espeak-ng voice. Names are
// explicit so that espeak-ng never picks an MBROLA voice, which is usually not installed.
var espeakVoices = map[string]string{
	"arb":       "ar",
	"cmn-CN":    "cmn",
	"da-DK":     "da",
	"nl-NL":     "nl",
	"en-AU":     "en-gb", // espeak-ng has no Australian English; British is the nearest
	"en-IN":     "en-gb", // espeak-ng has no Indian English; British is the nearest
	"en-GB":     "en-gb",
	"en-US":     "en-us",
	"en-GB-WLS": "en-gb", // Welsh English: no own voice, British is the nearest
	"fr-FR":     "fr-fr",
	"fr-CA":     "fr-fr", // fr-ca exists only as an MBROLA voice
	"de-DE":     "de",
	"hi-IN":     "hi",
	"is-IS":     "is",
	"it-IT":     "it",
	"ja-JP":     "ja",
	"ko-KR":     "ko",
	"nb-NO":     "nb",
	"pl-PL":     "pl",
	"pt-PT":     "pt",
	"pt-BR":     "pt-br",
	"ro-RO":     "ro",
	"ru-RU":     "ru",
	"es-ES":     "es",
	"es-US":     "es-419",
	"sv-SE":     "sv",
	"tr-TR":     "tr",
	"cy-GB":     "cy",
	"yue-CN":    "yue",
}

// Normalize fills defaults and canonicalises case ("en-us" -> "en-US", "man" -> "MAN"), and
// refuses voices and languages that <Speak> does not accept.
func Normalize(r Request) (Request, error) {
	r.Voice = strings.ToUpper(strings.TrimSpace(r.Voice))
	if r.Voice == "" {
		r.Voice = voice.Woman
	}
	if r.Voice != voice.Woman && r.Voice != voice.Man {
		return r, fmt.Errorf("unsupported voice %q (use WOMAN or MAN)", r.Voice)
	}
	lang := strings.TrimSpace(r.Language)
	if lang == "" {
		lang = voice.DefaultLanguage
	}
	languages := voice.Languages()
	for _, l := range languages {
		if strings.EqualFold(l, lang) {
			r.Language = l
			return r, nil
		}
	}
	return r, fmt.Errorf("unsupported language %q (supported: %s)", r.Language, strings.Join(languages, ", "))
}
