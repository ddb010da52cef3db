package vxml

import (
	"encoding/xml"
	"strings"
	"unicode"

	"github.com/parley-voice/parley/internal/voice"
)

// wordBreaks are the kept tags that separate words in the plain text.
var wordBreaks = map[string]bool{"break": true, "p": true, "s": true}

// renderSSML returns the plain text of a <Speak> (markup removed, whitespace collapsed) and
// its content as SSML. It walks the subtree with an explicit stack, so deep nesting cannot
// exhaust the goroutine stack.
func renderSSML(n *node) (text, ssml string) {
	var tb, sb strings.Builder
	type frame struct {
		n    *node
		i    int
		kept bool
	}
	stack := []frame{{n: n}}
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.i == len(f.n.items) {
			if f.kept {
				if f.n.name != "break" {
					sb.WriteString("</" + f.n.name + ">")
				}
				if wordBreaks[f.n.name] {
					tb.WriteByte(' ')
				}
			}
			stack = stack[:len(stack)-1]
			continue
		}
		it := f.n.items[f.i]
		f.i++
		if it.el == nil {
			tb.WriteString(it.text)
			xml.EscapeText(&sb, []byte(collapseSpace(it.text)))
			continue
		}
		c := it.el
		keep, ok := voice.SSMLAttributes(c.name)
		if ok && c.name == "sub" && attrValue(c, "alias") == "" {
			ok = false // a <sub> without alias has nothing to substitute
		}
		if ok {
			sb.WriteString("<" + c.name)
			for _, name := range keep {
				if v := attrValue(c, name); v != "" {
					sb.WriteString(" " + name + `="`)
					xml.EscapeText(&sb, []byte(v))
					sb.WriteString(`"`)
				}
			}
			if c.name == "break" {
				sb.WriteString("/>")
			} else {
				sb.WriteString(">")
			}
			if wordBreaks[c.name] {
				tb.WriteByte(' ')
			}
		}
		stack = append(stack, frame{n: c, kept: ok})
	}
	return strings.TrimSpace(collapseSpace(tb.String())), strings.TrimSpace(sb.String())
}

// collapseSpace replaces each run of white space with one space, keeping a run at either
// end as one space so that words in neighbouring text runs stay apart.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	if space {
		b.WriteByte(' ')
	}
	return b.String()
}

func attrValue(n *node, name string) string {
	for _, a := range n.attrs {
		if a.Name.Space == "" && a.Name.Local == name {
			return strings.TrimSpace(a.Value)
		}
	}
	return ""
}
