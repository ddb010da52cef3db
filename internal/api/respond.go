package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Error texts of §1.6 that do not name a resource.
const (
	msgRouteNotFound    = "route not found"
	msgAuthFailed       = "authentication failed"
	msgAuthIDMismatch   = "auth_id does not match credentials"
	msgRateLimited      = "rate limit exceeded"
	msgBodyTooLarge     = "request body too large"
	msgMalformedBody    = "malformed request body"
	msgInternal         = "internal error"
	msgConfNotFound     = "conference not found"
	msgRecNotFound      = "recording not found"
	msgRecordingRunning = "conference recording already in progress"
	msgCallNotFound     = "call not found"
	msgCallNotAnswered  = "call not answered"
	msgCallRateLimited  = "call rate limit exceeded"
	msgConcurrentLimit  = "concurrent call limit reached"
	msgDraining         = "server is shutting down"
	msgAppNotFound      = "application not found"
	msgAppInUse         = "application in use"
	msgEndpointNotFound = "endpoint not found"
	msgUsernameExists   = "username already exists"
	msgStreamNotFound   = "stream not found"
	msgInvalidMemberID  = "invalid value for parameter: member_id"
)

// Errors that the implementations of this package's interfaces return; the API maps them to
// the status codes and texts of §1.6. Wrapped errors are recognised with errors.Is/As.
var (
	// ErrConferenceNotFound: no room of that name has members in the account.
	ErrConferenceNotFound = errors.New("conference not found")
	// ErrRecordingInProgress: the room is already being recorded.
	ErrRecordingInProgress = errors.New("conference recording already in progress")
	// ErrInvalidMemberSelector: a member selector addresses nobody (400, as a malformed
	// {member_id} path segment).
	ErrInvalidMemberSelector = errors.New("invalid member selector")
	// ErrRecordingNotFound: no final recording with that id in the account.
	ErrRecordingNotFound = errors.New("recording not found")

	// ErrCallNotFound: no live leg with that CallUUID in the account (unknown or ended).
	ErrCallNotFound = errors.New("call not found")
	// ErrCallNotAnswered: a transfer addressed a live leg that is still ringing.
	ErrCallNotAnswered = errors.New("call not answered")
	// ErrNotBridged: a transfer named the B leg of a call that is not in a <Dial> bridge.
	ErrNotBridged = errors.New("call is not bridged")
	// ErrDraining: the server is shutting down and takes no new calls (503).
	ErrDraining = errors.New("server is shutting down")
	// ErrConcurrentLimit: the account already has its maximum number of live legs (429).
	ErrConcurrentLimit = errors.New("concurrent call limit reached")

	// ErrApplicationNotFound: no application with that app_id in the account.
	ErrApplicationNotFound = errors.New("application not found")
	// ErrApplicationInUse: a number route of the server configuration names the application.
	ErrApplicationInUse = errors.New("application in use")
	// ErrUnknownApplication: an app_id given as a parameter (an endpoint's application, or
	// new_endpoint_application on delete) is not an application of the account. The API
	// answers 400 naming the parameter.
	ErrUnknownApplication = errors.New("unknown application")

	// ErrEndpointNotFound: no endpoint with that endpoint_id in the account.
	ErrEndpointNotFound = errors.New("endpoint not found")
	// ErrUsernameExists: another endpoint on the server has that username.
	ErrUsernameExists = errors.New("username already exists")

	// ErrStreamNotFound: no stream with that stream_id on the call (unknown, of another call,
	// or, for Stop, already ended).
	ErrStreamNotFound = errors.New("stream not found")
	// ErrStreamURLInUse: an in-progress stream of the call already uses that service_url. The
	// API answers 400 naming service_url.
	ErrStreamURLInUse = errors.New("stream already active at that service_url")
)

// MemberNotFoundError reports member ids that are not current members of the room.
type MemberNotFoundError struct {
	// IDs are the missing ids in the order the request listed them.
	IDs []int64
}

func (e *MemberNotFoundError) Error() string {
	parts := make([]string, len(e.IDs))
	for i, id := range e.IDs {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return "member not found: " + strings.Join(parts, ",")
}

// StatusError is an error with an HTTP status and the exact error text to send; handlers return
// it for validation failures and other answers decided in this package.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Message) }

func newAPIID() string { return uuid.NewString() }

// errorBody is the single error shape of §1.6.
type errorBody struct {
	APIID string `json:"api_id"`
	Error string `json:"error"`
}

// writeJSON writes v as the JSON body with the given status. v must not be nil.
func (s *server) writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		s.log.Error("api: encoding response", "err", err)
		status = http.StatusInternalServerError
		buf.Reset()
		_ = json.NewEncoder(&buf).Encode(errorBody{APIID: s.newID(), Error: msgInternal})
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeNoContent answers 204 with no body and no Content-Type.
func writeNoContent(w http.ResponseWriter) {
	w.Header().Del("Content-Type")
	w.WriteHeader(http.StatusNoContent)
}

// writeEmpty answers status with an empty body: no Content-Type and Content-Length 0.
func writeEmpty(w http.ResponseWriter, status int) {
	w.Header().Del("Content-Type")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}

// writeError writes the error body of §1.6.
func (s *server) writeError(w http.ResponseWriter, status int, msg string) {
	s.writeJSON(w, status, errorBody{APIID: s.newID(), Error: msg})
}

// writeErr maps err (from a handler or a domain implementation) to a response.
func (s *server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var se *StatusError
	var mnf *MemberNotFoundError
	switch {
	case errors.As(err, &se):
		s.writeError(w, se.Status, se.Message)
	case errors.As(err, &mnf):
		s.writeError(w, http.StatusNotFound, mnf.Error())
	case errors.Is(err, ErrConferenceNotFound):
		s.writeError(w, http.StatusNotFound, msgConfNotFound)
	case errors.Is(err, ErrRecordingNotFound):
		s.writeError(w, http.StatusNotFound, msgRecNotFound)
	case errors.Is(err, ErrRecordingInProgress):
		s.writeError(w, http.StatusConflict, msgRecordingRunning)
	case errors.Is(err, ErrCallNotFound):
		s.writeError(w, http.StatusNotFound, msgCallNotFound)
	case errors.Is(err, ErrCallNotAnswered):
		s.writeError(w, http.StatusConflict, msgCallNotAnswered)
	case errors.Is(err, ErrInvalidMemberSelector):
		s.writeError(w, http.StatusBadRequest, msgInvalidMemberID)
	case errors.Is(err, ErrNotBridged):
		s.writeError(w, http.StatusBadRequest, "invalid value for parameter: legs")
	case errors.Is(err, ErrDraining):
		s.writeError(w, http.StatusServiceUnavailable, msgDraining)
	case errors.Is(err, ErrConcurrentLimit):
		w.Header().Set("Retry-After", "1")
		s.writeError(w, http.StatusTooManyRequests, msgConcurrentLimit)
	case errors.Is(err, ErrApplicationNotFound):
		s.writeError(w, http.StatusNotFound, msgAppNotFound)
	case errors.Is(err, ErrApplicationInUse):
		s.writeError(w, http.StatusConflict, msgAppInUse)
	case errors.Is(err, ErrUnknownApplication):
		s.writeError(w, http.StatusBadRequest, "invalid value for parameter: application")
	case errors.Is(err, ErrEndpointNotFound):
		s.writeError(w, http.StatusNotFound, msgEndpointNotFound)
	case errors.Is(err, ErrUsernameExists):
		s.writeError(w, http.StatusConflict, msgUsernameExists)
	case errors.Is(err, ErrRecordingLimit):
		s.writeError(w, http.StatusConflict, "recording limit reached")
	case errors.Is(err, ErrStreamNotFound):
		s.writeError(w, http.StatusNotFound, msgStreamNotFound)
	case errors.Is(err, ErrStreamURLInUse):
		s.writeError(w, http.StatusBadRequest, "invalid value for parameter: service_url")
	default:
		s.log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		s.writeError(w, http.StatusInternalServerError, msgInternal)
	}
}
