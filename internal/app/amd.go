package app

import (
	"github.com/parley-voice/parley/internal/amd"
	"github.com/parley-voice/parley/internal/api"
	"github.com/parley-voice/parley/internal/flow"
)

// machineDetection turns POST /Call/'s machine_detection parameters into the flow's: the
// detector's defaults (amd.DefaultParams) for companions not given, amd_silence_threshold from
// the configuration. nil stays nil (off).
func (s *Server) machineDetection(p *api.MachineDetection) *flow.MachineDetection {
	if p == nil {
		return nil
	}
	ps := amd.DefaultParams()
	if s.cfg.AMDSilenceThreshold > 0 {
		ps.SilenceThreshold = s.cfg.AMDSilenceThreshold
	}
	if p.Time > 0 {
		ps.Time = p.Time
	}
	if p.InitialSilence > 0 {
		ps.InitialSilence = p.InitialSilence
	}
	if p.MaximumSpeechLength > 0 {
		ps.MaximumSpeechLength = p.MaximumSpeechLength
	}
	if p.InitialGreeting > 0 {
		ps.InitialGreeting = p.InitialGreeting
	}
	if p.MaximumWords > 0 {
		ps.MaximumWords = p.MaximumWords
	}
	return &flow.MachineDetection{Params: ps, Hangup: p.Hangup, URL: p.URL, Method: p.Method}
}
