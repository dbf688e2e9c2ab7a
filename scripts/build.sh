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
