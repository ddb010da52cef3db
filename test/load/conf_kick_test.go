//go:build load

package load

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/sip/siptest"
	"github.com/parley-voice/parley/test/kit"
)

// Numbers and tones of the kick benchmark.
const (
	kickNumber   = "6000" // the member that is kicked again and again
	steadyNumber = "6001" // the members that stay
	kickRoom     = "kickroom"
	playHz       = 2000.0 // the <Play> after <Conference>
	steadyHz1    = 500.0
	steadyHz2    = 800.0
)

// kickSample is one measured kick; durations are from just before the REST request was sent.
type kickSample struct {
	Response  time.Duration // REST answer received
	Event     time.Duration // the ConferenceExit Timestamp (server clock = this clock, ms resolution)
	Callback  time.Duration // ConferenceExit callback received by the app
	RoomQuiet time.Duration // first frame without the room's tones
	Play      time.Duration // first frame of the <Play> tone
}

// TestConferenceKick measures REST Kick latency: one room with two members that stay and one
// member that is kicked, hears a <Play> tone, and is sent back into the room by <Redirect>, over
// and over. Per kick it takes the time from the REST request to the ConferenceExit callback at
// the app (through Parley's outbox) and to the first packet of the <Play> audio at the kicked
// client. Settings (environment):
//
//	PARLEY_KICK_COUNT       measured kicks (default 100; one more cold kick runs first)
//	PARLEY_KICK_BG_ROOMS    background rooms of tone members while kicking (default 0)
//	PARLEY_KICK_BG_MEMBERS  members per background room (default 30)
//	PARLEY_LOAD_DIR, PARLEY_LOAD_RTP_PORTS, PARLEY_LOAD_BIN as for TestConferenceLoad
func TestConferenceKick(t *testing.T) {
	count := envInt(t, "PARLEY_KICK_COUNT", 100, 1, 10000)
	bgRooms := envInt(t, "PARLEY_KICK_BG_ROOMS", 0, 0, 100)
	bgMembers := envInt(t, "PARLEY_KICK_BG_MEMBERS", 30, 3, 200)

	var app *confApp
	kickDoc := func() string {
		return `<Response>
  <Conference beep="false" callbackUrl="` + app.URL("/events") + `">` + kickRoom + `</Conference>
  <Play>` + app.URL("/files/next.wav") + `</Play>
  <Redirect>` + app.URL("/redirect/"+kickNumber) + `</Redirect>
</Response>`
	}
	docFor := func(to string) string {
		switch to {
		case kickNumber:
			return kickDoc()
		case steadyNumber:
			return `<Response><Conference beep="false">` + kickRoom + `</Conference></Response>`
		}
		return confLoadDoc(to)
	}
	play := media.ReadAll(media.Tone(playHz, 400*time.Millisecond, -10), 0)
	app = startConfApp(t, docFor, map[string][]byte{"next.wav": kit.WAV(play, media.SampleRate)})
	srv, _ := startConfServer(t, app, "kick")
	fmt.Printf("date:    %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("machine: %d CPUs (%s), load average %s at start\n", runtime.NumCPU(), cpuModel(), loadAvg())
	fmt.Printf("build:   parley built from the working tree at %s; test %s\n", gitRev(), runtime.Version())
	fmt.Printf("kicks:   %d measured after one cold kick; background %d rooms × %d members\n", count, bgRooms, bgMembers)

	client, err := siptest.NewClient(siptest.Options{LocalIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	var calls []*siptest.Call
	dialOne := func(to, from string, src media.Source) *siptest.Call {
		c, err := client.Dial(ctx, "sip:"+to+"@"+srv.SIP, siptest.DialOptions{From: from, Send: src})
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, c)
		return c
	}
	if bgRooms > 0 {
		freqs, level := roomTones(bgMembers)
		err := dialPaced(ctx, bgRooms*bgMembers, 25, func(i int) error {
			room, idx := i%bgRooms, i/bgRooms
			dialOne(strconv.Itoa(confRoomBase+room), fmt.Sprintf("+1415%03d%04d", room, idx),
				media.Tone(float64(freqs[idx]), time.Hour, level))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	dialOne(steadyNumber, "+14155550001", media.Tone(steadyHz1, time.Hour, -20))
	dialOne(steadyNumber, "+14155550002", media.Tone(steadyHz2, time.Hour, -20))
	kicked := dialOne(kickNumber, "+14155550009", nil)
	if missing := waitAnswered(calls, 60*time.Second); missing > 0 {
		t.Fatalf("%d of %d calls not answered\n%s", missing, len(calls), srv.Tail(4000))
	}

	var samples []kickSample
	var cold kickSample
	for i := 0; i <= count; i++ {
		s, err := kickOnce(ctx, srv, app, kicked)
		if err != nil {
			t.Fatalf("kick %d: %v\nserver log:\n%s", i, err, srv.Tail(4000))
		}
		if i == 0 {
			cold = s
			continue
		}
		samples = append(samples, s)
	}
	fmt.Printf("cold kick (the <Play> file is downloaded): callback %s ms, play %s ms\n\n", msOf(cold.Callback), msOf(cold.Play))
	fmt.Print(kickTable(samples))
	if d := app.drop.Load(); d > 0 {
		t.Errorf("%d conference callbacks did not fit the app's queue", d)
	}
}

// kickOnce waits for the kicked member to be in the room, kicks it and measures.
func kickOnce(ctx context.Context, srv *kit.Server, app *confApp, c *siptest.Call) (kickSample, error) {
	var s kickSample
	enter, err := waitEvent(app, "ConferenceEnter", "", 15*time.Second)
	if err != nil {
		return s, err
	}
	// Kick at a random moment: a fixed delay would keep the kick at one phase of the 20 ms tick.
	time.Sleep(250*time.Millisecond + rand.N(200*time.Millisecond))
	mark := len(c.Received())
	t0 := time.Now()
	st, body, err := srv.Request(ctx, kit.AuthID, kit.AuthToken, "POST", kit.AccountPath("/Conference/"+kickRoom+"/Member/"+enter.MemberID+"/Kick/"), map[string]any{})
	s.Response = time.Since(t0)
	if err != nil {
		return s, err
	}
	if st != 200 {
		return s, fmt.Errorf("kick member %s: status %d %v", enter.MemberID, st, body)
	}
	exit, err := waitEvent(app, "ConferenceExit", enter.MemberID, 10*time.Second)
	if err != nil {
		return s, err
	}
	s.Callback = exit.At.Sub(t0)
	if ts, err := time.Parse("2006-01-02T15:04:05.000Z07:00", exit.Timestamp); err == nil {
		s.Event = ts.Sub(t0)
	} else {
		return s, fmt.Errorf("ConferenceExit Timestamp %q: %w", exit.Timestamp, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Play == 0 {
		rx := c.Received()
		for _, f := range rx[mark:] {
			if f.At.Before(t0) {
				continue
			}
			if s.RoomQuiet == 0 && media.ToneDBFS(f.PCM, steadyHz1) < -40 && media.ToneDBFS(f.PCM, steadyHz2) < -40 {
				s.RoomQuiet = f.At.Sub(t0)
			}
			if media.ToneDBFS(f.PCM, playHz) > -20 {
				s.Play = f.At.Sub(t0)
				break
			}
		}
		if s.Play == 0 {
			if time.Now().After(deadline) {
				return s, fmt.Errorf("no <Play> tone within 5 s of kicking member %s", enter.MemberID)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return s, nil
}

// waitEvent returns the next conference callback of kind (and member, when not ""), dropping
// others.
func waitEvent(app *confApp, kind, member string, d time.Duration) (confEvent, error) {
	timeout := time.After(d)
	for {
		select {
		case ev := <-app.events:
			if ev.Event == kind && (member == "" || ev.MemberID == member) {
				return ev, nil
			}
		case <-timeout:
			return confEvent{}, fmt.Errorf("no %s callback (member %q) within %v", kind, member, d)
		}
	}
}

// kickTable renders the distribution of each measured interval as a markdown table.
func kickTable(ss []kickSample) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d kicks, milliseconds from just before the REST request was sent:\n\n", len(ss))
	b.WriteString("| interval | p50 | p90 | p99 | max |\n|---|---|---|---|---|\n")
	for _, row := range []struct {
		name string
		get  func(kickSample) time.Duration
	}{
		{"REST answer received", func(s kickSample) time.Duration { return s.Response }},
		{"ConferenceExit Timestamp (event queued; ms resolution)", func(s kickSample) time.Duration { return s.Event }},
		{"ConferenceExit callback received by the app", func(s kickSample) time.Duration { return s.Callback }},
		{"callback delivery (received − Timestamp)", func(s kickSample) time.Duration { return s.Callback - s.Event }},
		{"room audio stops at the kicked client", func(s kickSample) time.Duration { return s.RoomQuiet }},
		{"first <Play> packet at the kicked client", func(s kickSample) time.Duration { return s.Play }},
	} {
		xs := make([]float64, len(ss))
		for i, s := range ss {
			xs[i] = float64(row.get(s)) / 1e6
		}
		fmt.Fprintf(&b, "| %s | %.1f | %.1f | %.1f | %.1f |\n", row.name,
			percentile(xs, 50), percentile(xs, 90), percentile(xs, 99), slices.Max(xs))
	}
	return b.String()
}
