// Package stream runs one Vobiz audio stream session (spec/streams.md): Parley dials the app's
// WebSocket, sends `start` and then a `media` message every 20 ms per track, and plays the
// app's `playAudio` back through a Playout the call side pulls one frame at a time. It keeps
// the stream's lifecycle (retries with a new streamId, streamTimeout, the end of §1.5) and
// reports the status-callback events of §6.3 through Config.OnEvent.
//
// The package must NOT import other Parley packages than media and streamspec, know about
// calls, SIP, XML, HTTP webhooks or storage, nor make its callers wait on a socket: every method
// the call side uses (Push*, NextFrame) returns at once.
package stream
