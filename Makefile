# Tera — every developer task is a make target. `make help` lists them.
# Tools are pinned (pkg/go.mod tool lines, hack/tools/*/go.mod) and built into bin/ on first use.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
ROOT := $(abspath .)
BIN := $(ROOT)/bin
export PATH := $(BIN):$(PATH)
export GOFLAGS ?= -buildvcs=false

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/tera-health/tera/services/internal/version.Version=$(VERSION)
GO_PACKAGES := ./pkg/... ./services/...
# -race costs ~2x CPU; on by default, RACE= to skip.
RACE ?= -race
# `make test` passes -vet=off: its lint step has just run the whole of go vet on the same
# packages, test files included, so go test's own subset of vet would only repeat it.
TEST_VET ?=
# Where tests keep their artifacts (t.ArtifactDir: the Chromium tests' screenshots), under
# _artifacts/<package>/<test>/.
TEST_ARTIFACTS ?= $(ROOT)/test-artifacts

PROTOC_PLUGINS := protoc-gen-go protoc-gen-go-grpc protoc-gen-grpc-gateway protoc-gen-openapiv2
PLUGIN_PKG_protoc-gen-go := google.golang.org/protobuf/cmd/protoc-gen-go
PLUGIN_PKG_protoc-gen-go-grpc := google.golang.org/grpc/cmd/protoc-gen-go-grpc
PLUGIN_PKG_protoc-gen-grpc-gateway := github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway
PLUGIN_PKG_protoc-gen-openapiv2 := github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

.PHONY: run
run: build ## Run the whole fleet in one process (tera dev): prints the URL and credentials
	$(BIN)/tera dev $(ARGS)

.PHONY: build
build: ## Build bin/tera
	go build -ldflags '$(LDFLAGS)' -o $(BIN)/tera ./services/cmd/tera

.PHONY: test
test: ## Run every test (installs its own tools, starts its own servers)
	@# Lanes: the system packages (apt: network-bound) from the start; after generation (the
	@# operator tests read generated files), what only the operator tests need (etcd,
	@# kube-apiserver, kubectl, helm: the long pole of a fresh machine, built at the lowest CPU
	@# priority so the Go tests, the critical path, are never starved by it) and then the operator
	@# tests, beside the checks and Go tests. go vet runs inside go test (-vet=all: the same
	@# analyzers on the same packages, on the test build's own compile instead of a second one).
	@# Every lane is waited for; any failure fails.
	@$(MAKE) --no-print-directory test-deps & sysdeps=$$!; \
	if ! $(MAKE) --no-print-directory check-generated; then wait $$sysdeps || true; exit 1; fi; \
	$(MAKE) --no-print-directory test-operator-lane & operator=$$!; \
	ok=1; \
	if ! $(MAKE) --no-print-directory lint-proto; then ok=0; fi; \
	if ! wait $$sysdeps; then ok=0; fi; \
	if [ $$ok = 1 ] && ! $(MAKE) --no-print-directory test-go TEST_VET=-vet=all; then ok=0; fi; \
	if ! wait $$operator; then ok=0; fi; \
	[ $$ok = 1 ]

# The operator's lane of `make test`: its envtest binaries, helm and test binaries (niced), then
# its tests (not niced: they run an API server against timeouts). The test binaries are compiled
# here on every core; operator-test runs them one package at a time (-p=1), which would also
# compile one package at a time.
.PHONY: test-operator-lane
test-operator-lane:
	@nice -n 19 $(MAKE) --no-print-directory test-operator-deps operator-test-build
	@if [ -f operator/Makefile.mk ]; then $(MAKE) --no-print-directory operator-test; fi

.PHONY: operator-test-build
operator-test-build: ## Compile the operator's test binaries (into the Go cache; nothing runs)
	@if [ -f operator/Makefile.mk ]; then d=$$(mktemp -d) && (cd operator && go test -c -o $$d/ ./...); rc=$$?; rm -rf $$d; exit $$rc; fi

.PHONY: test-operator-deps
test-operator-deps: ## Build what the operator tests need (envtest binaries, helm)
	@if [ -f operator/Makefile.mk ]; then $(MAKE) --no-print-directory operator-envtest-bins; BIN=$(BIN) bash hack/install-tools.sh helm; fi

.PHONY: test-deps
test-deps: ## System packages the tests use: PostgreSQL server binaries, Debian's chromium
	@bash hack/install-test-deps.sh

.PHONY: test-go
test-go: ## Go tests of pkg and services (real PostgreSQL and NATS, started by the tests)
	mkdir -p $(TEST_ARTIFACTS)
	TERA_REQUIRE_BROWSER=1 go test $(RACE) $(TEST_VET) -count=1 -timeout 30m -artifacts -outputdir $(TEST_ARTIFACTS) $(GO_PACKAGES)

.PHONY: bench
bench: ## Benchmarks beside the code
	go test -run '^$$' -bench . -benchmem $(GO_PACKAGES)

.PHONY: tools
tools: $(BIN)/buf $(addprefix $(BIN)/,$(PROTOC_PLUGINS)) ## Install pinned code generation tools into bin/

# Tools: no DWARF, no path rewriting (smaller, faster links; they are not debugged here).
TOOL_BUILD := go build -trimpath -ldflags '-s -w'

# buf: the release binary from npm, pinned by hack/tools/buf/package-lock.json to go.mod's version
# (seconds), else built from go.mod (~2 min).
$(BIN)/buf: hack/tools/buf/go.mod hack/tools/buf/package-lock.json hack/install-buf.sh
	@bash hack/install-buf.sh $(BIN)

$(BIN)/protoc-gen-%: pkg/go.mod
	cd pkg && $(TOOL_BUILD) -o $(BIN)/protoc-gen-$* $(PLUGIN_PKG_protoc-gen-$*)

.PHONY: grpcurl
grpcurl: $(BIN)/grpcurl ## Install grpcurl into bin/ (for the README's gRPC examples)

$(BIN)/grpcurl: hack/tools/grpcurl/go.mod
	cd hack/tools/grpcurl && GOWORK=off $(TOOL_BUILD) -o $(BIN)/grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl

.PHONY: generate
generate: tools ## Regenerate pkg/api (and operator code) from proto/
	find pkg/api -name '*.pb.go' -o -name '*.pb.gw.go' -o -name '*.swagger.json' | xargs -r rm -f
	buf generate
	@if [ -f operator/Makefile.mk ]; then $(MAKE) --no-print-directory operator-generate; fi

.PHONY: check-generated
check-generated: generate ## Fail if generated code differs from what is committed
	@if [ -n "$$(git status --porcelain -- pkg/api operator charts)" ]; then \
		echo "generated code is stale; run 'make generate' and commit:"; git status --porcelain -- pkg/api operator charts; exit 1; fi

.PHONY: lint
lint: lint-proto ## buf lint (STANDARD) and go vet
	go vet $(GO_PACKAGES)

.PHONY: lint-proto
lint-proto: tools ## buf lint (STANDARD)
	buf lint

.PHONY: breaking
breaking: tools ## buf breaking (WIRE_JSON) against main
	buf breaking --against '.git#branch=main'

.PHONY: clean
clean: ## Remove build outputs (keeps cached tools)
	rm -f $(BIN)/tera

-include operator/Makefile.mk
