package api

import (
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRecordingRoutes(t *testing.T) {
	fx := newFixture(t, nil)
	id := testRecording(1).ID

	// Get
	w := fx.do(t, req{method: "GET", path: base + "/Recording/" + id + "/"})
	if w.Code != 200 {
		t.Fatalf("get: %d %s", w.Code, w.Body)
	}
	m := decode(t, w)
	assertKeys(t, m, append(recordingKeys(), "api_id")...)
	want := map[string]any{
		"add_time":                         "2026-11-06 12:49:10.253756+00:00",
		"call_uuid":                        "11111111-2222-4333-8444-555555555555",
		"conference_name":                  "MyConf",
		"from_number":                      "",
		"monthly_recording_storage_amount": float64(0),
		"recording_duration_ms":            "10080.00000",
		"recording_end_ms":                 "1793969349502.00000",
		"recording_format":                 "mp3",
		"recording_id":                     id,
		"recording_start_ms":               "1793969339422.00000",
		"recording_storage_duration":       float64(0),
		"recording_storage_rate":           float64(0),
		"recording_type":                   "conference",
		"recording_url":                    "https://parley.example.com/api/v1/Account/MA_X/Recording/" + id + ".mp3",
		"resource_uri":                     "/v1/Account/MA_X/Recording/" + id + "/",
		"rounded_recording_duration":       float64(60),
		"to_number":                        "",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	// Call recordings have a null conference_name; storage duration counts whole days.
	*fx.clock = testNow.Add(49 * time.Hour)
	w = fx.do(t, req{method: "GET", path: "/v1/account/MA_X/recording/" + testRecording(4).ID})
	m = decode(t, w)
	if v, ok := m["conference_name"]; !ok || v != nil || m["recording_type"] != "call" || m["recording_storage_duration"] != float64(2) {
		t.Errorf("call recording: %s", w.Body)
	}

	for _, path := range []string{"/Recording/nope/", "/Recording/nope.mp3", "/Recording/" + id + ".wav"} {
		w = fx.do(t, req{method: "GET", path: base + path})
		if w.Code != 404 || errorText(t, w) != "recording not found" {
			t.Errorf("GET %s: %d %s", path, w.Code, w.Body)
		}
	}
	// Another account cannot see it.
	w = fx.do(t, req{method: "GET", path: "/api/v1/Account/MA_OTHER/Recording/" + id + "/", noAuth: true,
		header: http.Header{"X-Auth-Id": {"MA_OTHER"}, "X-Auth-Token": {"other-token"}}})
	if w.Code != 404 {
		t.Errorf("other account: %d", w.Code)
	}

	// Delete
	w = fx.do(t, req{method: "DELETE", path: base + "/Recording/" + id + "/", body: "{}"})
	assertNoContent(t, w)
	if !reflect.DeepEqual(fx.recs.deleted, []string{id}) {
		t.Errorf("deleted %v", fx.recs.deleted)
	}
	w = fx.do(t, req{method: "DELETE", path: base + "/Recording/nope/"})
	if w.Code != 404 || errorText(t, w) != "recording not found" {
		t.Errorf("delete missing: %d %s", w.Code, w.Body)
	}
}

func recordingKeys() []string {
	return []string{"add_time", "call_uuid", "conference_name", "from_number", "monthly_recording_storage_amount",
		"recording_duration_ms", "recording_end_ms", "recording_format", "recording_id", "recording_start_ms",
		"recording_storage_duration", "recording_storage_rate", "recording_type", "recording_url", "resource_uri",
		"rounded_recording_duration", "to_number"}
}

func TestRecordingList(t *testing.T) {
	fx := newFixture(t, nil)
	tests := []struct {
		query      string
		status     int
		text       string
		count      int
		next, prev any
		filter     RecordingFilter
	}{
		{"", 200, "", 4, "", nil, RecordingFilter{Page: Page{Limit: 20}}},
		{"?limit=2", 200, "", 2, "/v1/Account/MA_X/Recording/?limit=2&offset=2", nil, RecordingFilter{Page: Page{Limit: 2}}},
		{"?limit=2&offset=2", 200, "", 2, "", "/v1/Account/MA_X/Recording/?limit=2&offset=0", RecordingFilter{Page: Page{Limit: 2, Offset: 2}}},
		{"?limit=1&offset=1&recording_type=CALL&from_number=%2B14155550100", 200, "", 1,
			"/v1/Account/MA_X/Recording/?limit=1&offset=2&from_number=%2B14155550100&recording_type=call",
			"/v1/Account/MA_X/Recording/?limit=1&offset=0&from_number=%2B14155550100&recording_type=call",
			RecordingFilter{Page: Page{Limit: 1, Offset: 1}, RecordingType: "call", FromNumber: "14155550100"}},
		{"?limit=0", 400, "invalid value for parameter: limit", 0, nil, nil, RecordingFilter{}},
		{"?limit=101", 400, "invalid value for parameter: limit", 0, nil, nil, RecordingFilter{}},
		{"?limit=x&offset=-1", 400, "invalid value for parameter: limit", 0, nil, nil, RecordingFilter{}},
		{"?offset=-1", 400, "invalid value for parameter: offset", 0, nil, nil, RecordingFilter{}},
		{"?recording_type=video", 400, "invalid value for parameter: recording_type", 0, nil, nil, RecordingFilter{}},
		{"?add_time__gt=yesterday", 400, "invalid value for parameter: add_time__gt", 0, nil, nil, RecordingFilter{}},
		{"?add_time__lte=2026-11-06%2013:49", 200, "", 4, "", nil, RecordingFilter{Page: Page{Limit: 20}}},
	}
	for _, tt := range tests {
		w := fx.do(t, req{method: "GET", path: base + "/Recording/" + tt.query})
		if w.Code != tt.status {
			t.Errorf("%s: %d %s", tt.query, w.Code, w.Body)
			continue
		}
		if tt.text != "" {
			if got := errorText(t, w); got != tt.text {
				t.Errorf("%s: %q want %q", tt.query, got, tt.text)
			}
			continue
		}
		m := decode(t, w)
		assertKeys(t, m, "api_id", "meta", "objects")
		meta := m["meta"].(map[string]any)
		assertKeys(t, meta, "limit", "next", "offset", "previous", "total_count")
		if meta["next"] != tt.next || meta["previous"] != tt.prev || meta["total_count"] != float64(4) {
			t.Errorf("%s: meta %v", tt.query, meta)
		}
		objs := m["objects"].([]any)
		if len(objs) != tt.count {
			t.Errorf("%s: %d objects", tt.query, len(objs))
		}
		for _, o := range objs {
			assertKeys(t, o.(map[string]any), recordingKeys()...)
		}
		got := fx.recs.filters[len(fx.recs.filters)-1]
		if tt.filter.Limit != 0 && (got.Page != tt.filter.Page || got.RecordingType != tt.filter.RecordingType || got.FromNumber != tt.filter.FromNumber) {
			t.Errorf("%s: filter %+v", tt.query, got)
		}
	}
	fx.do(t, req{method: "GET", path: base + "/Recording/?add_time__gte=2026-11-06&add_time__lt=2026-11-07%2001:02:03&call_uuid=c&conference_name=n&conference_uuid=u&to_number=1"})
	f := fx.recs.filters[len(fx.recs.filters)-1]
	if f.AddTimeGTE == nil || !f.AddTimeGTE.Equal(time.Date(2026, 11, 6, 0, 0, 0, 0, time.UTC)) ||
		f.AddTimeLT == nil || !f.AddTimeLT.Equal(time.Date(2026, 11, 7, 1, 2, 3, 0, time.UTC)) ||
		f.AddTimeGT != nil || f.CallUUID != "c" || f.ConferenceName != "n" || f.ConferenceUUID != "u" || f.ToNumber != "1" {
		t.Errorf("filters %+v", f)
	}
}

func TestRecordingDownload(t *testing.T) {
	fx := newFixture(t, nil)
	mp3 := testRecording(1).ID
	wav := testRecording(4).ID
	tests := []struct {
		name, path, rng string
		status          int
		ctype, body     string
	}{
		{"mp3", "/api/v1/Account/MA_X/Recording/" + mp3 + ".mp3", "", 200, "audio/mpeg", "ID3-fake-mp3-bytes-0123456789"},
		{"wav v1 prefix", "/v1/Account/MA_X/Recording/" + wav + ".wav", "", 200, "audio/wav", "RIFF....WAVEfmt fake"},
		{"range", "/api/v1/Account/MA_X/Recording/" + mp3 + ".mp3", "bytes=4-7", 206, "audio/mpeg", "fake"},
		{"suffix range", "/api/v1/Account/MA_X/Recording/" + mp3 + ".mp3", "bytes=-4", 206, "audio/mpeg", "6789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h http.Header
			if tt.rng != "" {
				h = http.Header{"Range": {tt.rng}}
			}
			w := fx.do(t, req{method: "GET", path: tt.path, header: h})
			if w.Code != tt.status || w.Header().Get("Content-Type") != tt.ctype || w.Body.String() != tt.body {
				t.Fatalf("%d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body)
			}
			if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(len(tt.body)) {
				t.Errorf("Content-Length %q", cl)
			}
		})
	}
	// Auth is required for downloads too.
	w := fx.do(t, req{method: "GET", path: base + "/Recording/" + mp3 + ".mp3", noAuth: true})
	if w.Code != 401 || w.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("unauthenticated download: %d", w.Code)
	}
	w = fx.do(t, req{method: "GET", path: base + "/Recording/" + mp3 + ".mp3", noAuth: true, header: http.Header{"Authorization": {basic("MA_X", testToken)}}})
	if w.Code != 200 {
		t.Errorf("basic auth download: %d", w.Code)
	}
	b, _ := io.ReadAll(w.Body)
	if !strings.HasPrefix(string(b), "ID3") {
		t.Errorf("body %q", b)
	}
}

// A file another process holds is answered by the handler Open returns, once the request is
// authenticated, with the request as the client sent it.
func TestRecordingDownloadElsewhere(t *testing.T) {
	fx := newFixture(t, nil)
	id := testRecording(1).ID
	var seen []string
	fx.recs.elsewhere = map[string]http.Handler{id + ".mp3": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.URL.Path+" "+r.Header.Get("Range"))
		w.WriteHeader(http.StatusPartialContent)
		io.WriteString(w, "from the holder")
	})}
	path := "/v1/Account/MA_X/Recording/" + id + ".mp3"
	w := fx.do(t, req{method: "GET", path: path, header: http.Header{"Range": {"bytes=0-3"}}})
	if w.Code != http.StatusPartialContent || w.Body.String() != "from the holder" {
		t.Errorf("download held elsewhere: %d %q", w.Code, w.Body)
	}
	if want := []string{path + " bytes=0-3"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("the holder saw %q, want %q", seen, want)
	}
	w = fx.do(t, req{method: "GET", path: path, noAuth: true})
	if w.Code != http.StatusUnauthorized || len(seen) != 1 {
		t.Errorf("unauthenticated download held elsewhere: %d, holder asked %d times", w.Code, len(seen))
	}
}

func TestMsString(t *testing.T) {
	for in, want := range map[int64]string{0: "0.00000", 10080000: "10080.00000", 1762436949502000: "1762436949502.00000", 1500: "1.50000", 7: "0.00700", -1500: "-1.50000"} {
		if got := msString(in); got != want {
			t.Errorf("msString(%d) = %q want %q", in, got, want)
		}
	}
}
