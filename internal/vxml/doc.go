// Package vxml turns a VobizXML document (the call-control XML that a customer's web
// application returns) into a typed, validated tree of elements, following section 7 of the
// Parley wire contract (spec/vobiz-api.md).
//
// Parse checks everything the contract makes a document invalid for — well-formedness, DTDs
// and entity declarations, the size limit, unknown or misplaced elements, attribute types and
// allowed values, required content — and returns a *ParseError (which matches
// ErrInvalidDocument with errors.Is) naming the line, element and attribute at fault. Values the
// contract repairs rather than rejects (numbers above their range, numbers below their minimum,
// unknown voices) are repaired, and each repair is reported in Document.Warnings. Defaults are
// applied, durations are time.Duration, methods are upper case and URLs are resolved against
// the document's own URL into absolute http or https URLs.
//
// The package is pure: it must NOT do I/O (no fetching of URLs, no logging, no clocks), must
// NOT import other Parley packages except the constant lists of internal/voice, and must NOT enforce limits that need more than one document
// (the redirect-chain limit of §7.14 belongs to the caller that fetches documents).
package vxml
