#!/usr/bin/env bash
# Regenerates data/common-passwords.txt from the list Django ships (BSD-3-Clause).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pip download --no-deps -q -d "$tmp" django
(cd "$tmp" && unzip -q -o ./*.whl 'django/contrib/auth/common-passwords.txt.gz' 'django-*.dist-info/licenses/LICENSE')
# Only entries the length rule lets through (8 to 72 bytes) can ever match: the shorter
# half of the list is refused as too short anyway and would only enlarge the Worker.
zcat "$tmp/django/contrib/auth/common-passwords.txt.gz" | tr 'A-Z' 'a-z' |
  LC_ALL=C awk 'length($0) >= 8 && length($0) <= 72' | LC_ALL=C sort -u > "$ROOT/data/common-passwords.txt"
cp "$tmp"/django-*.dist-info/licenses/LICENSE "$ROOT/data/LICENSE-django"
