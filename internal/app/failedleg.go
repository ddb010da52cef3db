package app

import (
	"context"
	"errors"
	"time"

	"github.com/parley-voice/parley/internal/call"
)

// notPlacedLeg stands for an API call that could not be placed at all (no route, endpoint not
// registered): no INVITE was sent, but the call still has a CallUUID, a record and a hangup
// webhook with its cause.
type notPlacedLeg struct {
	done chan struct{}
	info call.LegInfo
}

func newNotPlacedLeg() *notPlacedLeg {
	done := make(chan struct{})
	close(done)
	return &notPlacedLeg{done: done, info: call.LegInfo{Created: time.Now().UTC()}}
}

var errNotPlaced = errors.New("the call was not placed")

func (l *notPlacedLeg) Info() call.LegInfo                      { return l.info }
func (l *notPlacedLeg) Media() call.LegMedia                    { return nil } // never any media
func (l *notPlacedLeg) Ring(context.Context) error              { return nil }
func (l *notPlacedLeg) EarlyMedia(context.Context) error        { return errNotPlaced }
func (l *notPlacedLeg) Answer(context.Context) error            { return errNotPlaced }
func (l *notPlacedLeg) Reject(int, string, ...string) error     { return nil }
func (l *notPlacedLeg) Hangup(context.Context) error            { return nil }
func (l *notPlacedLeg) Done() <-chan struct{}                   { return l.done }
func (l *notPlacedLeg) EndedBy() call.LegEnd                    { return call.EndedLocal }
func (l *notPlacedLeg) WaitAnswer(context.Context) (int, error) { return 0, errNotPlaced }
func (l *notPlacedLeg) Cancel()                                 {}
