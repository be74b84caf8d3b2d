#!/usr/bin/env bash
# Berth test hosts: real sshd + Debian's dockerd in network namespaces on this machine.
#
#   testhost.sh up N [--ip IP] [--no-docker]   host N (netns berth-thN), default IP 10.203.0.(N+1)
#   testhost.sh info N                          print its info.env (IP, client keys, state dir, PIDs)
#   testhost.sh exec N CMD...                   run CMD inside the host (its net, mount and UTS view)
#   testhost.sh readdress N IP                  move the host to a new IP (sshd/dockerd keep running)
#   testhost.sh rekey N                         give sshd a new host key (a "reinstalled" server)
#   testhost.sh down N | down-all               stop everything the host runs (by PID) and remove it
#   testhost.sh sink-up | sink-down             10.203.0.128/25 silently dropped (firewalled hosts)
#                                               (10.203.0.x below 128 with no host: no route, fails at once)
#   testhost.sh ls                              list the hosts that exist
#
# Each host: `ip netns add`, a veth pair (host side holds 10.203.0.1/32 and a /32 route to the
# host's IP), no default route inside. A private mount namespace overlays /etc, /usr and /var and
# binds /run, /root, /home, /tmp, /var/lib/docker and /var/lib/containerd to the host's state dir,
# so nothing a provisioner writes reaches this machine's real files. Stand-ins exist only inside:
# systemctl/journalctl (tests/testhost/fake; no systemd runs in a namespace) and apt-get (the host
# has no route out, and answers like an offline Debian). sudo is Debian's real sudo; user `berth`
# has passwordless sudo. While any host exists, `unreachable 10.203.0.0/24` keeps stray traffic
# from leaving by the real uplink. Needs root.
set -euo pipefail

ROOT=${BERTH_TESTHOST_ROOT:-/srv/berth-testhost}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HOST_SIDE=10.203.0.1
SUBNET=10.203.0.0/24
SINK_IP=10.203.0.254
SINK_RANGE=10.203.0.128/25

die() { echo "testhost: $*" >&2; exit 1; }

take_lock() {
  mkdir -p "$ROOT"
  chmod 755 "$ROOT"
  exec 9>"$ROOT/.lock"
  flock 9
}

state_of() { echo "$ROOT/th$1"; }
ns_of() { echo "berth-th$1"; }

valid_n() {
  [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 120 ] || die "host number must be 1..120, got '$1'"
}

# Hosts live in 10.203.0.2-127 only: behind the safety route, never an address someone else owns.
valid_ip() {
  [[ "$1" =~ ^10\.203\.0\.([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 2 ] && [ "${BASH_REMATCH[1]}" -le 127 ] \
    || die "host IP must be in 10.203.0.2-127, got '$1'"
}

anchor_pid() {
  local s; s=$(state_of "$1")
  [ -f "$s/anchor.pid" ] || return 1
  local pid; pid=$(cat "$s/anchor.pid")
  [ -d "/proc/$pid" ] || return 1
  # PID reuse guard: the anchor must still live in the host's network namespace.
  [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "$(ns_inode "$(ns_of "$1")")" ] || return 1
  echo "$pid"
}

ns_inode() {
  [ -e "/run/netns/$1" ] || { echo none; return; }
  echo "net:[$(stat -L -c %i "/run/netns/$1")]"
}

pids_in_ns() {
  local want; want=$(ns_inode "$1")
  [ "$want" = none ] && return 0
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$want" ] && echo "${p#/proc/}"
  done
  return 0
}

safety_route_up() {
  ip route replace unreachable "$SUBNET" metric 4000 2>/dev/null || true
}

safety_route_down_if_unused() {
  if ! compgen -G "$ROOT/th*" >/dev/null && [ ! -e /run/netns/berth-sink ]; then
    ip route del unreachable "$SUBNET" metric 4000 2>/dev/null || true
  fi
}

write_info() {
  local n=$1 ip=$2 s; s=$(state_of "$n")
  cat >"$s/info.env" <<EOF
BERTH_TH_N=$n
BERTH_TH_NS=$(ns_of "$n")
BERTH_TH_IP=$ip
BERTH_TH_KEY=$s/client/id_ed25519
BERTH_TH_KEY_RSA=$s/client/id_rsa
BERTH_TH_STATE=$s
BERTH_TH_PID=$(cat "$s/anchor.pid" 2>/dev/null || echo 0)
BERTH_TH_SSHD_LOG=$s/log/sshd.log
BERTH_TH_DOCKER_LOG=$s/run/berth-fake-systemd/logs/docker.service.log
BERTH_TH_HOSTKEY=$s/hostkeys/ssh_host_ed25519_key.pub
EOF
}

cmd_up() {
  local n=$1; shift
  valid_n "$n"
  local ip="10.203.0.$((n + 1))" nodocker=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --ip) ip=$2; shift ;;
      --no-docker) nodocker=1 ;;
      *) die "unknown option $1" ;;
    esac
    shift
  done
  valid_ip "$ip"
  take_lock
  local s ns; s=$(state_of "$n"); ns=$(ns_of "$n")
  if anchor_pid "$n" >/dev/null && [ -f "$s/info.env" ]; then
    cat "$s/info.env"
    return 0
  fi
  # Half-built or dead: tear it down and build it again.
  down_locked "$n" quiet

  mkdir -p "$s"
  chmod 755 "$s"
  local d
  for d in etc usr var; do mkdir -p "$s/layers/$d.upper" "$s/layers/$d.work"; done
  mkdir -p "$s"/{run,root,home,docker,containerd,log,hostkeys,client,auth}
  mkdir -p "$s/tmp" && chmod 1777 "$s/tmp"
  chmod 700 "$s/root"

  ssh-keygen -q -t ed25519 -N '' -C "berth-th$n-host" -f "$s/hostkeys/ssh_host_ed25519_key"
  ssh-keygen -q -t ed25519 -N '' -C "berth-test-client" -f "$s/client/id_ed25519"
  ssh-keygen -q -t rsa -b 3072 -N '' -C "berth-test-client-rsa" -f "$s/client/id_rsa"
  cat "$s/client/id_ed25519.pub" "$s/client/id_rsa.pub" >"$s/auth/root"
  # berth: a sudoer (like most servers); ubuntu: the default user of Ubuntu's cloud images.
  cp "$s/auth/root" "$s/auth/berth"
  cp "$s/auth/root" "$s/auth/ubuntu"
  chmod 644 "$s/auth/root" "$s/auth/berth" "$s/auth/ubuntu"

  # Stand-ins, visible only inside the host's /usr overlay.
  mkdir -p "$s/layers/usr.upper/bin"
  cp "$HERE/fake/systemctl" "$HERE/fake/journalctl" "$HERE/fake/apt-get" "$s/layers/usr.upper/bin/"
  if [ "$nodocker" = 1 ]; then
    # Whiteouts (char device 0/0) hide Docker's binaries and units from the overlay's lower layer.
    local f
    for f in sbin/dockerd bin/docker local/bin/docker bin/containerd bin/containerd-shim \
      bin/containerd-shim-runc-v1 bin/containerd-shim-runc-v2 bin/runc sbin/runc bin/docker-init \
      sbin/docker-proxy lib/systemd/system/docker.service lib/systemd/system/docker.socket \
      lib/systemd/system/containerd.service; do
      mkdir -p "$(dirname "$s/layers/usr.upper/$f")"
      mknod "$s/layers/usr.upper/$f" c 0 0
    done
  fi

  cat >"$s/sshd_config" <<EOF
ListenAddress 0.0.0.0:22
HostKey $s/hostkeys/ssh_host_ed25519_key
PermitRootLogin prohibit-password
AuthorizedKeysFile $s/auth/%u
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
MaxStartups 200:30:400
PidFile none
LogLevel INFO
Subsystem sftp /usr/lib/openssh/sftp-server
EOF

  # Network: veth pair, /32 addresses, no default route inside.
  ip netns add "$ns"
  ip link add "bth$n" type veth peer name eth0 netns "$ns"
  ip addr add "$HOST_SIDE/32" dev "bth$n"
  ip link set "bth$n" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$ip/32" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add "$HOST_SIDE/32" dev eth0
  ip route replace "$ip/32" dev "bth$n" src "$HOST_SIDE"
  safety_route_up

  # nsenter and unshare exec, and init.sh ends by exec-ing sshd: $! is sshd's PID (the anchor).
  setsid nsenter --net="/run/netns/$ns" unshare --mount --uts --propagation private \
    "$HERE/init.sh" "$s" "berth-th$n" "$nodocker" </dev/null >"$s/log/init.log" 2>&1 9>&- &
  echo $! >"$s/anchor.pid"
  local i
  for i in $(seq 1 300); do
    if ! [ -d "/proc/$(cat "$s/anchor.pid")" ]; then
      cat "$s/log/init.log" >&2
      down_locked "$n" quiet
      die "host $n failed to start (log above)"
    fi
    if grep -q "Server listening on 0.0.0.0 port 22" "$s/log/sshd.log" 2>/dev/null; then
      write_info "$n" "$ip"
      cat "$s/info.env"
      return 0
    fi
    sleep 0.1
  done
  cat "$s/log/init.log" "$s/log/sshd.log" >&2 || true
  down_locked "$n" quiet
  die "host $n: sshd did not come up in 30 s"
}

down_locked() {
  local n=$1 quiet=${2:-} s ns; s=$(state_of "$n"); ns=$(ns_of "$n")
  local pid
  if pid=$(anchor_pid "$n"); then
    # Services first, the way the host would shut down, so dockerd can stop its containers.
    nsenter --target "$pid" --net --mount --uts -- systemctl stop docker containerd 9>&- >/dev/null 2>&1 || true
  fi
  # Everything still in the namespace was started by this host (sshd, sessions, dockerd,
  # containerd, shims): signal those PIDs, TERM then KILL.
  local pids; pids=$(pids_in_ns "$ns")
  if [ -n "$pids" ]; then
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 1 50); do
      pids=$(pids_in_ns "$ns")
      [ -z "$pids" ] && break
      sleep 0.1
    done
    if [ -n "$pids" ]; then
      [ -n "$quiet" ] || echo "testhost: killing stragglers in $ns: $pids" >&2
      kill -KILL $pids 2>/dev/null || true
      sleep 0.2
    fi
  fi
  if [ -f "$s/info.env" ]; then
    local oldip; oldip=$(sed -n 's/^BERTH_TH_IP=//p' "$s/info.env")
    [ -n "$oldip" ] && ip route del "$oldip/32" dev "bth$n" 2>/dev/null || true
  fi
  ip netns del "$ns" 2>/dev/null || true
  ip link del "bth$n" 2>/dev/null || true
  if [ -d "$s" ] && [ "${BERTH_TH_KEEP:-0}" != 1 ]; then
    # The mount namespace is gone with its last process; nothing under $s is mounted any more.
    rm -rf "$s"
  fi
  safety_route_down_if_unused
}

cmd_down() {
  valid_n "$1"
  take_lock
  down_locked "$1"
}

cmd_down_all() {
  take_lock
  local d
  for d in "$ROOT"/th*; do
    [ -d "$d" ] || continue
    down_locked "${d##*/th}"
  done
  sink_down_locked
}

cmd_info() {
  valid_n "$1"
  local s; s=$(state_of "$1")
  [ -f "$s/info.env" ] || die "host $1 does not exist"
  cat "$s/info.env"
}

cmd_exec() {
  local n=$1; shift
  valid_n "$n"
  local pid; pid=$(anchor_pid "$n") || die "host $n is not running"
  exec 9>&-
  exec nsenter --target "$pid" --net --mount --uts -- "$@"
}

cmd_readdress() {
  local n=$1 new=$2
  valid_n "$n"
  valid_ip "$new"
  take_lock
  local s; s=$(state_of "$n")
  anchor_pid "$n" >/dev/null || die "host $n is not running"
  local old; old=$(sed -n 's/^BERTH_TH_IP=//p' "$s/info.env")
  # New address first: removing a device's last address makes the kernel flush its routes.
  ip -n "$(ns_of "$n")" addr add "$new/32" dev eth0
  ip -n "$(ns_of "$n")" addr del "$old/32" dev eth0
  ip -n "$(ns_of "$n")" route replace "$HOST_SIDE/32" dev eth0
  ip route del "$old/32" dev "bth$n" 2>/dev/null || true
  ip route replace "$new/32" dev "bth$n" src "$HOST_SIDE"
  write_info "$n" "$new"
  cat "$s/info.env"
}

cmd_rekey() {
  local n=$1
  valid_n "$n"
  take_lock
  local s; s=$(state_of "$n")
  local pid; pid=$(anchor_pid "$n") || die "host $n is not running"
  rm -f "$s/hostkeys/ssh_host_ed25519_key" "$s/hostkeys/ssh_host_ed25519_key.pub"
  ssh-keygen -q -t ed25519 -N '' -C "berth-th$n-host-rekeyed" -f "$s/hostkeys/ssh_host_ed25519_key"
  # sshd -D re-executes itself on SIGHUP and loads the new host key; the PID stays the same.
  local before; before=$(grep -c "Server listening on 0.0.0.0 port 22" "$s/log/sshd.log" || true)
  kill -HUP "$pid"
  for _ in $(seq 1 100); do
    [ "$(grep -c "Server listening on 0.0.0.0 port 22" "$s/log/sshd.log" || true)" -gt "$before" ] && return 0
    sleep 0.05
  done
  die "sshd did not come back after SIGHUP"
}

sink_down_locked() {
  ip netns del berth-sink 2>/dev/null || true
  ip link del bthsink 2>/dev/null || true
  ip route del "$SINK_RANGE" 2>/dev/null || true
  ip route del "$SINK_IP/32" 2>/dev/null || true
  safety_route_down_if_unused
}

cmd_sink_up() {
  take_lock
  [ -e /run/netns/berth-sink ] && return 0
  ip netns add berth-sink
  ip link add bthsink type veth peer name eth0 netns berth-sink
  ip addr add "$HOST_SIDE/32" dev bthsink
  ip link set bthsink up
  ip -n berth-sink link set lo up
  ip -n berth-sink addr add "$SINK_IP/32" dev eth0
  ip -n berth-sink link set eth0 up
  ip -n berth-sink route add "$HOST_SIDE/32" dev eth0
  # A blackhole route discards without an ICMP answer only when forwarding is on (with it off,
  # the kernel answers "unreachable"): connects to the range hang until the client gives up.
  ip netns exec berth-sink sysctl -q -w net.ipv4.ip_forward=1
  ip -n berth-sink route add blackhole "$SINK_RANGE"
  ip route replace "$SINK_IP/32" dev bthsink src "$HOST_SIDE"
  ip route replace "$SINK_RANGE" via "$SINK_IP" dev bthsink src "$HOST_SIDE"
  safety_route_up
}

cmd_sink_down() {
  take_lock
  sink_down_locked
}

cmd_ls() {
  local d
  for d in "$ROOT"/th*; do
    [ -f "$d/info.env" ] || continue
    local n=${d##*/th}
    if anchor_pid "$n" >/dev/null; then
      echo "$n $(sed -n 's/^BERTH_TH_IP=//p' "$d/info.env") up"
    else
      echo "$n $(sed -n 's/^BERTH_TH_IP=//p' "$d/info.env") dead"
    fi
  done
}

[ "$(id -u)" = 0 ] || die "needs root (network and mount namespaces)"
cmd=${1:-}
[ -n "$cmd" ] || { sed -n '2,12p' "$0"; exit 2; }
shift
case "$cmd" in
  up) [ $# -ge 1 ] || die "up N"; cmd_up "$@" ;;
  down) [ $# -eq 1 ] || die "down N"; cmd_down "$1" ;;
  down-all) cmd_down_all ;;
  info) [ $# -eq 1 ] || die "info N"; cmd_info "$1" ;;
  exec) [ $# -ge 2 ] || die "exec N CMD..."; cmd_exec "$@" ;;
  readdress) [ $# -eq 2 ] || die "readdress N IP"; cmd_readdress "$1" "$2" ;;
  rekey) [ $# -eq 1 ] || die "rekey N"; cmd_rekey "$1" ;;
  sink-up) cmd_sink_up ;;
  sink-down) cmd_sink_down ;;
  ls) cmd_ls ;;
  *) die "unknown command '$cmd'" ;;
esac
