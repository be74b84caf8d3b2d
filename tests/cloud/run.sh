#!/usr/bin/env bash
# Cloud API tests against real peers: Stoplight Prism serving DigitalOcean's published OpenAPI
# contract (tests/cloud/digitalocean-openapi.yaml, provenance in the .source.txt beside it).
# Starts Prism on loopback, runs the DigitalOcean client's tests and `berth credentials test`
# through it, and stops Prism by its process group. Usage: tests/cloud/run.sh [path/to/berth]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BERTH=${1:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/berth}
PORT=${BERTH_PRISM_PORT:-4510}
LOG=$(mktemp /tmp/berth-prism.XXXXXX.log)

# wait_up TRIES "PIDS" "LOGS" CURL_ARGS...: polls (every 0.1 s) until curl gets an answer;
# stops the run, showing the logs, as soon as one of the PIDs has died.
wait_up() {
  local tries=$1 pids=$2 logs=$3 p
  shift 3
  for _ in $(seq 1 "$tries"); do
    curl -s -o /dev/null "$@" && return 0
    for p in $pids; do
      kill -0 "$p" 2>/dev/null || { cat $logs; exit 1; }
    done
    sleep 0.1
  done
}

[ -x "$HERE/node_modules/.bin/prism" ] || { echo "run npm ci in tests/cloud first" >&2; exit 1; }
# Its own process group (setsid), so the whole npx/node tree stops with one signal.
setsid "$HERE/node_modules/.bin/prism" mock "$HERE/digitalocean-openapi.yaml" -h 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
PRISM=$!
trap 'kill -- -$PRISM 2>/dev/null || true; rm -f "$LOG"' EXIT
wait_up 300 "$PRISM" "$LOG" "http://127.0.0.1:$PORT/v2/account" -H 'Authorization: Bearer x'
echo "Prism (DigitalOcean contract) on 127.0.0.1:$PORT, pid $PRISM"

export BERTH_TEST_PRISM_URL=http://127.0.0.1:$PORT
(cd "$ROOT" && cargo test -q -p berth-core --test digitalocean_prism -- --include-ignored)

echo "== the stateful fake behind prism proxy --errors (the contract checked both ways)"
FAKE_PORT=$((PORT + 11)) PROXY_PORT=$((PORT + 10))
export BERTH_TEST_DO_TOKEN=dop_v1_lifecycle BERTH_TEST_DO_IPV4=192.0.2.77
/usr/bin/python3 "$HERE/fake_do.py" "$FAKE_PORT" "$BERTH_TEST_DO_TOKEN" --ipv4 "$BERTH_TEST_DO_IPV4" >"$LOG.fake" 2>&1 &
FAKE=$!
setsid "$HERE/node_modules/.bin/prism" proxy "$HERE/digitalocean-openapi.yaml" "http://127.0.0.1:$FAKE_PORT" \
  -h 127.0.0.1 -p "$PROXY_PORT" --errors >"$LOG.proxy" 2>&1 &
PROXY=$!
trap 'kill -- -$PRISM -$PROXY 2>/dev/null || true; kill $FAKE 2>/dev/null || true; rm -f "$LOG" "$LOG".*' EXIT
wait_up 300 "$PROXY $FAKE" "$LOG.fake $LOG.proxy" "http://127.0.0.1:$PROXY_PORT/v2/account" \
  -H "Authorization: Bearer $BERTH_TEST_DO_TOKEN"
export BERTH_TEST_DO_URL=http://127.0.0.1:$PROXY_PORT
(cd "$ROOT" && cargo test -q -p berth-core --test digitalocean_lifecycle -- --include-ignored) || {
  echo "--- prism proxy log"; tail -40 "$LOG.proxy"; exit 1; }

echo "== berth credentials test digitalocean (token from the environment)"
STORE=$(mktemp -d /tmp/berth-cloud-store.XXXXXX)
out=$(BERTH_STORAGE_PATH=$STORE BERTH_DIGITALOCEAN_API_URL=$BERTH_TEST_PRISM_URL \
  DIGITALOCEAN_ACCESS_TOKEN=dop_v1_fromenv "$BERTH" credentials test digitalocean)
echo "$out"
grep -q '^OK: \$DIGITALOCEAN_ACCESS_TOKEN works for the DigitalOcean account' <<<"$out"
code=0
out=$(BERTH_STORAGE_PATH=$STORE BERTH_DIGITALOCEAN_API_URL=$BERTH_TEST_PRISM_URL \
  "$BERTH" credentials test digitalocean 2>&1) || code=$?
echo "$out"
[ "$code" -ne 0 ] && grep -q 'Hint: add an account' <<<"$out"

echo "== berth credentials test amazonec2 against moto (signatures checked)"
[ -x "${BERTH_MOTO_VENV:-}/bin/moto_server" ] || { echo "BERTH_MOTO_VENV must hold moto (scripts/setup.sh ensure_moto)" >&2; exit 1; }
MOTO_PORT=$((PORT + 20))
# The first 3 requests are unauthenticated (they make the IAM user); every later one is checked.
INITIAL_NO_AUTH_ACTION_COUNT=3 setsid "$BERTH_MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$LOG.moto" 2>&1 &
MOTO=$!
trap 'kill -- -$PRISM -$PROXY -$MOTO 2>/dev/null || true; kill $FAKE 2>/dev/null || true; rm -f "$LOG" "$LOG".*' EXIT
wait_up 100 "$MOTO" "$LOG.moto" "http://127.0.0.1:$MOTO_PORT/moto-api/"
read -r AWS_ID AWS_SECRET < <("$BERTH_MOTO_VENV/bin/python" "$HERE/ec2_harness.py" "http://127.0.0.1:$MOTO_PORT" setup |
  python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["access_key"], d["secret"])')
aws() { env -u AWS_PROFILE BERTH_STORAGE_PATH=$STORE BERTH_AWS_EC2_URL=http://127.0.0.1:$MOTO_PORT \
  AWS_ACCESS_KEY_ID=$AWS_ID AWS_SECRET_ACCESS_KEY=$1 "$BERTH" credentials test amazonec2 2>&1; }
out=$(aws "$AWS_SECRET")
echo "$out"
grep -q "^OK: \$AWS_ACCESS_KEY_ID works for AWS access key $AWS_ID (EC2 in us-east-1; [0-9][0-9]* regions available)" <<<"$out"
code=0
out=$(aws "${AWS_SECRET}x") || code=$?
echo "$out"
[ "$code" -ne 0 ] && grep -q 'AWS refused the credentials (401): DescribeRegions: AuthFailure' <<<"$out"
grep -q 'Hint: check the keys' <<<"$out"

echo "== the EC2 client pages through lists against moto (every page signed and checked)"
(cd "$ROOT" && BERTH_TEST_MOTO_URL=http://127.0.0.1:$MOTO_PORT BERTH_TEST_AWS_ID=$AWS_ID BERTH_TEST_AWS_SECRET=$AWS_SECRET \
  cargo test -q -p berth-core --test ec2_moto -- --include-ignored)
rm -rf "$STORE"
echo "cloud: all checks passed"
