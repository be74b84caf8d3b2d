#!/usr/bin/env bash
# `berth credentials` against a real keychain: gnome-keyring's Secret Service in a private D-Bus
# session, unlocked non-interactively. Reads back with libsecret's secret-tool (so the secret is
# in the keyring, not only in Berth's view of it), scans the store for the secret, and checks the
# error paths leave the store as it was. Usage: tests/keychain/run.sh [path/to/berth]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BERTH=${1:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/berth}
BERTH=$(realpath "$BERTH")

if [ -z "${BERTH_KEYCHAIN_INSIDE:-}" ]; then
  export BERTH_KEYCHAIN_INSIDE=1
  exec dbus-run-session -- "$0" "$BERTH"
fi

WORK=$(mktemp -d /tmp/berth-keychain.XXXXXX)
export XDG_DATA_HOME=$WORK/data XDG_RUNTIME_DIR=$WORK/run HOME=$WORK/home BERTH_STORAGE_PATH=$WORK/store
mkdir -p "$XDG_DATA_HOME" "$HOME" && mkdir -m 700 "$XDG_RUNTIME_DIR"
unset DIGITALOCEAN_ACCESS_TOKEN AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
# In the foreground, so it is ours to stop by PID; --unlock reads the password from stdin and
# creates/unlocks the login collection.
printf ci-password | gnome-keyring-daemon --foreground --unlock --components=secrets >"$WORK/keyring.log" 2>&1 &
KEYRING_PID=$!
for _ in $(seq 1 100); do
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true && break
  sleep 0.05
done
trap 'kill "$KEYRING_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

fails=0
check() { # check "what" command...: passes when the command succeeds
  local what=$1
  shift
  if "$@"; then echo "ok - $what"; else echo "not ok - $what"; fails=$((fails + 1)); fi
}
out() { "$BERTH" "$@" 2>&1; }
# After `r=$(...) && code=0 || code=$?`: the command failed and said this.
failed_with() { [ "$code" -ne 0 ] && grep -qi -- "$1" <<<"$r"; }
TOKEN=dop_v1_KEYCHAINTEST0123456789
AWS_SECRET=wJalrXUtnKEYCHAINTESTbPxRfiCY

r=$(printf %s "$TOKEN" | out credentials add digitalocean --name work --no-verify)
check "add a DigitalOcean account from stdin" grep -q 'Added the DigitalOcean account "work"' <<<"$r"
check "the token is in the keyring (read back with secret-tool)" \
  test "$(secret-tool lookup service dev.berth.digitalocean username work)" = "$TOKEN"
r=$(printf '%s\n' "$AWS_SECRET" | out credentials add aws --name main --access-key-id AKIAKEYCHAINTEST --no-verify)
check "add an AWS account" grep -q 'Added the AWS EC2 account "main"' <<<"$r"
check "the AWS keys are in the keyring" \
  grep -q "$AWS_SECRET" <<<"$(secret-tool lookup service dev.berth.amazonec2 username main)"

ls_out=$(out credentials ls)
echo "$ls_out"
lists() { grep -Eq '^digitalocean +work +keychain' <<<"$ls_out" && grep -Eq '^amazonec2 +main +keychain' <<<"$ls_out"; }
check "ls lists both accounts" lists
no_secret_in() { ! grep -q -e "$TOKEN" -e "$AWS_SECRET" <<<"$1"; }
check "ls never shows a secret" no_secret_in "$ls_out"
check "no secret anywhere in the store" bash -c "! grep -r -q -e '$TOKEN' -e '$AWS_SECRET' '$BERTH_STORAGE_PATH'"
check "the store's account list is private (0600)" test "$(stat -c %a "$BERTH_STORAGE_PATH/credentials.json")" = 600

before=$(cat "$BERTH_STORAGE_PATH/credentials.json")
r=$(printf x | out credentials add digitalocean --name work --no-verify) && code=0 || code=$?
check "a second account with the same name is refused" failed_with 'exists'
check "the first token is untouched" test "$(secret-tool lookup service dev.berth.digitalocean username work)" = "$TOKEN"
r=$(printf x | out credentials add aws --name other) && code=0 || code=$?
check "AWS without --access-key-id is refused with a hint" failed_with 'access-key-id'
r=$(out credentials add digitalocean --name empty </dev/null) && code=0 || code=$?
check "an empty secret is refused" failed_with 'no secret given'
r=$(printf x | out credentials add azure) && code=0 || code=$?
check "an unknown provider is refused" failed_with 'unknown cloud provider'
r=$(printf x | out credentials add digitalocean --name 'a b') && code=0 || code=$?
check "a bad account name is refused" failed_with 'invalid account name'
r=$(printf %s "$TOKEN" | DBUS_SESSION_BUS_ADDRESS=unix:path=$WORK/nobus out credentials add digitalocean --name nobus --no-verify) && code=0 || code=$?
echo "$r"
check "no keychain: a clear error with a hint" failed_with 'keychain is not available' && grep -q 'Hint:.*environment' <<<"$r"
# Without --no-verify the secret is checked with one API call before it is stored: here the
# API is a closed port on 127.0.0.1, so the add fails and stores nothing.
r=$(printf %s "$TOKEN" | BERTH_DIGITALOCEAN_API_URL=http://127.0.0.1:9 out --debug credentials add digitalocean --name unchecked) && code=0 || code=$?
echo "$r"
check "an add checks the secret with the API first, and stores nothing when it cannot" \
  eval 'failed_with "no-verify" && [ -z "$(secret-tool lookup service dev.berth.digitalocean username unchecked)" ]'
check "--debug shows what the error came from" grep -qi 'Caused by:.*refused' <<<"$r"
check "failed adds left the account list as it was" test "$(cat "$BERTH_STORAGE_PATH/credentials.json")" = "$before"

r=$(DIGITALOCEAN_ACCESS_TOKEN=dop_v1_FROMENV out credentials ls)
check "ls names credentials from the environment, not their value" \
  eval 'grep -q DIGITALOCEAN_ACCESS_TOKEN <<<"$r" && ! grep -q FROMENV <<<"$r"'

r=$(out credentials rm digitalocean work)
check "rm removes the account" grep -q 'Removed' <<<"$r"
check "rm removes the keyring entry" bash -c "! secret-tool lookup service dev.berth.digitalocean username work >/dev/null"
check "ls no longer lists it" bash -c "! '$BERTH' credentials ls | grep -q work"
r=$(out credentials rm digitalocean work) && code=0 || code=$?
check "rm of a missing account says so" failed_with 'no DigitalOcean account'
out credentials rm aws main >/dev/null
check "all entries gone from the keyring" bash -c "! secret-tool search --all service dev.berth.amazonec2 2>/dev/null | grep -q secret"

if [ "$fails" -ne 0 ]; then
  echo "keychain: $fails check(s) failed"
  exit 1
fi
echo "keychain: all checks passed"
