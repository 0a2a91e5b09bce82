# mmapwal: the single entry point for building and testing. CI (.ci/run) only
# calls these targets. `make help` lists them.

GO ?= go
GOFMT ?= gofmt

# Extra flags for every `go test` run, e.g. TESTFLAGS='-count=1 -v'.
TESTFLAGS ?=
# Timeout passed to `go test -timeout` by `make test`.
GOTEST_TIMEOUT ?= 20m
# Benchmark selection and repetition for `make bench`.
BENCH ?= .
COUNT ?= 1
# Run time of each fuzz target for `make fuzz`; FUZZ narrows the targets to
# the names matching an extended regexp.
FUZZTIME ?= 30s
FUZZ ?=
# Run time of `make soak`.
DURATION ?= 10m
# `make compare QUICK=1` runs the short comparison, SWEEP=1 the size sweep;
# NOTE='...' goes into the results file's header (say what else ran on the
# machine), MACHINE names the machine in the file names (default: host, CPU
# model and count), COMPARE_FLAGS are more flags of bench/cmd/compare.
QUICK ?=
SWEEP ?=
NOTE ?=
MACHINE ?=
COMPARE_FLAGS ?=
# Flags for `make walbench`, e.g. WALBENCH_FLAGS='-help'.
WALBENCH_FLAGS ?=

# staticcheck is pinned and never required in go.mod (style.md point 17).
STATICCHECK_VERSION := v0.7.0
STATICCHECK_PKG := honnef.co/go/tools/cmd/staticcheck
GOPATH_BIN := $(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/bin
GOBIN_DIR := $(or $(shell $(GO) env GOBIN),$(GOPATH_BIN))

# The main module, then every nested module (bench/ once it has a go.mod).
# `./...` in the main module never enters a nested module, so each is run
# from its own directory.
NESTED_MODULES := $(filter-out testdata/%,$(patsubst %/go.mod,%,$(wildcard */go.mod)))
MODULES := . $(NESTED_MODULES)

# Platforms that `make cross` builds (CGO off); the VET ones are also vetted,
# which type-checks their test files and catches build-tag gaps.
CROSS_PLATFORMS := linux/amd64 linux/arm64 darwin/arm64 windows/amd64
CROSS_VET_PLATFORMS := darwin/arm64 windows/amd64

# Each stage finishes for every module before the next starts; go test
# parallelises on its own.
.NOTPARALLEL:
.DEFAULT_GOAL := help

.PHONY: help test fmt-check vet staticcheck test-race bench fuzz cross \
	torture soak compare walbench install-staticcheck

help: ## list the targets
	@echo "usage: make TARGET [VAR=value ...]"
	@echo
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-20s %s\n", $$1, $$2}'
	@echo
	@echo "variables: TESTFLAGS GOTEST_TIMEOUT=$(GOTEST_TIMEOUT) BENCH=$(BENCH) COUNT=$(COUNT)"
	@echo "           FUZZTIME=$(FUZZTIME) FUZZ DURATION=$(DURATION) QUICK SWEEP NOTE MACHINE COMPARE_FLAGS"
	@echo "           WALBENCH_FLAGS"
	@echo "modules:   $(MODULES)"

test: fmt-check vet staticcheck test-race ## gofmt check, go vet, staticcheck, go test -race (every module)

fmt-check: ## fail if gofmt -l lists any .go file
	@echo "==> gofmt -l ."
	@files=$$($(GOFMT) -l . 2>&1); status=$$?; \
	if [ $$status -ne 0 ] || [ -n "$$files" ]; then \
		echo "gofmt: these files are not formatted (run gofmt -w on them):"; \
		echo "$$files"; exit 1; \
	fi

vet: ## go vet ./... (every module)
	@set -e; for m in $(MODULES); do \
		echo "==> go vet ./... ($$m)"; (cd $$m && $(GO) vet ./...); \
	done

install-staticcheck: ## go install the pinned staticcheck unless it is on PATH or in GOPATH/bin
	@set -e; \
	for sc in "$$(command -v staticcheck || true)" "$(GOBIN_DIR)/staticcheck"; do \
		if [ -n "$$sc" ] && [ -x "$$sc" ] && "$$sc" -version 2>/dev/null | grep -qF '($(STATICCHECK_VERSION))'; then exit 0; fi; \
	done; \
	echo "==> go install $(STATICCHECK_PKG)@$(STATICCHECK_VERSION)"; \
	$(GO) install $(STATICCHECK_PKG)@$(STATICCHECK_VERSION)

staticcheck: install-staticcheck ## staticcheck ./... (every module), pinned version
	@set -e; \
	sc="$$(command -v staticcheck || true)"; \
	if [ -z "$$sc" ] || ! "$$sc" -version 2>/dev/null | grep -qF '($(STATICCHECK_VERSION))'; then \
		sc="$(GOBIN_DIR)/staticcheck"; \
	fi; \
	for m in $(MODULES); do \
		echo "==> staticcheck ./... ($$m)"; (cd $$m && "$$sc" ./...); \
	done

test-race: ## go test -race ./... (every module)
	@set -e; for m in $(MODULES); do \
		echo "==> go test -race ./... ($$m)"; \
		(cd $$m && $(GO) test -race -timeout $(GOTEST_TIMEOUT) $(TESTFLAGS) ./...); \
	done

bench: ## benchmarks, BENCH=regexp COUNT=n (every module)
	@set -e; for m in $(MODULES); do \
		echo "==> go test -bench ($$m)"; \
		(cd $$m && $(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(COUNT) $(TESTFLAGS) ./...); \
	done

# Fuzz targets are found, not listed: every `func FuzzX` in a _test.go file of
# a package that `go list` sees, in every module. `go test -fuzz` takes one
# target at a time.
fuzz: ## run every fuzz target for FUZZTIME each (FUZZ=regexp narrows)
	@set -e; count=0; \
	for m in $(MODULES); do \
		root=$$(cd $$m && $(GO) list -m -f '{{.Dir}}'); \
		for d in $$(cd $$m && $(GO) list -e -f '{{.Dir}}' ./...); do \
			for name in $$(cat $$d/*_test.go 2>/dev/null | sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' | sort -u); do \
				if [ -n '$(FUZZ)' ] && ! echo "$$name" | grep -qE '$(FUZZ)'; then continue; fi; \
				pkg=".$${d#$$root}"; \
				echo "==> go test -fuzz '^$$name\$$' -fuzztime $(FUZZTIME) $$pkg ($$m)"; \
				(cd $$m && $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $(TESTFLAGS) "$$pkg"); \
				count=$$((count + 1)); \
			done; \
		done; \
	done; \
	echo "fuzz: ran $$count target(s) for $(FUZZTIME) each"

cross: ## go build for linux, darwin, windows (CGO off); go vet for darwin, windows
	@set -e; for p in $(CROSS_PLATFORMS); do \
		echo "==> go build ./... ($$p)"; \
		CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build ./...; \
	done; \
	for p in $(CROSS_VET_PLATFORMS); do \
		echo "==> go vet ./... ($$p)"; \
		CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) vet ./...; \
	done

# The long runs below fail, rather than pass vacuously, when no test matches.
# -count=1 keeps a cached result from standing in for a run.

# TORTURE_RUN selects the tests make torture runs in ./mmapwal: every test
# whose size or strictness MMAPWAL_TORTURE=1 changes. Each alternative must
# match a test, so a rename cannot drop one silently.
TORTURE_RUN := Torture|Crash|Power|XFS|Btrfs|EveryHeaderBit|EveryMetaBit|ZeroedSectorsAndPages

torture: ## crash, power-cut, torture, every-bit and xfs/btrfs tests, raftstore's cluster crash test (MMAPWAL_TORTURE=1, no race detector; root)
	@list=$$($(GO) test -race=false -list '$(TORTURE_RUN)' ./mmapwal/...) || \
		{ echo "torture: ./mmapwal/... did not build"; exit 1; }; \
	for p in $$(echo '$(TORTURE_RUN)' | tr '|' ' '); do \
		echo "$$list" | grep -q "^Test.*$$p" || \
			{ echo "torture: no test matching $$p in ./mmapwal/..."; exit 1; }; \
	done
	MMAPWAL_TORTURE=1 $(GO) test -race=false -count=1 -run '$(TORTURE_RUN)' -timeout 0 $(TESTFLAGS) ./mmapwal/...
	@cd raftstore && $(GO) test -race=false -list '^TestRaftCrash$$' . | grep -q '^TestRaftCrash$$' || \
		{ echo "torture: no TestRaftCrash in ./raftstore (or it did not build)"; exit 1; }
	cd raftstore && MMAPWAL_TORTURE=1 $(GO) test -race=false -count=1 -run '^TestRaftCrash$$' -timeout 0 $(TESTFLAGS) .

soak: ## soak test for DURATION (default 10m) with the race detector
	@$(GO) test -race -list '^TestSoak$$' ./mmapwal/ | grep -q '^TestSoak$$' || \
		{ echo "soak: no TestSoak in ./mmapwal/ (or it did not build)"; exit 1; }
	MMAPWAL_SOAK=$(DURATION) $(GO) test -race -count=1 -run TestSoak -timeout 0 $(TESTFLAGS) ./mmapwal/

# compare writes its report to bench/results/<date>-<machine>[-quick][-sweep].txt
# and a plot beside it (.svg), as well as to stdout.
compare: ## compare with other Go WALs (bench/cmd/compare) into bench/results/; QUICK=1 short, SWEEP=1 size sweep
	cd bench && $(GO) run ./cmd/compare -out results $(if $(QUICK),-quick) $(if $(SWEEP),-sweep) \
		$(if $(MACHINE),-machine '$(MACHINE)') $(if $(NOTE),-note '$(NOTE)') $(COMPARE_FLAGS)

walbench: ## throughput and latency on defaults (cmd/walbench); WALBENCH_FLAGS=...
	$(GO) run ./cmd/walbench $(WALBENCH_FLAGS)
