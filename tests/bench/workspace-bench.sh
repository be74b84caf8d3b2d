#!/usr/bin/env bash
# A local VM as a place to work (issue 16), figures not assertions. Boots the QEMU test image
# (tests/qemu/build-image.sh) with a temporary HOME, which is shared into the VM by default,
# and prints:
# - published port: `docker run -d -p` returns -> 127.0.0.1:PORT answers (median of 5), and
#   container stopped -> port free on this computer;
# - throughput of SIZE_MB (default 1024) MiB read through the forwarded port;
# - the shared folder (virtiofs, or reverse SSHFS with MOUNT_TYPE=reverse-sshfs) next to the
#   VM's own disk: sequential read of SIZE_MB MiB (caches dropped first), `find` over 10 000
#   files, writing 1 000 small files.
# Needs root (the image build).
# Usage: [BERTH=path/to/berth] [SIZE_MB=N] [PARTS=ports,transfer,folders]
#        [MOUNT_TYPE=virtiofs|reverse-sshfs] tests/bench/workspace-bench.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SIZE_MB=${SIZE_MB:-1024}
PARTS=${PARTS:-ports,transfer,folders}
MOUNT_TYPE=${MOUNT_TYPE:-virtiofs}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/berth/target}
if [ -z "${BERTH:-}" ]; then
  cargo build --release -q -p berth --manifest-path "$ROOT/Cargo.toml"
  BERTH="$CARGO_TARGET_DIR/release/berth"
fi
IMG=$("$ROOT/tests/qemu/build-image.sh")
WORK=$(mktemp -d /tmp/berth-ws-bench.XXXXXX)
HOMEDIR="$WORK/home"
mkdir -p "$HOMEDIR"
export BERTH_STORAGE_PATH="$WORK/store" DOCKER_CONFIG="$WORK/docker-config"
unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH
cleanup() {
  # Anything still running is stopped by its PID file.
  for p in "$WORK"/store/machines/*/{qemu,agent,virtiofsd-0}.pid; do
    [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
ms() { echo $(( ($2 - $1) / 1000000 )); }
now() { date +%s%N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Free as a server would see it (SO_REUSEADDR: a closed connection's TIME_WAIT does not count).
port_free() { python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",int(sys.argv[1])))' "$1" 2>/dev/null; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

echo "machine: $(nproc) CPUs; $(qemu-system-x86_64 --version | head -1)"
HOME="$HOMEDIR" "$BERTH" create -d qemu --qemu-image "$IMG/disk.qcow2" --qemu-kernel "$IMG/vmlinuz" \
  --qemu-initrd "$IMG/initrd.img" --qemu-restrict-network --qemu-memory 1536 --qemu-mount-type "$MOUNT_TYPE" ws >"$WORK/create.log" 2>&1 \
  || { cat "$WORK/create.log"; exit 1; }
accel=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Driver"]["Accel"])' "$BERTH_STORAGE_PATH/machines/ws/machine.json")
eval "$("$BERTH" env ws)"
# A busybox image from this machine's busybox (the VM has no way out to a registry).
mkdir -p "$WORK/rootfs/bin"
cp /bin/busybox "$WORK/rootfs/bin/" && ln -s busybox "$WORK/rootfs/bin/sh"
tar -cf "$WORK/bb.tar" -C "$WORK/rootfs" . && docker import "$WORK/bb.tar" bb >/dev/null
echo "accelerator: $accel; folders: $MOUNT_TYPE"

if [[ $PARTS == *ports* ]]; then
lat=(); rel=()
for i in 1 2 3 4 5; do
  port=$(free_port)
  docker run -d --name "web$i" -p "$port:80" bb sh -c 'busybox mkdir -p /w && echo ok > /w/index.html && exec busybox httpd -f -p 80 -h /w' >/dev/null
  t0=$(now)
  until curl -s -m 1 "127.0.0.1:$port/" | grep -q ok; do sleep 0.01; done
  lat+=("$(ms "$t0" "$(now)")")
  docker stop -t 0 "web$i" >/dev/null
  t0=$(now)
  until port_free "$port"; do sleep 0.01; done
  rel+=("$(ms "$t0" "$(now)")")
  docker rm "web$i" >/dev/null
done
echo "published port answering after docker run returns: median $(printf '%s\n' "${lat[@]}" | median) ms (runs: ${lat[*]}; target <= 1000 ms)"
echo "port free after docker stop returns: median $(printf '%s\n' "${rel[@]}" | median) ms (runs: ${rel[*]}; target <= 2000 ms)"

agent=$(cat "$BERTH_STORAGE_PATH/machines/ws/agent.pid")
ticks() { awk '{ print $14 + $15 }' "/proc/$agent/stat"; }
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$agent/status")
a=$(ticks); sleep 30; b=$(ticks)
echo "port agent idle: $(( (b - a) * 1000 / $(getconf CLK_TCK) )) ms of CPU in 30 s ($(awk -v t="$((b - a))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz / 30 * 100 }') %), RSS $((rss / 1024)) MiB"

fi

if [[ $PARTS == *transfer* ]]; then
port=$(free_port)
docker run -d --name bulk -p "$port:80" bb sh -c "busybox mkdir -p /w && busybox dd if=/dev/zero of=/w/big bs=1M count=$SIZE_MB 2>/dev/null && exec busybox httpd -f -p 80 -h /w" >/dev/null
until curl -s -o /dev/null -r 0-0 -f "127.0.0.1:$port/big"; do sleep 0.2; done
read -r got secs < <(curl -s -o /dev/null -w '%{size_download} %{time_total}\n' "127.0.0.1:$port/big")
docker rm -f bulk >/dev/null
echo "through the forward (HTTP from a container): $((got / 1048576)) MiB in $secs s = $(awk -v b="$got" -v s="$secs" 'BEGIN { printf "%.0f", b / 1048576 / s }') MiB/s"

fi

if [[ $PARTS == *folders* ]]; then
# The folders: the same work on the share and on the VM's own disk, timed inside the VM.
SHARE="$HOMEDIR/bench"
mkdir -p "$SHARE/tree"
dd if=/dev/urandom of="$SHARE/big" bs=1M count="$SIZE_MB" status=none
python3 -c 'import sys; [open(f"{sys.argv[1]}/f{i:05}", "w").write("x") for i in range(10000)]' "$SHARE/tree"
# The script reaches the VM through the share itself.
cat > "$SHARE/measure.sh" <<'EOF'
# $1: the shared folder, as the VM sees it (the same path).
set -e
mkdir -p /var/tmp/bench
cp -r "$1/tree" /var/tmp/bench/tree && cp "$1/big" /var/tmp/bench/big
t() { local s; s=$(date +%s%N); eval "$2" >/dev/null 2>&1; echo "$1 $where $(( ($(date +%s%N) - s) / 1000000 ))"; }
for where in "$1" /var/tmp/bench; do
  sync; echo 3 > /proc/sys/vm/drop_caches
  t read 'dd if="$where/big" of=/dev/null bs=1M'
  t find 'find "$where/tree" -type f | wc -l'
  mkdir -p "$where/small"
  t write 'for i in $(seq 1000); do echo x > "$where/small/f$i"; done; sync'
done
EOF
# As root in the VM: the share is this computer's folder, owned here by whoever runs the bench.
"$BERTH" ssh ws sudo bash "$SHARE/measure.sh" "$SHARE" | awk -v share="$SHARE" -v mb="$SIZE_MB" '
  { t[$1, ($2 == share)] = $3 }
  END {
    printf "%-32s shared folder %6d ms   VM disk %6d ms\n", "read " mb " MiB (caches dropped)", t["read", 1], t["read", 0]
    printf "%-32s shared folder %6d ms   VM disk %6d ms\n", "find over 10 000 files", t["find", 1], t["find", 0]
    printf "%-32s shared folder %6d ms   VM disk %6d ms\n", "write 1 000 small files", t["write", 1], t["write", 0]
  }'
fi
"$BERTH" rm -y ws >/dev/null 2>&1
