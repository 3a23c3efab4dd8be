# Makefile fragment for the operator, charts and image. Included from the root Makefile;
# make runs at the repo root.
ROOT ?= $(abspath .)
BIN  ?= $(ROOT)/bin

OPERATOR_DIR   := $(ROOT)/operator
CHARTS_DIR     := $(ROOT)/charts
CONTROLLER_GEN := $(BIN)/controller-gen
HELM           := $(BIN)/helm
IMAGE          ?= ghcr.io/tera-health/tera:dev
OPERATOR_IMAGE ?= ghcr.io/tera-health/tera-operator:dev
# Keep the test run gentle on small shared machines.
OPERATOR_TEST_FLAGS ?= -p=1 -count=1 -timeout=15m

.PHONY: operator-tools operator-envtest-bins operator-generate operator-test operator-build image

# Pinned tools in $(BIN), each installed only when missing.
operator-tools:
	@BIN=$(BIN) bash $(ROOT)/hack/install-tools.sh controller-gen helm

# etcd, kube-apiserver and kubectl built from the Go module proxy (~10 min once, cached in $(BIN)).
operator-envtest-bins:
	@BIN=$(BIN) bash $(ROOT)/hack/envtest/build.sh etcd kube-apiserver kubectl

operator-generate:
	@BIN=$(BIN) bash $(ROOT)/hack/install-tools.sh controller-gen
	cd $(OPERATOR_DIR) && $(CONTROLLER_GEN) \
		object:headerFile=$(ROOT)/hack/boilerplate.go.txt paths=./api/... \
		crd:maxDescLen=256 rbac:roleName=tera-operator paths=./... \
		output:crd:artifacts:config=config/crd output:rbac:artifacts:config=config/rbac
	# The charts embed the generated files (tera-crds templates them with a keep policy,
	# tera-operator reads the RBAC rules from its role.yaml).
	rm -f $(CHARTS_DIR)/tera-crds/files/*.yaml
	cp $(OPERATOR_DIR)/config/crd/*.yaml $(CHARTS_DIR)/tera-crds/files/
	cp $(OPERATOR_DIR)/config/rbac/role.yaml $(CHARTS_DIR)/tera-operator/files/role.yaml

operator-build:
	cd $(OPERATOR_DIR) && CGO_ENABLED=0 go build -o $(BIN)/tera-operator ./cmd

# Builds every tool it needs, then runs the operator and chart tests against a real
# kube-apiserver + etcd (envtest).
operator-test: operator-tools operator-envtest-bins
	cd $(OPERATOR_DIR) && KUBEBUILDER_ASSETS=$(BIN) TERA_BIN=$(BIN) TERA_REQUIRE_ENVTEST=1 \
		go test $(OPERATOR_TEST_FLAGS) ./...

image:
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
		docker build -t $(IMAGE) --target tera -f $(ROOT)/Dockerfile $(ROOT) && \
		docker build -t $(OPERATOR_IMAGE) --target tera-operator -f $(ROOT)/Dockerfile $(ROOT); \
	else \
		echo "image: no Docker engine here (docker info failed); skipping. Build with: docker build -t $(IMAGE) --target tera ."; \
	fi
