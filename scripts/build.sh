#!/usr/bin/env bash
# Wrangler's build command: compiles the Worker to wasm with local tools only.
#   bash scripts/build.sh            D1 only (wrangler.toml): build/
#   bash scripts/build.sh postgres   with the Postgres backend too (wrangler.postgres.toml):
#                                    build-postgres/
# Skips the work when the output is newer than every input, so `make dev` and the test
# harness start in seconds after the first build.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
. scripts/env.sh
case "${1:-}" in
  "") dir=build; features=() ;;
  postgres) dir=build-postgres; features=(--features postgres) ;;
  *) echo "usage: scripts/build.sh [postgres]" >&2; exit 2 ;;
esac
# What the Worker reads through its ASSETS binding rather than carrying in the bundle.
mkdir -p public/_worker
cmp -s data/common-passwords.txt public/_worker/common-passwords.txt ||
  cp data/common-passwords.txt public/_worker/common-passwords.txt
cmp -s openapi.json public/_worker/openapi.json || cp openapi.json public/_worker/openapi.json
out=$dir/index_bg.wasm
if [ -f "$out" ] && [ -f "$dir/index.js" ] &&
  [ -z "$(find src Cargo.toml Cargo.lock scripts/build.sh -newer "$out" -print -quit)" ]; then
  echo "build: up to date ($out)"
  exit 0
fi
worker-build --release --out-dir "$dir" "${features[@]}"
# The module before wasm-bindgen still has function names: keep it per build for
# scripts/size.sh's breakdown (the two builds share target/).
cp target/wasm32-unknown-unknown/release/edge_auth.wasm "target/edge_auth-$dir.wasm"
# worker-build keeps the wasm "name" section (function names for stack traces): about a
# sixth of the module. Drop it, and the producers section, unless KEEP_WASM_NAMES=1 (for
# debugging a stack trace); panics still report their message and source location.
# With the names gone, a second -Oz pass until nothing changes finds ~1 % more to fold.
if [ -z "${KEEP_WASM_NAMES:-}" ]; then
  "$WASM_OPT_BIN" "$out" -Oz --converge --strip-debug --strip-producers --enable-bulk-memory --enable-mutable-globals \
    --enable-sign-ext --enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types \
    --enable-exception-handling -o "$out.stripped"
  mv "$out.stripped" "$out"
fi
