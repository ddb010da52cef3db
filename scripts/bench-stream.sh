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
#
# The load part first builds the parley binary and the test binary at nice 15, then runs the
# test binary. On a shared machine, PARLEY_LOAD_PRIORITY=-10 runs that (and only that) ahead
# of other people's jobs. `nice` alone does not do it here: with the kernel's autogroup
# scheduling (/proc/sys/kernel/sched_autogroup_enabled = 1) nice only ranks processes within
# one session, and every other session gets an equal share of the CPUs however niced its jobs
# are. So the run gets a session of its own (setsid), whose autogroup takes the nice value,
# and is nice'd by it as well. Needs root (a negative nice).
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-load}
case "$what" in
load)
	out=$(mktemp -d /tmp/parley-bench-stream.XXXXXX)
	trap 'rm -rf "$out"' EXIT
	nice -n 15 go build -o "$out/parley" ./cmd/parley
	nice -n 15 go test -tags load -c -o "$out/load.test" ./test/load/
	echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
	run=("$out/load.test" -test.run '^TestStreamLoad$' -test.count=1 -test.v -test.timeout 20m)
	cd test/load # the test binary runs in its package's directory, as go test would
	export PARLEY_LOAD_BIN=${PARLEY_LOAD_BIN:-$out/parley}
	if [[ -n "${PARLEY_LOAD_PRIORITY:-}" ]]; then
		setsid --wait bash -c 'echo "$PARLEY_LOAD_PRIORITY" > /proc/$$/autogroup &&
			echo "priority: $(cat /proc/$$/autogroup) (autogroup), nice $PARLEY_LOAD_PRIORITY" &&
			exec nice -n "$PARLEY_LOAD_PRIORITY" "$@"' bash "${run[@]}"
	else
		"${run[@]}"
	fi
	;;
micro)
	echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
	exec go test -run '^$' -bench 'BenchmarkSession' -benchmem -benchtime 2s -count 1 ./internal/stream/
	;;
*) echo "usage: $0 [load|micro]" >&2; exit 2 ;;
esac
