# Aula: `make run` records a demo, `make test` runs every test. Both set up what is missing first.
SHELL := /bin/bash
GO    ?= go
GOBIN := $(shell $(GO) env GOPATH)/bin
BIN   := bin
# Tests make real-time recordings: -p 1 keeps packages from starving each other of the
# two cores (a starved x11grab drops frames); -race is on as the conventions ask.
TESTFLAGS ?= -race -timeout 30m -p 1

.PHONY: setup build run test soak bench bench-record bench-ingest bench-spool lint fmt vet fuzz clean

setup:
	@scripts/setup.sh

build: setup
	$(GO) build -o $(BIN)/ ./cmd/...

# Starts aula-server on the embedded defaults in ./aula-data and records 30 s into it
# (the real screen when a display is present, else the synthetic one, with the synthetic
# camera and microphone), uploading as it records; serves until Ctrl-C.
run: build
	@scripts/run-demo.sh $(BIN)

test: setup
	$(GO) vet ./...
	$(GOBIN)/staticcheck ./...
	$(GO) test $(TESTFLAGS) ./...

# The crash and fault tests at full length: 50 agent kills, 50 server kills.
soak: setup
	AULA_SOAK=1 $(GO) test $(TESTFLAGS) -run 'TestAgentKilled|TestServerKilled|TestNetworkFaults' -v ./cmd/aula-agent/ ./agent/upload/

fuzz: setup
	@scripts/fuzz.sh 20s

bench: bench-record bench-ingest bench-spool

bench-record: build
	$(GO) test -run '^$$' -bench BenchmarkRecordVsFFmpeg -benchtime 1x -timeout 20m ./bench/

bench-ingest: build
	$(GO) test -run '^$$' -bench BenchmarkIngest -benchtime 1x -timeout 30m ./bench/

bench-spool: build
	$(GO) test -run '^$$' -bench BenchmarkSpool -benchtime 1x -timeout 30m ./bench/

lint: setup
	$(GO) vet ./...
	$(GOBIN)/staticcheck ./...
	CGO_ENABLED=0 $(GO) vet ./internal/... ./capture/ ./server/... ./cmd/aula-server/
	GOOS=windows CGO_ENABLED=0 $(GO) vet ./capture/ ./internal/manifest/ ./internal/hls/ ./internal/seal/ ./agent/upload/ ./agent/spool/
	GOOS=darwin CGO_ENABLED=0 $(GO) vet ./capture/ ./internal/manifest/ ./internal/hls/ ./internal/seal/ ./agent/upload/ ./agent/spool/

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
