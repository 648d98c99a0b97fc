# Shared by the benchmark scripts that need a mount of the release build:
#   . "$here/mount-lib.sh"; bench_mount NAME [epochfs mount options]
# builds the release binary, mounts a fresh store on a fresh mount point under /srv, and
# unmounts and removes both when the script exits. Sets $bin, $base (mount at $base/mnt,
# store at $base/store) and EPOCHFS_CONFIG (no host configuration).
bench_mount() {
    local name=$1
    shift
    [ "$(id -u)" -eq 0 ] || { echo "error: run as root (it mounts a filesystem)" >&2; exit 1; }
    (cd "$repo" && swift build -c release --product epochfs >/dev/null)
    bin="$(cd "$repo" && swift build -c release --show-bin-path)/epochfs"
    base=$(mktemp -d "/srv/epochfs-bench-$name.XXXXXX")
    chmod 0755 "$base"
    mkdir "$base/mnt"
    trap bench_cleanup EXIT
    export EPOCHFS_CONFIG=/nonexistent
    "$bin" mount "$base/mnt" --store "$base/store" "$@" >/dev/null
}

bench_cleanup() {
    fusermount3 -u "$base/mnt" 2>/dev/null || umount -l "$base/mnt" 2>/dev/null || true
    rm -rf "$base"
}
