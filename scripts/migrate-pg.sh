#!/usr/bin/env bash
# Applies migrations/postgres/*.sql in order to DATABASE_URL, each in its own transaction,
# and records what it applied in schema_migrations — like `alembic upgrade head`. Safe to
# run twice: applied files are skipped. Needs psql (Debian: postgresql-client).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
: "${DATABASE_URL:?set DATABASE_URL, e.g. postgres://user:password@127.0.0.1:5432/auth}"
psql_() { PGOPTIONS="--client-min-messages=warning" psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -q -X "$@"; }

psql_ -c "CREATE TABLE IF NOT EXISTS schema_migrations (
  version text PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now())"
for file in "$ROOT"/migrations/postgres/*.sql; do
  version=$(basename "$file" .sql)
  applied=$(psql_ -At -c "SELECT 1 FROM schema_migrations WHERE version = '$version'")
  if [ "$applied" = "1" ]; then
    echo "migrate-pg: $version already applied"
    continue
  fi
  # The file and its record commit together or not at all.
  psql_ -1 -f "$file" -c "INSERT INTO schema_migrations (version) VALUES ('$version')"
  echo "migrate-pg: applied $version"
done
