#!/usr/bin/env bash
# Pruning through the mount: N processed epochs (each a directory of three small files, spread
# over D districts) aged past the retention period, then `epochfs-retention --days 30` times
# how long deleting them all takes, on a fresh mount of the release build.
#
# Usage: sudo bench/retention-bench.sh [--epochs N] [--districts D]   (default 10000 over 100)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
epochs=10000
districts=100
while [[ $# -gt 0 ]]; do
    case "$1" in
        --epochs) epochs=$2; shift 2 ;;
        --districts) districts=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
. "$here/mount-lib.sh"
bench_mount retention
for d in $(seq 1 "$districts"); do "$bin" district add "d$d" --uid $((70000 + d)) --gid $((70000 + d)) --store "$base/store" >/dev/null; done
# N aged processed epochs of three small files, over the districts, below $1.
make_epochs() {
    /usr/bin/python3 - "$1" "$epochs" "$districts" <<'PY'
import os, sys
root, epochs, districts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
old = 1_700_000_000
for n in range(epochs):
    epoch = f"{root}/d{n % districts + 1}/upload-processed/{1764374400 + n}"
    os.makedirs(epoch)
    for name, size in (("students.csv", 2000), ("processing.json", 800), ("SHA256SUMS", 200)):
        with open(f"{epoch}/{name}", "wb") as f:
            f.write(os.urandom(size))
    os.utime(epoch, (old, old))
PY
}
echo "creating $epochs processed epochs over $districts districts..."
make_epochs "$base/mnt"
"$bin" stats --store "$base/store" | tail -1
# The same tree on the store's own disk, pruned the same way, for the ratio.
make_epochs "$base/native"
sync
native_start=$(date +%s.%N)
find "$base/native" -mindepth 3 -maxdepth 3 -path "$base/native/*/upload-processed/*" -type d -mmin +43200 -prune -print0 | xargs -0 -r rm -rf --
sync
native_end=$(date +%s.%N)
start=$(date +%s.%N)
/bin/sh "$repo/mount-scripts/epochfs-retention" --days 30 "$base/mnt"
end=$(date +%s.%N)
python3 -c "
import sys
s, n, native = float(sys.argv[2]) - float(sys.argv[1]), int(sys.argv[3]), float(sys.argv[5]) - float(sys.argv[4])
print(f'pruned {n} epochs ({3 * n} files) through the mount in {s:.1f} s: {n / s:.0f} epochs/s; '
      f'the same find and rm -rf on the plain disk: {native:.1f} s ({n / native:.0f} epochs/s); ratio {native / s:.2f}')
" "$start" "$end" "$epochs" "$native_start" "$native_end"
sleep 3
"$bin" stats --store "$base/store" | tail -1
