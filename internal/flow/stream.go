package flow

import (
	"errors"

	"github.com/parley-voice/parley/internal/vxml"
)

// stream runs <Stream> (spec/streams.md §1.5). The call is answered first: the stream carries
// the call's audio both ways, which needs an answered leg ([Parley]: the spec's answering
// elements are those of vobiz-api.md §7.2, and a Stream first in a document — the usual AI
// agent — must hear the caller). A background stream (keepCallAlive false) starts and the
// document goes on at once; a blocking one holds the document until the stream ends, and a
// transfer or redirect of the call stops it (StopStream) before the new document runs.
func (x *run) stream(e *vxml.Stream) error {
	if x.r.Streams == nil {
		x.warn("element not supported in this version; skipped", "element", "Stream")
		return nil
	}
	if err := x.answer(); err != nil {
		return err
	}
	sess, err := x.r.Streams.Start(x.c, StreamRequest{
		URL: e.URL, Bidirectional: e.Bidirectional, AudioTrack: e.AudioTrack, Timeout: e.StreamTimeout,
		ContentType: e.ContentType, StatusCallbackURL: e.StatusCallbackURL, StatusCallbackMethod: e.StatusCallbackMethod,
		ExtraHeaders: e.ExtraHeaders, MaxRetries: e.MaxRetries, KeepCallAlive: e.KeepCallAlive,
	})
	if errors.Is(err, ErrStreamCallEnded) {
		return errCallEnded
	}
	if err != nil {
		x.warn("stream could not start; skipped", "err", err)
		return nil
	}
	if !e.KeepCallAlive {
		return nil
	}
	x.blocking()
	select {
	case <-sess.Done():
		x.log.Info("blocking stream ended; document goes on", "stream_id", sess.ID(), "reason", sess.EndReason().String())
		return nil
	case <-x.ctx.Done():
		sess.Stop() // transfer or redirect (StopStream); on hangup every stream of the call is stopped anyway
		return x.ended(x.ctx.Err())
	}
}
