package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestASRAndAMDSettings(t *testing.T) {
	c, err := Load(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.ASREngine != "none" || c.ASRModels != nil || c.ASRCommand != "pocketsphinx_continuous" || c.ASRMaxConcurrent != 16 ||
		c.ASRAutoEnd != 1500*time.Millisecond || c.ASRInterimInterval != 250*time.Millisecond || c.AMDSilenceThreshold != 256 {
		t.Errorf("defaults: %q %v %q %d %v %v %d", c.ASREngine, c.ASRModels, c.ASRCommand, c.ASRMaxConcurrent, c.ASRAutoEnd, c.ASRInterimInterval, c.AMDSilenceThreshold)
	}
	c, err = Load([]string{"--asr-max-concurrent", "3"}, env(map[string]string{
		"PARLEY_ASR_ENGINE": " Vosk ", "PARLEY_ASR_MODELS": "en=ws://127.0.0.1:2700, de-DE = wss://asr.example/de",
		"PARLEY_ASR_AUTO_END_MS": "900", "PARLEY_ASR_INTERIM_INTERVAL": "0.5", "PARLEY_AMD_SILENCE_THRESHOLD": "400",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"en": "ws://127.0.0.1:2700", "de-DE": "wss://asr.example/de"}
	if c.ASREngine != "vosk" || !reflect.DeepEqual(c.ASRModels, want) || c.ASRMaxConcurrent != 3 ||
		c.ASRAutoEnd != 900*time.Millisecond || c.ASRInterimInterval != 500*time.Millisecond || c.AMDSilenceThreshold != 400 {
		t.Errorf("set: %q %v %d %v %v %d", c.ASREngine, c.ASRModels, c.ASRMaxConcurrent, c.ASRAutoEnd, c.ASRInterimInterval, c.AMDSilenceThreshold)
	}
	c, err = Load(nil, env(map[string]string{"PARLEY_ASR_ENGINE": "vosk", "PARLEY_ASR_VOSK_URL": "ws://127.0.0.1:2700"}))
	if err != nil || c.ASRVoskURL != "ws://127.0.0.1:2700" {
		t.Errorf("vosk url: %v %q", err, c.ASRVoskURL)
	}

	bad := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"PARLEY_ASR_ENGINE": "whisper"}, "asr_engine"},
		{map[string]string{"PARLEY_ASR_ENGINE": "vosk"}, "asr_vosk_url"},
		{map[string]string{"PARLEY_ASR_ENGINE": "vosk", "PARLEY_ASR_VOSK_URL": "http://x:2700"}, "asr_vosk_url"},
		{map[string]string{"PARLEY_ASR_ENGINE": "vosk", "PARLEY_ASR_MODELS": "en=/usr/share/x"}, "asr_models"},
		{map[string]string{"PARLEY_ASR_MODELS": "en"}, "PARLEY_ASR_MODELS"},
		{map[string]string{"PARLEY_ASR_MODELS": "=x"}, "PARLEY_ASR_MODELS"},
		{map[string]string{"PARLEY_ASR_MAX_CONCURRENT": "0"}, "asr_max_concurrent"},
		{map[string]string{"PARLEY_ASR_AUTO_END_MS": "1.5s"}, "PARLEY_ASR_AUTO_END_MS"},
		{map[string]string{"PARLEY_ASR_AUTO_END_MS": "50"}, "asr_auto_end_ms"},
		{map[string]string{"PARLEY_ASR_INTERIM_INTERVAL": "0"}, "asr_interim_interval"},
		{map[string]string{"PARLEY_AMD_SILENCE_THRESHOLD": "40000"}, "amd_silence_threshold"},
		{map[string]string{"PARLEY_AMD_SILENCE_THRESHOLD": "0"}, "amd_silence_threshold"},
	}
	for _, tc := range bad {
		_, err := Load(nil, env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %s", tc.env, err, tc.want)
		}
	}
}
