// Package load holds load benchmarks of the built parley binary, driven by SIPp on 127.0.0.1.
//
// The benchmarks sit behind the `load` build tag so that `go test ./...` never runs them: they
// take minutes and use both cores. Run them with scripts/bench-setup.sh (see
// docs/BENCHMARKS.md). They must not touch any address other than 127.0.0.1 and must not
// assert performance figures: they measure and print them.
package load
