#!/usr/bin/env bash
# Prints the deployable Worker's size (what `wrangler deploy` uploads: index.js and
# index_bg.wasm), gzip -9 as Cloudflare counts it, for the default build (build/, D1) and,
# when it has been built, the build with every feature in (build-postgres/); both must fit
# the 1 MiB budget, and the default build against its 350 KB goal. Then where the default
# build's wasm bytes go by crate (twiggy on the module before wasm-bindgen, which still has
# function names), and what each capability costs (its code, its embedded data, and the
# static assets it reads through the ASSETS binding instead of carrying them).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
. scripts/env.sh
BUDGET=$((1024 * 1024))
# The default (D1) build's goal (issue 14): at most 350 KB gzip, in kilobytes of 1000 bytes.
GOAL=350000
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
  if [ "$dir" = build ]; then
    printf 'bundle   %-14s goal %d KB (%d bytes): %s\n' "$dir/" $((GOAL / 1000)) "$GOAL" "$([ "$total" -le "$GOAL" ] && echo met || echo 'NOT met')"
  fi
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
if command -v twiggy >/dev/null && [ -f "$named" ]; then
  echo
  echo "what each capability costs in build/ (its own functions, shallow, before wasm-opt; the data"
  echo "it embeds, gzip -9 alone; generic code it instantiates in serde, core and alloc is counted"
  echo "under those crates above), and the static assets it reads through the ASSETS binding"
  echo "(public/_worker/, not in the bundle):"
  twiggy top -n 1000000 --format csv "$named" | python3 -c '
import collections, csv, glob, gzip, os, re, sys
code = collections.Counter()
for row in csv.DictReader(sys.stdin):
    m = re.search(r"edge_auth::([a-z_]+)(?:::([a-z_0-9]+))?", row["Name"])
    if not m:
        continue
    top, sub = m.group(1), m.group(2)
    part = f"{top}::{sub}" if top == "features" and sub else top
    code[part] += int(row["ShallowSize"])
def gz(paths):
    return sum(len(gzip.compress(open(p, "rb").read(), 9)) for p in paths)
data = collections.Counter()
for folder in glob.glob("src/features/*/"):
    name = "features::" + os.path.basename(folder.rstrip("/"))
    data[name] += gz(glob.glob(folder + "templates/*")) + gz(glob.glob(folder + "*.html"))
assets, notes = collections.Counter(), {}
for part, path, note in [
    ("features::system", "public/_worker/openapi.json", "asset: the OpenAPI document (/openapi.json, /docs)"),
    ("kernel", "public/_worker/common-passwords.txt", "asset: the common-password list"),
]:
    if os.path.exists(path):
        assets[part] += gz([path])
        notes[part] = note
print("  %-28s %9s %12s %14s" % ("part", "code B", "data B gzip", "asset B gzip"))
for part in sorted(set(code) | set(data) | set(assets), key=lambda p: -(code[p] + data[p])):
    note = ("the docs page" if part == "features::system" else "mail templates") if data[part] else ""
    note = "; ".join(n for n in [note, notes.get(part, "")] if n)
    print(f"  {part:<28} {code[part]:>9} {data[part]:>12} {assets[part]:>14}  {note}")
'
fi
if [ "$over" -ne 0 ]; then
  echo "size: a Worker build is over its 1 MiB gzip budget" >&2
  exit 1
fi
