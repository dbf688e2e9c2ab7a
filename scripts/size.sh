#!/usr/bin/env bash
# Prints the deployable Worker's size (what `wrangler deploy` uploads: index.js and
# index_bg.wasm), gzip -9 as Cloudflare counts it, for the default build (build/, D1) and,
# when it has been built, the build with every feature in (build-postgres/); both must fit
# the 1 MiB budget. Then where the default build's wasm bytes go by crate (twiggy on the
# module before wasm-bindgen, which still has function names).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
. scripts/env.sh
BUDGET=$((1024 * 1024))
gz() { gzip -9 -c "$1" | wc -c; }
over=0
for dir in build build-postgres; do
  [ "$dir" = build ] || [ -f "$dir/index_bg.wasm" ] || continue
  wasm=$dir/index_bg.wasm
  js=$dir/index.js
  total=$(( $(gz "$wasm") + $(gz "$js") ))
  printf 'bundle   %-29s %9s bytes  %9s gzip\n' "$wasm" "$(wc -c < "$wasm")" "$(gz "$wasm")"
  printf 'bundle   %-29s %9s bytes  %9s gzip\n' "$js" "$(wc -c < "$js")" "$(gz "$js")"
  printf 'bundle   %-14s total gzip %d bytes (%.1f KiB); budget %d KiB: %s\n' "$dir/" "$total" \
    "$(echo "$total/1024" | bc -l)" $((BUDGET / 1024)) "$([ "$total" -lt "$BUDGET" ] && echo within || echo OVER)"
  [ "$total" -lt "$BUDGET" ] || over=1
done
named=target/edge_auth-build.wasm
if command -v twiggy >/dev/null && [ -f "$named" ]; then
  echo
  echo "where build/'s bytes go (twiggy, before wasm-bindgen and wasm-opt; shallow size by crate):"
  twiggy top -n 1000000 --format csv "$named" | python3 -c '
import collections, csv, re, sys
sizes, total = collections.Counter(), 0
for row in csv.DictReader(sys.stdin):
    name, size = row["Name"], int(row["ShallowSize"])
    # Names, custom sections and the type descriptors wasm-bindgen reads (functions and
    # their exports) are not deployed: wasm-bindgen and wasm-opt drop them.
    if "custom section" in name or "function names" in name or name.startswith("\"") or "__wbindgen_describe" in name:
        continue
    total += size
    name = re.sub(r"\[[0-9a-f]{16}\]", "", name)
    m = re.match(r"^<?&?(?:mut )?(?:dyn )?([a-z_][a-z0-9_]*)::", name)
    crate = m.group(1) if m else ("(data: strings, tables)" if "data" in name else "(glue and anonymous)")
    sizes[crate] += size
for crate, size in sizes.most_common(15):
    print(f"  {size:>9}  {100 * size / total:5.1f}%  {crate}")
'
fi
if [ "$over" -ne 0 ]; then
  echo "size: a Worker build is over its 1 MiB gzip budget" >&2
  exit 1
fi
