# The two commands a newcomer needs:  make dev   (run it)   and   make test   (test it).
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
ENV := . scripts/env.sh &&
PORT ?= 8787

.PHONY: setup build dev test check lint unit e2e e2e-d1 e2e-postgres migrate-pg bench bench-tools bench-peer size openapi fuzz clean

DB ?= d1

## Installs every tool the project needs (idempotent; seconds when all is present).
setup:
	@bash scripts/setup.sh

## Builds the release Worker into build/ (Wrangler also runs this before dev and deploy).
build: setup
	@bash scripts/build.sh

## Sets everything up, applies the migrations and serves on 127.0.0.1:$(PORT), with
## ENVIRONMENT=development (mail without SENDGRID_API_KEY goes to the log) and
## GET /__scheduled?cron=... running the housekeeping on demand.
## D1 by default; `make dev DB=postgres DATABASE_URL=postgres://user:password@host:port/db`
## runs against a local Postgres through Hyperdrive's local mode.
dev: setup
ifeq ($(DB),postgres)
	@test -n "$(DATABASE_URL)" || { echo "make dev DB=postgres needs DATABASE_URL=postgres://user:password@host:port/db" >&2; exit 1; }
	@DATABASE_URL="$(DATABASE_URL)" bash scripts/migrate-pg.sh
	@bash scripts/build.sh postgres
	@bash scripts/wrangler-postgres.sh wrangler.postgres.toml "$(DATABASE_URL)"
	@$(ENV) wrangler dev --config wrangler.postgres.toml --ip 127.0.0.1 --port $(PORT) --var ENVIRONMENT:development --test-scheduled
else
	@$(ENV) wrangler d1 migrations apply DB --local
	@$(ENV) wrangler dev --ip 127.0.0.1 --port $(PORT) --var ENVIRONMENT:development --test-scheduled
endif

## Applies migrations/postgres to DATABASE_URL and records them (safe to run twice).
migrate-pg:
	@DATABASE_URL="$(DATABASE_URL)" bash scripts/migrate-pg.sh

## What CI runs: formatting, lints (native and wasm32), unit tests, end-to-end tests.
test: setup lint unit build e2e

check: test

lint:
	@$(ENV) cargo fmt --check
	@$(ENV) cargo clippy --workspace --all-targets -- -D warnings
	@$(ENV) cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings
	@$(ENV) cargo clippy --lib --target wasm32-unknown-unknown --features postgres -- -D warnings

unit:
	@$(ENV) cargo test --lib

## The end-to-end suite against the built Worker under `wrangler dev` (see tests/README.md),
## once on D1 and once on a throwaway Postgres cluster. Without Postgres installed the second
## run is skipped with a notice, unless E2E_REQUIRE_POSTGRES=1 (CI) makes that an error.
e2e: e2e-d1 e2e-postgres

e2e-d1:
	@$(ENV) E2E_BACKEND=d1 cargo test --test e2e

e2e-postgres:
	@if bash scripts/find-postgres.sh >/dev/null; then \
		bash scripts/build.sh postgres; \
		$(ENV) E2E_BACKEND=postgres cargo test --test e2e; \
	elif [ -n "$${E2E_REQUIRE_POSTGRES:-}" ]; then \
		echo "e2e-postgres: Postgres is not installed (apt-get install postgresql)" >&2; exit 1; \
	else \
		echo "e2e-postgres: skipped, Postgres is not installed (apt-get install postgresql)"; \
	fi

## Rewrites openapi.json from the code's annotations (a unit test fails while they differ).
openapi:
	@$(ENV) UPDATE_OPENAPI=1 cargo test --lib the_committed_document_is_the_generated_one

## Benchmarks, separate from the tests: load on every main route with wrk, the cost of a
## login (bcrypt in the Worker vs native), CPU per request, the bundle size, and the same
## four routes side by side with a better-auth Worker (bench/peer) on the same workerd.
bench: build bench-tools bench-peer size
	@$(ENV) cargo bench --bench load

## wrk (Debian) for load, twiggy (crates.io) for the size breakdown; skipped when present.
bench-tools:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	@$(ENV) command -v twiggy >/dev/null || cargo install twiggy --version 0.8.0 --locked

## The comparison peer's npm packages (better-auth, pinned in bench/peer/package-lock.json)
## into bench/peer/node_modules; npm ci only when the lock file changed.
bench-peer: setup
	@bash bench/peer/install.sh

## The deployable Worker's gzip size against the 1 MiB budget, and where the bytes go; also
## the build with every feature in (the Postgres backend), which must fit the budget too.
size: build
	@bash scripts/build.sh postgres
	@bash scripts/size.sh

## Fuzzes the built Worker under `wrangler dev` against its own /openapi.json with
## schemathesis (separate from `make test`; a few minutes; see scripts/fuzz.sh).
fuzz: setup
	@bash scripts/fuzz.sh

## Prints a JWK Set for JWT_SIGNING_KEYS (OS CSPRNG; writes no file): `make keys [ALG=EdDSA|ES256]`,
## `make keys ALG=... KEYS=set.json` (append), `make keys PROMOTE=kid KEYS=set.json`, `make keys DROP=kid KEYS=set.json`.
keys:
	@$(ENV) cargo run -q -p edge-auth-keys -- --alg "$(ALG)" --keys "$(KEYS)" --promote "$(PROMOTE)" --drop "$(DROP)"

clean:
	rm -rf build build-postgres target .wrangler
