package media

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	mp3 "github.com/hajimehoshi/go-mp3"
)

// mpegHeader is the part of an MPEG audio frame header Parley checks before decoding.
type mpegHeader struct {
	version  int // 1, 2, or 25 for MPEG-2.5
	layer    int // 1, 2 or 3
	rate     int // Hz
	bitrate  int // kbit/s, 0 for free format
	size     int // frame length in bytes, 0 when unknown (free format)
	channels int
}

var (
	mpegRates = [3]int{44100, 48000, 32000}
	// Bit rates in kbit/s by [MPEG-1?][layer-1][index].
	mpegBitrates = [2][3][15]int{
		{ // MPEG-2 and 2.5
			{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256},
			{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},
			{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},
		},
		{ // MPEG-1
			{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448},
			{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384},
			{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320},
		},
	}
)

// parseMPEGHeader decodes the 4-byte frame header at b, reporting false when it is not one.
func parseMPEGHeader(b []byte) (mpegHeader, bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return mpegHeader{}, false
	}
	var h mpegHeader
	switch (b[1] >> 3) & 3 {
	case 0:
		h.version = 25
	case 2:
		h.version = 2
	case 3:
		h.version = 1
	default:
		return mpegHeader{}, false
	}
	h.layer = 4 - int((b[1]>>1)&3)
	bi, si := int(b[2]>>4), int((b[2]>>2)&3)
	if h.layer == 4 || bi == 15 || si == 3 || b[3]&3 == 2 {
		return mpegHeader{}, false
	}
	h.rate = mpegRates[si]
	v1 := 0
	switch h.version {
	case 1:
		v1 = 1
	case 2:
		h.rate /= 2
	case 25:
		h.rate /= 4
	}
	h.bitrate = mpegBitrates[v1][h.layer-1][bi]
	h.channels = 2
	if b[3]>>6 == 3 {
		h.channels = 1
	}
	pad := int(b[2]>>1) & 1
	if h.bitrate > 0 {
		switch {
		case h.layer == 1:
			h.size = (12000*h.bitrate/h.rate + pad) * 4
		case h.layer == 3 && h.version != 1:
			h.size = 72000*h.bitrate/h.rate + pad
		default:
			h.size = 144000*h.bitrate/h.rate + pad
		}
	}
	return h, true
}

// skipID3v2 returns data after any leading ID3v2 tags.
func skipID3v2(data []byte) ([]byte, error) {
	for len(data) >= 3 && string(data[:3]) == "ID3" {
		if len(data) < 10 {
			return nil, fmt.Errorf("%w: MP3 ID3 tag is truncated", ErrMalformed)
		}
		size := 0
		for _, c := range data[6:10] {
			if c&0x80 != 0 {
				return nil, fmt.Errorf("%w: MP3 ID3 tag has an invalid size", ErrMalformed)
			}
			size = size<<7 | int(c)
		}
		size += 10
		if data[5]&0x10 != 0 { // footer present
			size += 10
		}
		if size > len(data) {
			return nil, fmt.Errorf("%w: MP3 ID3 tag runs past the end of the file", ErrMalformed)
		}
		data = data[size:]
	}
	return data, nil
}

// findMPEGFrame returns the offset (below limit) of the first frame header that is followed
// by another frame header of the same kind (or by the end of the data), which rules out
// false syncs.
func findMPEGFrame(data []byte, limit int) (int, mpegHeader, bool) {
	for i := 0; i+4 <= len(data) && i < limit; i++ {
		h, ok := parseMPEGHeader(data[i:])
		if !ok || h.size == 0 {
			continue
		}
		next := i + h.size
		if next == len(data) {
			return i, h, true
		}
		if n, ok := parseMPEGHeader(data[min(next, len(data)):]); ok &&
			n.version == h.version && n.layer == h.layer && n.rate == h.rate {
			return i, h, true
		}
	}
	return 0, mpegHeader{}, false
}

// DecodeMP3 decodes an MPEG-1 or MPEG-2 Layer III file (16 to 48 kHz) to 8 kHz mono PCM.
// MPEG-2.5 (8 to 12 kHz), Layer I/II and free-format streams are refused with ErrUnsupported.
// A frame that fails to decode after some audio has been decoded ends the audio there, as
// players do with damaged files.
func DecodeMP3(data []byte) (pcm []int16, err error) {
	body, err := skipID3v2(data)
	if err != nil {
		return nil, err
	}
	off, h, ok := findMPEGFrame(body, len(body))
	if !ok {
		return nil, fmt.Errorf("%w: no MPEG audio frames found", ErrMalformed)
	}
	switch {
	case h.version == 25:
		return nil, fmt.Errorf("%w: MPEG-2.5 MP3 at %d Hz; re-encode the file at 16 kHz or more", ErrUnsupported, h.rate)
	case h.layer != 3:
		return nil, fmt.Errorf("%w: MPEG Layer %s audio; only Layer III (MP3) is supported", ErrUnsupported, [...]string{"", "I", "II"}[h.layer])
	}
	defer func() {
		// go-mp3 is not hardened against every damaged stream; input must never crash us.
		if r := recover(); r != nil {
			pcm, err = nil, fmt.Errorf("%w: MP3 decoder failed: %v", ErrMalformed, r)
		}
	}()
	d, err := mp3.NewDecoder(bytes.NewReader(body[off:]))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	rate := d.SampleRate()
	frames := d.Length() / 4 // 16-bit stereo
	if tooLong(frames, rate) {
		return nil, fmt.Errorf("%w: the MP3 file holds %s of audio", ErrTooLong,
			(time.Duration(frames/int64(rate)) * time.Second).Round(time.Second))
	}
	rs := NewResampler(rate, SampleRate)
	if rs == nil {
		return nil, fmt.Errorf("%w: MP3 sample rate %d Hz", ErrUnsupported, rate)
	}
	out := make([]int16, 0, max(0, frames)*SampleRate/int64(rate)+1)
	raw := make([]byte, 16384)
	mono := make([]int16, 0, len(raw)/4)
	var carry []byte
	var decoded int64
	for empty := 0; empty < 100; {
		n, rerr := d.Read(raw)
		if n == 0 {
			empty++ // a reader that makes no progress must not spin forever
		}
		chunk := raw[:n]
		if len(carry) > 0 {
			chunk = append(carry, chunk...)
			carry = nil
		}
		whole := len(chunk) / 4 * 4
		mono = mono[:0]
		for i := 0; i < whole; i += 4 {
			l := int32(int16(uint16(chunk[i]) | uint16(chunk[i+1])<<8))
			r := int32(int16(uint16(chunk[i+2]) | uint16(chunk[i+3])<<8))
			mono = append(mono, int16((l+r)/2))
		}
		if whole < len(chunk) {
			carry = append([]byte(nil), chunk[whole:]...)
		}
		decoded += int64(len(mono))
		if tooLong(decoded, rate) {
			return nil, fmt.Errorf("%w: the MP3 file holds more than %s of audio", ErrTooLong, MaxAudioDuration)
		}
		out = rs.Write(out, mono)
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			if decoded == 0 {
				return nil, fmt.Errorf("%w: %w", ErrMalformed, rerr)
			}
			break
		}
	}
	if decoded == 0 {
		return nil, fmt.Errorf("%w: the MP3 file holds no audio", ErrMalformed)
	}
	return rs.Flush(out), nil
}
