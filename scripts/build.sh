#!/usr/bin/env bash
# Wrangler's build command: compiles the Worker to wasm with local tools only.
# Skips the work when build/ is newer than every input, so `make dev` and the test
# harness start in seconds after the first build.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
. scripts/env.sh
out=build/index_bg.wasm
if [ -f "$out" ] && [ -f build/index.js ] &&
  [ -z "$(find src templates data Cargo.toml Cargo.lock scripts/build.sh -newer "$out" -print -quit)" ]; then
  echo "build: up to date ($out)"
  exit 0
fi
worker-build --release
# worker-build keeps the wasm "name" section (function names for stack traces): about a
# sixth of the module. Drop it, and the producers section, unless KEEP_WASM_NAMES=1 (for
# debugging a stack trace); panics still report their message and source location.
if [ -z "${KEEP_WASM_NAMES:-}" ]; then
  "$WASM_OPT_BIN" "$out" --strip-debug --strip-producers --enable-bulk-memory --enable-mutable-globals \
    --enable-sign-ext --enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types \
    --enable-exception-handling -o "$out.stripped"
  mv "$out.stripped" "$out"
fi
