#!/usr/bin/env bash
# Installs the peer's npm packages (package-lock.json) into bench/peer/node_modules with the
# project's Node, idempotently: `npm ci` only when the lock file changed since the last
# install. Everything comes from the npm registry; the packages have no install scripts.
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
  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
  echo "$want" > "$stamp"
fi
