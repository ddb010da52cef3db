package flow

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/parley-voice/parley/internal/conference"
	"github.com/parley-voice/parley/internal/media"
	"github.com/parley-voice/parley/internal/tts"
	"github.com/parley-voice/parley/internal/vxml"
	"github.com/parley-voice/parley/internal/webhook"
)

// eventTimeLayout is the Timestamp of conference requests (spec §9.6.1).
const eventTimeLayout = "2006-01-02T15:04:05.000Z"

// Sound resolves an enter, exit or wait sound URL of a room (spec §7.6, §9.6.2): the URL
// returns a document whose Play, Speak and Wait elements make up the sound. It implements
// conference.Sounds.
func (r *Runner) Sound(ctx context.Context, req conference.SoundRequest) (media.Source, error) {
	md, _ := req.Data.(*MemberData)
	if md == nil {
		return nil, errors.New("sound request without its member")
	}
	params := url.Values{}
	params.Set("Event", "ConferenceRemoteSounds")
	params.Set("ConferenceAction", string(req.Kind))
	params.Set("ConferenceName", req.ConferenceName)
	params.Set("ConferenceUUID", req.ConferenceUUID)
	params.Set("ConferenceMemberID", strconv.FormatInt(req.MemberID, 10))
	id := md.Call.Identity()
	params.Set("CallUUID", id.UUID)
	params.Set("From", id.From)
	params.Set("To", id.To)
	params.Set("Direction", string(id.Direction))
	params.Set("CallStatus", liveStatus(md.Call))
	params.Set("ConferenceCurrentSize", strconv.Itoa(req.CurrentSize))
	params.Set("Timestamp", time.Now().UTC().Format(eventTimeLayout))
	method := req.Method
	if method == "" {
		method = "POST"
	}
	pcm, err := r.renderSound(ctx, webhook.Request{URL: req.Ref, Method: method, Params: params, AuthToken: md.AuthToken})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Kind, req.Ref, err)
	}
	return media.NewPCMSource(pcm), nil
}

// renderSound fetches a sound document (room sounds, dialMusic, confirmSound) and renders its
// Play, Speak and Wait elements (others are ignored) into PCM, at most
// conference.MaxSoundDuration of it.
func (r *Runner) renderSound(ctx context.Context, req webhook.Request) ([]int16, error) {
	d, err := r.Fetcher.FetchDocument(ctx, req)
	if err != nil {
		return nil, err
	}
	base := d.URL
	if base == nil {
		base, _ = url.Parse(req.URL)
	}
	doc, err := vxml.Parse(d.Body, base)
	if err != nil {
		return nil, err
	}
	var parts []media.Source
	for _, el := range doc.Elements {
		switch e := el.(type) {
		case *vxml.Speak:
			text, ssml := e.Text, false
			if e.SSML != "" {
				text, ssml = e.SSML, true
			}
			pcm, err := r.Synth.Synthesize(ctx, tts.Request{Text: text, SSML: ssml, Voice: e.Voice, Language: e.Language})
			if err != nil {
				return nil, err
			}
			parts = append(parts, loopPCM(pcm, e.Loop))
		case *vxml.Play:
			pcm, err := r.Audio.Fetch(ctx, e.URL)
			if err != nil {
				continue // an unusable file is skipped, as in a call
			}
			parts = append(parts, loopPCM(pcm, e.Loop))
		case *vxml.Wait:
			parts = append(parts, media.Silence(e.Length))
		}
	}
	limit := int(conference.MaxSoundDuration / media.FrameDuration * media.FrameSamples)
	return media.ReadAll(media.Concat(parts...), limit), nil
}

// loopPCM repeats pcm loop times; 0 means once here, since a sound must end (wait audio is
// looped by the room).
func loopPCM(pcm []int16, loop int) media.Source {
	if loop <= 0 {
		loop = 1
	}
	return media.Loop(func() media.Source { return media.NewPCMSource(pcm) }, loop)
}

// ConferenceEventParams returns the callback parameters of a room event (spec §9.6.1), and
// false for events that have no callback (recordings, members without callbackUrl).
func ConferenceEventParams(ev conference.Event) (url.Values, bool) {
	md, _ := ev.Data.(*MemberData)
	if md == nil || ev.CallbackURL == "" {
		return nil, false
	}
	v := url.Values{}
	v.Set("ConferenceUUID", ev.ConferenceUUID)
	v.Set("ConferenceName", ev.ConferenceName)
	v.Set("ConferenceMemberID", strconv.FormatInt(ev.MemberID, 10))
	v.Set("CallUUID", ev.Call.CallUUID)
	v.Set("ConferenceCurrentSize", strconv.Itoa(ev.CurrentSize))
	v.Set("Timestamp", ev.Timestamp.UTC().Format(eventTimeLayout))
	switch ev.Kind {
	case conference.EventEnter:
		v.Set("Event", "ConferenceEnter")
		v.Set("ConferenceAction", "enter")
		v.Set("ConferenceFirstMember", strconv.FormatBool(ev.FirstMember))
		s := CallParams(md.Call, "")
		for _, k := range []string{"From", "To", "Direction", "CallStatus", "RequestUUID", "ParentAuthID", "SessionStart", "ALegUUID", "ALegRequestUUID"} {
			if val, ok := s[k]; ok {
				v[k] = val
			}
		}
	case conference.EventExit:
		v.Set("Event", "ConferenceExit")
		v.Set("ConferenceAction", "exit")
		v.Set("ConferenceLastMember", strconv.FormatBool(ev.LastMember))
	case conference.EventDigitsMatch:
		v.Set("Event", "ConferenceDigitsMatch")
		v.Set("ConferenceAction", "digits")
		v.Set("ConferenceDigitsMatch", ev.Digits)
	default:
		return nil, false
	}
	return v, true
}
