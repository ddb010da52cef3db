package media

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// MaxAudioDuration is the longest audio file the decoders accept.
const MaxAudioDuration = time.Hour

// Errors returned by the decoders; each is wrapped with details, test with errors.Is.
var (
	// ErrTooLong means the audio lasts longer than MaxAudioDuration.
	ErrTooLong = errors.New("audio is longer than 1 hour")
	// ErrUnknownFormat means the data is neither a WAV nor an MP3 file.
	ErrUnknownFormat = errors.New("not a WAV or MP3 file")
	// ErrUnsupported means the file is well-formed but uses an encoding Parley cannot decode.
	ErrUnsupported = errors.New("unsupported audio encoding")
	// ErrMalformed means the file is truncated or its headers are inconsistent.
	ErrMalformed = errors.New("malformed audio file")
)

// mp3SniffLimit is how far into a file DecodeAudio looks for MPEG frames when the file
// starts with neither a RIFF header, an ID3 tag nor a frame (some files start with padding).
const mp3SniffLimit = 64 << 10

// DecodeAudio decodes a WAV or MP3 file, recognised by its content (RIFF/WAVE header, ID3
// tag, or MPEG frames), to 8 kHz mono PCM.
func DecodeAudio(data []byte) ([]int16, error) {
	switch {
	case isWAV(data):
		return DecodeWAV(data)
	case isMP3(data):
		return DecodeMP3(data)
	}
	if _, _, ok := findMPEGFrame(data, mp3SniffLimit); ok {
		return DecodeMP3(data)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrUnknownFormat)
	}
	head := data[:min(len(data), 16)]
	if t := bytes.TrimSpace(head); len(t) > 0 && t[0] == '<' {
		return nil, fmt.Errorf("%w: it looks like HTML or XML text", ErrUnknownFormat)
	}
	return nil, fmt.Errorf("%w: unrecognised header % x", ErrUnknownFormat, head[:min(len(head), 8)])
}

func isWAV(data []byte) bool {
	return len(data) >= 12 && (string(data[:4]) == "RIFF" || string(data[:4]) == "RF64") &&
		string(data[8:12]) == "WAVE"
}

func isMP3(data []byte) bool {
	if len(data) >= 3 && string(data[:3]) == "ID3" {
		return true
	}
	return len(data) >= 4 && data[0] == 0xFF && data[1]&0xE0 == 0xE0
}

// tooLong reports whether frames samples at rate exceed MaxAudioDuration.
func tooLong(frames int64, rate int) bool {
	return rate > 0 && frames > int64(rate)*int64(MaxAudioDuration/time.Second)
}
