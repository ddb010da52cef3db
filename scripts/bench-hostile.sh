#!/usr/bin/env bash
# Hostile-traffic figures: an untrusted INVITE flood (default 3,000/s for 20 s from 127.0.0.6)
# against a freshly built parley binary on loopback, with legit calls from the trusted gateway
# meanwhile, then a REGISTER brute force until banned. Prints Parley's peak RSS, the legit
# set-up latency under the flood, what the flooder got back and the answered brute-force rate
# after the ban. Results go in docs/BENCHMARKS.md.
#
# Settings are environment variables, see test/load/hostile_test.go, e.g.
#   PARLEY_LOAD_FLOOD_RATE=3000 PARLEY_LOAD_SECONDS=20 PARLEY_LOAD_LEGIT_RATE=10 scripts/bench-hostile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
exec go test -tags load -run TestHostileFlood -count=1 -v -timeout 10m ./test/load/
