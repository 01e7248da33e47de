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
MANDIR ?= $(PREFIX)/share/man
# Where each shell looks for completions installed by packages.
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/vendor-completions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
# Where `make build` left the binaries; install copies, it never builds
# (so `sudo make install` runs no compiler as root).
BUILT ?= target/release

# The RFC's daemons as units of their own (deploy/systemd/daemon.service.in),
# each with its /etc/corridoros/<daemon>.conf (deploy/daemons/); heliopassd
# runs in corrd's process, so heliopassd.service is an alias of corrd.service
# and heliopassd.conf is read by corrd. Per daemon: a description, and just
# the capabilities it uses.
DAEMONS = corrd memqosd fabmand attestd compatd
DAEMON_CONFIGS = $(DAEMONS) heliopassd
DAEMON_UNITS = $(DAEMONS:%=%.service) heliopassd.service corridoros-pki.service
description_corrd = photonic corridors, the optical plant and HELIOPASS calibration (heliopassd)
description_memqosd = free-form memory on CXL, the memory backend and the fd hand-off
description_fabmand = CXL fabric manager, switches and paths
description_attestd = device attestation, measured boot and tickets
description_compatd = x86/x64 translation profiles and launched programs
capabilities_memqosd = CAP_SYS_NICE
capabilities_compatd = CAP_SETUID CAP_SETGID CAP_KILL
write_execute_compatd = \# MemoryDenyWriteExecute is not set: QEMU, a child of compatd, writes and runs translated code.
write_execute = $(or $(write_execute_$(1)),MemoryDenyWriteExecute=yes)

# Container images and the compose stack (deploy/compose.yaml), with podman: `make build
# images compose-up`. podman and podman-compose read deploy/containers/containers.conf.
IMAGE_TAG ?= latest
COMPOSE_PROJECT ?= corridoros
CORRIDOR_PORT ?= 7070
PROMETHEUS_PORT ?= 9090
PODMAN_ENV = CONTAINERS_CONF=$(CURDIR)/deploy/containers/containers.conf \
	CORRIDOR_IMAGE_TAG=$(IMAGE_TAG) CORRIDOR_PORT=$(CORRIDOR_PORT) \
	CORRIDOR_PROMETHEUS_PORT=$(PROMETHEUS_PORT)
COMPOSE = $(PODMAN_ENV) podman-compose -p $(COMPOSE_PROJECT) -f deploy/compose.yaml
# The RFC daemons' stack (docker-compose.yml at the root): one container per daemon on etcd,
# published on 127.0.0.1:$(CORRD_PORT) (corrd) … $(COMPATD_PORT) (compatd).
DAEMONS_PROJECT ?= corridoros-daemons
CORRD_PORT ?= 7071
MEMQOSD_PORT ?= 7072
FABMAND_PORT ?= 7073
ATTESTD_PORT ?= 7074
COMPATD_PORT ?= 7075
DAEMONS_COMPOSE = CONTAINERS_CONF=$(CURDIR)/deploy/containers/containers.conf \
	CORRIDOR_IMAGE_TAG=$(IMAGE_TAG) CORRIDOR_CORRD_PORT=$(CORRD_PORT) \
	CORRIDOR_MEMQOSD_PORT=$(MEMQOSD_PORT) CORRIDOR_FABMAND_PORT=$(FABMAND_PORT) \
	CORRIDOR_ATTESTD_PORT=$(ATTESTD_PORT) CORRIDOR_COMPATD_PORT=$(COMPATD_PORT) \
	podman-compose -p $(DAEMONS_PROJECT) -f docker-compose.yml

.PHONY: all deps build run test lint fmt bench openapi clean install uninstall \
	images compose-up compose-down compose-ps compose-logs \
	daemons-up daemons-down daemons-ps daemons-logs

all: build

deps:
	@scripts/install-deps.sh
	@scripts/install-cxl.sh
	@scripts/install-browser.sh

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
	$(CARGO) bench -p corridor-store --bench checkpoint
	$(CARGO) bench -p corridor-server --bench http_throughput
	$(CARGO) bench -p corridor-server --bench tls
	$(CARGO) bench -p corridor-server --bench metrics_scrape
	$(CARGO) bench -p corridor-planner --bench blocking
	$(CARGO) bench -p corridor-planner --bench planning
	$(CARGO) bench -p corridor-planner --bench memory_admission
	$(CARGO) bench -p corridor-server --bench corridor_grants
	$(CARGO) bench -p corridor-server --bench ffm
	$(CARGO) bench -p corridor-server --bench failover
	$(CARGO) bench -p corridor-server --bench guest_memory
	$(CARGO) bench -p corridor-attest --bench spdm_attestation
	$(CARGO) bench -p corridor-attest --bench tickets
	$(CARGO) bench -p corridor-attest --bench tpm_quote
	$(CARGO) bench -p corridor-heliopass --bench heliopass
	$(CARGO) bench -p corridor-protocols --bench fmapi
	$(CARGO) bench -p corridor-protocols --bench cmis_sim
	$(CARGO) bench -p corridor-planner --bench cxl_paths
	$(CARGO) bench -p corridor-services --bench fabric_paths
	$(CARGO) bench -p corridor-services --bench compat
	$(CARGO) bench -p corridor-services --bench tracking

## Install binaries, configuration (kept if present), the systemd unit and
## its sysusers entry, man pages and shell completions (both generated by
## the binaries from their own flag definitions) under $(DESTDIR); run
## `make build` first.
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
	@for daemon in $(DAEMON_CONFIGS); do \
	  conf="$(DESTDIR)$(SYSCONFDIR)/corridoros/$$daemon.conf"; \
	  if [ -e "$$conf" ]; then echo "keeping $$conf"; \
	  else install -D -m 0644 deploy/daemons/$$daemon.conf "$$conf"; fi; \
	done
	$(foreach daemon,$(DAEMONS),sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	  -e 's|@DAEMON@|$(daemon)|g' -e 's|@DESCRIPTION@|$(description_$(daemon))|g' \
	  -e 's|@CAPABILITIES@|$(capabilities_$(daemon))|g' \
	  -e 's|@WRITE_EXECUTE@|$(call write_execute,$(daemon))|g' \
	  deploy/systemd/daemon.service.in > $(DESTDIR)$(UNITDIR)/$(daemon).service && \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$(daemon).service;)
	ln -sf corrd.service $(DESTDIR)$(UNITDIR)/heliopassd.service
	sed -e 's|@BINDIR@|$(BINDIR)|g' deploy/systemd/corridoros-pki.service.in \
	  > $(DESTDIR)$(UNITDIR)/corridoros-pki.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/corridoros-pki.service
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	$(BUILT)/corridord manpage > $(DESTDIR)$(MANDIR)/man8/corridord.8
	$(BUILT)/corridorctl manpage > $(DESTDIR)$(MANDIR)/man1/corridorctl.1
	$(BUILT)/corridorctl completion bash > $(DESTDIR)$(BASHCOMPDIR)/corridorctl
	$(BUILT)/corridorctl completion zsh > $(DESTDIR)$(ZSHCOMPDIR)/_corridorctl
	$(BUILT)/corridorctl completion fish > $(DESTDIR)$(FISHCOMPDIR)/corridorctl.fish
	chmod 0644 $(DESTDIR)$(MANDIR)/man8/corridord.8 $(DESTDIR)$(MANDIR)/man1/corridorctl.1 \
	  $(DESTDIR)$(BASHCOMPDIR)/corridorctl $(DESTDIR)$(ZSHCOMPDIR)/_corridorctl \
	  $(DESTDIR)$(FISHCOMPDIR)/corridorctl.fish

## Remove what install laid out, except the configuration and the state.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/corridord $(DESTDIR)$(BINDIR)/corridorctl \
	  $(DESTDIR)$(UNITDIR)/corridord.service $(DESTDIR)$(SYSUSERSDIR)/corridoros.conf \
	  $(DAEMON_UNITS:%=$(DESTDIR)$(UNITDIR)/%) \
	  $(DESTDIR)$(MANDIR)/man8/corridord.8 $(DESTDIR)$(MANDIR)/man1/corridorctl.1 \
	  $(DESTDIR)$(BASHCOMPDIR)/corridorctl $(DESTDIR)$(ZSHCOMPDIR)/_corridorctl \
	  $(DESTDIR)$(FISHCOMPDIR)/corridorctl.fish

## Build the images of deploy/compose.yaml FROM scratch (buildah) from the binaries in
## $(BUILT); run `make build` first (like install, this target never compiles).
images:
	@$(PODMAN_ENV) scripts/build-images.sh $(BUILT) $(IMAGE_TAG)

## Start the stack: first the PKI in corridord's state volume (Prometheus reads its client
## certificate at start, and podman-compose does not wait for corridord's health check), then
## corridord and Prometheus, published on 127.0.0.1:$(CORRIDOR_PORT) and :$(PROMETHEUS_PORT).
compose-up:
	@$(COMPOSE) run -T --rm --no-deps --entrypoint /usr/bin/corridorctl corridord pki init >/dev/null
	@$(COMPOSE) up -d >/dev/null
	@$(COMPOSE) ps

## Stop and remove the stack's containers; the volumes (state, PKI, metrics) are kept
## (`make compose-down VOLUMES=1` removes them too).
compose-down:
	@$(COMPOSE) down $(if $(VOLUMES),-v) >/dev/null
	@CONTAINERS_CONF=$(CURDIR)/deploy/containers/containers.conf \
	  podman network rm $(COMPOSE_PROJECT)_default >/dev/null 2>&1 || true

compose-ps:
	@$(COMPOSE) ps

compose-logs:
	@$(COMPOSE) logs $(SERVICE)

## The RFC daemons' stack (docker-compose.yml) with podman: podman-compose 1.0.3 starts the
## one-off `pki` service without waiting for it, so the PKI and etcd come first, then the
## daemons (the images: `make build images`).
daemons-up:
	@$(DAEMONS_COMPOSE) run -T --rm --no-deps pki >/dev/null
	@$(DAEMONS_COMPOSE) up -d etcd >/dev/null
	@$(DAEMONS_COMPOSE) up -d >/dev/null
	@$(DAEMONS_COMPOSE) ps

## Stop and remove the daemons' containers; `VOLUMES=1` removes the state and etcd volumes too.
daemons-down:
	@$(DAEMONS_COMPOSE) down $(if $(VOLUMES),-v) >/dev/null

daemons-ps:
	@$(DAEMONS_COMPOSE) ps

daemons-logs:
	@$(DAEMONS_COMPOSE) logs $(SERVICE)

## Regenerate the checked-in OpenAPI document after an API change.
openapi:
	$(CARGO) run --quiet --bin corridord -- openapi > openapi/corridoros.json

clean:
	$(CARGO) clean
