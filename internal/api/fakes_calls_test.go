package api

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// fakeCalls keeps live legs in memory.
type fakeCalls struct {
	mu       sync.Mutex
	legs     map[string][]CallView // account -> live legs, oldest first
	bridged  map[string]bool       // call uuid -> in a <Dial> bridge
	live     int                   // added to the number of legs by Live
	makeErr  error                 // returned by MakeCall when set
	made     []MakeCallParams
	filters  []CallFilter
	transfer []TransferParams
	hungUp   []string
	nextID   int
}

func newFakeCalls() *fakeCalls {
	return &fakeCalls{legs: map[string][]CallView{}, bridged: map[string]bool{}}
}

func (f *fakeCalls) find(account, id string) (CallView, bool) {
	for _, c := range f.legs[account] {
		if c.CallUUID == id {
			return c, true
		}
	}
	return CallView{}, false
}

func (f *fakeCalls) MakeCall(ctx context.Context, account string, p MakeCallParams) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.made = append(f.made, p)
	if f.makeErr != nil {
		return "", f.makeErr
	}
	f.nextID++
	id := fmt.Sprintf("d3f6a9b2-4c1e-4a87-8e5d-%012d", f.nextID)
	f.legs[account] = append(f.legs[account], CallView{CallUUID: id, Direction: "outbound", From: p.From, To: p.To, SessionStart: testNow})
	return id, nil
}

func (f *fakeCalls) List(ctx context.Context, account string, flt CallFilter) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, flt)
	var ids []string
	for _, c := range f.legs[account] {
		if (flt.Direction == "" || c.Direction == flt.Direction) && (flt.FromNumber == "" || c.From == flt.FromNumber) &&
			(flt.ToNumber == "" || c.To == flt.ToNumber) {
			ids = append(ids, c.CallUUID)
		}
	}
	return ids, nil
}

func (f *fakeCalls) Get(ctx context.Context, account, id string) (CallView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.find(account, id)
	if !ok {
		return c, fmt.Errorf("fake: %w", ErrCallNotFound)
	}
	return c, nil
}

func (f *fakeCalls) Hangup(ctx context.Context, account, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.find(account, id); !ok {
		return ErrCallNotFound
	}
	f.hungUp = append(f.hungUp, id)
	f.legs[account] = slices.DeleteFunc(f.legs[account], func(c CallView) bool { return c.CallUUID == id })
	return nil
}

func (f *fakeCalls) Transfer(ctx context.Context, account, id string, p TransferParams) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.find(account, id)
	switch {
	case !ok:
		return ErrCallNotFound
	case !c.Answered:
		return ErrCallNotAnswered
	case p.Legs != "aleg" && !f.bridged[id]:
		return ErrNotBridged
	}
	f.transfer = append(f.transfer, p)
	return nil
}

func (f *fakeCalls) Live(ctx context.Context, account string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.legs[account]) + f.live
}

// Test calls of MA_X: an answered inbound leg (bridged) and a ringing outbound one.
const (
	testCallIn  = "0d4b2f6e-8c1a-4e3b-9f7d-2a5c6b8e1f30"
	testCallOut = "6a1c9e2d-3b4f-4a58-8e7d-1c2b3a4d5e6f"
)

func (f *fakeCalls) seed() {
	f.legs[testAccount] = []CallView{
		{CallUUID: testCallIn, Answered: true, Direction: "inbound", From: "14155550100", To: "14155550199",
			CallerName: "Alice", SessionStart: time.Date(2026, 11, 6, 13, 49, 10, 253756000, time.UTC)},
		{CallUUID: testCallOut, Direction: "outbound", From: "14155550199", To: "sip:bob@pbx.example.com",
			SessionStart: time.Date(2026, 11, 6, 13, 49, 30, 0, time.UTC)},
	}
	f.legs["MA_OTHER"] = []CallView{{CallUUID: "c0000000-0000-4000-8000-0000000000aa", Direction: "inbound"}}
	f.bridged[testCallIn] = true
}

// fakeApplications keeps applications in memory, oldest first.
type fakeApplications struct {
	mu      sync.Mutex
	apps    map[string][]Application
	inUse   map[string]bool
	nextID  int64
	filters []ApplicationFilter
	updates []ApplicationUpdate
	deletes []ApplicationDelete
}

func (f *fakeApplications) index(account, id string) int {
	return slices.IndexFunc(f.apps[account], func(a Application) bool { return a.ID == id })
}

func (f *fakeApplications) Create(ctx context.Context, account string, a Application) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	a.ID = fmt.Sprint(100000000000000 + f.nextID)
	a.CreatedAt, a.UpdatedAt = testNow, testNow
	f.apps[account] = append(f.apps[account], a)
	return a.ID, nil
}

func (f *fakeApplications) List(ctx context.Context, account string, flt ApplicationFilter) ([]Application, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, flt)
	var all []Application
	for _, a := range f.apps[account] {
		if flt.Name == "" || a.Name == flt.Name {
			all = append(all, a)
		}
	}
	lo := min(flt.Offset, len(all))
	hi := min(lo+flt.Limit, len(all))
	return all[lo:hi], len(all), nil
}

func (f *fakeApplications) Get(ctx context.Context, account, id string) (Application, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.index(account, id)
	if i < 0 {
		return Application{}, ErrApplicationNotFound
	}
	return f.apps[account][i], nil
}

func (f *fakeApplications) Update(ctx context.Context, account, id string, u ApplicationUpdate) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, u)
	i := f.index(account, id)
	if i < 0 {
		return ErrApplicationNotFound
	}
	u.Apply(&f.apps[account][i])
	f.apps[account][i].UpdatedAt = testNow.Add(time.Hour)
	return nil
}

func (f *fakeApplications) Delete(ctx context.Context, account, id string, d ApplicationDelete) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes = append(f.deletes, d)
	if d.NewEndpointApp != "" && f.index(account, d.NewEndpointApp) < 0 {
		return fmt.Errorf("fake: %w", ErrUnknownApplication)
	}
	i := f.index(account, id)
	if i < 0 {
		return ErrApplicationNotFound
	}
	if f.inUse[id] {
		return ErrApplicationInUse
	}
	f.apps[account] = slices.Delete(f.apps[account], i, i+1)
	return nil
}

// testApp is a stored application with every field set.
func testApp(id, name string) Application {
	created := time.Date(2026, 10, 28, 10, 30, 0, 0, time.UTC)
	return Application{
		ID: id, Name: name, AnswerURL: "https://example.com/answer", AnswerMethod: "POST",
		HangupURL: "https://example.com/hangup", HangupMethod: "POST", FallbackMethod: "POST",
		MessageMethod: "POST", Enabled: true, LogIncomingMessages: true, SIPTransferMethod: "POST",
		CreatedAt: created, UpdatedAt: created.Add(90 * time.Second),
	}
}

const (
	testAppID  = "193962768711692"
	testApp2ID = "271828182845904"
)

// fakeEndpoints keeps endpoints in memory, oldest first.
type fakeEndpoints struct {
	mu      sync.Mutex
	eps     map[string][]Endpoint
	apps    *fakeApplications // for application checks
	nextID  int64
	created []EndpointParams
	filters []EndpointFilter
	updates []EndpointUpdate
}

func (f *fakeEndpoints) index(account, id string) int {
	return slices.IndexFunc(f.eps[account], func(e Endpoint) bool { return e.ID == id })
}

func (f *fakeEndpoints) knownApp(account, id string) bool {
	f.apps.mu.Lock()
	defer f.apps.mu.Unlock()
	return f.apps.index(account, id) >= 0
}

func (f *fakeEndpoints) Create(ctx context.Context, account string, p EndpointParams) (string, error) {
	if p.AppID != "" && !f.knownApp(account, p.AppID) {
		return "", ErrUnknownApplication
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, p)
	for _, eps := range f.eps {
		for _, e := range eps {
			if e.Username == p.Username {
				return "", ErrUsernameExists
			}
		}
	}
	f.nextID++
	id := fmt.Sprint(500000000000000 + f.nextID)
	f.eps[account] = append(f.eps[account], Endpoint{ID: id, Username: p.Username, Alias: p.Alias, AppID: p.AppID})
	return id, nil
}

func (f *fakeEndpoints) List(ctx context.Context, account string, flt EndpointFilter) ([]Endpoint, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, flt)
	var all []Endpoint
	for _, e := range f.eps[account] {
		if flt.Match(e) {
			all = append(all, e)
		}
	}
	lo := min(flt.Offset, len(all))
	hi := min(lo+flt.Limit, len(all))
	return all[lo:hi], len(all), nil
}

func (f *fakeEndpoints) Get(ctx context.Context, account, id string) (Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.index(account, id)
	if i < 0 {
		return Endpoint{}, ErrEndpointNotFound
	}
	return f.eps[account][i], nil
}

func (f *fakeEndpoints) Update(ctx context.Context, account, id string, u EndpointUpdate) error {
	if u.AppID != nil && *u.AppID != "" && !f.knownApp(account, *u.AppID) {
		return ErrUnknownApplication
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, u)
	i := f.index(account, id)
	if i < 0 {
		return ErrEndpointNotFound
	}
	e := &f.eps[account][i]
	if u.Alias != nil {
		e.Alias = *u.Alias
	}
	if u.AppID != nil {
		e.AppID = *u.AppID
	}
	return nil
}

func (f *fakeEndpoints) Delete(ctx context.Context, account, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.index(account, id)
	if i < 0 {
		return ErrEndpointNotFound
	}
	f.eps[account] = slices.Delete(f.eps[account], i, i+1)
	return nil
}

const (
	testEpID  = "193962768711693"
	testEp2ID = "193962768711694"
)

// seedResources fills the application and endpoint fakes of MA_X (and one app of MA_OTHER).
func seedResources(apps *fakeApplications, eps *fakeEndpoints) {
	a := testApp(testAppID, "Support Line")
	a.FallbackAnswerURL = "https://example.com/fallback"
	a.DefaultEndpointApp = true
	b := testApp(testApp2ID, "sales")
	b.PublicURI, b.Enabled = true, false
	apps.apps[testAccount] = []Application{a, b}
	apps.apps["MA_OTHER"] = []Application{testApp("333333333333333", "theirs")}
	apps.inUse = map[string]bool{testApp2ID: true}
	eps.eps[testAccount] = []Endpoint{
		{ID: testEpID, Username: "frontdesk", Alias: "Front desk", AppID: testAppID, Registered: true},
		{ID: testEp2ID, Username: "backoffice.2", Alias: "Back office"},
	}
}
