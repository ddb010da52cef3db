#!/usr/bin/env bash
# Conference benchmarks: the mixer under load (R rooms of M SIP members sending tones, server CPU,
# late ticks, lost frames, a sound check of what every member heard) and REST Kick latency (to the
# ConferenceExit callback and to the first audio of the next element). Both start a freshly
# built parley binary on 127.0.0.1 and drive it with Go SIP clients in the test process, which
# share the machine's cores with the server. Takes about two minutes with the defaults; results
# go in docs/BENCHMARKS.md ("Conference load", "Kick latency").
#
# Settings are environment variables, see test/load/conf_load_test.go and conf_kick_test.go:
#   PARLEY_LOAD_ROOMS=10 PARLEY_LOAD_MEMBERS=30 PARLEY_LOAD_SECONDS=30   (default: 300 members)
#   PARLEY_LOAD_ROOMS=4,7,10 scripts/bench-conference.sh                 (120, 210, 300 members)
#   PARLEY_KICK_COUNT=100 PARLEY_KICK_BG_ROOMS=9 scripts/bench-conference.sh kick  (kicks under load)
#   PARLEY_LOAD_DIR=/tmp/bench PARLEY_LOAD_PERF=1 scripts/bench-conference.sh load (keep logs, perf)
# The first argument picks one part: load, kick or mix (BenchmarkMix); default load and kick.
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
case "$what" in
mix)  exec go test -run '^$' -bench BenchmarkMix -benchtime 2s -count 1 ./internal/conference/ ;;
load) exec go test -tags load -run '^TestConferenceLoad$' -count=1 -v -timeout 20m ./test/load/ ;;
kick) exec go test -tags load -run '^TestConferenceKick$' -count=1 -v -timeout 20m ./test/load/ ;;
all)
  go test -tags load -run '^TestConferenceLoad$' -count=1 -v -timeout 20m ./test/load/
  echo "load average before the kicks: $(cut -d' ' -f1-3 /proc/loadavg)"
  exec go test -tags load -run '^TestConferenceKick$' -count=1 -v -timeout 20m ./test/load/ ;;
*) echo "usage: $0 [load|kick|mix|all]" >&2; exit 2 ;;
esac
