#!/usr/bin/env bash
# Outbound call benchmarks, on 127.0.0.1 against a freshly built parley binary:
#  1. TestOutboundRate: POST /Call/ at rising rates to a SIPp UAS that answers at once
#     (answer document <Speak>Hi</Speak><Hangup/>, cached); prints a table and the figure, the
#     highest offered rate with at most 1% failed calls.
#  2. TestDialSetup: SIPp calls in, the document <Dial>s a number through PARLEY_SIP_GATEWAY to a
#     SIPp UAS; prints the Dial set-up time p50/p99 (answer document written -> B leg's ACK).
# Takes a few minutes and uses both cores; results go in docs/BENCHMARKS.md ("Outbound calls").
#
# Settings are environment variables, see test/load/outbound_rate_test.go and
# outbound_dial_test.go, e.g.
#   PARLEY_OUT_RATES=100,200,400 PARLEY_OUT_SECONDS=10 scripts/bench-outbound.sh
#   PARLEY_OUT_DOC=hangup PARLEY_DIAL_RATE=50 PARLEY_LOAD_DIR=/tmp/bench scripts/bench-outbound.sh
#   scripts/bench-outbound.sh rate     # only the rate benchmark ("dial": only the Dial one)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v sipp >/dev/null 2>&1; then
  echo "error: sipp is not installed (run scripts/deps.sh test, Debian package sip-tester)" >&2
  exit 1
fi
case "${1:-all}" in
  all) run='TestOutboundRate|TestDialSetup' ;;
  rate) run='TestOutboundRate' ;;
  dial) run='TestDialSetup' ;;
  *) echo "usage: $0 [all|rate|dial]" >&2; exit 2 ;;
esac
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
exec go test -tags load -run "^(${run})\$" -count=1 -v -timeout 20m ./test/load/
