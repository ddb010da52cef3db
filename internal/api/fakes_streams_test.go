package api

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// fakeStreams keeps the streams of the fake calls in memory and applies the §5 rules: streams
// live on live legs of fakeCalls, a start needs an answered leg, one in-progress stream per
// service_url.
type fakeStreams struct {
	mu      sync.Mutex
	calls   *fakeCalls
	now     func() time.Time
	streams map[string][]StreamInfo // call uuid -> streams, oldest first
	started []StreamParams          // every accepted Start, in order
	stopped []string                // stream ids ended by Stop or StopAll
	nextID  int
}

func newFakeStreams(calls *fakeCalls, now func() time.Time) *fakeStreams {
	return &fakeStreams{calls: calls, now: now, streams: map[string][]StreamInfo{}}
}

// Seeded streams of testCallIn: one started by <Stream> and still running, one ended.
const (
	testStreamLive  = "c4dfd815-a92a-4140-ab85-5ff28c004116"
	testStreamEnded = "728e273b-9c2c-4902-8509-2f88224cd3d5"
)

func (f *fakeStreams) seed() {
	f.streams[testCallIn] = []StreamInfo{
		{StreamParams: StreamParams{ServiceURL: "wss://agent.example.com/ws/secret?lang=hi&dir=outbound", Bidirectional: false,
			AudioTrack: "both", Encoding: "audio/x-l16", SampleRate: 16000, StreamTimeout: 600 * time.Second,
			StatusCallbackMethod: "POST"},
			StreamID: testStreamEnded, CallUUID: testCallIn, Status: StreamCompleted,
			StartTime: time.Date(2026, 11, 6, 13, 49, 12, 0, time.UTC), EndTime: time.Date(2026, 11, 6, 13, 49, 40, 500000000, time.UTC)},
		{StreamParams: StreamParams{ServiceURL: "wss://bot.example.com/media", Bidirectional: true, AudioTrack: "inbound",
			Encoding: "audio/x-mulaw", SampleRate: 8000, StreamTimeout: 86400 * time.Second,
			StatusCallbackURL: "https://app.example.com/stream-status", StatusCallbackMethod: "GET",
			ExtraHeaders: "session_id=abc123,tier=gold", Headers: []StreamHeader{{Name: "session_id", Value: "abc123"}, {Name: "tier", Value: "gold"}}},
			StreamID: testStreamLive, CallUUID: testCallIn, Status: StreamInProgress,
			StartTime: time.Date(2026, 11, 6, 13, 49, 15, 0, time.UTC)},
	}
}

// leg returns the live leg callUUID of the account.
func (f *fakeStreams) leg(account, callUUID string) (CallView, error) {
	f.calls.mu.Lock()
	defer f.calls.mu.Unlock()
	c, ok := f.calls.find(account, callUUID)
	if !ok {
		return c, fmt.Errorf("fake: %w", ErrCallNotFound)
	}
	return c, nil
}

func (f *fakeStreams) Start(ctx context.Context, account, callUUID string, p StreamParams) (string, error) {
	c, err := f.leg(account, callUUID)
	if err != nil {
		return "", err
	}
	if !c.Answered {
		return "", ErrCallNotAnswered
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, st := range f.streams[callUUID] {
		if st.Status == StreamInProgress && st.ServiceURL == p.ServiceURL {
			return "", fmt.Errorf("fake: %w", ErrStreamURLInUse)
		}
	}
	f.nextID++
	id := fmt.Sprintf("5e000000-0000-4000-8000-%012d", f.nextID)
	f.started = append(f.started, p)
	f.streams[callUUID] = append(f.streams[callUUID], StreamInfo{StreamParams: p, StreamID: id, CallUUID: callUUID,
		Status: StreamInProgress, StartTime: f.now()})
	return id, nil
}

func (f *fakeStreams) List(ctx context.Context, account, callUUID string) ([]StreamInfo, error) {
	if _, err := f.leg(account, callUUID); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]StreamInfo(nil), f.streams[callUUID]...), nil
}

func (f *fakeStreams) Get(ctx context.Context, account, callUUID, streamID string) (StreamInfo, error) {
	if _, err := f.leg(account, callUUID); err != nil {
		return StreamInfo{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, st := range f.streams[callUUID] {
		if st.StreamID == streamID {
			return st, nil
		}
	}
	return StreamInfo{}, ErrStreamNotFound
}

// end marks an in-progress stream completed; the caller holds f.mu.
func (f *fakeStreams) end(st *StreamInfo) {
	st.Status, st.EndTime = StreamCompleted, f.now()
	f.stopped = append(f.stopped, st.StreamID)
}

func (f *fakeStreams) Stop(ctx context.Context, account, callUUID, streamID string) error {
	if _, err := f.leg(account, callUUID); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.streams[callUUID] {
		if st := &f.streams[callUUID][i]; st.StreamID == streamID && st.Status == StreamInProgress {
			f.end(st)
			return nil
		}
	}
	return fmt.Errorf("fake: %w", ErrStreamNotFound)
}

func (f *fakeStreams) StopAll(ctx context.Context, account, callUUID string) error {
	if _, err := f.leg(account, callUUID); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.streams[callUUID] {
		if st := &f.streams[callUUID][i]; st.Status == StreamInProgress {
			f.end(st)
		}
	}
	return nil
}
