#!/usr/bin/env bash
# Installs what EpochFS needs, builds it, and mounts a demo store with a demo district.
#   mount point: /srv/epochfs-demo/mnt    store: /var/lib/epochfs-demo
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "error: the demo mounts a filesystem and creates a user: run with sudo" >&2
    exit 1
fi
bash scripts/install-deps.sh
swift build -c release
bin="$(swift build -c release --show-bin-path)/epochfs"
install -m 0755 "$bin" /usr/local/bin/epochfs

base=/srv/epochfs-demo
store=/var/lib/epochfs-demo
mkdir -p "$base/mnt"
chmod 0755 /srv "$base" "$base/mnt"
if awk -v m="$base/mnt" '$2 == m && $3 == "fuse.epochfs" { found = 1 } END { exit !found }' /proc/mounts; then
    fusermount3 -u "$base/mnt" || umount -l "$base/mnt"
fi
getent group epochfs-staff >/dev/null || groupadd --system epochfs-staff
id demo >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin demo

epochfs mount "$base/mnt" --store "$store" --staff-group epochfs-staff
epochfs district list --store "$store" | grep -q '^demo\b' || epochfs district add demo --store "$store"

echo
echo "EpochFS is mounted on $base/mnt (store $store). Try:"
echo "  ls -la $base/mnt/demo"
echo "  cp /etc/os-release $base/mnt/demo/upload/ && getfattr -n user.sha256 $base/mnt/demo/upload/os-release"
echo "  epochfs district list --store $store"
echo "Unmount with: fusermount3 -u $base/mnt"
