package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testNow is the fixed clock of the tests.
var testNow = time.Date(2026, 11, 6, 13, 50, 0, 0, time.UTC)

type fakeAccounts map[string]string

func (a fakeAccounts) Lookup(id string) (string, bool) { t, ok := a[id]; return t, ok }

// call records one call on a fake.
type call struct {
	Op      string
	Account string
	Name    string
	Sel     MemberSelector
	Args    []string
	Record  RecordParams
}

// fakeConferences keeps rooms in memory and applies the §2.3 rules.
type fakeConferences struct {
	mu        sync.Mutex
	rooms     map[string][]ConferenceView // account -> rooms, oldest first
	recording map[string]bool             // account/name -> recording
	failWith  error                       // returned by every method when set
	calls     []call
}

func newFakeConferences() *fakeConferences {
	return &fakeConferences{rooms: map[string][]ConferenceView{}, recording: map[string]bool{}}
}

func (f *fakeConferences) record(c call) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	return f.failWith
}

func (f *fakeConferences) lastCall() call {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return call{}
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeConferences) room(account, name string) (ConferenceView, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rooms[account] {
		if r.Name == name && len(r.Members) > 0 {
			return r, true
		}
	}
	return ConferenceView{}, false
}

func (f *fakeConferences) members(account, name string, sel MemberSelector) error {
	r, ok := f.room(account, name)
	if !ok {
		return ErrConferenceNotFound
	}
	if sel.All {
		return nil
	}
	var missing []int64
	for _, id := range sel.IDs {
		if !slices.ContainsFunc(r.Members, func(m MemberView) bool { return m.ID == id }) {
			missing = append(missing, id)
		}
	}
	if missing != nil {
		return fmt.Errorf("fake: %w", &MemberNotFoundError{IDs: missing})
	}
	return nil
}

func (f *fakeConferences) List(ctx context.Context, account string) ([]string, error) {
	if err := f.record(call{Op: "List", Account: account}); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for _, r := range f.rooms[account] {
		names = append(names, r.Name)
	}
	return names, nil
}

func (f *fakeConferences) Get(ctx context.Context, account, name string) (ConferenceView, error) {
	if err := f.record(call{Op: "Get", Account: account, Name: name}); err != nil {
		return ConferenceView{}, err
	}
	r, ok := f.room(account, name)
	if !ok {
		return r, ErrConferenceNotFound
	}
	return r, nil
}

func (f *fakeConferences) HangupAll(ctx context.Context, account string) error {
	return f.record(call{Op: "HangupAll", Account: account})
}

func (f *fakeConferences) HangupRoom(ctx context.Context, account, name string) error {
	if err := f.record(call{Op: "HangupRoom", Account: account, Name: name}); err != nil {
		return err
	}
	if _, ok := f.room(account, name); !ok {
		return ErrConferenceNotFound
	}
	return nil
}

func (f *fakeConferences) memberOp(op, account, name string, sel MemberSelector, args ...string) error {
	if err := f.record(call{Op: op, Account: account, Name: name, Sel: sel, Args: args}); err != nil {
		return err
	}
	return f.members(account, name, sel)
}

func (f *fakeConferences) HangupMembers(ctx context.Context, a, n string, s MemberSelector) error {
	return f.memberOp("HangupMembers", a, n, s)
}
func (f *fakeConferences) Kick(ctx context.Context, a, n string, s MemberSelector) error {
	return f.memberOp("Kick", a, n, s)
}
func (f *fakeConferences) Mute(ctx context.Context, a, n string, s MemberSelector) error {
	return f.memberOp("Mute", a, n, s)
}
func (f *fakeConferences) Unmute(ctx context.Context, a, n string, s MemberSelector) error {
	return f.memberOp("Unmute", a, n, s)
}
func (f *fakeConferences) Deaf(ctx context.Context, a, n string, s MemberSelector) error {
	return f.memberOp("Deaf", a, n, s)
}
func (f *fakeConferences) Undeaf(ctx context.Context, a, n string, s MemberSelector) error {
	return f.memberOp("Undeaf", a, n, s)
}
func (f *fakeConferences) Play(ctx context.Context, a, n string, s MemberSelector, url string) error {
	return f.memberOp("Play", a, n, s, url)
}
func (f *fakeConferences) StopPlay(ctx context.Context, a, n string, s MemberSelector) error {
	return f.memberOp("StopPlay", a, n, s)
}
func (f *fakeConferences) Speak(ctx context.Context, a, n string, s MemberSelector, text, voice, lang string) error {
	return f.memberOp("Speak", a, n, s, text, voice, lang)
}
func (f *fakeConferences) StopSpeak(ctx context.Context, a, n string, s MemberSelector) error {
	return f.memberOp("StopSpeak", a, n, s)
}

func (f *fakeConferences) StartRecording(ctx context.Context, a, n string, p RecordParams) (RecordingStarted, error) {
	if err := f.record(call{Op: "StartRecording", Account: a, Name: n, Record: p}); err != nil {
		return RecordingStarted{}, err
	}
	if _, ok := f.room(a, n); !ok {
		return RecordingStarted{}, ErrConferenceNotFound
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.recording[a+"/"+n] {
		return RecordingStarted{}, ErrRecordingInProgress
	}
	f.recording[a+"/"+n] = true
	return RecordingStarted{RecordingID: "7d9e0a2c-61f4-4b8a-9c3e-5a1b2c3d4e5f", FileFormat: p.FileFormat}, nil
}

func (f *fakeConferences) StopRecording(ctx context.Context, a, n string) error {
	if err := f.record(call{Op: "StopRecording", Account: a, Name: n}); err != nil {
		return err
	}
	if _, ok := f.room(a, n); !ok {
		return ErrConferenceNotFound
	}
	return nil
}

// fakeRecordings keeps recordings and their file bytes in memory.
type fakeRecordings struct {
	mu    sync.Mutex
	recs  map[string][]Recording // account -> recordings, newest first
	files map[string][]byte      // id.format -> bytes
	// elsewhere serves the files another process holds (id.format -> handler).
	elsewhere map[string]http.Handler
	filters   []RecordingFilter
	deleted   []string
}

type readSeekNopCloser struct{ *bytes.Reader }

func (readSeekNopCloser) Close() error { return nil }

func (f *fakeRecordings) find(account, id string) (Recording, bool) {
	for _, r := range f.recs[account] {
		if r.ID == id {
			return r, true
		}
	}
	return Recording{}, false
}

func (f *fakeRecordings) List(ctx context.Context, account string, flt RecordingFilter) ([]Recording, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, flt)
	all := f.recs[account]
	lo := min(flt.Offset, len(all))
	hi := min(lo+flt.Limit, len(all))
	return all[lo:hi], len(all), nil
}

func (f *fakeRecordings) Get(ctx context.Context, account, id string) (Recording, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.find(account, id)
	if !ok {
		return r, ErrRecordingNotFound
	}
	return r, nil
}

func (f *fakeRecordings) Delete(ctx context.Context, account, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.find(account, id); !ok {
		return ErrRecordingNotFound
	}
	f.deleted = append(f.deleted, id)
	return nil
}

func (f *fakeRecordings) Open(ctx context.Context, account, id, format string) (io.ReadSeekCloser, int64, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.find(account, id)
	if h, held := f.elsewhere[id+"."+format]; ok && held {
		return nil, 0, time.Time{}, &RecordingElsewhere{Serve: h}
	}
	data, has := f.files[id+"."+format]
	if !ok || !has || r.Format != format {
		return nil, 0, time.Time{}, ErrRecordingNotFound
	}
	return readSeekNopCloser{bytes.NewReader(data)}, int64(len(data)), r.AddTime, nil
}

// fixture is a handler with populated fakes.
type fixture struct {
	h       http.Handler
	conf    *fakeConferences
	recs    *fakeRecordings
	calls   *fakeCalls
	streams *fakeStreams
	cdrs    *fakeCallRecords
	media   *fakeCallMedia
	apps    *fakeApplications
	eps     *fakeEndpoints
	clock   *time.Time
}

const (
	testAccount = "MA_X"
	testToken   = "secret-token"
	base        = "/api/v1/Account/MA_X"
)

func testRecording(i int) Recording {
	start := time.Date(2026, 11, 6, 13, 48, 59, 422000000, time.UTC).Add(-time.Duration(i) * time.Hour)
	return Recording{
		ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Type: "conference",
		CallUUID: "11111111-2222-4333-8444-555555555555", ConferenceName: "MyConf",
		Format: "mp3", Start: start, End: start.Add(10080 * time.Millisecond),
		Duration: 10080 * time.Millisecond, AddTime: start.Add(10080*time.Millisecond + 751756*time.Microsecond),
	}
}

func newFixture(t testing.TB, mod func(*Options)) *fixture {
	t.Helper()
	now := testNow
	fx := &fixture{conf: newFakeConferences(), recs: &fakeRecordings{recs: map[string][]Recording{}, files: map[string][]byte{}}, clock: &now}
	fx.calls = newFakeCalls()
	fx.calls.seed()
	fx.cdrs = newFakeCallRecords(fx.calls)
	fx.streams = newFakeStreams(fx.calls, func() time.Time { return *fx.clock })
	fx.streams.seed()
	fx.media = &fakeCallMedia{calls: fx.calls}
	fx.apps = &fakeApplications{apps: map[string][]Application{}}
	fx.eps = &fakeEndpoints{eps: map[string][]Endpoint{}, apps: fx.apps}
	seedResources(fx.apps, fx.eps)
	started := testNow.Add(-590 * time.Second)
	fx.conf.rooms[testAccount] = []ConferenceView{
		{Name: "MyConf", StartedAt: started, Members: []MemberView{
			{ID: 18, Muted: true, From: "14155550199", To: "sip:alice@sip.parley.example.com", CallerName: "Support",
				Direction: "outbound", CallUUID: "6a1c9e2d-3b4f-4a58-8e7d-1c2b3a4d5e6f", JoinedAt: testNow.Add(-42 * time.Second)},
			{ID: 17, From: "14155550100", To: "14155550199", CallerName: "14155550100", Direction: "inbound",
				CallUUID: "0d4b2f6e-8c1a-4e3b-9f7d-2a5c6b8e1f30", JoinedAt: started},
			{ID: 10, From: "alice", To: "bob", Direction: "inbound", CallUUID: "c0000000-0000-4000-8000-000000000010", JoinedAt: started},
			{ID: 15, From: "carol", To: "bob", Direction: "inbound", CallUUID: "c0000000-0000-4000-8000-000000000015", JoinedAt: started},
		}},
		{Name: "a/b c+d", StartedAt: started, Members: []MemberView{{ID: 30, Direction: "inbound", JoinedAt: started}}},
		{Name: "Team Meeting", StartedAt: started, Members: []MemberView{{ID: 31, Direction: "inbound", JoinedAt: started}}},
	}
	fx.conf.rooms["MA_OTHER"] = []ConferenceView{{Name: "Theirs", StartedAt: started, Members: []MemberView{{ID: 40}}}}
	for i := 1; i <= 3; i++ {
		fx.recs.recs[testAccount] = append(fx.recs.recs[testAccount], testRecording(i))
	}
	call := testRecording(4)
	call.Type, call.ConferenceName, call.FromNumber, call.ToNumber, call.Format = "call", "", "14155550100", "14155550199", "wav"
	call.CallUUID = "d3f6a9b2-4c1e-4a87-8e5d-0b2c7f9e1a34"
	fx.recs.recs[testAccount] = append(fx.recs.recs[testAccount], call)
	fx.recs.files[testRecording(1).ID+".mp3"] = []byte("ID3-fake-mp3-bytes-0123456789")
	fx.recs.files[call.ID+".wav"] = []byte("RIFF....WAVEfmt fake")
	opts := Options{
		Accounts:      fakeAccounts{testAccount: testToken, "MA_OTHER": "other-token"},
		Conferences:   fx.conf,
		Recordings:    fx.recs,
		Calls:         fx.calls,
		CallRecords:   fx.cdrs,
		Streams:       fx.streams,
		CallMedia:     fx.media,
		Applications:  fx.apps,
		Endpoints:     fx.eps,
		HasSIPGateway: true,
		SIPDomain:     "sip.parley.example.com",
		PublicBaseURL: "https://parley.example.com/",
		Clock:         func() time.Time { return *fx.clock },
		Logger:        discardLogger(),
	}
	if mod != nil {
		mod(&opts)
	}
	fx.h = New(opts)
	return fx
}

// req describes one test request; zero fields take defaults (X-Auth headers of MA_X).
type req struct {
	method, path, body string
	ctype              string
	header             http.Header
	noAuth             bool
}

func (fx *fixture) do(t testing.TB, q req) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader = http.NoBody
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	r := httptest.NewRequest(q.method, "http://parley.test"+q.path, body)
	if q.ctype != "" {
		r.Header.Set("Content-Type", q.ctype)
	}
	if !q.noAuth {
		r.Header.Set("X-Auth-ID", testAccount)
		r.Header.Set("X-Auth-Token", testToken)
	}
	for k, vs := range q.header {
		r.Header[k] = vs
	}
	w := httptest.NewRecorder()
	fx.h.ServeHTTP(w, r)
	return w
}

var errBoom = errors.New("boom")
