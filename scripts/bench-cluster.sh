#!/usr/bin/env bash
# Cluster benchmark (issue 13): two Parley nodes on one PostgreSQL and one nats-server (Debian
# packages, started as this user in temporary directories, loopback only). Measures the CPU of
# a conference member whose call lives on another node than its room (relayed through an
# internal leg) against a member whose call lives on the room's home, in the same run, and the
# latency of REST requests sent to a node that forwards them to the home / the call's node.
# The callers run in the test process and share the machine's cores with the nodes. Takes about
# three minutes with the defaults; results go in docs/BENCHMARKS.md ("Cluster (issue 13)").
#
# The parley binary and the test binary are built at nice 15 first; only the run itself is not
# niced. Settings are environment variables, see test/load/cluster_bench_test.go:
#   PARLEY_CLUSTER_MEMBERS=100 PARLEY_LOAD_SECONDS=20 PARLEY_CLUSTER_REST=500   (the defaults)
#   PARLEY_LOAD_DIR=/tmp/bench PARLEY_LOAD_PERF=1 scripts/bench-cluster.sh      (keep logs, perf)
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d /tmp/parley-bench-cluster.XXXXXX)
trap 'rm -rf "$out"' EXIT
nice -n 15 env CGO_ENABLED=0 go build -o "$out/parley" ./cmd/parley
nice -n 15 go test -c -tags load -o "$out/load.test" ./test/load/
echo "main commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo ' (working tree changed)')"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
cd test/load
PARLEY_LOAD_BIN=${PARLEY_LOAD_BIN:-$out/parley} \
  "$out/load.test" -test.run '^TestClusterBench$' -test.count=1 -test.v -test.timeout 20m
