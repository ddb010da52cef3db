package tts

import (
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strings"

	"github.com/parley-voice/parley/internal/voice"
)

var tagPattern = regexp.MustCompile(`<[^>]*>`)

// cleanSSML rebuilds SSML markup keeping only the allowed elements and attributes. It returns
// the markup, its spoken text (for the emptiness check) and ok=true; when the markup does not
// parse it returns the text with anything that looks like a tag removed and ok=false, so it is
// spoken as plain text.
func cleanSSML(in string) (markup, spoken string, ok bool) {
	d := xml.NewDecoder(strings.NewReader("<speak>" + in + "</speak>"))
	d.Entity = xml.HTMLEntity
	var out, text strings.Builder
	var stack []bool // whether each open element was kept
	for {
		tok, err := d.Token()
		if err != nil {
			if len(stack) == 0 && errors.Is(err, io.EOF) {
				return out.String(), text.String(), true
			}
			plain := tagPattern.ReplaceAllString(in, " ")
			return plain, plain, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := strings.ToLower(t.Name.Local)
			attrs, keep := voice.SSMLAttributes(name) // the elements passed to espeak-ng
			keep = keep && len(stack) > 0             // the outer <speak> is ours
			stack = append(stack, keep)
			if !keep {
				continue
			}
			out.WriteString("<" + name)
			for _, a := range t.Attr {
				for _, allowed := range attrs {
					if strings.EqualFold(a.Name.Local, allowed) {
						out.WriteString(" " + allowed + `="`)
						xml.EscapeText(&out, []byte(a.Value))
						out.WriteString(`"`)
					}
				}
			}
			if name == "break" {
				out.WriteString("/>")
			} else {
				out.WriteString(">")
			}
		case xml.EndElement:
			if len(stack) == 0 {
				continue
			}
			keep := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if name := strings.ToLower(t.Name.Local); keep && name != "break" {
				out.WriteString("</" + name + ">")
			}
		case xml.CharData:
			xml.EscapeText(&out, t)
			text.Write(t)
		}
	}
}
