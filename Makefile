# Parley — build, run and test.
GO        ?= go
BIN       := bin/parley
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
# Packages whose concurrency matters most run under the race detector in CI.
RACE_PKGS := ./internal/conference/... ./internal/flow/... ./internal/call/... ./internal/sip/... ./internal/webhook/... ./internal/console/... ./internal/cluster/... ./internal/stream/...

.PHONY: all build run test deps deps-test vet bench bench-setup bench-outbound bench-conference bench-hostile bench-stream bench-cluster clean

all: build

deps:
	@./scripts/deps.sh run

deps-test:
	@./scripts/deps.sh test

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/parley

run: deps build
	./$(BIN) serve

vet:
	@test -z "$$(gofmt -l cmd internal test examples)" || { echo "gofmt needed:"; gofmt -l cmd internal test examples; exit 1; }
	$(GO) vet ./...

# Unit tests first (test/cli, the CLI run as the built binary, is among them: it measures no
# audio timing), then the end-to-end tests of the binary on their own (they measure audio
# timing and should not share the 2 cores with other packages' tests), then the race detector.
# The fuzz runs keep new inputs unminimized: minimizing one when -fuzztime ends can fail the run
# with "context deadline exceeded" (seen in CI), though nothing failed.
test: deps-test vet build
	$(GO) test -count=1 -timeout 10m $$($(GO) list ./... | grep -v /test/e2e)
	$(GO) test -run '^$$' -fuzz '^FuzzParseSDP$$' -fuzztime 10s -fuzzminimizetime 0 ./internal/sip/
	$(GO) test -run '^$$' -fuzz '^FuzzRTPSource$$' -fuzztime 10s -fuzzminimizetime 0 ./internal/sip/
	$(GO) test -run '^$$' -fuzz '^FuzzParsePlayAudio$$' -fuzztime 10s -fuzzminimizetime 0 ./internal/stream/
	$(GO) test -count=1 -timeout 15m ./test/e2e/
	CGO_ENABLED=1 $(GO) test -count=1 -race -timeout 10m $(RACE_PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/media/... ./internal/conference/... ./internal/vxml/... ./internal/call/... ./internal/sip/...

# Call set-up rate with SIPp against the built binary (prints a table; see docs/BENCHMARKS.md).
bench-setup: deps-test
	./scripts/bench-setup.sh

# Outbound calls per second and Dial set-up time (see docs/BENCHMARKS.md).
bench-outbound: deps-test
	./scripts/bench-outbound.sh

# Conference load (rooms of SIP members), kick latency and BenchmarkMix (docs/BENCHMARKS.md).
bench-conference: deps-test
	./scripts/bench-conference.sh

# Untrusted INVITE flood, legit set-up latency meanwhile, brute force after a ban (docs/BENCHMARKS.md).
bench-hostile:
	./scripts/bench-hostile.sh

# Audio streams: 300 bidirectional μ-law streams, gaps, latency, clearAudio, playedStream (docs/BENCHMARKS.md).
bench-stream: deps-test
	./scripts/bench-stream.sh

# Cluster: CPU of a member relayed from another node against a local one; REST through a
# forwarding node (two nodes, PostgreSQL, nats-server; docs/BENCHMARKS.md).
bench-cluster: deps-test
	./scripts/bench-cluster.sh

clean:
	rm -rf bin
