#!/usr/bin/env bash
# The floor for creating small files through FUSE on this machine, whatever the filesystem
# does: the create test of bench/fs-bench.sh (fsbench.py create: open, write, close per file)
# against a plain directory, through libfuse's own passthrough_hp (which only forwards each
# request to the directory below it) and through memfs_ll (everything in memory), runs
# alternating, as fractions of native speed. Both are mounted with default_permissions, as
# EpochFS is. Also what one round trip costs: stat() in a loop through
# `passthrough_hp --nocache`, which sends three requests per call (a GETATTR of the root, a
# LOOKUP and a GETATTR of the file; counted with the fuse:fuse_request_send tracepoint).
# The examples are built from the same libfuse source as EpochFS's own
# (scripts/build-libfuse.sh --examples), once, into the working directory.
# The files stay until every run is done. Deleting many files slows the next creates on the
# same ext4 disk for a few minutes, natively too (see bench/fs-bench.sh), so leave some
# minutes between two invocations, or between this and fs-bench.
#
# Usage: bench/fuse-floor.sh [options]          (as root)
#   --runs N      runs per side (default 3)
#   --files N     files per run (default 10000)
#   --base DIR    root-owned 0755 working directory (default /srv/epochfs-fusefloor)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
RUNS=3
FILES=10000
BASE=/srv/epochfs-fusefloor

die() { echo "fuse-floor: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS=$2; shift 2 ;;
        --files) FILES=$2; shift 2 ;;
        --base) BASE=$2; shift 2 ;;
        -h|--help) sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown option: $1" ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ && $FILES =~ ^[1-9][0-9]*$ ]] || die "--runs and --files must be positive whole numbers"
[[ $(id -u) == 0 ]] || die "run as root (it mounts)"
[[ $BASE == /* ]] || die "--base must be an absolute path"
case "$(realpath -m "$BASE")" in
    /|/tmp|/tmp/*|/var/tmp|/var/tmp/*|/dev/shm|/dev/shm/*) die "refusing base directory $BASE" ;;
esac

bin=$BASE/bin
bash "$repo/scripts/build-libfuse.sh" --examples "$bin"
export LD_LIBRARY_PATH=/opt/epochfs/libfuse/lib
mkdir -p "$BASE"
work=$(mktemp -d "$BASE/run.XXXXXX")
mnt=$work/mnt
mkdir -p "$mnt" "$work/native" "$work/below"
daemon=
cleanup() {
    if mountpoint -q "$mnt"; then fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"; fi
    [[ -z $daemon ]] || wait "$daemon" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Mounts one example on $mnt in the foreground of a background job; waits for the mount.
mount_example() {
    case "$1" in
        passthrough_hp) "$bin/passthrough_hp" --foreground -o default_permissions,allow_other "${@:2}" "$work/below" "$mnt" & ;;
        memfs_ll) "$bin/memfs_ll" -f -o default_permissions,allow_other "$mnt" & ;;
    esac
    daemon=$!
    for _ in $(seq 100); do mountpoint -q "$mnt" && return 0; sleep 0.05; done
    die "$1 did not mount"
}
unmount_example() {
    fusermount3 -u "$mnt"
    wait "$daemon" || true
    daemon=
}
create() {  # prints files per second
    local dir=$1 seconds
    mkdir -p "$dir"
    sync
    seconds=$(python3 "$here/fsbench.py" create "$dir" "$FILES" 100)
    python3 -c "print(round($FILES / $seconds))"
}

declare -A rates
for run in $(seq "$RUNS"); do
    rates[native]+=" $(create "$work/native/r$run")"
    mount_example passthrough_hp
    rates[passthrough_hp]+=" $(create "$mnt/r$run")"
    unmount_example
    mount_example memfs_ll
    rates[memfs_ll]+=" $(create "$mnt/r$run")"
    unmount_example
done

touch "$work/below/probe"
mount_example passthrough_hp --nocache
round_trip=$(python3 - "$mnt/probe" <<'EOF'
import os, sys, time
path, n = sys.argv[1], 20000
start = time.perf_counter()
for _ in range(n):
    os.stat(path)
print(f"{(time.perf_counter() - start) / n * 1e6 / 3:.1f}")
EOF
)
unmount_example

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
native=$(median "${rates[native]}")
echo "creating $FILES files of 100 bytes, $RUNS alternating runs (files/s, median; per run in brackets)"
for side in native passthrough_hp memfs_ll; do
    m=$(median "${rates[$side]}")
    printf '%-15s %7s  ratio %s  [%s ]\n' "$side" "$m" "$(python3 -c "print(f'{$m / $native:.2f}')")" "${rates[$side]}"
done
echo "one FUSE round trip (stat through passthrough_hp --nocache: three requests): $round_trip µs"
echo "a create waits for five round trips (LOOKUP, CREATE, WRITE, FLUSH, GETATTR of the directory)"
