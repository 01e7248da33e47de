# CorridorOS: the two commands are `make run` and `make test`.
# Everything they need is installed by scripts/ (idempotent; apt as root).

CARGO ?= cargo
LISTEN ?= 127.0.0.1:7070
export CARGO_TERM_COLOR ?= never

# Install layout (`make install DESTDIR=/tmp/stage PREFIX=/usr`).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
# Where `make build` left the binaries; install copies, it never builds
# (so `sudo make install` runs no compiler as root).
BUILT ?= target/release

.PHONY: all deps build run test lint fmt bench openapi clean install uninstall

all: build

deps:
	@scripts/install-deps.sh
	@scripts/install-cxl.sh

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
	$(CARGO) bench -p corridor-protocols --bench fmapi
	$(CARGO) bench -p corridor-planner --bench cxl_paths
	$(CARGO) bench -p corridor-services --bench fabric_paths
	$(CARGO) bench -p corridor-services --bench compat
	$(CARGO) bench -p corridor-services --bench tracking

## Install binaries, configuration (kept if present), the systemd unit and
## its sysusers entry under $(DESTDIR); run `make build` first.
install:
	@for bin in corridord corridorctl; do \
	  [ -x "$(BUILT)/$$bin" ] || { echo "$(BUILT)/$$bin is missing: run 'make build' first" >&2; exit 1; }; \
	done
	install -D -m 0755 $(BUILT)/corridord $(DESTDIR)$(BINDIR)/corridord
	install -D -m 0755 $(BUILT)/corridorctl $(DESTDIR)$(BINDIR)/corridorctl
	@if [ -e "$(DESTDIR)$(SYSCONFDIR)/corridoros/corridord.toml" ]; then \
	  echo "keeping $(DESTDIR)$(SYSCONFDIR)/corridoros/corridord.toml"; \
	else \
	  install -D -m 0644 deploy/corridord.toml $(DESTDIR)$(SYSCONFDIR)/corridoros/corridord.toml; \
	fi
	install -d $(DESTDIR)$(UNITDIR)
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	  deploy/systemd/corridord.service.in > $(DESTDIR)$(UNITDIR)/corridord.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/corridord.service
	install -D -m 0644 deploy/systemd/corridoros.sysusers $(DESTDIR)$(SYSUSERSDIR)/corridoros.conf

## Remove what install laid out, except the configuration and the state.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/corridord $(DESTDIR)$(BINDIR)/corridorctl \
	  $(DESTDIR)$(UNITDIR)/corridord.service $(DESTDIR)$(SYSUSERSDIR)/corridoros.conf

## Regenerate the checked-in OpenAPI document after an API change.
openapi:
	$(CARGO) run --quiet --bin corridord -- openapi > openapi/corridoros.json

clean:
	$(CARGO) clean
