package api

import (
	"context"
	"fmt"
	"sync"
)

// fakeCallMedia applies the §A.2 rules over the legs of fakeCalls and keeps what it was asked.
type fakeCallMedia struct {
	mu      sync.Mutex
	calls   *fakeCalls
	plays   []CallPlayParams
	speaks  []CallSpeakParams
	digits  []string // "digits/leg"
	records []CallRecordParams
	stops   []string // "play", "speak", "record:<id>"
	limit   bool     // StartRecording answers ErrRecordingLimit
}

// check returns the §A.2 error of a POST on callUUID naming legs.
func (f *fakeCallMedia) check(account, callUUID, legs string, post bool) error {
	f.calls.mu.Lock()
	defer f.calls.mu.Unlock()
	c, ok := f.calls.find(account, callUUID)
	switch {
	case !ok:
		return fmt.Errorf("fake: %w", ErrCallNotFound)
	case !post:
		return nil
	case !c.Answered:
		return ErrCallNotAnswered
	case legs == "bleg" && !f.calls.bridged[callUUID]:
		return ErrNotBridged
	}
	return nil
}

func (f *fakeCallMedia) Play(ctx context.Context, account, id string, p CallPlayParams) error {
	if err := f.check(account, id, p.Legs, true); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plays = append(f.plays, p)
	return nil
}

func (f *fakeCallMedia) StopPlay(ctx context.Context, account, id string) error {
	if err := f.check(account, id, "", false); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops = append(f.stops, "play")
	return nil
}

func (f *fakeCallMedia) Speak(ctx context.Context, account, id string, p CallSpeakParams) error {
	if err := f.check(account, id, p.Legs, true); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.speaks = append(f.speaks, p)
	return nil
}

func (f *fakeCallMedia) StopSpeak(ctx context.Context, account, id string) error {
	if err := f.check(account, id, "", false); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops = append(f.stops, "speak")
	return nil
}

func (f *fakeCallMedia) SendDigits(ctx context.Context, account, id, digits, leg string) error {
	if err := f.check(account, id, leg, true); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.digits = append(f.digits, digits+"/"+leg)
	return nil
}

func (f *fakeCallMedia) StartRecording(ctx context.Context, account, id string, p CallRecordParams) (RecordingStarted, error) {
	if err := f.check(account, id, "", true); err != nil {
		return RecordingStarted{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.limit {
		return RecordingStarted{}, ErrRecordingLimit
	}
	f.records = append(f.records, p)
	return RecordingStarted{RecordingID: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", FileFormat: p.FileFormat}, nil
}

func (f *fakeCallMedia) StopRecording(ctx context.Context, account, id, recordingID string) error {
	if err := f.check(account, id, "", false); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops = append(f.stops, "record:"+recordingID)
	return nil
}
