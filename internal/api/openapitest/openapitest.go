// Package openapitest checks REST API responses against the OpenAPI document that the api
// package serves (api.OpenAPIDocument): a Validator for single responses and an
// http.RoundTripper that validates every API response a test client receives.
//
// It is test support: it must NOT be imported by production code, and it knows nothing of the
// API's implementation beyond the document.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/parley-voice/parley/internal/api"
)

// Validator matches request paths to the document's path templates and checks responses
// against the documented status codes, headers, media types and body schemas.
type Validator struct {
	doc    *openapi3.T
	routes []route
}

type route struct {
	template string
	re       *regexp.Regexp
	item     *openapi3.PathItem
	// literal is the number of fixed characters; more specific templates are tried first.
	literal int
}

// New loads and validates the document (OpenAPI 3.1, JSON Schema 2020-12 bodies).
func New() (*Validator, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPIDocument())
	if err != nil {
		return nil, fmt.Errorf("openapitest: loading the document: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("openapitest: document is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapitest: invalid document: %w", err)
	}
	v := &Validator{doc: doc}
	for template, item := range doc.Paths.Map() {
		re, literal, err := templateRegexp(template, item)
		if err != nil {
			return nil, err
		}
		v.routes = append(v.routes, route{template: template, re: re, item: item, literal: literal})
	}
	sort.Slice(v.routes, func(i, j int) bool {
		if v.routes[i].literal != v.routes[j].literal {
			return v.routes[i].literal > v.routes[j].literal
		}
		return v.routes[i].template < v.routes[j].template
	})
	return v, nil
}

// Doc returns the loaded document.
func (v *Validator) Doc() *openapi3.T { return v.doc }

var placeholder = regexp.MustCompile(`\{[^}]+\}`)

// templateRegexp turns a path template into a regexp over escaped request paths in every form
// the server accepts: the /api/v1 or /v1 base, fixed words in any case, the trailing slash
// optional. A parameter with an enum schema matches only those values.
func templateRegexp(template string, item *openapi3.PathItem) (*regexp.Regexp, int, error) {
	enums := map[string][]string{}
	for _, p := range item.Parameters {
		if p.Value == nil || p.Value.Schema == nil || p.Value.Schema.Value == nil {
			continue
		}
		for _, e := range p.Value.Schema.Value.Enum {
			if s, ok := e.(string); ok {
				enums[p.Value.Name] = append(enums[p.Value.Name], regexp.QuoteMeta(s))
			}
		}
	}
	var b strings.Builder
	b.WriteString(`^(?:/(?i:api))?/(?i:v1)`)
	literal := 0
	rest := strings.TrimSuffix(template, "/")
	last := 0
	for _, loc := range placeholder.FindAllStringIndex(rest, -1) {
		fixed := rest[last:loc[0]]
		literal += len(fixed)
		b.WriteString(`(?i:` + regexp.QuoteMeta(fixed) + `)`)
		name := rest[loc[0]+1 : loc[1]-1]
		if vals := enums[name]; len(vals) > 0 {
			b.WriteString(`(?:` + strings.Join(vals, "|") + `)`)
		} else {
			b.WriteString(`[^/]+`)
		}
		last = loc[1]
	}
	literal += len(rest) - last
	b.WriteString(`(?i:` + regexp.QuoteMeta(rest[last:]) + `)/?$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, 0, fmt.Errorf("openapitest: path %s: %w", template, err)
	}
	return re, literal, nil
}

// Route returns the path template that an escaped request path (query allowed) matches.
func (v *Validator) Route(path string) (template string, ok bool) {
	r := v.route(path)
	if r == nil {
		return "", false
	}
	return r.template, true
}

func (v *Validator) route(path string) *route {
	path, _, _ = strings.Cut(path, "?")
	for i := range v.routes {
		if v.routes[i].re.MatchString(path) {
			return &v.routes[i]
		}
	}
	return nil
}

// Validate checks one response to method and the escaped request path. A path that matches
// no documented route must be answered 404 with the error body; a documented path with an
// undocumented method 405 with the error body and an Allow header.
func (v *Validator) Validate(method, path string, status int, header http.Header, body []byte) error {
	r := v.route(path)
	if r == nil {
		if status != http.StatusNotFound {
			return fmt.Errorf("path matches no documented route but status is %d, want 404", status)
		}
		return v.validateError(header, body)
	}
	if r.item.GetOperation(method) == nil {
		if status != http.StatusMethodNotAllowed {
			return fmt.Errorf("%s %s is not documented but status is %d, want 405", method, r.template, status)
		}
		if header.Get("Allow") == "" {
			return errors.New("405 without an Allow header")
		}
		return v.validateError(header, body)
	}
	return v.ValidateOperation(method, r.template, status, header, body)
}

func (v *Validator) validateError(header http.Header, body []byte) error {
	resp := v.doc.Components.Responses["MethodNotAllowed"] // any Error response will do
	if resp == nil || resp.Value == nil {
		return errors.New("document has no components.responses.MethodNotAllowed")
	}
	return validateBody(resp.Value, header, body)
}

// ValidateOperation checks a response against the operation method template for status.
func (v *Validator) ValidateOperation(method, template string, status int, header http.Header, body []byte) error {
	item := v.doc.Paths.Value(template)
	if item == nil {
		return fmt.Errorf("path %s is not in the document", template)
	}
	op := item.GetOperation(method)
	if op == nil {
		return fmt.Errorf("%s %s is not in the document", method, template)
	}
	ref := op.Responses.Status(status)
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("status %d is not documented for %s %s", status, method, template)
	}
	for name := range ref.Value.Headers {
		if header.Get(name) == "" {
			return fmt.Errorf("status %d of %s %s: documented header %s missing", status, method, template, name)
		}
	}
	if err := validateBody(ref.Value, header, body); err != nil {
		return fmt.Errorf("status %d of %s %s: %w", status, method, template, err)
	}
	return nil
}

// validateBody checks the media type and, for JSON, the body against the schema.
func validateBody(resp *openapi3.Response, header http.Header, body []byte) error {
	if len(resp.Content) == 0 {
		if len(body) != 0 {
			return fmt.Errorf("body documented empty, got %d bytes", len(body))
		}
		return nil
	}
	mt, _, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil {
		return fmt.Errorf("content type %q: %w", header.Get("Content-Type"), err)
	}
	media := resp.Content[mt]
	if media == nil {
		return fmt.Errorf("content type %s is not documented", mt)
	}
	if mt != "application/json" {
		return nil // audio files: the media type is what can be checked
	}
	if media.Schema == nil || media.Schema.Value == nil {
		return errors.New("JSON body without a schema")
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	if err := media.Schema.Value.VisitJSON(value, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("body does not match the schema: %w", err)
	}
	return nil
}

// Transport returns an http.RoundTripper that sends requests with next (nil means
// http.DefaultTransport) and validates every response to a /api/v1/ or /v1/ path with v,
// reporting mismatches with t.Errorf. The response body is handed on unchanged.
func Transport(t testing.TB, v *Validator, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{t: t, v: v, next: next}
}

type transport struct {
	t    testing.TB
	v    *Validator
	next http.RoundTripper
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := tr.next.RoundTrip(req)
	if err != nil || !isAPIPath(req.URL.Path) {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("openapitest: reading the response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if req.Method == http.MethodHead {
		return resp, nil
	}
	if err := tr.v.Validate(req.Method, req.URL.EscapedPath(), resp.StatusCode, resp.Header, body); err != nil {
		tr.t.Errorf("openapi: %s %s: %v", req.Method, redact(req.URL), err)
	}
	return resp, nil
}

func isAPIPath(p string) bool {
	lower := strings.ToLower(p)
	return strings.HasPrefix(lower, "/api/v1/") || strings.HasPrefix(lower, "/v1/")
}

// redact drops user info from a URL for the test log.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}
