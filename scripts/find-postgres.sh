#!/usr/bin/env bash
# Prints the directory with Postgres' server tools (initdb, pg_ctl, postgres, psql), or fails.
# The e2e harness looks in the same places (tests/e2e/postgres.rs).
for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV) $(echo "$PATH" | tr ':' ' '); do
  if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ] && [ -x "$dir/psql" ]; then
    echo "$dir"
    exit 0
  fi
done
exit 1
