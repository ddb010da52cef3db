package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// goSDKCall has the types the official Go client (calls.Call) decodes a CDR into: the four
// integers are int64, every other field a string. Decoding fails on any other JSON type.
type goSDKCall struct {
	AnswerTime      string `json:"answer_time"`
	BillDuration    int64  `json:"bill_duration"`
	BilledDuration  int64  `json:"billed_duration"`
	CallDirection   string `json:"call_direction"`
	CallDuration    int64  `json:"call_duration"`
	CallState       string `json:"call_state"`
	CallStatus      string `json:"call_status"`
	CallUUID        string `json:"call_uuid"`
	ConferenceUUID  string `json:"conference_uuid"`
	EndTime         string `json:"end_time"`
	FromNumber      string `json:"from_number"`
	HangupCause     string `json:"hangup_cause"`
	HangupCauseCode int64  `json:"hangup_cause_code"`
	HangupCauseName string `json:"hangup_cause_name"`
	HangupSource    string `json:"hangup_source"`
	InitiationTime  string `json:"initiation_time"`
	ParentCallUUID  string `json:"parent_call_uuid"`
	ResourceURI     string `json:"resource_uri"`
	SourceIP        string `json:"source_ip"`
	ToNumber        string `json:"to_number"`
	TotalAmount     string `json:"total_amount"`
	TotalRate       string `json:"total_rate"`
}

type goSDKCallList struct {
	Meta struct {
		Limit      int64   `json:"limit"`
		Next       *string `json:"next"`
		Offset     int64   `json:"offset"`
		Previous   *string `json:"previous"`
		TotalCount int64   `json:"total_count"`
	} `json:"meta"`
	Objects []goSDKCall `json:"objects"`
}

// cdrGet sends GET path with the test account's credentials and returns the status, the raw
// body and the body decoded into out with the Go client's types.
func cdrGet(t *testing.T, p *kit.Server, path string, out any) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", p.HTTP+kit.AccountPath(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-ID", kit.AuthID)
	req.Header.Set("X-Auth-Token", kit.AuthToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && out != nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(out); err != nil {
			t.Fatalf("GET %s: the Go client's types cannot decode %s: %v", path, body, err)
		}
	}
	return resp.StatusCode, body
}

var cdrKeySet = "answer_time,bill_duration,billed_duration,call_direction,call_duration,call_state,call_status," +
	"call_uuid,conference_uuid,end_time,from_number,hangup_cause,hangup_cause_code,hangup_cause_name,hangup_source," +
	"initiation_time,parent_call_uuid,resource_uri,source_ip,stir_attestation,stir_verification,to_number,total_amount,total_rate"

// TestCallDetailRecords places real calls (an inbound call into a room, API calls answered and
// busy, a <Dial> with its B leg), then reads their records back through every kind of filter,
// with the Go client's types.
func TestCallDetailRecords(t *testing.T) {
	w := kit.NewApp(t)
	p := suite.Start(t, kit.Options{Env: map[string]string{"PARLEY_ANSWER_URL": w.URL("/conf"), "PARLEY_HANGUP_URL": w.URL("/hangup")}})
	bob, bobContact := cdrPhone(t, "127.0.0.1", siptest.ListenOptions{Username: "bob", AnswerAfter: 200 * time.Millisecond})
	_, busyContact := cdrPhone(t, "127.0.0.1", siptest.ListenOptions{Username: "busy", Reject: 486})
	carol, carolContact := cdrPhone(t, "127.0.0.1", siptest.ListenOptions{Username: "carol", AnswerAfter: 200 * time.Millisecond})

	w.XML("/conf", `<Response><Conference beep="false">cdr-room</Conference></Response>`)
	w.XML("/short", `<Response><Speak>Short call.</Speak></Response>`)
	w.XML("/dial", `<Response><Dial><User>`+carolContact+`</User></Dial></Response>`)
	// The hangup webhook handler reads the call's record at once: it must already be final.
	var mu sync.Mutex
	atWebhook := map[string]string{} // CallUUID -> call_status read while handling the webhook
	w.HandleFunc("/hangup", func(rw http.ResponseWriter, r *http.Request) {
		id := r.Form.Get("CallUUID")
		var c goSDKCall
		cdrGet(t, p, "/Call/"+id+"/", &c)
		mu.Lock()
		atWebhook[id] = c.CallStatus + "/" + c.EndTime
		mu.Unlock()
	})
	makeCall := func(to, answer string) string {
		t.Helper()
		st, body := p.REST(t, "POST", kit.AccountPath("/Call/"), map[string]any{"from": "+14155550100", "to": to,
			"answer_url": w.URL(answer), "hangup_url": w.URL("/hangup")})
		if st != 201 {
			t.Fatalf("make call: %d %v", st, body)
		}
		return body["request_uuid"].(string)
	}

	caller, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(caller.Close)
	in, err := caller.Dial(kit.Context(t, 10*time.Second), p.URI("14155550199"), siptest.DialOptions{From: "14155550123"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	select {
	case <-in.Answered():
	case <-time.After(10 * time.Second):
		t.Fatalf("the inbound call was not answered: %v", in.Err())
	}
	time.Sleep(300 * time.Millisecond)
	if err := in.Hangup(kit.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	inbound := w.WaitFor(t, "/hangup", 1, 10*time.Second)[0].Form.Get("CallUUID")

	short := makeCall(bobContact, "/short")
	kit.WaitEnd(t, bob.Incoming(t), 20*time.Second)
	busy := makeCall(busyContact, "/short")
	dialer := makeCall(bobContact, "/dial")
	bob.Incoming(t)
	b := carol.Incoming(t)
	select {
	case <-b.Answered():
	case <-time.After(10 * time.Second):
		t.Fatal("the B leg was not answered")
	}
	// While the A leg talks its record is live: no end, hangup fields null.
	var live goSDKCall
	if st, body := cdrGet(t, p, "/Call/"+dialer+"/", &live); st != 200 || live.CallState != "ANSWER" || live.CallStatus != "in-progress" ||
		live.EndTime != "" || !bytes.Contains(body, []byte(`"hangup_cause_code":null`)) {
		t.Errorf("live A leg: %d %s", st, body)
	}
	time.Sleep(1100 * time.Millisecond) // the bridged legs last at least a second
	if err := b.Hangup(kit.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	w.WaitFor(t, "/hangup", 4, 20*time.Second)

	// All records, newest end first: the A leg of the Dial ended last.
	var all goSDKCallList
	if st, body := cdrGet(t, p, "/Call/", &all); st != 200 || all.Meta.TotalCount != 5 || len(all.Objects) != 5 {
		t.Fatalf("list: %d %s", st, body)
	}
	if all.Objects[0].CallUUID != dialer {
		t.Errorf("first record %s, want the Dial's A leg %s", all.Objects[0].CallUUID, dialer)
	}
	byID := map[string]goSDKCall{}
	for i, c := range all.Objects {
		byID[c.CallUUID] = c
		if i > 0 && c.EndTime > all.Objects[i-1].EndTime {
			t.Errorf("records not ordered newest end first: %s after %s", c.EndTime, all.Objects[i-1].EndTime)
		}
	}
	var bleg goSDKCall
	for _, c := range all.Objects {
		if c.ParentCallUUID == dialer {
			bleg = c
		}
	}
	check := func(name string, c goSDKCall, want map[string]any) {
		t.Helper()
		got := map[string]any{"call_status": c.CallStatus, "call_state": c.CallState, "call_direction": c.CallDirection,
			"hangup_cause_code": c.HangupCauseCode, "hangup_source": c.HangupSource, "source_ip": c.SourceIP,
			"parent_call_uuid": c.ParentCallUUID, "from_number": c.FromNumber}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %#v, want %#v", name, k, got[k], v)
			}
		}
	}
	check("short call", byID[short], map[string]any{"call_status": "completed", "call_state": "ANSWER", "call_direction": "outbound",
		"hangup_cause_code": int64(4010), "hangup_source": "Vobiz", "source_ip": "127.0.0.1", "parent_call_uuid": "", "from_number": "14155550100"})
	check("busy call", byID[busy], map[string]any{"call_status": "busy", "call_state": "HANGUP",
		"hangup_cause_code": int64(3010), "hangup_source": "Callee", "source_ip": "127.0.0.1"})
	check("dial A leg", byID[dialer], map[string]any{"call_status": "completed", "call_state": "ANSWER", "source_ip": "127.0.0.1"})
	check("dial B leg", bleg, map[string]any{"call_status": "completed", "call_state": "ANSWER", "call_direction": "outbound",
		"hangup_cause_code": int64(4000), "hangup_source": "Callee", "source_ip": "", "parent_call_uuid": dialer})
	if bleg.ToNumber != "sip:carol@127.0.0.1" {
		t.Errorf("B leg to_number %q, want the §1.7 form without port", bleg.ToNumber)
	}
	check("inbound call", byID[inbound], map[string]any{"call_status": "completed", "call_state": "ANSWER", "call_direction": "inbound",
		"hangup_cause_code": int64(4000), "hangup_source": "Caller", "source_ip": "127.0.0.1", "from_number": "14155550123"})
	if c := byID[inbound]; !uuidRE.MatchString(c.ConferenceUUID) || c.ToNumber != "14155550199" {
		t.Errorf("inbound call in a room: conference_uuid %q, to_number %q", c.ConferenceUUID, c.ToNumber)
	}
	if c := byID[short]; c.ConferenceUUID != "" {
		t.Errorf("a call that was in no room has conference_uuid %q", c.ConferenceUUID)
	}
	if c := byID[busy]; c.AnswerTime != "" || c.CallDuration != 0 || c.BillDuration != 0 {
		t.Errorf("busy call has answer data: %+v", c)
	}
	if c := bleg; c.CallDuration < 1 || c.BillDuration != c.CallDuration || c.BilledDuration != c.CallDuration {
		t.Errorf("B leg durations %d/%d/%d, want equal and at least 1 s", c.CallDuration, c.BillDuration, c.BilledDuration)
	}
	for id, c := range byID {
		if c.ResourceURI != "/v1/Account/"+kit.AuthID+"/Call/"+id+"/" || c.TotalAmount != "0.00000" || c.InitiationTime == "" || c.EndTime == "" {
			t.Errorf("%s: %+v", id, c)
		}
	}
	// The record was final when the hangup webhook arrived.
	mu.Lock()
	for _, id := range []string{inbound, short, busy, dialer} {
		if s := atWebhook[id]; !strings.HasPrefix(s, byID[id].CallStatus+"/") || strings.HasSuffix(s, "/") {
			t.Errorf("%s: the record read at the hangup webhook was %q", id, s)
		}
	}
	mu.Unlock()

	// Exactly the 24 keys (+ api_id on Get).
	_, body := cdrGet(t, p, "/Call/"+busy+"/", nil)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	delete(m, "api_id")
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	if strings.Join(ks, ",") != cdrKeySet {
		t.Errorf("CDR keys %v", ks)
	}

	// Filters.
	today := time.Now().UTC().Format("2006-01-02")
	for query, want := range map[string][]string{
		"?status=busy":                                          {busy},
		"?parent_call_uuid=" + dialer:                           {bleg.CallUUID},
		"?to_number=" + url.QueryEscape("sip:carol@"):           {bleg.CallUUID},
		"?bill_duration=0&call_direction=outbound":              {busy},
		"?bill_duration__gte=1&to_number=sip:carol%40127.0.0.1": {bleg.CallUUID},
		"?hangup_cause_code=4010&end_time=" + today:             {dialer, short},
		"?hangup_source=Callee&status=completed":                {bleg.CallUUID},
		"?call_direction=inbound":                               {inbound},
		"?end_time__lt=" + today:                                {},
		"?from_number=%2B1415555&limit=2&offset=3":              {all.Objects[3].CallUUID, all.Objects[4].CallUUID},
	} {
		var l goSDKCallList
		st, body := cdrGet(t, p, "/Call/"+query, &l)
		var got []string
		for _, c := range l.Objects {
			got = append(got, c.CallUUID)
		}
		sort.Strings(got)
		sort.Strings(want)
		if st != 200 || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %d %v, want %v (%s)", query, st, got, want, body)
		}
	}
	// Paging links keep the filters.
	var page goSDKCallList
	cdrGet(t, p, "/Call/?call_direction=outbound&limit=3", &page)
	if page.Meta.Next == nil || *page.Meta.Next != "/v1/Account/"+kit.AuthID+"/Call/?call_direction=outbound&limit=3&offset=3" || page.Meta.Previous != nil {
		t.Errorf("meta %+v", page.Meta)
	}
	var next goSDKCallList
	if st, body := cdrGet(t, p, strings.TrimPrefix(*page.Meta.Next, "/v1/Account/"+kit.AuthID), &next); st != 200 || len(next.Objects) != 1 || next.Objects[0].CallUUID != all.Objects[3].CallUUID {
		t.Errorf("next page: %d %s", st, body)
	}
	// Live reads are unchanged: nothing is live now.
	if st, body := p.REST(t, "GET", kit.AccountPath("/Call/?status=live"), nil); st != 200 || len(body["calls"].([]any)) != 0 {
		t.Errorf("live list %d %v", st, body)
	}
	if st, _ := p.REST(t, "GET", kit.AccountPath("/Call/"+short+"/?status=live"), nil); st != 404 {
		t.Errorf("ended call read as live: %d", st)
	}
	if st, body := p.REST(t, "GET", kit.AccountPath("/Call/?status=ringing"), nil); st != 400 {
		t.Errorf("status=ringing: %d %v", st, body)
	}
}

// TestMaxCallDuration: with max_call_duration at 2 s an answered call that would go on ends
// after 2 s with 6000 / Vobiz.
func TestMaxCallDuration(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/long", `<Response><Wait length="30"/></Response>`)
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{Env: map[string]string{"PARLEY_MAX_CALL_DURATION": "2s"}})
	bob, contact := cdrPhone(t, "127.0.0.1", siptest.ListenOptions{Username: "bob", AnswerAfter: 100 * time.Millisecond})
	st, body := p.REST(t, "POST", kit.AccountPath("/Call/"), map[string]any{"from": "14155550100", "to": contact,
		"answer_url": w.URL("/long"), "hangup_url": w.URL("/hangup"), "time_limit": 60})
	if st != 201 {
		t.Fatalf("make call: %d %v", st, body)
	}
	cl := bob.Incoming(t)
	<-cl.Answered()
	start := time.Now()
	kit.WaitEnd(t, cl, 10*time.Second)
	if el := time.Since(start); el < 1500*time.Millisecond || el > 5*time.Second {
		t.Errorf("the call ended %v after answer, want about 2 s", el)
	}
	h := w.WaitFor(t, "/hangup", 1, 10*time.Second)[0]
	kit.AssertParams(t, "hangup", h.Form, map[string]string{"HangupCauseCode": "6000", "HangupCauseName": "Scheduled Hangup",
		"HangupCause": "ALLOTTED_TIMEOUT", "HangupSource": "Vobiz", "CallStatus": "completed", "Duration": "2"})
	var c goSDKCall
	cdrGet(t, p, "/Call/"+body["request_uuid"].(string)+"/", &c)
	if c.HangupCauseCode != 6000 || c.CallDuration != 2 {
		t.Errorf("record %+v", c)
	}
}

// cdrPhone is a phone on ip that answers as opts say, with its contact URI.
func cdrPhone(t *testing.T, ip string, opts siptest.ListenOptions) (*kit.Phone, string) {
	t.Helper()
	ph := kit.NewPhone(t, ip)
	return ph, ph.Listen(t, opts)
}
