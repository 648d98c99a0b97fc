#!/usr/bin/env bash
# fsck throughput: a store holding N MB of blobs (files uploaded through a mount of the release
# build, then unmounted), checked by `epochfs fsck`, against `sha256sum` of the same blob files
# and `openssl dgst -sha256` of the same blob files in the same run (all with a warm page cache).
#
# Usage: sudo bench/fsck-bench.sh [--mb N] [--files F]     (default 1024 MB in 256 files)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
mb=1024
files=256
while [[ $# -gt 0 ]]; do
    case "$1" in
        --mb) mb=$2; shift 2 ;;
        --files) files=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
. "$here/mount-lib.sh"
bench_mount fsck
"$bin" district add bench --uid 0 --gid 0 --store "$base/store" >/dev/null
mkdir "$base/mnt/bench/upload/1764374400"
per=$(( mb * 1024 / files ))
for n in $(seq 1 "$files"); do
    head -c "${per}K" /dev/urandom > "$base/mnt/bench/upload/1764374400/f$n.bin"
done
fusermount3 -u "$base/mnt"
sleep 1
cat "$base"/store/blobs/*/* > /dev/null   # warm the page cache for both
t() { local s; s=$(date +%s.%N); "$@" > /dev/null; python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$s" "$(date +%s.%N)"; }
fsck=$(t "$bin" fsck --store "$base/store")
sums=$(t sh -c "find '$base/store/blobs' -type f -print0 | xargs -0 sha256sum")
# coreutils' sha256sum does not use the CPU's SHA instructions; openssl does, as fsck does.
ossl=$(t sh -c "find '$base/store/blobs' -type f -print0 | xargs -0 openssl dgst -sha256")
python3 - "$mb" "$fsck" "$sums" "$ossl" <<'PY'
import sys
mb, fsck, sums, ossl = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
size = mb * 1.048576
print(f"fsck of {size:.0f} MB of blobs: {fsck:.2f} s = {size / fsck:.0f} MB/s; "
      f"sha256sum of the same files: {size / sums:.0f} MB/s (fsck/sha256sum {sums / fsck:.2f}); "
      f"openssl dgst -sha256: {size / ossl:.0f} MB/s (fsck/openssl {ossl / fsck:.2f})")
PY
