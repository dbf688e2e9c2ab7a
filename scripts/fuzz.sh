#!/usr/bin/env bash
# Fuzzes the running Worker against its own OpenAPI document with schemathesis (PyPI):
# builds the release Worker if needed, serves it under `wrangler dev` on fresh local D1 and
# Durable Objects, runs `st run .../openapi.json`, then stops Wrangler and removes the
# state, pass or fail. Exits non-zero when schemathesis reports a failure.
#   FUZZ_EXAMPLES   generated test cases per operation (default 200: about a minute of
#                   requests)
#   FUZZ_SEED       schemathesis' random seed (default 1; same seed, same inputs)
#   FUZZ_KEEP=1     keep the state directory (Wrangler's log, schemathesis' JUnit and HAR
#                   reports with every request and answer)
# Further arguments go to `st run` after the defaults, e.g. `bash scripts/fuzz.sh --checks all`
# for schemathesis' other checks as well.
# Separate from `make test`: it takes minutes and explores, rather than pins, behaviour.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
. scripts/env.sh

SCHEMATHESIS_VERSION=4.32.5
VENV=.tools/fuzz-venv
EXAMPLES="${FUZZ_EXAMPLES:-200}"
SEED="${FUZZ_SEED:-1}"
say() { printf '==> %s\n' "$*" >&2; }

# schemathesis in a project-local virtualenv, installed once (seconds when present).
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q " $SCHEMATHESIS_VERSION\$"; then
  say "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

bash scripts/build.sh

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

state=$(mktemp -d "${TMPDIR:-/tmp}/edge-auth-fuzz.XXXXXX")
wrangler_pid=
cleanup() {
  status=$?
  if [ -n "$wrangler_pid" ]; then
    kill -TERM -- "-$wrangler_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$wrangler_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$wrangler_pid" 2>/dev/null || true
    wait "$wrangler_pid" 2>/dev/null || true
  fi
  if [ -n "${FUZZ_KEEP:-}" ]; then
    say "state kept in $state"
  else
    rm -rf "$state"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Wrangler's own settings and caches stay in the state directory, as in the e2e harness.
export XDG_CONFIG_HOME="$state/config"

say "applying the D1 migrations to $state/persist"
wrangler d1 migrations apply DB --local --persist-to "$state/persist" >"$state/migrations.log" 2>&1 ||
  { cat "$state/migrations.log" >&2; exit 1; }

port=$(free_port)
inspector=$(free_port)
hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
secret=$(hex 24) # 48 characters, as in the e2e harness
metrics_token=fuzz-metrics-token
vars=(
  "SECRET_KEY:$secret"
  BCRYPT_COST:4
  # Development: without a mail key, mail goes to the log (elsewhere the mailing routes
  # would answer 503), where the account below finds its code.
  ENVIRONMENT:development
  FRONTEND_URL:http://frontend.test
  "METRICS_TOKEN:$metrics_token"
  # Blank is unset to the Worker: mail goes to the log and nothing reaches Sentry, even if
  # .dev.vars (which `wrangler dev` also reads) names a real key.
  SENDGRID_API_KEY:
  SENTRY_DSN:
  # Limits and lockout out of reach: every request comes from 127.0.0.1 and the fuzzer logs
  # in with one account, so under the defaults most routes answer only 429 within seconds
  # and the lockout ends the login it authenticates with, leaving the handlers untested.
  RATE_LIMIT_LOGIN_IP:1000000/1
  RATE_LIMIT_LOGIN_ACCOUNT:1000000/1
  RATE_LIMIT_REGISTER_IP:1000000/1
  RATE_LIMIT_REGISTER_EMAIL:1000000/1
  RATE_LIMIT_RESEND_IP:1000000/1
  RATE_LIMIT_RESEND_EMAIL:1000000/1
  RATE_LIMIT_FORGET_IP:1000000/1
  RATE_LIMIT_FORGET_EMAIL:1000000/1
  RATE_LIMIT_VERIFY_IP:1000000/1
  RATE_LIMIT_VERIFY_ACCOUNT:1000000/1
  RATE_LIMIT_RESET_IP:1000000/1
  RATE_LIMIT_RESET_TOKEN:1000000/1
  RATE_LIMIT_USER_API:1000000/1
  LOCKOUT_FREE_ATTEMPTS:1000000
)
var_args=()
for v in "${vars[@]}"; do var_args+=(--var "$v"); done

say "starting wrangler dev on 127.0.0.1:$port (log: $state/wrangler.log)"
# Job control gives the background job its own process group, so the trap can stop
# Wrangler and the workerd it spawns together.
set -m
wrangler dev --ip 127.0.0.1 --port "$port" --persist-to "$state/persist" \
  --show-interactive-dev-session=false --inspector-port "$inspector" "${var_args[@]}" \
  </dev/null >"$state/wrangler.log" 2>&1 &
wrangler_pid=$!
set +m

base="http://127.0.0.1:$port"
deadline=$((SECONDS + 300))
until curl -fsS -o /dev/null "$base/health" 2>/dev/null; do
  if ! kill -0 "$wrangler_pid" 2>/dev/null; then
    cat "$state/wrangler.log" >&2
    echo "fuzz: wrangler dev exited before /health answered" >&2
    exit 1
  fi
  if [ $SECONDS -ge $deadline ]; then
    cat "$state/wrangler.log" >&2
    echo "fuzz: the Worker did not answer /health within 300 s" >&2
    exit 1
  fi
  sleep 0.25
done

# A verified account, so the fuzzer gets past 401 on the routes that need a session: the
# code comes from the mail the Worker logs (development, no SENDGRID_API_KEY).
email="fuzz-$(hex 6)@example.com"
password="fuzz-$(hex 16)"
post() { curl -fsS -o /dev/null -X POST "$base/balance_hub/auth/$1" -H 'content-type: application/json' -d "$2"; }
post register "{\"email\":\"$email\",\"password\":\"$password\"}"
code=
for _ in $(seq 40); do
  code=$(grep -F "\"to\":\"$email\"" "$state/wrangler.log" | grep -o 'is:\\n\\n *[0-9]\{6\}' | grep -o '[0-9]\{6\}' | tail -1 || true)
  [ -n "$code" ] && break
  sleep 0.25
done
[ -n "$code" ] || { echo "fuzz: no verification code for $email in the Worker's log" >&2; exit 1; }
post verify-email "{\"email\":\"$email\",\"code\":\"$code\"}"

# schemathesis logs in before a test case when it holds no token or the last answer was
# 401 (logout and a password change end the session), so every case runs with a live one.
cat >"$state/schemathesis.toml" <<EOF
[auth.dynamic.openapi.bearer]
path = "/balance_hub/auth/login"
payload = { email = "$email", password = "$password" }
extract_selector = "/access_token"

[auth.openapi.metrics_token]
bearer = "$metrics_token"
EOF

say "schemathesis $SCHEMATHESIS_VERSION against $base/openapi.json ($EXAMPLES examples per operation, seed $SEED)"
# From the state directory: schemathesis keeps a response cache (.schemathesis/) and
# Hypothesis its data (.hypothesis/) in the working directory; there they neither litter
# the repository nor carry from one run into the next. One worker, no example database and
# a fixed seed, so a failure comes back on the next run.
# The checks: no 5xx; every status, content type, documented header and body as the
# document declares; and a method no route has answered 405 with `Allow`. Not
# positive_data_acceptance: a schema cannot say that a code is wrong, a password common or
# a reset token unknown, so schema-valid requests rightly get 400 and 422 here.
reports=()
[ -z "${FUZZ_KEEP:-}" ] || reports=(--report junit,har --report-dir "$state/report")
st_status=0
(cd "$state" && "$ROOT/$VENV/bin/st" --config-file schemathesis.toml run "$base/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,unsupported_method \
  --max-examples "$EXAMPLES" \
  --seed "$SEED" \
  --workers 1 \
  --request-timeout 30 \
  --generation-database none \
  --no-color "${reports[@]}" "$@") ||
  st_status=$?

# The Worker logs every answer its route does not document; schemathesis' status check
# should have reported the same requests, this is the server's side of it.
undocumented=$(grep -c 'undocumented answer' "$state/wrangler.log" || true)
if [ "$undocumented" -gt 0 ]; then
  say "the Worker logged $undocumented undocumented answer(s):"
  grep 'undocumented answer' "$state/wrangler.log" | head -20 >&2
fi
if [ "$st_status" -ne 0 ]; then
  echo "fuzz: schemathesis reported failures (exit $st_status)" >&2
fi
exit "$st_status"
