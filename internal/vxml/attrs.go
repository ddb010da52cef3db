package vxml

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// maxUnbounded caps integers whose range has no maximum, so that seconds fit a time.Duration.
const maxUnbounded = math.MaxInt32

// attrs reads the attributes of one element. Each getter records the first error in err,
// so a converter reads every attribute and checks err once.
type attrs struct {
	p       *parser
	n       *node
	used    []bool
	ignored []string // names accepted and ignored silently
	err     *ParseError
}

func (p *parser) attrs(n *node, ignored ...string) *attrs {
	return &attrs{p: p, n: n, used: make([]bool, len(n.attrs)), ignored: ignored}
}

// lookup returns the raw value of the un-namespaced attribute name.
func (a *attrs) lookup(name string) (string, bool) {
	for i, at := range a.n.attrs {
		if at.Name.Space == "" && at.Name.Local == name {
			a.used[i] = true
			return at.Value, true
		}
	}
	return "", false
}

// done warns about attributes nobody read and returns the first error.
func (a *attrs) done() error {
	if a.err != nil {
		return a.err
	}
	for i, at := range a.n.attrs {
		if a.used[i] || at.Name.Space != "" || at.Name.Local == "xmlns" {
			continue
		}
		silent := false
		for _, s := range a.ignored {
			if s == at.Name.Local {
				silent = true
				break
			}
		}
		if !silent {
			a.p.warnf(a.n, "unknown attribute %q ignored", at.Name.Local)
		}
	}
	return nil
}

func (a *attrs) fail(name, format string, args ...any) {
	if a.err == nil {
		a.err = &ParseError{Line: a.n.line, Element: a.n.name, Attr: name, Msg: fmt.Sprintf(format, args...)}
	}
}

func (a *attrs) warn(name, format string, args ...any) {
	a.p.warnf(a.n, "attribute %q: "+format, append([]any{name}, args...)...)
}

// boolean reads "true" or "false" in any case.
func (a *attrs) boolean(name string, def bool) bool {
	v, ok := a.lookup(name)
	if !ok {
		return def
	}
	switch t := strings.TrimSpace(v); {
	case strings.EqualFold(t, "true"):
		return true
	case strings.EqualFold(t, "false"):
		return false
	}
	a.fail(name, "%q is not a boolean (true or false)", v)
	return def
}

// enum reads one of values in any case and returns it as written in values.
func (a *attrs) enum(name, def string, values ...string) string {
	v, ok := a.lookup(name)
	if !ok {
		return def
	}
	if c, ok := matchEnum(strings.TrimSpace(v), values); ok {
		return c
	}
	a.fail(name, "%q is not one of %s", v, strings.Join(values, ", "))
	return def
}

func matchEnum(v string, values []string) (string, bool) {
	for _, c := range values {
		if strings.EqualFold(v, c) {
			return c, true
		}
	}
	return "", false
}

// method reads GET or POST (any case), default POST.
func (a *attrs) method(name string) string {
	return a.enum(name, MethodPost, MethodGet, MethodPost)
}

// integer reads an integer in [min, max]: above max it is clamped, below min it takes def;
// both with a warning. A value that is not an integer is an error.
func (a *attrs) integer(name string, def, min, max int) int {
	v, ok := a.lookup(name)
	if !ok {
		return def
	}
	n, ok := a.parseInt(name, v)
	if !ok {
		return def
	}
	switch {
	case n > int64(max):
		a.warn(name, "%s is above the maximum; using %d", strings.TrimSpace(v), max)
		return max
	case n < int64(min):
		a.warn(name, "%s is below the minimum of %d; using the default %d", strings.TrimSpace(v), min, def)
		return def
	}
	return int(n)
}

// parseInt parses a decimal integer, saturating values too large for int64.
func (a *attrs) parseInt(name, v string) (int64, bool) {
	t := strings.TrimSpace(v)
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return n, true // ParseInt saturates at the int64 bounds
		}
		a.fail(name, "%q is not a whole number", v)
		return 0, false
	}
	return n, true
}

// seconds reads an integer number of seconds like integer.
func (a *attrs) seconds(name string, def, min, max int) time.Duration {
	return time.Duration(a.integer(name, def, min, max)) * time.Second
}

// url reads an http or https URL, resolved against the document's URL. An empty value means
// the attribute is not set.
func (a *attrs) url(name string) string {
	v, ok := a.lookup(name)
	if !ok || strings.TrimSpace(v) == "" {
		return ""
	}
	u, msg := a.p.resolve(v)
	if msg != "" {
		a.fail(name, "%s", msg)
	}
	return u
}

// resolve turns raw into an absolute http or https URL, or says why it cannot.
func (p *parser) resolve(raw string) (string, string) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", "a URL is required"
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Sprintf("%q is not a valid URL", clip(s))
	}
	if !u.IsAbs() {
		if p.base == nil {
			return "", fmt.Sprintf("%q is a relative URL and the document has no URL to resolve it against", clip(s))
		}
		u = p.base.ResolveReference(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Sprintf("%q is not an http or https URL", clip(s))
	}
	if u.Host == "" {
		return "", fmt.Sprintf("%q has no host", clip(s))
	}
	return u.String(), ""
}

// digitPatterns reads a comma list of patterns made of [0-9*#]; empty items are skipped.
func (a *attrs) digitPatterns(name string) []string {
	v, ok := a.lookup(name)
	if !ok {
		return nil
	}
	var out []string
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !allIn(f, "0123456789*#") {
			a.fail(name, "pattern %q may contain only the digits 0-9, * and #", clip(f))
			return nil
		}
		out = append(out, f)
	}
	return out
}

// sipHeaders reads "name=value,…". Names are letters, digits, "-" and "_"; values are
// printable and have no commas.
func (a *attrs) sipHeaders(name string) []SIPHeader {
	v, ok := a.lookup(name)
	if !ok {
		return nil
	}
	var out []SIPHeader
	for _, f := range strings.Split(v, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		k, val, ok := strings.Cut(f, "=")
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		if !ok || k == "" {
			a.fail(name, "%q is not of the form name=value", clip(f))
			return nil
		}
		if !allIn(k, headerNameChars) {
			a.fail(name, "header name %q may contain only letters, digits, - and _", clip(k))
			return nil
		}
		for _, r := range val {
			if r < 0x20 || r == 0x7f {
				a.fail(name, "header %q has a control character in its value", k)
				return nil
			}
		}
		out = append(out, SIPHeader{Name: k, Value: val})
	}
	return out
}

const headerNameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"

// dtmfChars are the characters of <DTMF> and sendDigits.
const dtmfChars = "0123456789ABCD*#wW"

// digits reads an optional digit string made of dtmfChars.
func (a *attrs) digits(name string) string {
	v, ok := a.lookup(name)
	if !ok {
		return ""
	}
	t := strings.TrimSpace(v)
	if !allIn(t, dtmfChars) {
		a.fail(name, "%q may contain only 0-9, A-D, *, #, w and W", clip(v))
		return ""
	}
	return t
}

// key reads an optional single key of [0-9*#]; "" and "none" (any case) mean no key.
func (a *attrs) key(name, def string) string {
	v, ok := a.lookup(name)
	if !ok {
		return def
	}
	t := strings.TrimSpace(v)
	if t == "" || strings.EqualFold(t, "none") {
		return ""
	}
	if len(t) != 1 || !allIn(t, "0123456789*#") {
		a.fail(name, "%q is not one key of 0-9, * or #", clip(v))
		return def
	}
	return t
}

// text reads an optional string, trimmed. Control characters (which character references
// can smuggle past attribute normalisation) are refused: these values end up in SIP headers.
func (a *attrs) text(name string) string {
	v, _ := a.lookup(name)
	t := strings.TrimSpace(v)
	if strings.ContainsFunc(t, unicode.IsControl) {
		a.fail(name, "must not contain control characters")
		return ""
	}
	return t
}

func allIn(s, set string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune(set, r) {
			return false
		}
	}
	return true
}

func secondsDuration(n int) time.Duration { return time.Duration(n) * time.Second }

func msDuration(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// The lenient readers below serve <Stream>, whose attributes are matched in any case and whose
// values never make a document invalid (spec/streams.md §1.2): a value that is not understood
// means the default, with a warning.

// lookupFold returns the raw value of the attribute name, matched exactly or else in any case.
func (a *attrs) lookupFold(name string) (string, bool) {
	if v, ok := a.lookup(name); ok {
		return v, true
	}
	for i, at := range a.n.attrs {
		if at.Name.Space == "" && strings.EqualFold(at.Name.Local, name) {
			a.used[i] = true
			return at.Value, true
		}
	}
	return "", false
}

// looseBool reads true/false in any case; anything else means def.
func (a *attrs) looseBool(name string, def bool) bool {
	v, ok := a.lookupFold(name)
	if !ok {
		return def
	}
	switch t := strings.TrimSpace(v); {
	case strings.EqualFold(t, "true"):
		return true
	case strings.EqualFold(t, "false"):
		return false
	}
	a.warn(name, "%q is not true or false; using %t", clip(v), def)
	return def
}

// looseEnum reads one of values in any case; anything else means def.
func (a *attrs) looseEnum(name, def string, values ...string) string {
	v, ok := a.lookupFold(name)
	if !ok {
		return def
	}
	if c, ok := matchEnum(strings.TrimSpace(v), values); ok {
		return c
	}
	a.warn(name, "%q is not one of %s; using %s", clip(v), strings.Join(values, ", "), def)
	return def
}

// looseInt reads an integer: not an integer means def, below lo means low, above hi means hi.
func (a *attrs) looseInt(name string, def, lo, low, hi int) int {
	v, ok := a.lookupFold(name)
	if !ok {
		return def
	}
	t := strings.TrimSpace(v)
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if !errors.As(err, &ne) || ne.Err != strconv.ErrRange {
			a.warn(name, "%q is not a whole number; using %d", clip(v), def)
			return def
		}
	}
	switch {
	case n < int64(lo):
		a.warn(name, "%s is below %d; using %d", t, lo, low)
		return low
	case n > int64(hi):
		a.warn(name, "%s is above the maximum; using %d", t, hi)
		return hi
	}
	return int(n)
}

// looseText reads a value trimmed, "" when absent.
func (a *attrs) looseText(name string) string {
	v, _ := a.lookupFold(name)
	return strings.TrimSpace(v)
}

// looseURL reads an http or https URL, resolved against the document's URL; a value that is
// not one is ignored with a warning.
func (a *attrs) looseURL(name string) string {
	v, ok := a.lookupFold(name)
	if !ok || strings.TrimSpace(v) == "" {
		return ""
	}
	u, msg := a.p.resolve(v)
	if msg != "" {
		a.warn(name, "%s; ignored", msg)
		return ""
	}
	return u
}
