#!/usr/bin/env bash
# Berth benchmarks against real test hosts (tests/testhost), printed next to docker-machine
# 0.16.2's figures measured on the same kind of host (../shared/reference/toolchain-testhost.md).
# Figures, not assertions. Needs root. Usage: tests/bench/bench.sh [--quick]
#
#   create -d generic       fresh host per run; wall time and SSH logins per create
#   regenerate-certs -f     repeated on one machine
#   env / config            process start to exit
#   ls                      50 machines all reachable; 50 with 5 silently dropped + 5 with no route
#   ls processes            processes ls starts (strace)
#   cert set                CA + client + server generation (cargo bench, in-process)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TH="$ROOT/tests/testhost/testhost.sh"
RUNS=${RUNS:-7}
[ "${1:-}" = --quick ] && RUNS=3
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/berth/target}
cargo build --release -q -p berth --manifest-path "$ROOT/Cargo.toml"
BERTH="$CARGO_TARGET_DIR/release/berth"
WORK=$(mktemp -d /tmp/berth-bench.XXXXXX)
HOSTS=(41 42)
cleanup() {
  for n in "${HOSTS[@]}"; do "$TH" down "$n" >/dev/null 2>&1 || true; done
  "$TH" sink-down >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
export BERTH_STORAGE_PATH="$WORK/store"
export DOCKER_CONFIG="$WORK/docker-config" # contexts go here, not to ~/.docker
unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH

now() { date +%s%N; }
# median of the numbers on stdin (ms, 1 decimal)
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) m = a[(NR + 1) / 2]; else m = (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f", m }'; }
# time_ms CMD...: runs CMD, prints its wall time in ms
time_ms() { local s e; s=$(now); "$@" >/dev/null 2>&1; e=$(now); echo "scale=1; ($e - $s) / 1000000" | bc; }
repeat_ms() { local n=$1; shift; for _ in $(seq 1 "$n"); do time_ms "$@"; done | median; }
row() { printf '%-44s %14s %16s %14s\n' "$1" "$2" "$3" "$4"; }

declare -a RESULTS
report() { RESULTS+=("$(row "$@")"); }

echo "Benchmarking (runs per figure: $RUNS) ..." >&2

# --- create -------------------------------------------------------------------------------
create_times=() create_ssh=()
for i in $(seq 1 "$RUNS"); do
  "$TH" down 41 >/dev/null 2>&1 || true
  eval "$("$TH" up 41 | sed 's/^/export /')"
  rm -rf "$BERTH_STORAGE_PATH"
  "$BERTH" create -d generic --generic-ip-address "$BERTH_TH_IP" --generic-ssh-key "$BERTH_TH_KEY" warm >/dev/null 2>&1 # CA made here
  "$BERTH" rm -f -y warm >/dev/null 2>&1
  before=$(grep -c 'Accepted publickey' "$BERTH_TH_SSHD_LOG" || true)
  create_times+=("$(time_ms "$BERTH" create -d generic --generic-ip-address "$BERTH_TH_IP" --generic-ssh-key "$BERTH_TH_KEY" m00)")
  after=$(grep -c 'Accepted publickey' "$BERTH_TH_SSHD_LOG" || true)
  create_ssh+=("$((after - before))")
  "$BERTH" ls -q | grep -qx m00 || { echo "create failed" >&2; exit 1; }
  [ "$i" -lt "$RUNS" ] && "$BERTH" rm -f -y m00 >/dev/null 2>&1
done
c_med=$(printf '%s\n' "${create_times[@]}" | median)
ssh_max=$(printf '%s\n' "${create_ssh[@]}" | sort -n | tail -1)
report "create -d generic (ms, median)" "$c_med" "8000 (20 SSH)" "<= 2000, <= 2 SSH"
report "  SSH connections per create (max)" "$ssh_max" "20" "<= 2"

# --- regenerate-certs, env, config -------------------------------------------------------
report "regenerate-certs -f (ms, median)" "$(repeat_ms "$RUNS" "$BERTH" regenerate-certs -f m00)" "8000" "<= 1500"
report "env (ms, median of 20)" "$(repeat_ms 20 "$BERTH" env m00)" "22" "<= 10"
report "config (ms, median of 20)" "$(repeat_ms 20 "$BERTH" config m00)" "24" "<= 10"
report "version (process floor, ms)" "$(repeat_ms 20 "$BERTH" version)" "7" "-"

# --- ls with 50 machines ------------------------------------------------------------------
clone_machine() { # clone_machine SRC NEW [IP]
  local src="$BERTH_STORAGE_PATH/machines/$1" dst="$BERTH_STORAGE_PATH/machines/$2"
  cp -a "$src" "$dst"
  python3 - "$dst/machine.json" "$2" "${3:-}" <<'PY'
import json, sys
p, name, ip = sys.argv[1:4]
m = json.load(open(p))
m["Name"] = name
m["Driver"]["MachineName"] = name
if ip:
    m["Driver"]["IPAddress"] = ip
json.dump(m, open(p, "w"), indent=2)
PY
}
for i in $(seq 1 49); do clone_machine m00 "$(printf 'm%02d' "$i")"; done
[ "$("$BERTH" ls --format '{{.State}}' | grep -c Running)" = 50 ] || { echo "ls: not all 50 Running" >&2; "$BERTH" ls >&2; exit 1; }
report "ls, 50 machines reachable (ms, median)" "$(repeat_ms "$RUNS" "$BERTH" ls)" "1030" "<= 100"
report "ls -q, 50 machines (ms, median)" "$(repeat_ms "$RUNS" "$BERTH" ls -q)" "560" "-"

"$TH" sink-up >/dev/null
for i in $(seq 40 44); do rm -rf "$BERTH_STORAGE_PATH/machines/m$i"; clone_machine m00 "m$i" "10.203.0.$((160 + i))"; done # dropped
for i in $(seq 45 49); do rm -rf "$BERTH_STORAGE_PATH/machines/m$i"; clone_machine m00 "m$i" "10.203.0.$((50 + i))"; done  # no route
report "ls, 50 machines, 10 unreachable (ms, median)" "$(repeat_ms "$RUNS" "$BERTH" ls)" "10690" "<= 1500"
states=$("$BERTH" ls --format '{{.State}}' | sort | uniq -c | tr -s ' ' | tr '\n' ',' )
report "  states seen" "${states%,}" "" ""

# --- processes started by ls --------------------------------------------------------------
if command -v strace >/dev/null; then
  strace -f -qq -e trace=execve,clone,clone3,fork,vfork -o "$WORK/ls.strace" "$BERTH" ls >/dev/null 2>&1 || true
  execs=$(grep -c 'execve(' "$WORK/ls.strace" || true)
  procs=$(grep -E 'clone3?\(|fork\(' "$WORK/ls.strace" | grep -vc 'CLONE_THREAD' || true)
  report "ls: processes (execve / non-thread forks)" "$execs / $procs" "51 processes" "1 process"
fi

# --- certificate generation (in-process) ---------------------------------------------------
certs=$(cargo bench -q -p berth-core --manifest-path "$ROOT/Cargo.toml" --bench certs 2>/dev/null | sed -n 's/^cert set median: //p')
report "cert set CA+client+server (ms, median)" "${certs:-?}" "~400 (RSA)" "-"

echo
row "what" "berth" "docker-machine" "target"
row "----" "-----" "--------------" "------"
printf '%s\n' "${RESULTS[@]}"
