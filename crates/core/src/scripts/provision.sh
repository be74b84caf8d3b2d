# Berth provisioning script. Runs as root (directly or through `sudo -n sh -s`), fed on stdin
# over the machine's single SSH connection. Berth fills in the values below, each one
# shell-quoted. It reports to Berth on stdout with lines starting "@@berth ":
#   step NAME          a phase starts                fact KEY=VALUE   something learned
#   error CODE TEXT    it failed (exit 3)            done             everything succeeded
# On failure it leaves the host as it found it: a dockerd that will not start with the new
# configuration gets the previous configuration and TLS files back.
set -u
@@TRACE@@
umask 022
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export PATH
LC_ALL=C
export LC_ALL

MACHINE=@@MACHINE@@
MODE=@@MODE@@
INSTALL_URL=@@INSTALL_URL@@
STORAGE=@@STORAGE@@
LIVE_RESTORE=@@LIVE_RESTORE@@
CA_FP=@@CA_FP@@
SYSTEMD_ARGS=@@SYSTEMD_ARGS@@
SYSTEMD_ENV=@@SYSTEMD_ENV@@
OPENRC_ARGS=@@OPENRC_ARGS@@
OPENRC_ENV=@@OPENRC_ENV@@
TLS_DIR=/etc/docker/berth
MARKER="# Managed by Berth for machine $MACHINE (CA $CA_FP)."

say() { printf '@@berth %s\n' "$*"; }
oneline() { tr '\n\r\t' '   ' | sed 's/  */ /g'; }
die() {
  say "error $1 $(printf '%s' "$2" | oneline)"
  exit 3
}

WORK=$(mktemp -d /tmp/berth.XXXXXX) || die no-tmp "cannot create a temporary directory in /tmp"
trap 'rm -rf "$WORK"' EXIT

# --- detect ---------------------------------------------------------------------------------
say "step detect"
OS_ID=unknown OS_LIKE="" OS_NAME="unknown Linux"
if [ -r /etc/os-release ]; then
  OS_ID=$(. /etc/os-release && printf '%s' "${ID:-unknown}")
  OS_LIKE=$(. /etc/os-release && printf '%s' "${ID_LIKE:-}")
  OS_NAME=$(. /etc/os-release && printf '%s' "${PRETTY_NAME:-${NAME:-unknown Linux}}")
fi
say "fact os_id=$OS_ID"
say "fact os=$OS_NAME"
if [ -d /run/systemd/system ]; then
  INIT=systemd
elif command -v rc-service >/dev/null 2>&1; then
  INIT=openrc
else
  die no-init "neither systemd nor OpenRC manages services on this host ($OS_NAME)"
fi
say "fact init=$INIT"

# --- install --------------------------------------------------------------------------------
if ! command -v dockerd >/dev/null 2>&1; then
  [ "$MODE" = full ] || die docker-missing "Docker is no longer installed on this host"
  say "step install"
  say "fact installed_docker=1"
  if [ -n "$INSTALL_URL" ]; then
    if command -v curl >/dev/null 2>&1; then
      curl -fsSL --max-time 300 "$INSTALL_URL" >"$WORK/install.sh" 2>"$WORK/fetch.err"
    elif command -v wget >/dev/null 2>&1; then
      wget -q -T 300 -O "$WORK/install.sh" "$INSTALL_URL" 2>"$WORK/fetch.err"
    else
      die install-failed "neither curl nor wget is installed, so $INSTALL_URL cannot be downloaded"
    fi || die install-failed "cannot download $INSTALL_URL: $(tail -n 3 "$WORK/fetch.err")"
    sh "$WORK/install.sh" >"$WORK/install.log" 2>&1 ||
      die install-failed "the install script from $INSTALL_URL failed: $(tail -n 6 "$WORK/install.log")"
  else
    case " $OS_ID $OS_LIKE " in
      *" rhel "* | *" centos "*)
        die no-package "$OS_NAME has no Docker package in its own repositories" ;;
      *" debian "* | *" ubuntu "*)
        { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io; } ;;
      *" fedora "*) dnf install -y moby-engine ;;
      *" alpine "*) apk add --no-cache docker ;;
      *" arch "*) pacman -Sy --noconfirm docker ;;
      *" suse "* | *" opensuse "*) zypper -n install docker ;;
      *" amzn "*) yum install -y docker ;;
      *) die no-package "Berth does not know the Docker package of $OS_NAME" ;;
    esac >"$WORK/install.log" 2>&1 ||
      die install-failed "installing Docker from the $OS_NAME packages failed: $(tail -n 6 "$WORK/install.log")"
  fi
  command -v dockerd >/dev/null 2>&1 || die install-failed "Docker was installed but dockerd is still not on PATH"
fi
DOCKERD=$(command -v dockerd)
say "fact dockerd=$DOCKERD"

# What the running daemon uses now: keep its storage driver (so images survive) and know whether
# swarm mode is on (dockerd refuses live-restore with swarm).
CURRENT=""
if command -v docker >/dev/null 2>&1; then
  CURRENT=$(timeout 20 docker info --format '{{.Driver}} {{.Swarm.LocalNodeState}}' 2>/dev/null || true)
fi
CUR_STORAGE=${CURRENT%% *}
SWARM=${CURRENT#* }
[ -n "$STORAGE" ] || STORAGE=$CUR_STORAGE
case "$STORAGE" in *[!a-zA-Z0-9._-]*) STORAGE="" ;; esac

# --- TLS ------------------------------------------------------------------------------------
say "step tls"
if [ -d "$TLS_DIR" ]; then cp -a "$TLS_DIR" "$WORK/tls.previous"; fi
mkdir -p "$TLS_DIR" && chmod 700 "$TLS_DIR" || die tls "cannot create $TLS_DIR"
put() { # put PATH: base64 on stdin -> PATH, mode 0600, atomically
  base64 -d >"$1.berth-tmp" && chmod 600 "$1.berth-tmp" && mv -f "$1.berth-tmp" "$1" || die tls "cannot write $1"
}
put "$TLS_DIR/ca.pem" <<'BERTH_EOF'
@@CA_PEM@@
BERTH_EOF
put "$TLS_DIR/server.pem" <<'BERTH_EOF'
@@SERVER_PEM@@
BERTH_EOF
put "$TLS_DIR/server-key.pem" <<'BERTH_EOF'
@@SERVER_KEY@@
BERTH_EOF

# --- configure ------------------------------------------------------------------------------
say "step configure"
EXTRA=""
[ -S /run/containerd/containerd.sock ] && EXTRA="$EXTRA --containerd=/run/containerd/containerd.sock"
[ -n "$STORAGE" ] && EXTRA="$EXTRA --storage-driver $STORAGE"
if [ "$LIVE_RESTORE" = 1 ] && [ "$SWARM" != active ]; then EXTRA="$EXTRA --live-restore"; fi
say "fact storage=$STORAGE"

# The lines of dockerd's log that say why it stopped (its own error lines, or the last three).
why_dockerd_failed() {
  awk '/level=(fatal|error)|unknown (flag|shorthand)|failed to start|Error starting daemon|^Status:|invalid/ && !seen[$0]++ { hit[n++] = $0 }
       { last[NR % 3] = $0 }
       END { if (n) { for (i = (n > 3 ? n - 3 : 0); i < n; i++) print hit[i] }
             else { for (i = NR - 2; i <= NR; i++) if (i > 0) print last[i % 3] } }' |
    sed 's/^time="[^"]*" //' | tr '\n' ' '
}

restore_tls() {
  rm -rf "$TLS_DIR"
  if [ -d "$WORK/tls.previous" ]; then cp -a "$WORK/tls.previous" "$TLS_DIR"; fi
}

if [ "$INIT" = systemd ]; then
  CONF_DIR=/etc/systemd/system/docker.service.d
  CONF=$CONF_DIR/90-berth.conf
  unit_found=""
  for d in /etc/systemd/system /run/systemd/system /lib/systemd/system /usr/lib/systemd/system; do
    [ -f "$d/docker.service" ] && unit_found=1
  done
  [ -n "$unit_found" ] || die no-unit "dockerd is installed but there is no docker.service unit"
  mkdir -p "$CONF_DIR" || die configure "cannot create $CONF_DIR"
  [ -f "$CONF" ] && cp -p "$CONF" "$WORK/conf.previous"
  {
    printf '%s Remove with `berth rm %s`.\n' "$MARKER" "$MACHINE"
    printf '[Service]\nExecStart=\nExecStart=%s %s%s $DOCKER_OPTS\n' "$DOCKERD" "$SYSTEMD_ARGS" "$EXTRA"
    if [ -n "$SYSTEMD_ENV" ]; then printf '%s\n' "$SYSTEMD_ENV"; fi
  } >"$CONF.berth-tmp" && chmod 644 "$CONF.berth-tmp" && mv -f "$CONF.berth-tmp" "$CONF" || die configure "cannot write $CONF"
  systemctl daemon-reload || die configure "systemctl daemon-reload failed"
  systemctl enable docker >/dev/null 2>&1 || true

  say "step restart"
  SINCE=$(date +%s)
  if ! systemctl restart docker >"$WORK/restart.log" 2>&1; then
    LOG=$(journalctl -u docker --since "@$SINCE" -n 60 --no-pager 2>/dev/null | why_dockerd_failed)
    if [ -f "$WORK/conf.previous" ]; then mv -f "$WORK/conf.previous" "$CONF"; else rm -f "$CONF"; fi
    restore_tls
    systemctl daemon-reload
    systemctl restart docker >/dev/null 2>&1
    die dockerd-failed "dockerd did not start with the new configuration (${LOG:-no log}); the previous configuration was put back"
  fi
else
  CONF=/etc/conf.d/docker
  [ -f "$CONF" ] && [ ! -f "$CONF.berth-orig" ] && cp -p "$CONF" "$CONF.berth-orig"
  [ -f "$CONF" ] && cp -p "$CONF" "$WORK/conf.previous"
  {
    if [ -f "$CONF.berth-orig" ]; then cat "$CONF.berth-orig"; fi
    printf '\n%s `berth rm %s` restores %s.berth-orig.\n' "$MARKER" "$MACHINE" "$CONF"
    printf 'DOCKER_OPTS="%s%s"\n' "$OPENRC_ARGS" "$EXTRA"
    if [ -n "$OPENRC_ENV" ]; then printf '%s\n' "$OPENRC_ENV"; fi
  } >"$CONF.berth-tmp" && chmod 644 "$CONF.berth-tmp" && mv -f "$CONF.berth-tmp" "$CONF" || die configure "cannot write $CONF"
  rc-update add docker default >/dev/null 2>&1 || true

  say "step restart"
  if ! rc-service docker restart >"$WORK/restart.log" 2>&1; then
    if [ -f "$WORK/conf.previous" ]; then mv -f "$WORK/conf.previous" "$CONF"; fi
    restore_tls
    rc-service docker restart >/dev/null 2>&1
    LOG=$(why_dockerd_failed <"$WORK/restart.log")
    die dockerd-failed "dockerd did not start with the new configuration (${LOG:-no log}); the previous configuration was put back"
  fi
fi
say "done"
