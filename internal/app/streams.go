package app

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/call"
	"github.com/parley-voice/parley/internal/flow"
	"github.com/parley-voice/parley/internal/stream"
)

// streamsAPI adapts the call's audio streams (flow.Streams) to the REST API: the call is looked
// up in the live registry first, so an unknown, ended or foreign call is ErrCallNotFound and
// an ended call's streams are not readable.
type streamsAPI struct{ s *Server }

func (a streamsAPI) call(acct, uuid string) (*call.Call, error) {
	c, ok := a.s.calls.Get(acct, uuid)
	if !ok || c.Context().Err() != nil {
		return nil, api.ErrCallNotFound
	}
	return c, nil
}

func (a streamsAPI) Start(_ context.Context, acct, uuid string, p api.StreamParams) (string, error) {
	if a.s.draining.Load() {
		return "", api.ErrDraining
	}
	c, err := a.call(acct, uuid)
	if err != nil {
		return "", err
	}
	if !c.IsAnswered() {
		return "", api.ErrCallNotAnswered
	}
	contentType := ""
	if p.Encoding != "" {
		contentType = p.Encoding
		if p.SampleRate > 0 {
			contentType += ";rate=" + strconv.Itoa(p.SampleRate)
		}
	}
	sess, err := a.s.streams.Start(c, flow.StreamRequest{
		URL: p.ServiceURL, Bidirectional: p.Bidirectional, AudioTrack: p.AudioTrack, Timeout: p.StreamTimeout,
		ContentType: contentType, StatusCallbackURL: p.StatusCallbackURL, StatusCallbackMethod: p.StatusCallbackMethod,
		ExtraHeaders: p.ExtraHeaders, UniqueURL: true,
	})
	switch {
	case errors.Is(err, flow.ErrStreamURLInUse):
		return "", api.ErrStreamURLInUse
	case errors.Is(err, flow.ErrStreamCallEnded):
		return "", api.ErrCallNotFound
	case err != nil:
		return "", err
	}
	return sess.ID(), nil
}

func (a streamsAPI) List(_ context.Context, acct, uuid string) ([]api.StreamInfo, error) {
	if _, err := a.call(acct, uuid); err != nil {
		return nil, err
	}
	var out []api.StreamInfo
	for _, st := range a.s.streams.List(uuid) {
		out = append(out, streamInfo(st))
	}
	return out, nil
}

func (a streamsAPI) Get(_ context.Context, acct, uuid, streamID string) (api.StreamInfo, error) {
	if _, err := a.call(acct, uuid); err != nil {
		return api.StreamInfo{}, err
	}
	st, err := a.s.streams.Get(uuid, streamID)
	if err != nil {
		return api.StreamInfo{}, api.ErrStreamNotFound
	}
	return streamInfo(st), nil
}

func (a streamsAPI) Stop(ctx context.Context, acct, uuid, streamID string) error {
	if _, err := a.call(acct, uuid); err != nil {
		return err
	}
	if err := a.s.streams.Stop(ctx, uuid, streamID); err != nil {
		return api.ErrStreamNotFound
	}
	return nil
}

func (a streamsAPI) StopAll(ctx context.Context, acct, uuid string) error {
	if _, err := a.call(acct, uuid); err != nil {
		return err
	}
	a.s.streams.StopAll(ctx, uuid)
	return nil
}

// streamInfo turns a stream snapshot into the API's Stream object fields.
func streamInfo(st flow.StreamInfo) api.StreamInfo {
	r := st.Request
	track := r.AudioTrack
	if track == "" {
		track = "inbound"
	}
	method := r.StatusCallbackMethod
	if method == "" {
		method = "POST"
	}
	return api.StreamInfo{
		StreamParams: api.StreamParams{
			ServiceURL: r.URL, Bidirectional: r.Bidirectional, AudioTrack: track,
			Encoding: st.Format.Encoding, SampleRate: st.Format.SampleRate, StreamTimeout: streamTimeout(r),
			StatusCallbackURL: r.StatusCallbackURL, StatusCallbackMethod: method, ExtraHeaders: r.ExtraHeaders,
		},
		StreamID: st.ID, CallUUID: st.CallUUID, Status: st.Status, StartTime: st.Start, EndTime: st.End,
	}
}

func streamTimeout(r flow.StreamRequest) time.Duration {
	if r.Timeout <= 0 {
		return stream.DefaultTimeout
	}
	return r.Timeout
}
