#!/bin/bash
# Runs inside a Berth test host's fresh mount + UTS namespace (see testhost.sh), then becomes sshd.
set -euo pipefail
S=$1 NAME=$2 NODOCKER=$3

for d in etc usr var; do
  mount -t overlay "berth-$d" -o "lowerdir=/$d,upperdir=$S/layers/$d.upper,workdir=$S/layers/$d.work" "/$d"
done
mkdir -p /var/lib/docker /var/lib/containerd
mount --bind "$S/docker" /var/lib/docker
mount --bind "$S/containerd" /var/lib/containerd
mount --bind "$S/run" /run
mount --bind "$S/root" /root
mount --bind "$S/home" /home
mount --bind "$S/tmp" /tmp
hostname "$NAME"
echo "$NAME" > /etc/hostname
echo "127.0.1.1 $NAME" >> /etc/hosts
mkdir -p /run/sshd /run/systemd/system /run/berth-fake-systemd /run/lock
chmod 755 /run/sshd

# Non-root logins with passwordless sudo (Debian's real sudo). '*' = no password, not locked.
# `ubuntu` is what Ubuntu's cloud images (EC2) give.
for u in berth ubuntu; do
  if ! id "$u" >/dev/null 2>&1; then
    useradd -m -s /bin/bash "$u"
    usermod -p '*' "$u"
  fi
  echo "$u ALL=(ALL) NOPASSWD:ALL" > "/etc/sudoers.d/$u"
  chmod 440 "/etc/sudoers.d/$u"
done

# Boot the services the way Debian would: containerd, then docker (socket-activated unit).
if [ "$NODOCKER" = 0 ]; then
  systemctl daemon-reload
  systemctl enable containerd docker
  systemctl start containerd
  systemctl start docker
fi
exec /usr/sbin/sshd -D -e -f "$S/sshd_config" 2>>"$S/log/sshd.log"
