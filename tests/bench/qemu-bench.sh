#!/usr/bin/env bash
# QEMU driver figures (issue 5's target: create -> docker ready; <= 30 s with KVM on paper,
# docker-machine + VirtualBox + boot2docker took about a minute). Boots the test image of
# tests/qemu/build-image.sh with the accelerator the driver picks (TCG where KVM hangs), and
# prints: accel probe time, create -> docker ready, stop, start -> docker ready, rm.
# Figures, not assertions. Needs root (the image build). Usage: tests/bench/qemu-bench.sh [RUNS]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUNS=${1:-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/berth/target}
cargo build --release -q -p berth --manifest-path "$ROOT/Cargo.toml"
BERTH="$CARGO_TARGET_DIR/release/berth"
IMG=$("$ROOT/tests/qemu/build-image.sh")
WORK=$(mktemp -d /tmp/berth-qemu-bench.XXXXXX)
export BERTH_STORAGE_PATH="$WORK/store" DOCKER_CONFIG="$WORK/docker-config"
unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH
cleanup() {
  # Anything still running is stopped by its PID file.
  for p in "$WORK"/store/machines/*/qemu.pid; do [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
now() { date +%s.%N; }

echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); $(qemu-system-x86_64 --version | head -1)"
for run in $(seq 1 "$RUNS"); do
  t0=$(now)
  "$BERTH" create -d qemu --qemu-image "$IMG/disk.qcow2" --qemu-kernel "$IMG/vmlinuz" \
    --qemu-initrd "$IMG/initrd.img" --qemu-restrict-network --qemu-memory 1536 bench >"$WORK/create.log" 2>&1 \
    || { cat "$WORK/create.log"; exit 1; }
  t1=$(now)
  accel=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Driver"]["Accel"])' "$BERTH_STORAGE_PATH/machines/bench/machine.json")
  boot=$(sed -n 's/.*SSH is up after \([0-9]*\) s.*/\1/p' "$WORK/create.log")
  "$BERTH" stop bench >/dev/null 2>&1
  t2=$(now)
  "$BERTH" start bench >/dev/null 2>&1
  t3=$(now)
  "$BERTH" rm -y bench >/dev/null 2>&1
  t4=$(now)
  echo "run $run ($accel): create -> docker ready $(secs "$t0" "$t1") s (boot to sshd ${boot:-?} s); stop $(secs "$t1" "$t2") s; start -> docker ready $(secs "$t2" "$t3") s; rm $(secs "$t3" "$t4") s"
done
echo "target: <= 30 s create -> docker ready with KVM/HVF (on paper); under TCG the figure above is the record"
