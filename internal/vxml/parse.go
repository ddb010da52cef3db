package vxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// node is one element of the raw tree built from the token stream.
type node struct {
	name  string // local name; namespaces are not part of VobizXML and are ignored
	attrs []xml.Attr
	line  int
	items []item // content in document order
}

// item is either a run of character data or a child element.
type item struct {
	text string
	el   *node
}

// parser holds the state of one Parse call.
type parser struct {
	base     *url.URL
	warnings []string
}

// Parse parses and validates a VobizXML document. base is the URL the document was fetched
// from; relative URLs in the document are resolved against it (with a nil base, relative URLs
// make the document invalid). Every error returned is a *ParseError and matches
// ErrInvalidDocument.
func Parse(data []byte, base *url.URL) (*Document, error) {
	if len(data) > MaxDocumentSize {
		return nil, &ParseError{Msg: fmt.Sprintf("document is %d bytes, larger than the limit of %d bytes", len(data), MaxDocumentSize)}
	}
	root, err := buildTree(bytes.TrimPrefix(data, []byte("\ufeff")))
	if err != nil {
		return nil, err
	}
	p := &parser{base: base}
	els, err := p.response(root)
	if err != nil {
		return nil, err
	}
	return &Document{Elements: els, Warnings: p.warnings}, nil
}

// buildTree reads the whole token stream into a tree, checking what encoding/xml leaves to
// its callers: DTDs, one root, nothing but whitespace outside it, unique attribute names, and
// the place of the XML declaration. encoding/xml never expands entities other than the five
// predefined ones and character references, so no entity can grow the input.
func buildTree(data []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = charsetReader
	var (
		root  *node
		stack []*node
		first = true
	)
	for {
		line, _ := d.InputPos()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, &ParseError{Line: se.Line, Msg: "not well-formed XML: " + se.Msg, Err: err}
			}
			return nil, &ParseError{Line: line, Msg: "not well-formed XML: " + err.Error(), Err: err}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := checkDuplicateAttrs(t); err != nil {
				err.Line = line
				return nil, err
			}
			n := &node{name: t.Name.Local, attrs: t.Attr, line: line}
			if len(stack) == 0 {
				if root != nil {
					return nil, &ParseError{Line: line, Msg: fmt.Sprintf("element <%s> after the root element; a document has exactly one <Response>", n.name)}
				}
				root = n
			} else {
				parent := stack[len(stack)-1]
				parent.items = append(parent.items, item{el: n})
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if !isBlank(t) {
					return nil, &ParseError{Line: line, Msg: "text outside the <Response> element"}
				}
				break
			}
			parent := stack[len(stack)-1]
			parent.items = append(parent.items, item{text: string(t)})
		case xml.ProcInst:
			if strings.EqualFold(t.Target, "xml") && !first {
				return nil, &ParseError{Line: line, Msg: "not well-formed XML: the XML declaration must come first"}
			}
		case xml.Directive:
			return nil, &ParseError{Line: line, Msg: "DTD and entity declarations (<!…>) are not allowed"}
		case xml.Comment:
		}
		first = false
	}
	if root == nil {
		return nil, &ParseError{Msg: "the document is empty: expected a <Response> element"}
	}
	return root, nil
}

// charsetReader accepts declared encodings that are UTF-8 already; encoding/xml handles
// "UTF-8" itself and calls this for any other name.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "utf8", "us-ascii", "ascii":
		return input, nil
	}
	return nil, fmt.Errorf("encoding %q is not supported; documents must be UTF-8", label)
}

func checkDuplicateAttrs(t xml.StartElement) *ParseError {
	dup := func(a xml.Attr) *ParseError {
		return &ParseError{Element: t.Name.Local, Attr: a.Name.Local, Msg: "not well-formed XML: attribute given twice"}
	}
	if len(t.Attr) > 8 { // a map keeps tags with thousands of attributes linear
		seen := make(map[xml.Name]bool, len(t.Attr))
		for _, a := range t.Attr {
			if seen[a.Name] {
				return dup(a)
			}
			seen[a.Name] = true
		}
		return nil
	}
	for i := 1; i < len(t.Attr); i++ {
		for j := 0; j < i; j++ {
			if t.Attr[i].Name == t.Attr[j].Name {
				return dup(t.Attr[i])
			}
		}
	}
	return nil
}

func isBlank(b []byte) bool {
	return len(bytes.TrimSpace(b)) == 0
}

func (p *parser) warnf(n *node, format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf("line %d: <%s> ", n.line, n.name)+fmt.Sprintf(format, args...))
}

// where an element appears, which decides the children it may have.
type place int

const (
	inResponse place = iota
	inPrompt         // inside PreAnswer or Gather: Speak, Play and Wait only
)

// knownElements are all VobizXML element names, for telling "unknown" from "misplaced".
var knownElements = map[string]bool{
	"Response": true, "Speak": true, "Play": true, "Wait": true, "Redirect": true,
	"Hangup": true, "PreAnswer": true, "Gather": true, "GetDigits": true, "GetInput": true,
	"Dial": true, "Number": true, "User": true, "Conference": true, "Record": true, "DTMF": true,
	"Stream": true,
}

func (p *parser) response(root *node) ([]Element, error) {
	if root.name != "Response" {
		return nil, &ParseError{Line: root.line, Msg: fmt.Sprintf("the root element is <%s>; expected <Response>", root.name)}
	}
	for _, a := range root.attrs {
		if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
			continue // namespace declarations are harmless
		}
		p.warnf(root, "has no attributes; %q ignored", attrName(a.Name))
	}
	return p.children(root, inResponse)
}

// children converts the child elements of n, each of which must be allowed in place at.
// Stray text is ignored with a warning.
func (p *parser) children(n *node, at place) ([]Element, error) {
	var out []Element
	warned := false
	for _, it := range n.items {
		if it.el == nil {
			if !warned && strings.TrimSpace(it.text) != "" {
				p.warnf(n, "text %q ignored: this element holds elements, not text", clip(strings.TrimSpace(it.text)))
				warned = true
			}
			continue
		}
		el, err := p.element(it.el, n, at)
		if err != nil {
			return nil, err
		}
		if el != nil {
			out = append(out, el)
		}
	}
	return out, nil
}

// element converts one element; it returns nil, nil for an element that is skipped.
func (p *parser) element(n, parent *node, at place) (Element, error) {
	if at == inPrompt {
		switch n.name {
		case "Speak", "Play", "Wait":
		default:
			return nil, misplaced(n, parent)
		}
	}
	switch n.name {
	case "Speak":
		return p.speak(n)
	case "Play":
		return p.play(n)
	case "Wait":
		return p.wait(n)
	case "Redirect":
		return p.redirect(n)
	case "Hangup":
		return p.hangup(n)
	case "PreAnswer":
		return p.preAnswer(n)
	case "Gather", "GetDigits", "GetInput":
		return p.gather(n)
	case "Dial":
		return p.dial(n)
	case "Conference":
		return p.conference(n)
	case "Record":
		return p.record(n)
	case "DTMF":
		return p.dtmf(n)
	case "Stream":
		return p.stream(n)
	}
	return nil, misplaced(n, parent)
}

func misplaced(n, parent *node) *ParseError {
	if !knownElements[n.name] {
		return &ParseError{Line: n.line, Element: n.name, Msg: "is not a VobizXML element supported by Parley"}
	}
	return &ParseError{Line: n.line, Element: n.name, Msg: fmt.Sprintf("is not allowed inside <%s>", parent.name)}
}

// textOnly returns the concatenated text of an element whose content is text only.
func textOnly(n *node) (string, error) {
	var b strings.Builder
	for _, it := range n.items {
		if it.el != nil {
			return "", &ParseError{Line: it.el.line, Element: n.name, Msg: fmt.Sprintf("holds text only; child element <%s> is not allowed", it.el.name)}
		}
		b.WriteString(it.text)
	}
	return b.String(), nil
}

// noContent checks an element that has no content: child elements make the document
// invalid, stray text is ignored with a warning.
func (p *parser) noContent(n *node) error {
	var b strings.Builder
	for _, it := range n.items {
		if it.el != nil {
			return &ParseError{Line: it.el.line, Element: n.name, Msg: fmt.Sprintf("has no content; child element <%s> is not allowed", it.el.name)}
		}
		b.WriteString(it.text)
	}
	if t := strings.TrimSpace(b.String()); t != "" {
		p.warnf(n, "has no content; text %q ignored", clip(t))
	}
	return nil
}

// clip shortens s for messages.
func clip(s string) string {
	const max = 40
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}

func attrName(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}
