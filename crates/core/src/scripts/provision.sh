# Berth provisioning script. Runs as root (directly or through `sudo -n sh -s`), fed on stdin
# over the machine's single SSH connection. Berth fills in the values below, each one
# shell-quoted. It reports to Berth on stdout with lines starting "@@berth ":
#   step NAME          a phase starts                fact KEY=VALUE   something learned
#   error CODE TEXT    it failed (exit 3)            done             everything succeeded
# On failure it leaves the host as it found it: whatever it changed (TLS files, dockerd's
# configuration) is put back, and a dockerd that will not start with the new configuration is
# restarted with the previous one. Once started it runs to the end even if Berth's connection
# drops (HUP and PIPE are ignored), and everything is inside berth_main, called on the last
# line: a script cut short in transit is an unfinished function, which sh refuses to run at
# all, instead of running its first half.
berth_main() {
set -u
@@TRACE@@
trap '' HUP PIPE
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
# What this run changed so far ("tls", "conf"), for undo.
CHANGED=""
die() {
  [ -z "$CHANGED" ] || undo
  say "error $1 $(printf '%s' "$2" | oneline)"
  exit 3
}

# Puts back what this run changed, by renames only; dockerd keeps running with what it loaded
# at its last start.
undo() {
  case " $CHANGED " in *" conf "*)
    if [ -f "$CONF.berth-prev" ]; then mv -f "$CONF.berth-prev" "$CONF"; else rm -f "$CONF"; fi
    if [ "$INIT" = systemd ]; then systemctl daemon-reload >/dev/null 2>&1; fi ;;
  esac
  case " $CHANGED " in *" tls "*)
    rm -rf "$TLS_DIR"
    if [ -d "$OLD_TLS" ]; then mv -f "$OLD_TLS" "$TLS_DIR"; fi ;;
  esac
  CHANGED=""
}

# new_conf WRITER: the new configuration file from WRITER's output, swapped in by a rename (the
# previous one kept as $CONF.berth-prev, a name neither systemd nor OpenRC reads).
new_conf() {
  if [ -f "$CONF.berth-prev" ] && [ ! -f "$CONF" ]; then mv -f "$CONF.berth-prev" "$CONF"; fi
  rm -f "$CONF.berth-prev"
  "$1" >"$CONF.berth-tmp" && chmod 644 "$CONF.berth-tmp" || { rm -f "$CONF.berth-tmp"; die configure "cannot write $CONF (is the disk full?)"; }
  if [ -f "$CONF" ]; then mv -f "$CONF" "$CONF.berth-prev" || die configure "cannot move $CONF aside"; fi
  CHANGED="tls conf"
  mv -f "$CONF.berth-tmp" "$CONF" || die configure "cannot write $CONF"
}

# Success: the previous files are no longer needed.
forget_previous() {
  rm -rf "$OLD_TLS"
  rm -f "$CONF.berth-prev"
  CHANGED=""
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
# The new files are written beside the old ones and swapped in by renames, which need no free
# space: whatever fails (a full disk, a cut connection), the previous set can be put back.
say "step tls"
NEW_TLS=$TLS_DIR.berth-new
OLD_TLS=$TLS_DIR.berth-old
# Leftovers of a run that was killed: the set in place is the one dockerd may use.
if [ -d "$OLD_TLS" ] && [ ! -d "$TLS_DIR" ]; then mv -f "$OLD_TLS" "$TLS_DIR"; fi
rm -rf "$NEW_TLS" "$OLD_TLS"
mkdir -p "$NEW_TLS" && chmod 700 "$NEW_TLS" || { rm -rf "$NEW_TLS"; die tls "cannot create $NEW_TLS (is the disk full?)"; }
put() { # put NAME: base64 on stdin -> the new set, mode 0600
  base64 -d >"$NEW_TLS/$1" && chmod 600 "$NEW_TLS/$1" || { rm -rf "$NEW_TLS"; die tls "cannot write $TLS_DIR/$1 (is the disk full?)"; }
}
put ca.pem <<'BERTH_EOF'
@@CA_PEM@@
BERTH_EOF
put server.pem <<'BERTH_EOF'
@@SERVER_PEM@@
BERTH_EOF
put server-key.pem <<'BERTH_EOF'
@@SERVER_KEY@@
BERTH_EOF
if [ -d "$TLS_DIR" ]; then mv -f "$TLS_DIR" "$OLD_TLS" || { rm -rf "$NEW_TLS"; die tls "cannot move $TLS_DIR aside"; }; fi
CHANGED="tls"
mv -f "$NEW_TLS" "$TLS_DIR" || die tls "cannot put the new files in $TLS_DIR"

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

if [ "$INIT" = systemd ]; then
  CONF_DIR=/etc/systemd/system/docker.service.d
  CONF=$CONF_DIR/90-berth.conf
  unit_found=""
  for d in /etc/systemd/system /run/systemd/system /lib/systemd/system /usr/lib/systemd/system; do
    [ -f "$d/docker.service" ] && unit_found=1
  done
  [ -n "$unit_found" ] || die no-unit "dockerd is installed but there is no docker.service unit"
  mkdir -p "$CONF_DIR" || die configure "cannot create $CONF_DIR"
  systemd_conf() {
    printf '%s Remove with `berth rm %s`.\n' "$MARKER" "$MACHINE"
    printf '[Service]\nExecStart=\nExecStart=%s %s%s $DOCKER_OPTS\n' "$DOCKERD" "$SYSTEMD_ARGS" "$EXTRA"
    if [ -n "$SYSTEMD_ENV" ]; then printf '%s\n' "$SYSTEMD_ENV"; fi
  }
  new_conf systemd_conf
  systemctl daemon-reload || die configure "systemctl daemon-reload failed"
  systemctl enable docker >/dev/null 2>&1 || true

  say "step restart"
  SINCE=$(date +%s)
  if ! systemctl restart docker >"$WORK/restart.log" 2>&1; then
    LOG=$(journalctl -u docker --since "@$SINCE" -n 60 --no-pager 2>/dev/null | why_dockerd_failed)
    undo
    systemctl restart docker >/dev/null 2>&1
    die dockerd-failed "dockerd did not start with the new configuration (${LOG:-no log}); the previous configuration was put back"
  fi
else
  CONF=/etc/conf.d/docker
  if [ -f "$CONF" ] && [ ! -f "$CONF.berth-orig" ]; then cp -p "$CONF" "$CONF.berth-orig" || { rm -f "$CONF.berth-orig"; die configure "cannot copy $CONF aside (is the disk full?)"; }; fi
  openrc_conf() {
    if [ -f "$CONF.berth-orig" ]; then cat "$CONF.berth-orig"; fi
    printf '\n%s `berth rm %s` restores %s.berth-orig.\n' "$MARKER" "$MACHINE" "$CONF"
    printf 'DOCKER_OPTS="%s%s"\n' "$OPENRC_ARGS" "$EXTRA"
    if [ -n "$OPENRC_ENV" ]; then printf '%s\n' "$OPENRC_ENV"; fi
  }
  new_conf openrc_conf
  rc-update add docker default >/dev/null 2>&1 || true

  say "step restart"
  if ! rc-service docker restart >"$WORK/restart.log" 2>&1; then
    undo
    rc-service docker restart >/dev/null 2>&1
    LOG=$(why_dockerd_failed <"$WORK/restart.log")
    die dockerd-failed "dockerd did not start with the new configuration (${LOG:-no log}); the previous configuration was put back"
  fi
fi
forget_previous
say "done"
}
berth_main
