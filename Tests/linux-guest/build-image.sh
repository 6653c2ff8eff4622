#!/usr/bin/env bash
# Builds the Debian 12 guest the linux-guest rig boots: a minimal debootstrap with systemd 252,
# udevd, Debian's kernel, and the neighbours a till box may have (ModemManager, brltty), plus a
# small command agent on a virtio-serial port. Output in $CACHE (default .cache/guest/):
#   vmlinuz, initrd.img (virtio + ext4 only), root.img (ext4, booted with snapshot=on, so it stays
#   pristine), stamp (a hash of this script and the agent: a change rebuilds the image).
# Usage: Tests/linux-guest/build-image.sh [--force]   (root; about 3-4 minutes on 2 cores)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${CACHE:-$here/../../.cache/guest}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
stamp=$(cat "$here/build-image.sh" "$here/vm-agent.sh" | sha256sum | cut -c1-16)
if [ "${1:-}" != --force ] && [ -f "$CACHE/stamp" ] && [ "$(cat "$CACHE/stamp")" = "$stamp" ] \
    && [ -f "$CACHE/root.img" ] && [ -f "$CACHE/vmlinuz" ] && [ -f "$CACHE/initrd.img" ]; then
    echo "guest image: cached in $CACHE"
    exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "build-image: debootstrap needs root (chroot); run as root" >&2; exit 77; }
for t in debootstrap mkfs.ext4; do
    command -v "$t" >/dev/null || { echo "build-image: $t is missing: apt-get install debootstrap e2fsprogs" >&2; exit 69; }
done

R=$CACHE/rootfs
rm -rf "$R" "$CACHE/stamp"
t0=$(date +%s)
pkgs=systemd,systemd-sysv,udev,dbus,kmod,iproute2,linux-image-amd64,initramfs-tools,usbutils,procps,util-linux,socat,modemmanager,brltty,libpam-systemd,libudev1,libsqlite3-0,libstdc++6,libgcc-s1,zlib1g
debootstrap --variant=minbase --include="$pkgs" bookworm "$R" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log" >&2; echo "build-image: debootstrap failed (log: $CACHE/debootstrap.log)" >&2; exit 1; }
echo "guest image: debootstrap $(( $(date +%s) - t0 )) s"

echo "/dev/vda / ext4 rw,errors=remount-ro 0 1" > "$R/etc/fstab"
echo tillbox > "$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 tillbox\n' > "$R/etc/hosts"
chroot "$R" passwd -d root >/dev/null
install -m 0755 "$here/vm-agent.sh" "$R/usr/local/sbin/vm-agent.sh"
cat > "$R/etc/systemd/system/vm-agent.service" <<'UNIT'
[Unit]
Description=Test rig command agent (virtio-serial port "agent")
DefaultDependencies=no
After=systemd-udevd.service

[Service]
ExecStart=/usr/local/sbin/vm-agent.sh
Restart=always
RestartSec=0.2

[Install]
WantedBy=multi-user.target
UNIT
chroot "$R" systemctl enable vm-agent.service >/dev/null 2>&1
# The neighbours run as on a desktop: ModemManager probes modems, brltty looks for displays.
chroot "$R" systemctl enable ModemManager.service >/dev/null 2>&1 || true
chroot "$R" systemctl enable brltty.service >/dev/null 2>&1 || true
# Nothing the rig needs waits on the network or a console login.
chroot "$R" systemctl mask systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_all.timer fstrim.timer man-db.timer getty@tty1.service >/dev/null 2>&1 || true

kver=$(ls "$R/lib/modules" | sort -V | tail -1)
# A small initrd: the root disk is virtio + ext4, both modules in Debian's kernel.
rm -rf "$R/tmp/ird"; cp -a "$R/etc/initramfs-tools" "$R/tmp/ird"
sed -i 's/^MODULES=.*/MODULES=list/' "$R/tmp/ird/initramfs.conf"
printf 'virtio_pci\nvirtio_blk\next4\n' > "$R/tmp/ird/modules"
chroot "$R" mkinitramfs -d /tmp/ird -o /tmp/initrd-small.img "$kver"
mv "$R/tmp/initrd-small.img" "$CACHE/initrd.img"
cp "$R/boot/vmlinuz-$kver" "$CACHE/vmlinuz"
rm -rf "$R/tmp/ird" "$R"/boot/initrd.img-* "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/*
# Drop module trees a till box under QEMU never loads (sound, wireless, GPU, infiniband, ...).
m=$R/lib/modules/$kver/kernel
rm -rf "$m/sound" "$m/drivers/gpu" "$m/drivers/net/wireless" "$m/drivers/infiniband" "$m/drivers/media" \
    "$m/drivers/staging" "$m/net/wireless" "$m/net/mac80211" "$m/drivers/scsi" "$m/drivers/isdn" "$m/drivers/bluetooth"
chroot "$R" depmod "$kver"
mkfs.ext4 -q -F -L root -d "$R" "$CACHE/root.img" 2000M
rm -rf "$R"
echo "$stamp" > "$CACHE/stamp"
echo "guest image: built in $(( $(date +%s) - t0 )) s ($kver) in $CACHE"
