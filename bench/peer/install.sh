#!/usr/bin/env bash
# Installs the peer's npm packages (package-lock.json) into bench/peer/node_modules with the
# project's Node, idempotently: `npm ci` only when the lock file changed since the last
# install. Everything comes from the npm registry; the packages have no install scripts.
# If the registry cannot be reached, it says so and succeeds: make bench then skips the peer.
# Wrangler is not among them: the bench runs the peer with the project's own Wrangler, so
# both Workers run on the same workerd.
set -euo pipefail
PEER="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$PEER/../.." && pwd)"
. "$ROOT/scripts/env.sh"
cd "$PEER"
stamp=node_modules/.package-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  printf '==> installing the benchmark peer'"'"'s npm packages (bench/peer, npm ci)\n' >&2
  # Without the registry (offline) the bench runs without its peer and says so: the
  # comparison section of bench-results/latest.json is "skipped", with the reason.
  if ! npm ci --no-audit --no-fund --ignore-scripts --loglevel=error; then
    rm -rf node_modules
    printf '==> the benchmark peer could not be installed (no npm registry?): make bench skips the comparison\n' >&2
    exit 0
  fi
  echo "$want" > "$stamp"
fi
