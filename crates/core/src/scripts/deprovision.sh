# Berth removal script: undoes what provision.sh configured for this machine (`berth rm`), so
# the host's dockerd goes back to its distribution configuration and stops listening for TLS.
# A host re-provisioned since by another machine or another Berth store is left alone.
set -u
@@TRACE@@
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export PATH
MACHINE=@@MACHINE@@
CA_FP=@@CA_FP@@
MARKER="# Managed by Berth for machine $MACHINE (CA $CA_FP)."
say() { printf '@@berth %s\n' "$*"; }
die() { say "error $1 $(printf '%s' "$2" | tr '\n' ' ')"; exit 3; }

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
rm -rf /etc/docker/berth
say "step restart"
if [ -d /run/systemd/system ]; then
  if systemctl is-active --quiet docker; then
    systemctl restart docker >/tmp/berth-rm.log 2>&1 || die dockerd-failed "dockerd did not restart with its own configuration: $(tail -n 5 /tmp/berth-rm.log)"
  fi
else
  rc-service docker restart >/tmp/berth-rm.log 2>&1 || die dockerd-failed "dockerd did not restart with its own configuration: $(tail -n 5 /tmp/berth-rm.log)"
fi
rm -f /tmp/berth-rm.log
say "fact state=removed"
say "done"
