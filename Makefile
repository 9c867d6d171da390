# The one entry point; CI runs `make test` (see .ci/run).
SHELL := /bin/bash
# One target directory for every crate and test binary.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
CARGO ?= cargo

.PHONY: help deps test lint fmt migrate build

help:
	@echo "make test     install what is missing, then run every test (real PostgreSQL + replica + Redis)"
	@echo "make lint     rustfmt and clippy, warnings are errors"
	@echo "make migrate  apply migrations to RCR__DATABASE__URL"
	@echo "make fmt      format the code"

deps:
	@bash deploy/local/install-deps.sh

build:
	$(CARGO) build --workspace --all-targets --locked

test: deps
	$(CARGO) test --workspace --locked

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

# Applies pending migrations to the database named by RCR__DATABASE__URL
# (or the [database] section of the file in RCR_CONFIG).
migrate:
	$(CARGO) run --quiet --locked -p auth -- migrate
