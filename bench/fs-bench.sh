#!/usr/bin/env bash
# EpochFS speed against a plain directory on the same disk, as "fraction of native speed".
#
# Usage: bench/fs-bench.sh [options]          (as root)
#   --bin PATH        epochfs binary (default .build/release/epochfs if present, else .build/debug/epochfs)
#   --runs N          runs per side, alternating native/epochfs; medians are reported (default 3)
#   --quick           smoke run: 32 MiB file, 8 MiB O_DSYNC writes, 1000 small files, 2 runs
#   --tsv FILE        also write one machine-readable line per test to FILE
#   --base DIR        root-owned 0755 working directory (default /srv/epochfs-bench)
#   --size MIB        size of the sequential file (default 256)
#   --dsync-mib MIB   size written with O_DSYNC on every block (default 32; 0 skips these tests)
#   --files N         number of small files (default 10000)
#   --file-size B     bytes per small file (default 100)
#   --cold            also time a read after `echo 3 > /proc/sys/vm/drop_caches`
#   --district NAME   district to write in (default bench)
#   --quota-bytes SIZE  give that district a byte quota (its writes then bypass the page cache:
#                     docs/architecture.md, "Quotas")
#   --mount-arg ARG   extra argument for `epochfs mount` (repeatable)
#   --timeout S       give up on a single timed operation after S seconds (default 900)
#
# Tests (each run: native first, then epochfs, for every test):
#   write-1m, write-32k               dd of unique random data, no fsync (close included)
#   write-1m-fsync, write-32k-fsync   same with conv=fsync: one fsync at the end
#   write-1m-dsync, write-32k-dsync   oflag=dsync: every block is a synchronous write (smaller size)
#   read-cold (--cold)                dd bs=1M of the file after dropping all caches
#   read-warm                         dd bs=1M of the file after reading it once
#   create                            open/write/close of N files with unique random content, one process
#   ls-l                              `ls -l` of that directory, warmed once, median of 3
# The source file for dd lives next to the plain directory and is read from page cache by both
# sides. Before every write test each 4 KiB page of it gets a new 16-byte stamp, so a
# content-addressed store never sees a block twice. `sync` runs before every timed operation.
# The small files of every run stay until all runs are done: on ext4 without a journal, inodes
# freed in the last 60-300 s are skipped one by one when new inodes are allocated in their
# group, so deleting 10,000 files between runs slowed the next run's creates (either side).
# The same holds for anything else deleting many files on the disk shortly before a run.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
helper="$here/fsbench.py"

BIN=""
RUNS=""
QUICK=0
TSV=""
BASE=/srv/epochfs-bench
SIZE_MIB=""
DSYNC_MIB=""
FILES=""
FILE_SIZE=100
COLD=0
DISTRICT=bench
QUOTA=
MOUNT_ARGS=()
OP_TIMEOUT=900
LS_REPEAT=3

die() { echo "fs-bench: $*" >&2; exit 1; }
usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --bin) BIN=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --tsv) TSV=$2; shift 2 ;;
        --base) BASE=$2; shift 2 ;;
        --size) SIZE_MIB=$2; shift 2 ;;
        --dsync-mib) DSYNC_MIB=$2; shift 2 ;;
        --no-dsync) DSYNC_MIB=0; shift ;;
        --files) FILES=$2; shift 2 ;;
        --file-size) FILE_SIZE=$2; shift 2 ;;
        --cold) COLD=1; shift ;;
        --district) DISTRICT=$2; shift 2 ;;
        --quota-bytes) QUOTA=$2; shift 2 ;;
        --mount-arg) MOUNT_ARGS+=("$2"); shift 2 ;;
        --timeout) OP_TIMEOUT=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
done

if [[ $QUICK == 1 ]]; then
    : "${RUNS:=2}" "${SIZE_MIB:=32}" "${DSYNC_MIB:=8}" "${FILES:=1000}"
else
    : "${RUNS:=3}" "${SIZE_MIB:=256}" "${DSYNC_MIB:=32}" "${FILES:=10000}"
fi
for v in RUNS SIZE_MIB DSYNC_MIB FILES FILE_SIZE; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number: ${!v}"
done
[[ $RUNS -ge 1 && $SIZE_MIB -ge 1 && $FILES -ge 1 && $FILE_SIZE -ge 1 ]] || die "sizes and counts must be positive"
[[ $DSYNC_MIB -le $SIZE_MIB ]] || die "--dsync-mib may not exceed --size"

[[ -z $TSV || $TSV == /* ]] || TSV=$PWD/$TSV
[[ $(id -u) == 0 ]] || die "run as root (mounting, /srv, drop_caches)"
for tool in python3 dd fusermount3 mountpoint findmnt sync; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done

if [[ -z $BIN ]]; then
    if [[ -x $repo/.build/release/epochfs ]]; then BIN=$repo/.build/release/epochfs
    else BIN=$repo/.build/debug/epochfs; fi
fi
[[ -x $BIN ]] || die "no epochfs binary at $BIN (swift build -c release, or --bin PATH)"
BIN=$(realpath "$BIN")

# The working directory: root-owned, 0755, never below /tmp.
[[ $BASE == /* ]] || die "--base must be an absolute path"
base_real=$(realpath -m "$BASE")
case "$base_real" in
    /|/tmp|/tmp/*|/var/tmp|/var/tmp/*|/dev/shm|/dev/shm/*) die "refusing base directory $base_real" ;;
esac
BASE=$base_real
MARKER=$BASE/.epochfs-bench
PLAIN=$BASE/plain
STORE=$BASE/store
MNT=$BASE/mnt
SRCDIR=$BASE/src
SRC=$SRCDIR/data.bin
RAW=$BASE/raw.tsv
MOUNT_LOG=$BASE/mount.log

CREATED_BASE=0
MOUNTED=0
DAEMON_PID=""
STARTED=0

if [[ -e $BASE ]]; then
    [[ -d $BASE && ! -L $BASE ]] || die "$BASE exists and is not a directory"
    [[ $(stat -c %u:%a "$BASE") == 0:755 ]] || die "$BASE must be owned by root with mode 0755"
    if mountpoint -q "$MNT" 2>/dev/null; then
        die "$MNT is mounted; not mine to unmount (fusermount3 -u $MNT if it is a leftover)"
    fi
    if [[ -n $(ls -A "$BASE") && ! -e $MARKER ]]; then
        die "$BASE is not empty and holds no $MARKER: not a directory this benchmark made"
    fi
else
    mkdir -p -m 0755 "$(dirname "$BASE")"
    mkdir -m 0755 "$BASE"
    CREATED_BASE=1
fi

remove_work() {
    # Never recurse into a live mount.
    if mountpoint -q "$MNT" 2>/dev/null; then
        echo "fs-bench: $MNT still mounted; leaving $BASE in place" >&2
        return 1
    fi
    rm -rf --one-file-system "$PLAIN" "$STORE" "$SRCDIR" "$RAW" "$MOUNT_LOG"
    [[ -d $MNT ]] && rmdir "$MNT"
    rm -f "$MARKER"
    return 0
}

find_daemon() {
    local p exe
    for p in /proc/[0-9]*; do
        exe=$(readlink "$p/exe" 2>/dev/null) || continue
        [[ $exe == "$BIN" ]] || continue
        if tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qxF -- "$MNT"; then
            echo "${p#/proc/}"
            return 0
        fi
    done
    return 1
}

do_unmount() {
    local i
    [[ $MOUNTED == 1 ]] || return 0
    cd /
    for i in 1 2 3 4 5 6 7 8 9 10; do
        mountpoint -q "$MNT" || break
        fusermount3 -u "$MNT" 2>/dev/null && break
        sleep 1
    done
    if mountpoint -q "$MNT"; then
        echo "fs-bench: $MNT busy; lazy unmount" >&2
        fusermount3 -u -z "$MNT" || true
    fi
    if [[ -n $DAEMON_PID ]]; then
        for i in $(seq 1 300); do
            [[ -d /proc/$DAEMON_PID ]] || break
            sleep 0.1
        done
        if [[ -d /proc/$DAEMON_PID ]]; then
            echo "fs-bench: epochfs daemon $DAEMON_PID still running 30 s after unmount; terminating it" >&2
            kill -TERM "$DAEMON_PID" 2>/dev/null || true
            sleep 5
            [[ -d /proc/$DAEMON_PID ]] && kill -KILL "$DAEMON_PID" 2>/dev/null
        fi
    fi
    MOUNTED=0
    DAEMON_PID=""
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM HUP
    cd /
    do_unmount
    if [[ $STARTED == 1 ]] && remove_work; then
        [[ $CREATED_BASE == 1 ]] && rmdir "$BASE" 2>/dev/null
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

STARTED=1
remove_work || die "cannot clean $BASE"
touch "$MARKER"
mkdir -m 0755 "$PLAIN" "$MNT" "$SRCDIR"

do_mount() {
    : >"$MOUNT_LOG"
    if ! timeout 120 "$BIN" mount "$MNT" --store "$STORE" "${MOUNT_ARGS[@]}" >>"$MOUNT_LOG" 2>&1; then
        sed 's/^/  | /' "$MOUNT_LOG" >&2
        mountpoint -q "$MNT" && MOUNTED=1
        die "epochfs mount failed"
    fi
    MOUNTED=1
    mountpoint -q "$MNT" || die "epochfs mount returned but $MNT is not a mountpoint"
    DAEMON_PID=$(find_daemon || true)
}

add_district() {
    timeout 60 "$BIN" district add "$DISTRICT" --store "$STORE" --uid 0 --gid 0 >>"$MOUNT_LOG" 2>&1
}

echo "== setup"
echo "binary:   $BIN"
echo "base:     $BASE (plain: $PLAIN, store: $STORE, mount: $MNT)"
echo "source:   $SIZE_MIB MiB from /dev/urandom"
head -c "${SIZE_MIB}M" /dev/urandom >"$SRC"

do_mount
if ! add_district; then
    echo "district add failed with the mount live; adding it unmounted" >&2
    do_unmount
    add_district || { sed 's/^/  | /' "$MOUNT_LOG" >&2; die "epochfs district add failed"; }
    do_mount
fi
if [[ -n $QUOTA ]]; then
    timeout 60 "$BIN" district set "$DISTRICT" --quota-bytes "$QUOTA" --store "$STORE" >>"$MOUNT_LOG" 2>&1 \
        || die "epochfs district set --quota-bytes failed"
    echo "quota:    $QUOTA bytes for $DISTRICT (writes bypass the page cache)"
fi
UPLOAD=$MNT/$DISTRICT/upload
for i in $(seq 1 50); do
    [[ -d $UPLOAD ]] && break
    sleep 0.2
done
[[ -d $UPLOAD ]] || die "$UPLOAD did not appear"
touch "$UPLOAD/.probe" && rm -f "$UPLOAD/.probe" || die "$UPLOAD is not writable"

plain_dev=$(stat -c %d "$PLAIN")
store_dev=$(stat -c %d "$STORE")
[[ $plain_dev == "$store_dev" ]] || die "plain directory and store are on different filesystems"

# ---- environment
bdi_line() {
    local dev=$1 d=/sys/class/bdi/$1 out="" f
    [[ -d $d ]] || { echo "(no /sys/class/bdi/$dev)"; return; }
    for f in read_ahead_kb max_ratio strict_limit min_ratio; do
        [[ -r $d/$f ]] && out+="$f=$(cat "$d/$f") "
    done
    echo "$out"
}
echo
echo "== environment"
echo "kernel:   $(uname -sr)   cpus: $(nproc)   mem: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
echo "cpu:      $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "libfuse:  $(pkg-config --modversion fuse3 2>/dev/null || echo '?'); $(fusermount3 -V 2>&1)"
echo "plain fs: $(findmnt -n -o SOURCE,FSTYPE,OPTIONS -T "$PLAIN")"
plain_majmin=$(findmnt -n -o MAJ:MIN -T "$PLAIN" | tr -d ' ')
echo "plain bdi $plain_majmin: $(bdi_line "$plain_majmin")"
plain_dev_name=$(basename "$(findmnt -n -o SOURCE -T "$PLAIN")")
if [[ $(cat "/sys/fs/ext4/$plain_dev_name/journal_task" 2>/dev/null) == "<none>" ]]; then
    echo "          ext4 without a journal: inodes freed in the last 5 min slow down new inodes in their group"
fi
fuse_majmin=$(mountpoint -d "$MNT")
echo "mount:    $(awk -v m="$MNT" '$2 == m {print $1, $3, $4}' /proc/self/mounts)"
echo "fuse bdi  $fuse_majmin: $(bdi_line "$fuse_majmin")"
conn=/sys/fs/fuse/connections/${fuse_majmin#*:}
if [[ -d $conn ]]; then
    echo "fuse conn ${fuse_majmin#*:}: max_background=$(cat "$conn/max_background") congestion_threshold=$(cat "$conn/congestion_threshold")"
fi
echo "daemon:   pid ${DAEMON_PID:-?}${DAEMON_PID:+, $(ls /proc/$DAEMON_PID/task | wc -l) threads}"
echo "sizes:    file $SIZE_MIB MiB, O_DSYNC $DSYNC_MIB MiB, $FILES files of $FILE_SIZE B, $RUNS runs per side"

# ---- measurements
: >"$RAW"
declare -A DIR=([native]=$PLAIN [epochfs]=$UPLOAD)
SIDES=(native epochfs)
tag=$(( $(od -An -N4 -tu4 /dev/urandom | tr -d ' ') * 4096 ))

# record TEST SIDE RUN AMOUNT SUBCOMMAND ARGS...: one timed helper call, one raw line.
record() {
    local test=$1 side=$2 run=$3 amount=$4 secs err
    shift 4
    err=$(mktemp)
    if secs=$(python3 "$helper" "$@" 2>"$err"); then
        printf '  %-16s %-8s %10.4f s\n' "$test" "$side" "$secs"
    else
        secs=nan
        printf '  %-16s %-8s FAILED: %s\n' "$test" "$side" "$(tail -n 3 "$err" | tr '\n' ' ')"
    fi
    rm -f "$err"
    printf '%s\t%s\t%s\t%s\t%s\n' "$test" "$side" "$run" "$secs" "$amount" >>"$RAW"
}

write_test() {
    local test=$1 run=$2 bs=$3 count=$4 mib=$5 side
    shift 5
    tag=$((tag + 1))
    python3 "$helper" stamp "$SRC" "$tag"
    for side in "${SIDES[@]}"; do
        rm -f "${DIR[$side]}/w.bin"
        sync
        cat "$SRC" >/dev/null
        record "$test" "$side" "$run" "$mib" run --timeout "$OP_TIMEOUT" -- \
            dd if="$SRC" of="${DIR[$side]}/w.bin" bs="$bs" count="$count" status=none "$@"
    done
}

for run in $(seq 1 "$RUNS"); do
    echo
    echo "== run $run/$RUNS"
    write_test write-1m "$run" 1M "$SIZE_MIB" "$SIZE_MIB"
    if [[ $DSYNC_MIB -gt 0 ]]; then
        write_test write-1m-dsync "$run" 1M "$DSYNC_MIB" "$DSYNC_MIB" oflag=dsync
    fi
    write_test write-1m-fsync "$run" 1M "$SIZE_MIB" "$SIZE_MIB" conv=fsync
    write_test write-32k "$run" 32K $((SIZE_MIB * 32)) "$SIZE_MIB"
    if [[ $DSYNC_MIB -gt 0 ]]; then
        write_test write-32k-dsync "$run" 32K $((DSYNC_MIB * 32)) "$DSYNC_MIB" oflag=dsync
    fi
    write_test write-32k-fsync "$run" 32K $((SIZE_MIB * 32)) "$SIZE_MIB" conv=fsync

    if [[ $COLD == 1 ]]; then
        for side in "${SIDES[@]}"; do
            sync
            echo 3 >/proc/sys/vm/drop_caches
            record read-cold "$side" "$run" "$SIZE_MIB" run --timeout "$OP_TIMEOUT" -- \
                dd if="${DIR[$side]}/w.bin" of=/dev/null bs=1M status=none
        done
    fi
    for side in "${SIDES[@]}"; do
        sync
        cat "${DIR[$side]}/w.bin" >/dev/null
        record read-warm "$side" "$run" "$SIZE_MIB" run --timeout "$OP_TIMEOUT" -- \
            dd if="${DIR[$side]}/w.bin" of=/dev/null bs=1M status=none
    done

    for side in "${SIDES[@]}"; do
        mkdir "${DIR[$side]}/small-$run"
        sync
        record create "$side" "$run" "$FILES" create "${DIR[$side]}/small-$run" "$FILES" "$FILE_SIZE"
    done
    for side in "${SIDES[@]}"; do
        sync
        record ls-l "$side" "$run" "$FILES" ls "${DIR[$side]}/small-$run" "$LS_REPEAT"
    done

    for side in "${SIDES[@]}"; do
        rm -f "${DIR[$side]}/w.bin" || echo "  (removing ${DIR[$side]}/w.bin failed)" >&2
    done
done
for side in "${SIDES[@]}"; do
    rm -rf "${DIR[$side]}"/small-* || echo "  (removing the small files in ${DIR[$side]} failed)" >&2
done

if [[ -n $DAEMON_PID && -r /proc/$DAEMON_PID/stat ]]; then
    read -r utime stime < <(awk '{print $14, $15}' /proc/$DAEMON_PID/stat)
    tck=$(getconf CLK_TCK)
    echo
    echo "daemon:   cpu $(( (utime + stime) / tck )) s (user $((utime / tck)) s, sys $((stime / tck)) s)," \
        "rss $(awk '/VmRSS/ {print $2, $3}' /proc/$DAEMON_PID/status), $(ls /proc/$DAEMON_PID/task | wc -l) threads"
fi
echo "store:    $(du -sh --one-file-system "$STORE" 2>/dev/null | cut -f1) after deleting every benchmark file" \
    "($(cd "$STORE" && du -sh --one-file-system -- * .[!.]* 2>/dev/null | awk '{printf "%s%s %s", s, $2, $1; s=", "}'))"

echo
echo "== results ($RUNS runs per side, medians)"
if [[ -n $TSV ]]; then
    python3 "$helper" report "$RAW" --tsv "$TSV.tmp"
    mv "$TSV.tmp" "$TSV"
    echo "TSV: $TSV"
else
    python3 "$helper" report "$RAW"
fi
