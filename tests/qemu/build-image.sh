#!/usr/bin/env bash
# Builds the small Debian image the QEMU tests boot, from Debian packages: mmdebstrap (minbase +
# systemd, sshd, cloud-init, docker.io, the cloud kernel), an ext4 file system made with
# `mkfs.ext4 -d` (no mount, no loop device), converted to qcow2; the kernel and initrd beside it
# for direct boot. Cached under ~/.cache/berth/qemu-image/<hash of this recipe>; rebuilt when
# missing. Prints the directory holding disk.qcow2, vmlinuz and initrd.img. Needs root.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${BERTH_QEMU_IMAGE_CACHE:-$HOME/.cache/berth/qemu-image}
HASH=$(sha256sum "$HERE/build-image.sh" | cut -c1-16)
OUT=$CACHE/$HASH
if [ -f "$OUT/disk.qcow2" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.img" ]; then
  echo "$OUT"
  exit 0
fi
# Only the final path goes to stdout (callers capture it); every tool's chatter to stderr.
exec 3>&1 1>&2
[ "$(id -u)" -eq 0 ] || { echo "build-image.sh needs root (mmdebstrap, file ownership)" >&2; exit 1; }
mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOTFS=$WORK/root

started=$(date +%s)
# The guest: what a cloud image would have, and Docker already installed (the test VM has no
# way out to the internet: its network is restricted to the forwarded ports).
mmdebstrap --quiet --variant=minbase \
  --include=systemd-sysv,udev,dbus,openssh-server,docker.io,apparmor,iproute2,linux-image-cloud-amd64,ca-certificates,cloud-init,e2fsprogs,procps,sudo,kmod,sshfs \
  --customize-hook='echo "/dev/vda / ext4 defaults 0 1" > "$1/etc/fstab"' \
  --customize-hook='printf "[Match]\nName=en*\n\n[Network]\nDHCP=ipv4\n" > "$1/etc/systemd/network/10-en.network"' \
  --customize-hook='chroot "$1" systemctl enable systemd-networkd ssh docker' \
  --customize-hook='printf "datasource_list: [ NoCloud, None ]\n" > "$1/etc/cloud/cloud.cfg.d/90-berth.cfg"' \
  --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
  --customize-hook='chroot "$1" ssh-keygen -A' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/usr/share/doc/* "$1"/usr/share/man/*' \
  bookworm "$ROOTFS" http://deb.debian.org/debian
echo "rootfs: $(( $(date +%s) - started )) s, $(du -sh "$ROOTFS" | cut -f1)" >&2

cp -L "$ROOTFS"/boot/vmlinuz-* "$WORK/vmlinuz"
cp -L "$ROOTFS"/boot/initrd.img-* "$WORK/initrd.img"
mkfs.ext4 -q -L root -d "$ROOTFS" "$WORK/disk.raw" 4G
qemu-img convert -O qcow2 "$WORK/disk.raw" "$WORK/disk.qcow2"
rm -f "$WORK/disk.raw"
mkdir -p "$OUT"
mv "$WORK/vmlinuz" "$WORK/initrd.img" "$WORK/disk.qcow2" "$OUT/"
# Images of older recipes are no longer used.
find "$CACHE" -mindepth 1 -maxdepth 1 -type d -regex '.*/[0-9a-f]\{16\}' ! -name "$HASH" -exec rm -rf {} +
echo "image: $(( $(date +%s) - started )) s, $(du -sh "$OUT/disk.qcow2" | cut -f1) qcow2"
echo "$OUT" >&3
