#!/usr/bin/env bash
# Audio stream benchmark (issue 8): N concurrent calls, each answered with a blocking
# bidirectional μ-law <Stream> to a lean WebSocket agent in the test process that echoes the
# caller's audio back as playAudio. Prints the server's CPU per stream, gaps between media
# messages, the latency from a caller's RTP packet to its media message, and (from probes)
# clearAudio → end of the agent's audio at the caller and the error of playedStream. The
# callers and the agent run in the test process and share the machine's cores with the server.
# Takes about two minutes with the defaults (300 streams, 60 s measured); results go in
# docs/BENCHMARKS.md ("Audio streams").
#
# Settings are environment variables, see test/load/stream_load_test.go:
#   PARLEY_LOAD_STREAMS=50 scripts/bench-stream.sh                  (default 300)
#   PARLEY_LOAD_SECONDS=30 PARLEY_LOAD_PROBE_PERIOD=5 scripts/bench-stream.sh
#   PARLEY_LOAD_DIR=/tmp/bench PARLEY_LOAD_PERF=1 scripts/bench-stream.sh   (keep logs, perf)
# The first argument picks one part: load (the above, default) or micro (the Go benchmarks of
# one stream's per-frame cost in internal/stream).
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-load}
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
case "$what" in
load)  exec go test -tags load -run '^TestStreamLoad$' -count=1 -v -timeout 20m ./test/load/ ;;
micro) exec go test -run '^$' -bench 'BenchmarkSession' -benchmem -benchtime 2s -count 1 ./internal/stream/ ;;
*) echo "usage: $0 [load|micro]" >&2; exit 2 ;;
esac
