# The one entry point; CI runs `make test` (see .ci/run).
SHELL := /bin/bash
# One target directory for every crate and test binary.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
CARGO ?= cargo

# `make run REGIONS=sa,eu READERS=2`: which regions, readers per region;
# `WAN=1` puts continents apart (WAN_DELAYS=na:60,eu:100,asia:150).
REGIONS ?= sa,na,eu,asia
READERS ?= 1
RELEASE_BINS := -p auth -p reviews-writer -p content-reader -p local-stack

.PHONY: help deps test lint fmt migrate build run stop status clean bench chaos fuzz openapi clients \
  backup restore failover reattach

help:
	@echo "make run      start the whole stack locally (REGIONS=sa,eu READERS=2 to choose)"
	@echo "make stop     stop it; make status shows it; make clean deletes its state"
	@echo "make backup   back up the stack's primary with pgBackRest (TYPE=full|diff|incr)"
	@echo "make restore  restore the stack's data to TARGET='<RFC 3339 time>' or TARGET=latest"
	@echo "make failover promote South America's standby after the primary died (FORCE=1 stops a live one)"
	@echo "make reattach take the former primary back as the standby after a failover"
	@echo "make bench    load the running stack (or start it) with wrk; BENCH_SECONDS=10 per scenario, BENCH_REVIEWS=10000 reviews"
	@echo "make test     install what is missing, then run every test (real PostgreSQL + replica + Redis)"
	@echo "make chaos    kill and restart each process, fail over, back up and restore under load; report losses and recovery; RCR_CHAOS_SECONDS=60 per scenario"
	@echo "make fuzz     run each fuzz target in fuzz/ (nightly, cargo-fuzz); FUZZ_SECONDS=60 per target"
	@echo "make lint     rustfmt, clippy (warnings are errors), cargo machete (unused dependencies), then the deploy/ checks"
	@echo "make migrate  apply migrations to RCR__DATABASE__URL"
	@echo "make fmt      format the code"
	@echo "make openapi  regenerate crates/*/openapi.json from the code"
	@echo "make clients  regenerate clients/ (TypeScript client, Postman/Insomnia collection) from those documents"

# --clients: clients/node_modules for tests/clients.rs; --browser: Chromium
# and the npm packages tests/browser.rs drives it with.
deps:
	@bash deploy/local/install-deps.sh --gateway --contract --clients --browser

build:
	$(CARGO) build --workspace --all-targets --locked

# The system test drives the services' binaries: build them first. All
# targets, not just --bins: dev-dependencies turn on features (domain's
# `fuzzing` for platform's tests; rand's `alloc`, under jsonwebtoken's
# RSA), so a bins-only build resolves other features and `cargo test` then
# builds those crates and every workspace crate above them a second time.
test: deps
	$(CARGO) build --workspace --all-targets --locked
	$(CARGO) test --workspace --locked

# cargo-machete lists dependencies no source file uses; pinned, installed
# when missing or another version (a small crate, about three minutes cold),
# built in a temporary folder rather than the shared target directory.
# `--with-metadata` asks cargo for each crate's library name instead of
# guessing it (without it the reader's unused dev-dependencies on auth and
# reviews-writer went unreported); it runs after clippy because cargo
# metadata rewrites a stale Cargo.lock, which `--locked` must catch first.
CARGO_MACHETE_VERSION := 0.9.2
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	@[ "$$($(CARGO) machete --version 2>/dev/null)" = "$(CARGO_MACHETE_VERSION)" ] \
	  || env -u CARGO_TARGET_DIR $(CARGO) install cargo-machete --version $(CARGO_MACHETE_VERSION) --locked
	$(CARGO) machete --with-metadata
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
	@$(CARGO_TARGET_DIR)/release/rcr-local run --regions "$(REGIONS)" --readers "$(READERS)" --bin "$(CARGO_TARGET_DIR)/release" $(if $(filter 1,$(WAN)),--wan)

stop:
	@if [ -x "$(CARGO_TARGET_DIR)/release/rcr-local" ]; then "$(CARGO_TARGET_DIR)/release/rcr-local" stop; else echo "nothing to stop"; fi

status:
	@if [ -x "$(CARGO_TARGET_DIR)/release/rcr-local" ]; then "$(CARGO_TARGET_DIR)/release/rcr-local" status; else echo "no stack here (make run)"; fi

clean:
	@if [ -x "$(CARGO_TARGET_DIR)/release/rcr-local" ]; then "$(CARGO_TARGET_DIR)/release/rcr-local" clean; else rm -rf .local; fi

# Data safety on the running stack (docs/RUNBOOKS.md, "Local stack"):
# pgBackRest backups into .local/backups, point-in-time restore, failover
# to South America's synchronous standby and taking the former primary back.
TYPE ?= full
LOCAL := $(CARGO_TARGET_DIR)/release/rcr-local
backup:
	@$(LOCAL) backup --type "$(TYPE)"

restore:
	@[ -n "$(TARGET)" ] || { echo "make restore TARGET='2026-12-01T09:30:00Z' (RFC 3339) or TARGET=latest"; exit 2; }
	@$(LOCAL) restore --target "$(TARGET)"

failover:
	@$(LOCAL) failover $(if $(filter 1,$(FORCE)),--force)

reattach:
	@$(LOCAL) reattach

# Drives the running local stack (starting it if needed) with wrk against
# nginx ceilings serving the same bytes; see docs/BENCHMARKS.md.
# BENCH_REVIEWS: the data set's size (made or topped up first).
BENCH_REVIEWS ?= 10000
bench:
	@bash deploy/local/install-deps.sh --gateway --bench
	$(CARGO) build --release --locked $(RELEASE_BINS)
	@$(CARGO_TARGET_DIR)/release/rcr-local bench --regions "$(REGIONS)" --readers "$(READERS)" --reviews "$(BENCH_REVIEWS)" --bin "$(CARGO_TARGET_DIR)/release"

# Faults under load (tests/chaos.rs) and the data-safety drills
# (tests/failover.rs: failover, backup, point-in-time restore, and the
# restore of the bench's 10,000-review data set) at a bigger scale than in
# `make test`, each on a stack of its own on free ports; prints the tables.
RCR_CHAOS_SECONDS ?= 60
chaos: deps
	$(CARGO) build --workspace --bins --locked
	RCR_CHAOS_SECONDS=$(RCR_CHAOS_SECONDS) $(CARGO) test --locked -p system-tests --test chaos -- --nocapture
	RCR_CHAOS_SECONDS=$(RCR_CHAOS_SECONDS) $(CARGO) test --locked -p system-tests --test failover -- --nocapture --include-ignored --test-threads 1

# Longer runs of the fuzz targets in fuzz/ than the property tests that
# `make test` runs over the same checks. Needs nightly and cargo-fuzz
# (installed when missing); builds into fuzz/target, keeps what it learns in
# fuzz/corpus/<target> and writes failing inputs to fuzz/artifacts/<target>.
# FUZZ_TARGETS=cursor runs one. No sanitizer: the code under test is safe
# Rust, and panics are what the targets look for.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= domain_values review_bodies editor_bodies reader_query cursor consistency_token
fuzz:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	@for target in $(FUZZ_TARGETS); do \
	  case $$target in *_bodies) dict=fuzz/dicts/json.dict;; reader_query) dict=fuzz/dicts/query.dict;; *) dict=;; esac; \
	  mkdir -p fuzz/corpus/$$target; \
	  echo "== $$target: $(FUZZ_SECONDS) s"; \
	  CARGO_TARGET_DIR=$(CURDIR)/fuzz/target cargo +nightly fuzz run --sanitizer none $$target \
	    fuzz/corpus/$$target fuzz/seeds/$$target -- \
	    -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $${dict:+-dict=$$dict} || exit 1; \
	done

# Writes each service's OpenAPI document (generated from its code) to
# crates/<service>/openapi.json; `make test` fails while a committed one
# differs. Then `make clients`: the clients are generated from these.
openapi:
	RCR_UPDATE_OPENAPI=1 $(CARGO) test --locked -p auth -p reviews-writer -p content-reader --lib openapi

# Regenerates clients/typescript/{auth,reviews,content}.ts and
# clients/postman/ from crates/*/openapi.json with the npm packages pinned
# in clients/package-lock.json, then compiles the TypeScript client with its
# usage example. `make test` fails while the committed files differ
# (tests/clients.rs). Needs node 20 and npm only.
clients:
	cd clients && npm ci --no-audit --no-fund --loglevel=error \
	  && cp package-lock.json node_modules/.installed-from-package-lock.json
	cd clients && node generate.mjs && node node_modules/typescript/bin/tsc --noEmit -p .
