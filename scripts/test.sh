#!/usr/bin/env bash
# Runs the whole test suite: unit tests and the mounted tests (real /dev/fuse, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "error: the mounted tests need root (they mount FUSE filesystems): run with sudo" >&2
    exit 1
fi
bash scripts/install-deps.sh
# Stale mounts of this filesystem (a run killed half-way) would block new ones.
awk '$3 == "fuse.epochfs" { print $2 }' /proc/mounts | while read -r stale; do
    umount -l "$stale" 2>/dev/null || true
done
swift build --build-tests
swift test --skip-build
