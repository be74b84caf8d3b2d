# Berth removal script: undoes what provision.sh configured for this machine (`berth rm`), so
# the host's dockerd goes back to its distribution configuration and stops listening for TLS.
# A host re-provisioned since by another machine or another Berth store is left alone.
# Everything is inside berth_main, called on the last line (a script cut short in transit is
# refused by sh, not half run), and HUP/PIPE are ignored: once started, it runs to the end.
berth_main() {
set -u
@@TRACE@@
trap '' HUP PIPE
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export PATH
MACHINE=@@MACHINE@@
CA_FP=@@CA_FP@@
MARKER="# Managed by Berth for machine $MACHINE (CA $CA_FP)."
say() { printf '@@berth %s\n' "$*"; }
die() { say "error $1 $(printf '%s' "$2" | tr '\n' ' ')"; exit 3; }

# A private directory for dockerd's restart log: a fixed name in /tmp could be a local user's
# symlink to any root-owned file, which root would then truncate.
WORK=$(mktemp -d /tmp/berth.XXXXXX) || die no-tmp "cannot create a temporary directory in /tmp"
trap 'rm -rf "$WORK"' EXIT

if [ -d /run/systemd/system ]; then
  CONF=/etc/systemd/system/docker.service.d/90-berth.conf
elif command -v rc-service >/dev/null 2>&1; then
  CONF=/etc/conf.d/docker
else
  die no-init "neither systemd nor OpenRC manages services on this host"
fi
if ! grep -qF "Managed by Berth" "$CONF" 2>/dev/null; then
  say "fact state=absent"
  say "done"
  exit 0
fi
if ! grep -qF "$MARKER" "$CONF"; then
  say "fact state=foreign"
  say "done"
  exit 0
fi
say "step deconfigure"
if [ -d /run/systemd/system ]; then
  rm -f "$CONF"
  systemctl daemon-reload
else
  if [ -f "$CONF.berth-orig" ]; then mv -f "$CONF.berth-orig" "$CONF"; else rm -f "$CONF"; fi
fi
rm -rf /etc/docker/berth /etc/docker/berth.berth-new /etc/docker/berth.berth-old
rm -f "$CONF.berth-prev" "$CONF.berth-tmp"
say "step restart"
if [ -d /run/systemd/system ]; then
  if systemctl is-active --quiet docker; then
    systemctl restart docker >"$WORK/restart.log" 2>&1 || die dockerd-failed "dockerd did not restart with its own configuration: $(tail -n 5 "$WORK/restart.log")"
  fi
else
  rc-service docker restart >"$WORK/restart.log" 2>&1 || die dockerd-failed "dockerd did not restart with its own configuration: $(tail -n 5 "$WORK/restart.log")"
fi
say "fact state=removed"
say "done"
}
berth_main
