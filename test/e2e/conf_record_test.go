package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/test/kit"
)

// download GETs a recording file with the given credentials.
func download(t *testing.T, p *kit.Server, authID, token, path string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", p.HTTP+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-ID", authID)
	req.Header.Set("X-Auth-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), data
}

// recordingAudio downloads a recording by its RecordUrl with the test account and decodes it.
func recordingAudio(t *testing.T, p *kit.Server, recordURL string) []int16 {
	t.Helper()
	st, _, data := download(t, p, kit.AuthID, kit.AuthToken, recordURL[strings.Index(recordURL, "/api/"):])
	if st != 200 {
		t.Fatalf("download %s: %d", recordURL, st)
	}
	pcm, err := media.DecodeAudio(data)
	if err != nil {
		t.Fatalf("decoding %s: %v", recordURL, err)
	}
	return pcm
}

var recordingKeys = []string{"add_time", "call_uuid", "conference_name", "from_number",
	"monthly_recording_storage_amount", "recording_duration_ms", "recording_end_ms", "recording_format",
	"recording_id", "recording_start_ms", "recording_storage_duration", "recording_storage_rate",
	"recording_type", "recording_url", "resource_uri", "rounded_recording_duration", "to_number"}

// TestConfRecording: REST start/stop of a room recording in WAV then MP3; the Recording rows,
// and the files, which hold the room's tones and are protected per account.
func TestConfRecording(t *testing.T) {
	w := kit.NewApp(t)
	w.XML("/answer", `<Response><Conference beep="false" stayAlone="true">Rec</Conference></Response>`)
	w.OK("/hangup")
	p := suite.Start(t, kit.Options{Env: twoAccounts(t, w)})
	cs := newCallers(400, 700)
	a, b := cs[0], cs[1]
	for _, m := range cs {
		m.join(t, p)
	}
	members(t, p, "Rec", a, b)

	for _, tc := range []struct {
		format      string
		aTone       float64 // what a sends during this recording
		contentType string
	}{
		{"wav", 400, "audio/wav"},
		{"mp3", 1600, "audio/mpeg"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			if tc.aTone != a.tone {
				a.tone = tc.aTone
				a.call.SetSource(kit.ToneSource(a.tone))
				time.Sleep(300 * time.Millisecond)
			}
			absent := 1600.0
			if tc.aTone == 1600 {
				absent = 400
			}
			st, body := p.REST(t, "POST", kit.AccountPath("/Conference/Rec/Record/"), map[string]any{"file_format": tc.format})
			if st != 200 {
				t.Fatalf("start recording: %d %v", st, body)
			}
			assertKeys(t, "start recording", body, "api_id", "message", "recording_id", "url")
			id, _ := body["recording_id"].(string)
			if body["message"] != "conference recording started" || !uuidRE.MatchString(id) {
				t.Errorf("start recording body %v", body)
			}
			startURL, _ := body["url"].(string)
			if !strings.HasSuffix(startURL, "/api/v1/Account/"+kit.AuthID+"/Recording/"+id+"."+tc.format) {
				t.Errorf("url %q", startURL)
			}
			st, body = p.REST(t, "POST", kit.AccountPath("/Conference/Rec/Record/"), map[string]any{"file_format": tc.format})
			assertError(t, "second start", st, body, 409, "conference recording already in progress")
			time.Sleep(2500 * time.Millisecond)
			member204(t, p, "DELETE", "/Conference/Rec/Record/")

			// Listed (final before the 204), with the conference filter too.
			var listed map[string]any
			for _, q := range []string{"", "?conference_name=Rec&recording_type=conference"} {
				st, body = p.REST(t, "GET", kit.AccountPath("/Recording/"+q), nil)
				if st != 200 {
					t.Fatalf("list recordings%s: %d %v", q, st, body)
				}
				objs, _ := body["objects"].([]any)
				listed = nil
				for _, o := range objs {
					if m, _ := o.(map[string]any); m["recording_id"] == id {
						listed = m
					}
				}
				if listed == nil {
					t.Fatalf("recording %s not listed by GET /Recording/%s: %v", id, q, body)
				}
			}
			assertKeys(t, "listed recording", listed, recordingKeys...)
			assertParamsJSON(t, "listed recording", listed, map[string]any{
				"recording_type": "conference", "conference_name": "Rec", "recording_format": tc.format,
				"from_number": "", "to_number": "", "recording_url": startURL,
				"resource_uri": "/v1/Account/" + kit.AuthID + "/Recording/" + id + "/",
			})
			if !uuidRE.MatchString(listed["call_uuid"].(string)) {
				t.Errorf("call_uuid %v is not a ConferenceUUID", listed["call_uuid"])
			}
			st, rec := p.REST(t, "GET", kit.AccountPath("/Recording/"+id+"/"), nil)
			if st != 200 {
				t.Fatalf("get recording: %d %v", st, rec)
			}
			assertKeys(t, "recording", rec, append([]string{"api_id"}, recordingKeys...)...)
			ms, err := strconv.ParseFloat(rec["recording_duration_ms"].(string), 64)
			if err != nil || ms < 2000 || ms > 3800 {
				t.Errorf("recording_duration_ms %v, want about 2500", rec["recording_duration_ms"])
			}

			// The file, downloaded from recording_url with the right credentials.
			u, err := url.Parse(rec["recording_url"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if got := u.Scheme + "://" + u.Host; got != p.HTTP {
				t.Errorf("recording_url %s is not on the listening address %s", u, p.HTTP)
			}
			st, ctype, data := download(t, p, kit.AuthID, kit.AuthToken, u.Path)
			if st != 200 || ctype != tc.contentType {
				t.Fatalf("download: %d %s (%d bytes), want 200 %s", st, ctype, len(data), tc.contentType)
			}
			pcm, err := media.DecodeAudio(data)
			if err != nil {
				t.Fatalf("decoding the %s recording: %v", tc.format, err)
			}
			if d := time.Duration(len(pcm)) * time.Second / media.SampleRate; d < 2*time.Second || d > 3800*time.Millisecond {
				t.Errorf("recording holds %v of audio, want about 2.5 s", d)
			}
			la, lb, lx := media.ToneDBFS(pcm, a.tone), media.ToneDBFS(pcm, b.tone), media.ToneDBFS(pcm, absent)
			if la < heardDBFS || lb < heardDBFS {
				t.Errorf("recording: a's %v Hz at %.1f dBFS, b's %v Hz at %.1f, want both above %.0f", a.tone, la, b.tone, lb, heardDBFS)
			}
			if min(la, lb)-lx < dropDB {
				t.Errorf("recording: %v Hz (not sent during it) at %.1f dBFS, want %.0f dB below the members", absent, lx, dropDB)
			}

			if st, _, _ := download(t, p, kit.AuthID, "wrong-token", u.Path); st != 401 {
				t.Errorf("download with a wrong token: %d, want 401", st)
			}
			other := strings.Replace(u.Path, "/Account/"+kit.AuthID+"/", "/Account/"+authIDB+"/", 1)
			if st, _, _ := download(t, p, authIDB, authTokenB, other); st != 404 {
				t.Errorf("download by another account: %d, want 404", st)
			}
			st, body = p.RESTAs(t, authIDB, authTokenB, "GET", "/api/v1/Account/"+authIDB+"/Recording/"+id+"/", nil)
			assertError(t, "another account's GET Recording", st, body, 404, "recording not found")
		})
	}
}

// assertParamsJSON checks JSON values of m exactly.
func assertParamsJSON(t *testing.T, what string, m map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s: %s = %#v, want %#v", what, k, m[k], v)
		}
	}
}
