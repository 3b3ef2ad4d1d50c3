# Higress AI gateway filter suite: build, test and lint entry points.
# `make test` is the command CI runs (see .ci/run and README.md).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

CARGO       ?= cargo
WASM_TARGET := wasm32-wasip1
TARGET_DIR  := $(or $(CARGO_TARGET_DIR),target)
WASM_OUT    := $(TARGET_DIR)/$(WASM_TARGET)/release
# Every crate under plugins/ is a Higress plugin; Higress expects the module as plugins/<name>/plugin.wasm.
PLUGINS     := $(patsubst plugins/%/Cargo.toml,%,$(wildcard plugins/*/Cargo.toml))
# SDK examples double as the smallest real plugins (release-profile figures, host smoke tests).
SDK_EXAMPLES := $(patsubst shared/higress-sdk/examples/%.rs,%,$(wildcard shared/higress-sdk/examples/*.rs))

.PHONY: build build-plugins build-examples run demo test lint fmt bench bench-workload fuzz clean help \
        tools package package-push charts kind-e2e

help:
	@echo "make build   - build every plugin to plugins/<name>/plugin.wasm (and the SDK examples)"
	@echo "make run     - Redis, the embedding server, mock LLMs and the gateway with the four plugins (Ctrl-C stops)"
	@echo "make demo    - a scripted session through the chain of 'make run' (start it first), printed as a table"
	@echo "make test    - lint, build every .wasm, run every test that can run on this machine"
	@echo "make lint    - rustfmt check and clippy -D warnings (native and wasm32-wasip1)"
	@echo "make bench   - the component benchmarks (see BENCHMARKS.md)"
	@echo "make bench-workload - the QQP workload through the whole chain vs straight to the mock (BENCHMARKS.md)"
	@echo "make fuzz    - run the SSE fuzz target for FUZZ_SECONDS (nightly + cargo-fuzz)"
	@echo "make tools   - go install helm, kubeconform, oras and crane into .cache/bin"
	@echo "make package - OCI plugin images (Higress layout) under .cache/package/<name>/"
	@echo "make package-push REGISTRY=host/repo [LATEST=1] - push them to a registry"
	@echo "make charts  - regenerate the Helm charts from plugins/*/spec.yaml"
	@echo "make kind-e2e - Higress in kind with our charts and the e2e scenarios (needs Docker)"

build: build-plugins build-examples

build-plugins:
	@for p in $(PLUGINS); do \
	  echo "==> plugin $$p"; \
	  $(CARGO) build --release --target $(WASM_TARGET) -p $$p; \
	  cp $(WASM_OUT)/$${p//-/_}.wasm plugins/$$p/plugin.wasm; \
	done

build-examples:
	@for e in $(SDK_EXAMPLES); do \
	  echo "==> sdk example $$e"; \
	  $(CARGO) build --release --target $(WASM_TARGET) -p higress-sdk --example $$e; \
	done

run:
	scripts/run-local

demo:
	scripts/demo

# Test output is kept so the closing summary counts every test binary, not just the last one.
test: lint build
	@mkdir -p target
	scripts/install-tools
	@rc=0; \
	$(CARGO) test --workspace --all-targets 2>&1 | tee target/test.log || rc=1; \
	$(CARGO) test --workspace --doc 2>&1 | tee -a target/test.log || rc=1; \
	RUN_PROFILE=dev RUN_STATE=target/run-smoke GATEWAY_PORT=0 ADMIN_PORT=0 scripts/run-local --smoke 2>&1 \
	  | tee -a target/test.log | tail -n 20 || rc=1; \
	scripts/test-charts 2>&1 | tee -a target/test.log | tail -n 5 || rc=1; \
	scripts/test-summary target/test.log || rc=1; \
	exit $$rc

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --target $(WASM_TARGET) -p ai-proto -p higress-sdk $(addprefix -p ,$(PLUGINS)) -- -D warnings
	$(CARGO) clippy --target $(WASM_TARGET) -p higress-sdk --features abi-0-2-1 -- -D warnings

fmt:
	$(CARGO) fmt --all

# native-release: optimised like release, without the fat LTO that makes wasmtime take very long
# to build; the plugins under test are the release .wasm either way.
bench:
	$(CARGO) bench --workspace --profile native-release

bench-workload:
	$(CARGO) run -p e2e-clients --profile native-release --bin ai-workload

FUZZ_SECONDS ?= 300
fuzz:
	cd shared/ai-proto/fuzz && $(CARGO) +nightly fuzz run sse_split -- -max_total_time=$(FUZZ_SECONDS)

tools:
	scripts/install-tools

package: build-plugins
	scripts/package-plugins

package-push: build-plugins
	scripts/package-plugins --push $(REGISTRY) $(if $(LATEST),--latest)

charts:
	$(CARGO) run -q -p shipping --bin gen-charts

kind-e2e:
	e2e/kind/run

clean:
	$(CARGO) clean
	rm -f plugins/*/plugin.wasm
