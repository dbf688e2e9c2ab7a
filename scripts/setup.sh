#!/usr/bin/env bash
# Installs everything a build, `make dev` and `make test` need, idempotently:
# the wasm32 target, worker-build, wasm-bindgen-cli at the version in Cargo.lock,
# Node >= 22 (the system one when new enough, else a project-local copy from the npm
# registry), the npm packages pinned in package-lock.json and Debian's chromium. Fast when all is present.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
. scripts/env.sh

WORKER_BUILD_VERSION=0.8.7
NODE_VERSION=22.23.3
say() { printf '==> %s\n' "$*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! worker-build --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
  say "installing worker-build $WORKER_BUILD_VERSION"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi

bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if [ -z "$bindgen_version" ]; then
  echo "setup: Cargo.lock names no wasm-bindgen version" >&2
  exit 1
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q " $bindgen_version\$"; then
  say "installing wasm-bindgen-cli $bindgen_version (the version locked in Cargo.lock)"
  # Its own lock file can name a crate the registry has since yanked; then resolve afresh.
  cargo install wasm-bindgen-cli --version "$bindgen_version" --locked --force ||
    cargo install wasm-bindgen-cli --version "$bindgen_version" --force
fi

node_is_recent() { command -v node >/dev/null && node -e 'process.exit(+process.versions.node.split(".")[0] >= 22 ? 0 : 1)'; }
if ! node_is_recent; then
  case "$(uname -m)" in
    x86_64) node_arch=x64 ;;
    aarch64 | arm64) node_arch=arm64 ;;
    *) echo "setup: no Node package for $(uname -m)" >&2; exit 1 ;;
  esac
  say "system Node is older than 22: installing Node $NODE_VERSION into .tools/node"
  rm -rf .tools/node .tools/node-pkg
  mkdir -p .tools/node-pkg
  (cd .tools/node-pkg && npm pack --silent "node-linux-$node_arch@$NODE_VERSION" >/dev/null && tar -xzf ./*.tgz)
  mv .tools/node-pkg/package .tools/node
  rm -rf .tools/node-pkg
  chmod +x .tools/node/bin/node
  hash -r
  node_is_recent || { echo "setup: the local Node does not run" >&2; exit 1; }
fi

# npm ci only when package-lock.json changed since the last install.
stamp=node_modules/.package-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

# The /docs page is served from static assets copied out of swagger-ui-dist, so it needs no CDN.
mkdir -p public/docs-assets
for f in swagger-ui-bundle.js swagger-ui.css; do
  cmp -s "node_modules/swagger-ui-dist/$f" "public/docs-assets/$f" || cp "node_modules/swagger-ui-dist/$f" public/docs-assets/
done

# The passkey browser test drives Debian's Chromium (playwright-core never downloads one).
if ! command -v chromium >/dev/null; then
  say "installing Debian's chromium for the browser test"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null ||
    { $sudo_cmd apt-get update -qq && $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null; }
fi

if [ ! -f .dev.vars ]; then
  say "creating .dev.vars with a random development SECRET_KEY"
  printf 'SECRET_KEY=%s\n' "$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')" > .dev.vars
fi
