#!/usr/bin/env bash
# Runs the whole test suite: unit tests and the mounted tests (real /dev/fuse, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "error: the mounted tests need root (they mount FUSE filesystems): run with sudo" >&2
    exit 1
fi
bash scripts/install-deps.sh
# Stale mounts of this filesystem would block new ones: those a killed run left below the
# tests' base, and dead ones anywhere. A live mount elsewhere (the demo, a real one) is left.
awk '$3 == "fuse.epochfs" { print $2 }' /proc/mounts | while read -r mount; do
    if [[ $mount == /srv/epochfs-test/* ]] || ! stat "$mount" >/dev/null 2>&1; then
        umount -l "$mount" 2>/dev/null || true
    fi
done
swift build --build-tests
swift test --skip-build
# The mounted suites again on the other data path, the writeback cache (what kernels before
# 6.9 get; see docs/architecture.md, "How data moves").
EPOCHFS_TEST_MOUNT_ARGS=--no-passthrough swift test --skip-build --filter MountedTests
# The district console in headless Chromium, served by the built binary copied outside the
# checkout, as a web user the test creates; screenshots in $EPOCHFS_TEST_OUTPUT/console.
bash scripts/browser-test.sh
# Fuzzing, briefly: each fuzz target for 20 s from its seeds (inputs that once crashed one are
# among them), so that what is near them is tried on every run. libFuzzer comes with the Swift
# toolchain. Longer runs: scripts/fuzz.sh SECONDS (docs/architecture.md, "Fuzzing").
bash scripts/fuzz.sh 20
