# The one entry point; CI runs `make test` (see .ci/run).
SHELL := /bin/bash
# One target directory for every crate and test binary.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
CARGO ?= cargo

# `make run REGIONS=sa,eu READERS=2`: which regions, readers per region.
REGIONS ?= sa,na,eu,asia
READERS ?= 1
RELEASE_BINS := -p auth -p reviews-writer -p content-reader -p local-stack

.PHONY: help deps test lint fmt migrate build run stop status clean bench

help:
	@echo "make run      start the whole stack locally (REGIONS=sa,eu READERS=2 to choose)"
	@echo "make stop     stop it; make status shows it; make clean deletes its state"
	@echo "make bench    load the running stack (or start it) with wrk; BENCH_SECONDS=10 per scenario"
	@echo "make test     install what is missing, then run every test (real PostgreSQL + replica + Redis)"
	@echo "make lint     rustfmt and clippy (warnings are errors), then the deploy/ checks"
	@echo "make migrate  apply migrations to RCR__DATABASE__URL"
	@echo "make fmt      format the code"

deps:
	@bash deploy/local/install-deps.sh --gateway

build:
	$(CARGO) build --workspace --all-targets --locked

# The system test drives the services' binaries: build them first.
test: deps
	$(CARGO) build --workspace --bins --locked
	$(CARGO) test --workspace --locked

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	bash deploy/check.sh

fmt:
	$(CARGO) fmt --all

# Applies pending migrations to the database named by RCR__DATABASE__URL
# (or the [database] section of the file in RCR_CONFIG).
migrate:
	$(CARGO) run --quiet --locked -p auth -- migrate

run:
	@bash deploy/local/install-deps.sh --gateway
	$(CARGO) build --release --locked $(RELEASE_BINS)
	@$(CARGO_TARGET_DIR)/release/rcr-local run --regions "$(REGIONS)" --readers "$(READERS)" --bin "$(CARGO_TARGET_DIR)/release"

stop:
	@if [ -x "$(CARGO_TARGET_DIR)/release/rcr-local" ]; then "$(CARGO_TARGET_DIR)/release/rcr-local" stop; else echo "nothing to stop"; fi

status:
	@if [ -x "$(CARGO_TARGET_DIR)/release/rcr-local" ]; then "$(CARGO_TARGET_DIR)/release/rcr-local" status; else echo "no stack here (make run)"; fi

clean:
	@if [ -x "$(CARGO_TARGET_DIR)/release/rcr-local" ]; then "$(CARGO_TARGET_DIR)/release/rcr-local" clean; else rm -rf .local; fi

# Drives the running local stack (starting it if needed) with wrk against
# nginx ceilings serving the same bytes; see docs/BENCHMARKS.md.
bench:
	@bash deploy/local/install-deps.sh --gateway --bench
	$(CARGO) build --release --locked $(RELEASE_BINS)
	@$(CARGO_TARGET_DIR)/release/rcr-local bench --regions "$(REGIONS)" --readers "$(READERS)" --bin "$(CARGO_TARGET_DIR)/release"
