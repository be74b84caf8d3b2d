#!/usr/bin/env bash
# Desktop app figures (issue 3's targets), printed, not asserted:
#   release binary size, .deb size, first paint after launch, idle memory (PSS of the whole app
#   tree), tray switch -> a new `docker` invocation reaching the new host.
# Runs the release app in a private Xvfb + D-Bus session against two real test hosts (needs root,
# like the e2e suites). Usage: tests/bench/gui-bench.sh [--no-deb]
# BERTH_BENCH_NO_BUILD=1 measures the release binaries already built.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
APP=$TARGET/release/berth-app
CLI=$TARGET/release/berth
TH=$ROOT/tests/testhost/testhost.sh
PY=/usr/bin/python3
export WORK=${WORK:-$(mktemp -d /tmp/berth-gui-bench.XXXXXX)}

mb() { awk -v b="$1" 'BEGIN { printf "%.2f MB (%d bytes)", b / 1000000, b }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

if [ -z "${BERTH_BENCH_INSIDE:-}" ]; then
  [ "$(id -u)" -eq 0 ] || exec sudo -E "$0" "$@"
  echo "== building the UI and the release binaries"
  (cd "$ROOT/ui" && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build >/dev/null)
  [ -n "${BERTH_BENCH_NO_BUILD:-}" ] || (cd "$ROOT" && cargo build --release -q -p berth-app -p berth)
  echo "release binary berth-app: $(mb "$(stat -c %s "$APP")")  (target <= 15 MB)"
  echo "release binary berth (CLI): $(mb "$(stat -c %s "$CLI")")"
  if [ "${1:-}" != "--no-deb" ]; then
    echo "== building the .deb"
    (cd "$ROOT/ui" && npm run tauri -- build --bundles deb >"$WORK/deb.log" 2>&1) || { tail -20 "$WORK/deb.log"; exit 1; }
    DEB=$(ls -t "$TARGET"/release/bundle/deb/*.deb | head -1)
    echo ".deb: $(mb "$(stat -c %s "$DEB")")  (target <= 10 MB; Podman Desktop's installer ~300 MB): $DEB"
  fi
  BERTH_BENCH_INSIDE=1 exec xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" dbus-run-session -- "$0" "$@"
fi

# ---- inside Xvfb + D-Bus from here on ----
export HOME=$WORK/home BERTH_STORAGE_PATH=$WORK/store DOCKER_CONFIG=$WORK/docker-config
mkdir -p "$HOME"
unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  "$TH" down 43 >/dev/null 2>&1 || true
  "$TH" down 44 >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== two test hosts, one machine on each (context mode: open terminals follow)"
declare -A ID
for n in 43 44; do
  eval "$("$TH" up $n | grep -E '^BERTH_TH_(IP|KEY)=')"
  "$CLI" create -d generic --generic-ip-address "$BERTH_TH_IP" --generic-ssh-key "$BERTH_TH_KEY" "m$n" >/dev/null 2>&1
  ID[m$n]=$(docker --context "berth-m$n" info --format '{{.ID}}')
done
echo '{"switchMode":"context"}' >"$BERTH_STORAGE_PATH/settings.json"
"$CLI" use m43 >/dev/null

descendants() {
  local p=$1 c
  echo "$p"
  for c in $(pgrep -P "$p" || true); do descendants "$c"; done
}
pss_mib() {
  local total=0 p v
  for p in $(descendants "$1"); do
    v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo $((total / 1024))
}

launch() { # prints "pid first-paint-ms"
  local log=$WORK/app.$RANDOM.log t0 line
  t0=$(date +%s%3N)
  BERTH_MEASURE=1 BERTH_EXIT_ON_CLOSE=1 "$APP" >"$log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 300); do
    line=$(grep -m1 BERTH_FIRST_PAINT "$log" || true)
    [ -n "$line" ] && break
    sleep 0.02
  done
  [ -n "$line" ] || { echo "no first paint; log:" >&2; cat "$log" >&2; exit 1; }
  # Where the time went, in ms after launch: process start, navigation, UI script, data.
  grep -m1 BERTH_MARKS "$log" | tr ' ' '\n' | grep = |
    awk -F= -v t0="$t0" '{ printf "%s +%d ", $1, $2 - t0 } END { print "" }' >"$WORK/marks"
  echo "$pid $((${line##* } - t0))"
}

# A desktop session has a tray host (and a notification server): start ours first.
$PY "$ROOT/tests/gui/sni_watcher.py" "$WORK/tray-items" "$WORK/notes" >/dev/null &
PIDS+=($!)
sleep 0.5

echo "== first paint (launch -> the machine list drawn), 6 launches, the first one cold"
: >"$WORK/paints"
for i in 1 2 3 4 5 6; do
  read -r pid ms < <(launch)
  echo "  launch $i: $ms ms  ($(cat "$WORK/marks"))"
  [ "$i" -gt 1 ] && echo "$ms" >>"$WORK/paints"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  sleep 0.5
done
echo "first paint: median $(median <"$WORK/paints") ms over warm launches (target <= 500 ms)"

echo "== idle memory and the tray switch"
: >"$WORK/tray-items"
read -r pid ms < <(launch)
for _ in $(seq 1 100); do [ -s "$WORK/tray-items" ] && break; sleep 0.1; done
sleep 15
echo "idle memory after 15 s: $(pss_mib "$pid") MiB PSS for $(descendants "$pid" | wc -l) processes (target <= 200 MiB)"
read -r BUS OBJ <"$WORK/tray-items"
$PY "$ROOT/tests/bench/tray_switch.py" "$BUS" "$OBJ" "$DOCKER_CONFIG/config.json" 10 "m43=${ID[m43]}" "m44=${ID[m44]}"
echo "idle memory after the switches: $(pss_mib "$pid") MiB PSS"
kill "$pid"
