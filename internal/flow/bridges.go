package flow

import (
	"context"
	"sync"

	"github.com/parley-voice/parley/internal/call"
)

// bridgeLink is one live <Dial> bridge, known by both of its legs' CallUUIDs: the REST media
// routes find the other leg through it (calls-more §A.2), and a transfer of the B leg detaches
// B from it (§B).
type bridgeLink struct {
	a, b *call.Call

	mu       sync.Mutex
	detachTo *transferRequest // set once: B leaves the bridge to run this document
	detach   chan struct{}    // closed when detachTo is set
	ended    chan struct{}    // closed when the bridge has released both outputs
}

// requestDetach asks the bridge to let B go and run the document at rawURL.
func (l *bridgeLink) requestDetach(rawURL, method string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.detachTo != nil {
		l.detachTo.url, l.detachTo.method = rawURL, method
		return
	}
	l.detachTo = &transferRequest{url: rawURL, method: method}
	close(l.detach)
}

// detached returns the document B was asked to run, nil when it stays in the bridge.
func (l *bridgeLink) detached() *transferRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.detachTo
}

func (r *Runner) addBridge(a, b *call.Call) *bridgeLink {
	l := &bridgeLink{a: a, b: b, detach: make(chan struct{}), ended: make(chan struct{})}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bridges == nil {
		r.bridges = make(map[string]*bridgeLink)
	}
	r.bridges[a.UUID()] = l
	r.bridges[b.UUID()] = l
	return l
}

func (r *Runner) removeBridge(l *bridgeLink) {
	r.mu.Lock()
	for _, id := range []string{l.a.UUID(), l.b.UUID()} {
		if r.bridges[id] == l {
			delete(r.bridges, id)
		}
	}
	r.mu.Unlock()
	close(l.ended)
}

func (r *Runner) bridgeOf(callUUID string) *bridgeLink {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bridges[callUUID]
}

// BridgePeer returns the other leg of the <Dial> bridge callUUID is in now, on either side
// (calls-more §A.2: bridged from the B leg's answer, after confirmKey, until the bridge ends).
func (r *Runner) BridgePeer(callUUID string) (*call.Call, bool) {
	l := r.bridgeOf(callUUID)
	if l == nil {
		return nil, false
	}
	if l.a.UUID() == callUUID {
		return l.b, true
	}
	return l.a, true
}

// TransferTarget is the document one leg of a transfer moves to.
type TransferTarget struct {
	URL    string
	Method string
}

// TransferLegs is the transfer of calls-more §B. aleg is the document of the addressed leg,
// bleg that of the other leg of its bridge; nil leaves a leg alone. Without a bridge only aleg
// may be given (ErrNotBridged otherwise) and it is Transfer. In a bridge: a transferred A side
// abandons its <Dial> (no action request), an A side left alone continues after <Dial> as if
// B had hung up; a transferred B side detaches and runs its own document as an independent
// leg, a B side left alone is hung up (4000, API Request). It returns once the legs have
// left the bridge, bounded by ctx.
func (r *Runner) TransferLegs(ctx context.Context, callUUID string, aleg, bleg *TransferTarget) error {
	l := r.bridgeOf(callUUID)
	if l == nil {
		if bleg != nil || aleg == nil {
			return ErrNotBridged
		}
		return r.Transfer(ctx, callUUID, aleg.URL, aleg.Method)
	}
	aSide, bSide := aleg, bleg
	if l.b.UUID() == callUUID {
		aSide, bSide = bleg, aleg
	}
	if bSide != nil {
		l.requestDetach(bSide.URL, bSide.Method)
	}
	if aSide != nil {
		if err := r.Transfer(ctx, l.a.UUID(), aSide.URL, aSide.Method); err != nil {
			return err
		}
	}
	select {
	case <-l.ended:
	case <-ctx.Done():
	}
	return nil
}

// runDetached runs a detached B leg's document: the transfer document replaces the answer.
func (r *Runner) runDetached(s *Session, t *transferRequest) {
	x := &run{r: r, s: s, c: s.Call, log: s.Call.Logger(), ctx: s.Call.Context(), stopped: make(chan struct{})}
	r.register(x)
	defer close(x.stopped)
	defer r.unregister(x)
	defer func() {
		if x.scheduleTimer != nil {
			x.scheduleTimer.Stop()
		}
	}()
	doc, err := x.fetchTransfer(t)
	if err == nil {
		err = x.execute(doc)
	}
	x.finish(err)
}
