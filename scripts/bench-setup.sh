#!/usr/bin/env bash
# Call set-up rate benchmark: SIPp offers rising call rates to a freshly built parley binary on
# 127.0.0.1 (<Speak> cached + <Hangup/>, answer_url fetch and hangup webhook included) and prints
# a table and the figure: the highest offered rate with at most 1% failed calls.
# Takes a few minutes and uses both cores; results go in docs/BENCHMARKS.md.
#
# Settings are environment variables, see test/load/setup_rate_test.go, e.g.
#   PARLEY_LOAD_RATES=100,200,400 PARLEY_LOAD_SECONDS=10 scripts/bench-setup.sh
#   PARLEY_LOAD_DIR=/tmp/bench PARLEY_LOAD_PERF=1 scripts/bench-setup.sh   # keep logs, perf profiles
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v sipp >/dev/null 2>&1; then
  echo "error: sipp is not installed (run scripts/deps.sh test, Debian package sip-tester)" >&2
  exit 1
fi
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
exec go test -tags load -run TestSetupRate -count=1 -v -timeout 20m ./test/load/
