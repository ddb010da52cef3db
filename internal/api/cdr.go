package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// CallRecords is what the call detail record reads (calls-more.md §E) need: a record for every
// leg that got a CallUUID, kept after the leg ends for the configured retention.
type CallRecords interface {
	// List returns one page of the account's ended legs matching f, ordered by end time newest
	// first and then by CallUUID, and the number of all matching legs. Live legs are never
	// listed.
	List(ctx context.Context, accountID string, f CallRecordFilter) ([]CallRecord, int, error)
	// Get returns the record of one leg, live (Ended nil, Answered as of now) or ended. It
	// returns ErrCallNotFound for a CallUUID that is unknown, pruned or of another account.
	Get(ctx context.Context, accountID, callUUID string) (CallRecord, error)
}

// CallRecordFilter selects ended legs for CallRecords.List (§E.3). Empty strings and nil
// pointers do not filter.
type CallRecordFilter struct {
	Page
	// CallStatus is a final CallStatus (§8.8): completed, busy, failed, no-answer, timeout or
	// cancel.
	CallStatus string
	// Direction is "", "inbound" or "outbound".
	Direction string
	// FromPrefix and ToPrefix match the start of From and To, normalised as in §1.7 (numbers
	// without '+', other parties "sip:user@host").
	FromPrefix string
	ToPrefix   string
	// ParentCallUUID selects the <Dial> B legs of that A leg.
	ParentCallUUID string
	// BillDurationMin and BillDurationMax bound bill_duration in seconds, both inclusive.
	BillDurationMin, BillDurationMax *int64
	// EndFrom (inclusive) and EndBefore (exclusive) bound end_time.
	EndFrom, EndBefore *time.Time
	HangupCauseCode    *int
	// HangupSource is a §10.1 value.
	HangupSource string
}

// CallRecord is what is known about one leg (§E.4).
type CallRecord struct {
	CallUUID string
	// ParentCallUUID is the A leg of a <Dial> B leg, "" otherwise.
	ParentCallUUID string
	// Direction is "inbound" or "outbound".
	Direction string
	// From and To are as in webhooks (§1.7).
	From string
	To   string
	// SourceIP is the REST client's address of an API call or the INVITE's source address of
	// an inbound call; "" (null) for B legs.
	SourceIP string
	// ConferenceUUID is the last room instance the leg was in; "" (null) when none.
	ConferenceUUID string
	// Initiated is when the leg was created.
	Initiated time.Time
	// Answered is nil when the leg was never answered.
	Answered *time.Time
	// Ended is nil while the leg is live; the fields below are then unused.
	Ended *time.Time
	// CallStatus is the final CallStatus of the hangup webhook (§8.8).
	CallStatus      string
	HangupCauseCode int
	HangupCause     string
	HangupCauseName string
	HangupSource    string
}

// cdrBody is the CDR object of §E.4: exactly these 24 keys. The four integers are JSON numbers
// because the official Go client decodes them as int64; everything else is a string or null.
type cdrBody struct {
	AnswerTime       *string `json:"answer_time"`
	BillDuration     int64   `json:"bill_duration"`
	BilledDuration   int64   `json:"billed_duration"`
	CallDirection    string  `json:"call_direction"`
	CallDuration     int64   `json:"call_duration"`
	CallState        string  `json:"call_state"`
	CallStatus       string  `json:"call_status"`
	CallUUID         string  `json:"call_uuid"`
	ConferenceUUID   *string `json:"conference_uuid"`
	EndTime          *string `json:"end_time"`
	FromNumber       string  `json:"from_number"`
	HangupCause      *string `json:"hangup_cause"`
	HangupCauseCode  *int    `json:"hangup_cause_code"`
	HangupCauseName  *string `json:"hangup_cause_name"`
	HangupSource     *string `json:"hangup_source"`
	InitiationTime   string  `json:"initiation_time"`
	ParentCallUUID   *string `json:"parent_call_uuid"`
	ResourceURI      string  `json:"resource_uri"`
	SourceIP         *string `json:"source_ip"`
	StirAttestation  string  `json:"stir_attestation"`
	StirVerification string  `json:"stir_verification"`
	ToNumber         string  `json:"to_number"`
	TotalAmount      string  `json:"total_amount"`
	TotalRate        string  `json:"total_rate"`
}

type cdrGetBody struct {
	cdrBody
	APIID string `json:"api_id"`
}

type cdrListBody struct {
	APIID   string    `json:"api_id"`
	Meta    metaBody  `json:"meta"`
	Objects []cdrBody `json:"objects"`
}

// cdrTimeLayout is the time format of CDR objects (UTC, "+00:00").
const cdrTimeLayout = "2006-01-02 15:04:05-07:00"

func cdrTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(cdrTimeLayout)
	return &s
}

// cdrObject shapes one record; a live leg's durations run to now.
func (s *server) cdrObject(account string, rec CallRecord) cdrBody {
	b := cdrBody{
		AnswerTime:       cdrTime(rec.Answered),
		CallDirection:    rec.Direction,
		CallUUID:         rec.CallUUID,
		ConferenceUUID:   nullIfEmpty(rec.ConferenceUUID),
		EndTime:          cdrTime(rec.Ended),
		FromNumber:       rec.From,
		InitiationTime:   rec.Initiated.UTC().Format(cdrTimeLayout),
		ParentCallUUID:   nullIfEmpty(rec.ParentCallUUID),
		ResourceURI:      resourcePath(account, "Call", rec.CallUUID),
		SourceIP:         nullIfEmpty(rec.SourceIP),
		StirAttestation:  "",
		StirVerification: "Not Applicable",
		ToNumber:         rec.To,
		TotalAmount:      "0.00000",
		TotalRate:        "0.00000",
	}
	end := s.now()
	if rec.Ended != nil {
		end = *rec.Ended
		code, cause, name, source := rec.HangupCauseCode, rec.HangupCause, rec.HangupCauseName, rec.HangupSource
		b.HangupCauseCode, b.HangupCause, b.HangupCauseName, b.HangupSource = &code, &cause, &name, &source
	}
	if rec.Answered != nil {
		if d := end.Sub(*rec.Answered); d > 0 {
			b.CallDuration = int64(d / time.Second)
		}
	}
	b.BillDuration, b.BilledDuration = b.CallDuration, b.CallDuration
	switch {
	case rec.Ended == nil && rec.Answered != nil:
		b.CallState, b.CallStatus = "ANSWER", "in-progress"
	case rec.Ended == nil:
		b.CallState, b.CallStatus = "RINGING", "ringing"
	case rec.Answered != nil:
		b.CallState, b.CallStatus = "ANSWER", rec.CallStatus
	default:
		b.CallState, b.CallStatus = "HANGUP", rec.CallStatus
	}
	return b
}

// The status values of GET /Call/ (§4.1, §E.3): live and queued read live calls, the final
// states (and the spellings canceled, cancelled) list CDRs.
var (
	liveStatuses  = []string{"live", "queued"}
	finalStatuses = []string{"completed", "busy", "failed", "no-answer", "timeout", "cancel", "canceled", "cancelled"}
)

// hangupSources are the §10.1 values accepted by the hangup_source filter.
var hangupSources = []string{"Caller", "Callee", "Vobiz", "Carrier", "API Request", "Answer XML", "Error", "Unknown"}

// listCallRecords serves GET /Call/ without status or with a final status (§E.3); status has
// been read already ("" when omitted).
func (s *server) listCallRecords(w http.ResponseWriter, r *http.Request, q *request, b *binder, status string) error {
	if s.opts.CallRecords == nil {
		return &StatusError{Status: http.StatusNotFound, Message: msgRouteNotFound}
	}
	f := CallRecordFilter{CallStatus: status}
	if status == "canceled" || status == "cancelled" {
		f.CallStatus = "cancel"
	}
	f.Direction, _ = b.Enum("call_direction", false, "inbound", "outbound")
	if v, ok := b.String("from_number", false, 0); ok {
		f.FromPrefix = normalizeParty(v)
	}
	if v, ok := b.String("to_number", false, 0); ok {
		f.ToPrefix = normalizeParty(v)
	}
	f.ParentCallUUID, _ = b.String("parent_call_uuid", false, 0)
	f.BillDurationMin, f.BillDurationMax = b.intRange("bill_duration")
	f.EndFrom, f.EndBefore = b.endTimeRange("end_time")
	if n, ok := b.Int("hangup_cause_code", false, 0, maxInt32); ok {
		code := int(n)
		f.HangupCauseCode = &code
	}
	f.HangupSource, _ = b.Enum("hangup_source", false, hangupSources...)
	f.Page = bindPage(b)
	if b.err != nil {
		return b.err
	}
	recs, total, err := s.opts.CallRecords.List(r.Context(), q.account, f)
	if err != nil {
		return err
	}
	body := cdrListBody{
		APIID:   s.newID(),
		Meta:    pageMetaWith(f.Page, total, keptQueryLink(resourcePath(q.account, "Call"), r.URL.RawQuery, f.Page.Limit)),
		Objects: make([]cdrBody, len(recs)),
	}
	for i, rec := range recs {
		body.Objects[i] = s.cdrObject(q.account, rec)
	}
	s.writeJSON(w, http.StatusOK, body)
	return nil
}

// getCallRecord serves GET /Call/{call_uuid}/ without status (§E.1).
func (s *server) getCallRecord(w http.ResponseWriter, r *http.Request, q *request) error {
	if s.opts.CallRecords == nil {
		return &StatusError{Status: http.StatusNotFound, Message: msgRouteNotFound}
	}
	rec, err := s.opts.CallRecords.Get(r.Context(), q.account, pathVar(r, "cid"))
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, cdrGetBody{cdrBody: s.cdrObject(q.account, rec), APIID: s.newID()})
	return nil
}

const maxInt32 = 1<<31 - 1

// intRange reads name, name__gt, __gte, __lt and __lte (integers ≥ 0) as one inclusive range;
// nil ends are open. Several bounds narrow the range together.
func (b *binder) intRange(name string) (lo, hi *int64) {
	raise := func(v int64) {
		if lo == nil || v > *lo {
			lo = &v
		}
	}
	lower := func(v int64) {
		if hi == nil || v < *hi {
			hi = &v
		}
	}
	if n, ok := b.Int(name, false, 0, maxInt); ok {
		raise(n)
		lower(n)
	}
	if n, ok := b.Int(name+"__gt", false, 0, maxInt-1); ok {
		raise(n + 1)
	}
	if n, ok := b.Int(name+"__gte", false, 0, maxInt); ok {
		raise(n)
	}
	if n, ok := b.Int(name+"__lt", false, 0, maxInt); ok {
		lower(n - 1)
	}
	if n, ok := b.Int(name+"__lte", false, 0, maxInt); ok {
		lower(n)
	}
	return lo, hi
}

// endTimeRange reads name, name__gt, __gte, __lt and __lte as one half-open range
// [from, before). A value stands for the whole interval its precision names (a day, a minute,
// a second, a fraction of a second): exact matches inside it, __gt is after it, __gte from its
// start, __lt before its start, __lte up to its end.
func (b *binder) endTimeRange(name string) (from, before *time.Time) {
	raise := func(t time.Time) {
		if from == nil || t.After(*from) {
			from = &t
		}
	}
	lower := func(t time.Time) {
		if before == nil || t.Before(*before) {
			before = &t
		}
	}
	read := func(key string) (time.Time, time.Time, bool) {
		v, ok := b.String(key, false, 0)
		if !ok {
			return time.Time{}, time.Time{}, false
		}
		start, width, ok := parseCDRTime(v)
		if !ok {
			b.invalid(key)
			return time.Time{}, time.Time{}, false
		}
		return start, start.Add(width), true
	}
	if start, end, ok := read(name); ok {
		raise(start)
		lower(end)
	}
	if _, end, ok := read(name + "__gt"); ok {
		raise(end)
	}
	if start, _, ok := read(name + "__gte"); ok {
		raise(start)
	}
	if start, _, ok := read(name + "__lt"); ok {
		lower(start)
	}
	if _, end, ok := read(name + "__lte"); ok {
		lower(end)
	}
	return from, before
}

// parseCDRTime reads a UTC time written as YYYY-MM-DD, YYYY-MM-DD HH:MM, YYYY-MM-DD HH:MM:SS or
// YYYY-MM-DD HH:MM:SS.f (1–9 fraction digits) and returns its start and the width of the
// interval its precision names.
func parseCDRTime(v string) (time.Time, time.Duration, bool) {
	main, frac, hasFrac := strings.Cut(v, ".")
	layouts := []struct {
		layout string
		width  time.Duration
	}{{"2006-01-02", 24 * time.Hour}, {"2006-01-02 15:04", time.Minute}, {"2006-01-02 15:04:05", time.Second}}
	for i, l := range layouts {
		if len(main) != len(l.layout) || (hasFrac && i != len(layouts)-1) {
			continue
		}
		t, err := time.ParseInLocation(l.layout, main, time.UTC)
		if err != nil {
			return time.Time{}, 0, false
		}
		if !hasFrac {
			return t, l.width, true
		}
		if frac == "" || len(frac) > 9 || strings.TrimLeft(frac, "0123456789") != "" {
			return time.Time{}, 0, false
		}
		ns, _ := strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
		width := time.Duration(1)
		for range 9 - len(frac) {
			width *= 10
		}
		return t.Add(time.Duration(ns)), width, true
	}
	return time.Time{}, 0, false
}

// keptQueryLink returns the link builder of the CDR list: the request's query parameters other
// than limit and offset, as sent and in their order, then limit and offset (§E.3).
func keptQueryLink(base, rawQuery string, limit int) func(offset int) string {
	var kept []string
	for part := range strings.SplitSeq(rawQuery, "&") {
		key, _, _ := strings.Cut(part, "=")
		if k, err := url.QueryUnescape(key); part == "" || (err == nil && (k == "limit" || k == "offset")) {
			continue
		}
		kept = append(kept, part)
	}
	prefix := base + "?"
	if len(kept) > 0 {
		prefix += strings.Join(kept, "&") + "&"
	}
	return func(offset int) string {
		return prefix + "limit=" + strconv.Itoa(limit) + "&offset=" + strconv.Itoa(offset)
	}
}
