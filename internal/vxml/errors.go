package vxml

import (
	"errors"
	"strconv"
	"strings"
)

// ErrInvalidDocument is matched (with errors.Is) by every error Parse returns: the document
// cannot be run and the call ends with the "invalid XML" cause of its kind (8011–8014).
var ErrInvalidDocument = errors.New("invalid VobizXML document")

// ParseError says why a document is invalid and where.
type ParseError struct {
	// Line is the 1-based line of the offending element or syntax error; 0 when not known.
	Line int
	// Element is the VobizXML element at fault as written (e.g. "GetDigits"), or "" when the
	// error concerns the document as a whole.
	Element string
	// Attr is the attribute at fault, or "" when the error concerns content.
	Attr string
	// Msg says what is wrong, in words meant for the author of the document.
	Msg string
	// Err is the underlying error (an *xml.SyntaxError for malformed XML), or nil.
	Err error
}

// Error formats the error as "invalid VobizXML document: line 3: <Speak> attribute "loop": …".
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(ErrInvalidDocument.Error())
	b.WriteString(": ")
	if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Element != "" {
		b.WriteString("<")
		b.WriteString(e.Element)
		b.WriteString("> ")
	}
	if e.Attr != "" {
		b.WriteString("attribute ")
		b.WriteString(strconv.Quote(e.Attr))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is reports whether target is ErrInvalidDocument.
func (e *ParseError) Is(target error) bool { return target == ErrInvalidDocument }

// Unwrap returns the underlying error, if any.
func (e *ParseError) Unwrap() error { return e.Err }
