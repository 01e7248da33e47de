# CorridorOS: the two commands are `make run` and `make test`.
# Everything they need is installed by scripts/ (idempotent; apt as root).

CARGO ?= cargo
LISTEN ?= 127.0.0.1:7070
export CARGO_TERM_COLOR ?= never

.PHONY: all deps build run test lint fmt bench openapi clean

all: build

deps:
	@scripts/install-deps.sh

build:
	$(CARGO) build --release --bins

## Start corridord on the embedded store and the default twin.
run: deps build
	@LISTEN=$(LISTEN) scripts/run.sh

## Format check, clippy with warnings denied, every test.
test: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## Benchmarks; figures go to BENCHMARKS.md by hand, with date and machine.
bench: deps
	$(CARGO) bench -p corridor-store --bench store_throughput
	$(CARGO) bench -p corridor-server --bench http_throughput
	$(CARGO) bench -p corridor-server --bench tls
	$(CARGO) bench -p corridor-planner --bench blocking
	$(CARGO) bench -p corridor-planner --bench planning
	$(CARGO) bench -p corridor-planner --bench memory_admission
	$(CARGO) bench -p corridor-server --bench corridor_grants
	$(CARGO) bench -p corridor-server --bench ffm
	$(CARGO) bench -p corridor-attest --bench spdm_attestation
	$(CARGO) bench -p corridor-attest --bench tickets
	$(CARGO) bench -p corridor-attest --bench tpm_quote
	$(CARGO) bench -p corridor-heliopass --bench heliopass
	$(CARGO) bench -p corridor-services --bench compat

## Regenerate the checked-in OpenAPI document after an API change.
openapi:
	$(CARGO) run --quiet --bin corridord -- openapi > openapi/corridoros.json

clean:
	$(CARGO) clean
