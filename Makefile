# The two commands a newcomer needs:  make dev   (run it)   and   make test   (test it).
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
ENV := . scripts/env.sh &&
PORT ?= 8787

.PHONY: setup build dev test check lint unit e2e clean

## Installs every tool the project needs (idempotent; seconds when all is present).
setup:
	@bash scripts/setup.sh

## Builds the release Worker into build/ (Wrangler also runs this before dev and deploy).
build: setup
	@bash scripts/build.sh

## Sets everything up, applies the D1 migrations locally and serves on 127.0.0.1:$(PORT).
dev: setup
	@$(ENV) wrangler d1 migrations apply DB --local
	@$(ENV) wrangler dev --ip 127.0.0.1 --port $(PORT)

## What CI runs: formatting, lints (native and wasm32), unit tests, end-to-end tests.
test: setup lint unit build e2e

check: test

lint:
	@$(ENV) cargo fmt --check
	@$(ENV) cargo clippy --all-targets -- -D warnings
	@$(ENV) cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings

unit:
	@$(ENV) cargo test --lib

## The end-to-end suite against the built Worker under `wrangler dev` (see tests/README.md).
e2e:
	@$(ENV) cargo test --test e2e

clean:
	rm -rf build target .wrangler
