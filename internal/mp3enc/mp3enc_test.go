package mp3enc

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-voice/parley/internal/media"
)

func TestEncodeToneRoundTrip(t *testing.T) {
	if err := Available(""); err != nil {
		t.Fatalf("%v (make test installs it)", err)
	}
	path := filepath.Join(t.TempDir(), "tone.mp3")
	enc, err := New("", path)
	if err != nil {
		t.Fatal(err)
	}
	src := media.Tone(700, 2*time.Second, -6)
	frame := make([]int16, media.FrameSamples)
	for src.ReadFrame(frame) == nil {
		if err := enc.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// MPEG-2 Layer III, 16 kHz: sync 0xFFF, version bits 10, layer 01.
	i := 0
	if len(data) > 10 && string(data[:3]) == "ID3" {
		size := int(data[6])<<21 | int(data[7])<<14 | int(data[8])<<7 | int(data[9])
		i = 10 + size
	}
	if len(data) < i+4 || data[i] != 0xFF || data[i+1]&0xF0 != 0xF0 || (data[i+1]>>3)&3 != 2 || (data[i+1]>>1)&3 != 1 {
		t.Fatalf("not an MPEG-2 Layer III frame header at %d: % x", i, data[i:min(len(data), i+4)])
	}
	if rate := (data[i+2] >> 2) & 3; rate != 2 { // MPEG-2 rates: 22050, 24000, 16000
		t.Fatalf("sample rate index %d, want 2 (16 kHz)", rate)
	}
	pcm, err := media.DecodeMP3(data)
	if err != nil {
		t.Fatal(err)
	}
	d := time.Duration(len(pcm)) * time.Second / media.SampleRate
	if d < 1900*time.Millisecond || d > 2300*time.Millisecond {
		t.Fatalf("decoded %v of audio, want about 2 s", d)
	}
	mid := pcm[len(pcm)/4 : 3*len(pcm)/4]
	if tone, off := media.ToneDBFS(mid, 700), media.ToneDBFS(mid, 1500); tone < -12 || tone-off < 30 {
		t.Fatalf("700 Hz at %.1f dBFS, 1500 Hz at %.1f", tone, off)
	}
}

func TestMissingEncoder(t *testing.T) {
	if _, err := New("parley-no-such-lame", filepath.Join(t.TempDir(), "x.mp3")); err != ErrNotInstalled {
		t.Fatalf("got %v", err)
	}
}
