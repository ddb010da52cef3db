package media

import (
	"bytes"
	"testing"
	"time"
)

func TestDTMFEventCodec(t *testing.T) {
	tests := []struct {
		payload []byte
		ev      DTMFEvent
	}{
		{[]byte{0x05, 0x0A, 0x00, 0xA0}, DTMFEvent{Event: 5, Volume: 10, Duration: 160}},
		{[]byte{0x0B, 0x8A, 0x03, 0x20}, DTMFEvent{Event: 11, End: true, Volume: 10, Duration: 800}},
		{[]byte{0x00, 0x3F, 0xFF, 0xFF}, DTMFEvent{Event: 0, Volume: 63, Duration: 65535}},
	}
	for _, tc := range tests {
		ev, err := ParseDTMFEvent(tc.payload)
		if err != nil || ev != tc.ev {
			t.Errorf("Parse(% x) = %+v, %v; want %+v", tc.payload, ev, err, tc.ev)
		}
		if b := EncodeDTMFEvent(tc.ev); !bytes.Equal(b, tc.payload) {
			t.Errorf("Encode(%+v) = % x, want % x", tc.ev, b, tc.payload)
		}
	}
	// The reserved bit is ignored on input.
	if ev, _ := ParseDTMFEvent([]byte{1, 0x4A, 0, 0}); ev.Volume != 10 || ev.End {
		t.Errorf("reserved bit leaked: %+v", ev)
	}
	if _, err := ParseDTMFEvent([]byte{1, 2, 3}); err == nil {
		t.Error("short payload accepted")
	}
}

func TestDigitMapping(t *testing.T) {
	for i, r := range "0123456789*#ABCD" {
		ev, ok := DigitToEvent(r)
		if !ok || int(ev) != i {
			t.Errorf("DigitToEvent(%q) = %d, %v", r, ev, ok)
		}
		back, ok := EventToDigit(ev)
		if !ok || back != r {
			t.Errorf("EventToDigit(%d) = %q, %v", ev, back, ok)
		}
	}
	if ev, ok := DigitToEvent('c'); !ok || ev != 14 {
		t.Errorf("lower-case c = %d, %v", ev, ok)
	}
	for _, r := range "wWE!x " {
		if _, ok := DigitToEvent(r); ok {
			t.Errorf("DigitToEvent(%q) accepted", r)
		}
	}
	if _, ok := EventToDigit(16); ok {
		t.Error("event 16 (flash) mapped to a digit")
	}
}

// pkt makes a telephone-event packet.
func pkt(seq uint16, ts uint32, marker bool, digit rune, dur uint16, end bool) Packet {
	ev, _ := DigitToEvent(digit)
	return Packet{PayloadType: 101, Marker: marker, Seq: seq, Timestamp: ts, SSRC: 42,
		Payload: EncodeDTMFEvent(DTMFEvent{Event: ev, End: end, Volume: 10, Duration: dur})}
}

// train is the usual packet train of a 100 ms digit at ts, first packet duration firstDur.
func train(seq uint16, ts uint32, digit rune, firstDur uint16) []Packet {
	p := []Packet{pkt(seq, ts, true, digit, firstDur, false)}
	for i := uint16(1); i < 5; i++ {
		p = append(p, pkt(seq+i, ts, false, digit, i*160, false))
	}
	for i := uint16(0); i < 3; i++ {
		p = append(p, pkt(seq+5+i, ts, false, digit, 800, true))
	}
	return p
}

func TestDTMFDetector(t *testing.T) {
	drop := func(p []Packet, i int) []Packet { return append(append([]Packet{}, p[:i]...), p[i+1:]...) }
	tests := []struct {
		name    string
		packets []Packet
		want    string
	}{
		{"first packet duration 0", train(1, 1000, '5', 0), "5"},
		{"first packet duration 160", train(1, 1000, '#', 160), "#"},
		{"marker packet lost", drop(train(1, 1000, '7', 0), 0), "7"},
		{"only end packets", train(1, 1000, 'A', 0)[5:], "A"},
		{"same digit twice", append(train(1, 1000, '1', 0), train(9, 2600, '1', 0)...), "11"},
		{"three digits", append(append(train(1, 1000, '1', 0), train(9, 2600, '2', 0)...), train(17, 4200, '3', 0)...), "123"},
		{"late straggler of the previous digit", append(append(train(1, 1000, '1', 0), train(9, 2600, '2', 0)[:3]...), pkt(8, 1000, false, '1', 800, true)), "12"},
		{"timestamp wraps", append(train(1, 0xFFFFFF00, '8', 0), train(9, 0x00000100, '9', 0)...), "89"},
		{"other payload types ignored", []Packet{{PayloadType: 0, Timestamp: 5, Payload: []byte{1, 0, 0, 0}}}, ""},
		{"short payload ignored", []Packet{{PayloadType: 101, Timestamp: 5, Payload: []byte{1}}}, ""},
		{"flash event is not a digit", []Packet{{PayloadType: 101, Timestamp: 5, Payload: []byte{16, 0, 0, 0}}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDTMFDetector(101)
			var got []rune
			for _, p := range tc.packets {
				if r, ok := d.Feed(p); ok {
					got = append(got, r)
				}
			}
			if string(got) != tc.want {
				t.Errorf("digits %q, want %q", string(got), tc.want)
			}
		})
	}
}

func TestDTMFDetectorNewStream(t *testing.T) {
	d := NewDTMFDetector(101)
	for _, p := range train(1, 5000, '4', 0) {
		d.Feed(p)
	}
	// A new SSRC may restart timestamps lower; its event still counts.
	p := pkt(1, 100, true, '6', 0, false)
	p.SSRC = 43
	if r, ok := d.Feed(p); !ok || r != '6' {
		t.Errorf("new stream: %q %v", r, ok)
	}
	d.Reset()
	if r, ok := d.Feed(p); !ok || r != '6' {
		t.Errorf("after Reset: %q %v", r, ok)
	}
}

func TestDTMFPackets(t *testing.T) {
	specs, err := DTMFPackets('9', 0, DefaultDTMFVolume)
	if err != nil {
		t.Fatal(err)
	}
	wantOffsets := []time.Duration{0, 20, 40, 60, 80, 100, 120}
	wantDur := []uint16{160, 320, 480, 640, 800, 800, 800}
	if len(specs) != len(wantOffsets) {
		t.Fatalf("%d packets, want %d", len(specs), len(wantOffsets))
	}
	for i, s := range specs {
		if s.Offset != wantOffsets[i]*time.Millisecond || s.Event.Duration != wantDur[i] ||
			s.Marker != (i == 0) || s.Event.End != (i >= 4) || s.Event.Event != 9 || s.Event.Volume != 10 {
			t.Errorf("packet %d: %+v", i, s)
		}
		if ev, _ := ParseDTMFEvent(s.Payload); ev != s.Event {
			t.Errorf("packet %d payload % x does not match %+v", i, s.Payload, s.Event)
		}
	}
	// Our own train, sent with one timestamp, is detected exactly once.
	d := NewDTMFDetector(101)
	n := 0
	for i, s := range specs {
		if r, ok := d.Feed(Packet{PayloadType: 101, Marker: s.Marker, Seq: uint16(i), Timestamp: 777, Payload: s.Payload}); ok {
			n++
			if r != '9' {
				t.Errorf("detected %q", r)
			}
		}
	}
	if n != 1 {
		t.Errorf("detected %d times", n)
	}

	if specs, _ := DTMFPackets('1', 30*time.Millisecond, 0); len(specs) != 4 || specs[3].Event.Duration != 320 {
		t.Errorf("30 ms rounds up to 2 frames: %+v", specs)
	}
	for _, bad := range []struct {
		r   rune
		d   time.Duration
		vol uint8
	}{{'x', 0, 10}, {'1', -time.Second, 10}, {'1', 9 * time.Second, 10}, {'1', 0, 64}} {
		if _, err := DTMFPackets(bad.r, bad.d, bad.vol); err == nil {
			t.Errorf("DTMFPackets(%q, %v, %d) accepted", bad.r, bad.d, bad.vol)
		}
	}
}

func FuzzParseDTMFEvent(f *testing.F) {
	f.Add([]byte{0x05, 0x0A, 0x00, 0xA0})
	f.Add([]byte{0x0B, 0x8A})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseDTMFEvent(b)
		if err != nil {
			if len(b) >= 4 {
				t.Fatalf("4+ bytes refused: %v", err)
			}
			return
		}
		if got := EncodeDTMFEvent(ev); got[0] != b[0] || got[1] != b[1]&^0x40 || got[2] != b[2] || got[3] != b[3] {
			t.Fatalf("round trip % x -> % x", b[:4], got)
		}
		d := NewDTMFDetector(101)
		d.Feed(Packet{PayloadType: 101, Payload: b})
	})
}
