package app

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
)

// TestMetricsKeepTheOldNames: /metrics parses as the Prometheus text format and still carries
// the eight names it had before the registry (dashboards and scripts read them), with their
// types, beside the new families.
func TestMetricsKeepTheOldNames(t *testing.T) {
	srv := startHTTPTest(t, nil)
	resp, err := http.Get("http://" + srv.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("Content-Type %q, want the text format", resp.Header.Get("Content-Type"))
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	for name, typ := range map[string]string{
		"parley_calls_live": "GAUGE", "parley_conference_rooms_live": "GAUGE", "parley_mixer_ticks_total": "COUNTER",
		"parley_conference_events_queued": "GAUGE",
		"parley_mixer_late_ticks_total":   "COUNTER", "parley_mixer_skipped_ticks_total": "COUNTER",
		"parley_mixer_frames_lost_total": "COUNTER", "parley_mixer_write_errors_total": "COUNTER",
		"parley_webhooks_pending": "GAUGE", "parley_webhook_outbox_oldest_age_seconds": "GAUGE",
		"parley_account_calls_live": "GAUGE", "parley_rtp_packets_in_total": "COUNTER",
	} {
		f, ok := fams[name]
		if !ok {
			t.Errorf("/metrics lacks %s", name)
			continue
		}
		if got := f.GetType().String(); got != typ {
			t.Errorf("%s is a %s, want %s", name, got, typ)
		}
	}
	if f := fams["parley_account_calls_live"]; f != nil {
		if l := f.GetMetric()[0].GetLabel(); len(l) != 1 || l[0].GetValue() != httpTestAccount {
			t.Errorf("parley_account_calls_live labels = %v, want the configured account", l)
		}
	}
}
