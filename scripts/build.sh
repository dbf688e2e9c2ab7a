#!/usr/bin/env bash
# Wrangler's build command: compiles the Worker to wasm with local tools only.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
. scripts/env.sh
exec worker-build --release
