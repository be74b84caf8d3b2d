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

[ -x "$HERE/node_modules/.bin/prism" ] || { echo "run npm ci in tests/cloud first" >&2; exit 1; }
# Its own process group (setsid), so the whole npx/node tree stops with one signal.
setsid "$HERE/node_modules/.bin/prism" mock "$HERE/digitalocean-openapi.yaml" -h 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
PRISM=$!
trap 'kill -- -$PRISM 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1 300); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/account" -H 'Authorization: Bearer x' && break
  kill -0 "$PRISM" 2>/dev/null || { cat "$LOG"; exit 1; }
  sleep 0.1
done
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
for _ in $(seq 1 300); do
  curl -s -o /dev/null "http://127.0.0.1:$PROXY_PORT/v2/account" -H "Authorization: Bearer $BERTH_TEST_DO_TOKEN" && break
  kill -0 "$PROXY" 2>/dev/null && kill -0 "$FAKE" 2>/dev/null || { cat "$LOG.fake" "$LOG.proxy"; exit 1; }
  sleep 0.1
done
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
rm -rf "$STORE"
echo "cloud: all checks passed"
