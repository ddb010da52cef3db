package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// valueKind says where a parameter value came from and what JSON type it had.
type valueKind uint8

const (
	kindText   valueKind = iota // a query or form field, or a JSON string
	kindNumber                  // a JSON number (text holds its literal)
	kindBool                    // a JSON boolean (text holds "true"/"false")
	kindOther                   // a JSON object or array
)

type value struct {
	text string
	kind valueKind
}

// Params holds the parameters of one request (§1.3): the query string for GET; for POST and
// DELETE the query merged with the body, the body winning on a clash. A JSON null is absent
// but remembered (IsNull), for the few parameters where an explicit null clears a field.
type Params struct {
	vals  map[string]value
	nulls map[string]bool
	// repeated holds every value of a query or form field given more than once (vals keeps
	// the first), for the few list parameters that accept that form (call Play urls).
	repeated map[string][]string
}

// Has reports whether name was given with a non-null value.
func (p *Params) Has(name string) bool { _, ok := p.vals[name]; return ok }

// IsNull reports whether the body gave name an explicit JSON null.
func (p *Params) IsNull(name string) bool { return p.nulls[name] }

// Text returns the value of name as text (a JSON string unquoted, other JSON values as their
// literal), and whether it was given.
func (p *Params) Text(name string) (string, bool) {
	v, ok := p.vals[name]
	return v.text, ok
}

func newParams() *Params { return &Params{vals: map[string]value{}, nulls: map[string]bool{}} }

// addQuery adds query fields that are not already set (the first value of a repeated field).
func (p *Params) addQuery(q url.Values) {
	for k, vs := range q {
		if _, set := p.vals[k]; set || p.nulls[k] || len(vs) == 0 {
			continue
		}
		p.vals[k] = value{text: vs[0]}
		if len(vs) > 1 {
			if p.repeated == nil {
				p.repeated = map[string][]string{}
			}
			p.repeated[k] = vs
		}
	}
}

// errMalformed is the 400 of a body that cannot be parsed.
var errMalformed = &StatusError{Status: http.StatusBadRequest, Message: msgMalformedBody}

// parseBody reads the parameters of a POST or DELETE body (§1.3) into a new Params.
func parseBody(contentType string, body []byte) (*Params, error) {
	p := newParams()
	trimmed := bytes.TrimSpace(body)
	isJSON := false
	mt, _, err := mime.ParseMediaType(contentType)
	switch {
	case err == nil && mt == "application/json":
		isJSON = true
	case err == nil && mt == "application/x-www-form-urlencoded":
	default:
		isJSON = len(trimmed) > 0 && trimmed[0] == '{'
	}
	if len(trimmed) == 0 {
		return p, nil
	}
	if !isJSON {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, errMalformed
		}
		p.addQuery(form)
		return p, nil
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		return nil, errMalformed
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errMalformed // trailing data after the value
	}
	if obj == nil {
		if string(trimmed) != "null" {
			return nil, errMalformed
		}
		return p, nil
	}
	for k, raw := range obj {
		v, null, err := jsonValue(raw)
		if err != nil {
			return nil, errMalformed
		}
		if null {
			p.nulls[k] = true
			continue
		}
		p.vals[k] = v
	}
	return p, nil
}

func jsonValue(raw json.RawMessage) (v value, null bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return value{}, false, errMalformed
	}
	switch raw[0] {
	case 'n':
		return value{}, true, nil
	case 't', 'f':
		return value{text: string(raw), kind: kindBool}, false, nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return value{}, false, err
		}
		return value{text: s}, false, nil
	case '{', '[':
		return value{text: string(raw), kind: kindOther}, false, nil
	default:
		return value{text: string(raw), kind: kindNumber}, false, nil
	}
}

// binder validates parameters in the order a route's table lists them and keeps the first
// failure, so the 400 names the first bad parameter (§1.6 check order). An empty string counts
// as absent for typed and required parameters.
type binder struct {
	p   *Params
	err error
}

func (b *binder) missing(name string) {
	if b.err == nil {
		b.err = &StatusError{Status: http.StatusBadRequest, Message: "missing required parameter: " + name}
	}
}

func (b *binder) invalid(name string) {
	if b.err == nil {
		b.err = invalidParam(name)
	}
}

// invalidParam is the 400 of a parameter with a wrong type, format or value.
func invalidParam(name string) error {
	return &StatusError{Status: http.StatusBadRequest, Message: "invalid value for parameter: " + name}
}

// get returns the value of name when the binder has not failed yet and the value is given and
// not empty; it records "missing" for an absent required parameter.
func (b *binder) get(name string, required bool) (value, bool) {
	if b.err != nil {
		return value{}, false
	}
	v, ok := b.p.vals[name]
	if !ok || (v.kind == kindText && v.text == "") {
		if required {
			b.missing(name)
		}
		return value{}, false
	}
	return v, true
}

// String reads a string parameter of at most maxRunes characters (0 = no limit). A JSON number
// is taken as its literal text; booleans, objects and arrays are invalid.
func (b *binder) String(name string, required bool, maxRunes int) (string, bool) {
	v, ok := b.get(name, required)
	if !ok {
		return "", false
	}
	if v.kind == kindBool || v.kind == kindOther || (maxRunes > 0 && utf8.RuneCountInString(v.text) > maxRunes) {
		b.invalid(name)
		return "", false
	}
	return v.text, true
}

// Int reads an integer in [lo, hi]: a JSON integer or a decimal string.
func (b *binder) Int(name string, required bool, lo, hi int64) (int64, bool) {
	v, ok := b.get(name, required)
	if !ok {
		return 0, false
	}
	n, err := parseDecimal(v.text)
	if err != nil || (v.kind != kindText && v.kind != kindNumber) || n < lo || n > hi {
		b.invalid(name)
		return 0, false
	}
	return n, true
}

// parseDecimal accepts an optional '-' and ASCII digits only.
func parseDecimal(s string) (int64, error) {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseInt(s, 10, 64)
}

// Bool reads a JSON boolean or the strings true/false in any case.
func (b *binder) Bool(name string, required bool) (val, ok bool) {
	v, ok := b.get(name, required)
	if !ok {
		return false, false
	}
	if v.kind == kindBool || v.kind == kindText {
		switch strings.ToLower(v.text) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	b.invalid(name)
	return false, false
}

// Enum reads a string that must equal one of allowed, compared in any case; it returns the
// allowed spelling.
func (b *binder) Enum(name string, required bool, allowed ...string) (string, bool) {
	v, ok := b.get(name, required)
	if !ok {
		return "", false
	}
	if v.kind == kindText {
		for _, a := range allowed {
			if strings.EqualFold(v.text, a) {
				return a, true
			}
		}
	}
	b.invalid(name)
	return "", false
}

// URL reads an absolute http or https URL.
func (b *binder) URL(name string, required bool) (string, bool) {
	v, ok := b.get(name, required)
	if !ok {
		return "", false
	}
	if v.kind != kindText || !isHTTPURL(v.text) {
		b.invalid(name)
		return "", false
	}
	return v.text, true
}

// Method reads GET or POST (any case, returned upper case), defaulting to POST.
func (b *binder) Method(name string) string {
	m, ok := b.Enum(name, false, http.MethodGet, http.MethodPost)
	if !ok {
		return http.MethodPost
	}
	return m
}

// isHTTPURL reports whether s is an absolute http(s) URL with a host.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	return scheme == "http" || scheme == "https"
}

// Bounds for integer parameters without a documented minimum or maximum.
const (
	minInt = math.MinInt64
	maxInt = math.MaxInt64
)
