#!/usr/bin/env bash
# OpenSSH sftp upload and download of one large file into the EpochFS mount, against the same
# through a plain chrooted directory on the same disk: two sshd instances on loopback, the same
# user, key and cipher, runs alternating plain/epochfs, medians and the ratio epochfs/plain.
# Also reports where the CPU went per transfer: the client (sftp + ssh, from its rusage), the
# epochfs daemon (its utime+stime), and the rest (every CPU's busy time in /proc/stat minus
# those two: the sshd session, writeback and interrupts).
#
# Usage: bench/sftp-bench.sh [options]          (as root)
#   --bin PATH     epochfs binary (default .build/release/epochfs)
#   --size MIB     file size (default 512)
#   --runs N       runs per side (default 3)
#   --base DIR     root-owned 0755 working directory (default /srv/epochfs-sftpbench)
#   --cipher C     ssh cipher (default aes128-gcm@openssh.com)
#   --cold-download      drop the page cache (echo 3 > drop_caches) before every download, both
#                  sides: the download then reads from disk, not from what the upload left cached
#   --quota-bytes SIZE   give the district a byte quota (its writes then bypass the kernel's
#                  writeback cache: see docs/operations.md, "Quotas")
#   --mount-arg ARG      extra argument for `epochfs mount` (repeatable), e.g. --no-passthrough
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
BIN=$repo/.build/release/epochfs
SIZE=512
RUNS=3
BASE=/srv/epochfs-sftpbench
CIPHER=aes128-gcm@openssh.com
USER_NAME=sftpbench
QUOTA=
COLD=0
MOUNT_ARGS=()

die() { echo "sftp-bench: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --bin) BIN=$2; shift 2 ;;
        --size) SIZE=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --base) BASE=$2; shift 2 ;;
        --cipher) CIPHER=$2; shift 2 ;;
        --quota-bytes) QUOTA=$2; shift 2 ;;
        --mount-arg) MOUNT_ARGS+=("$2"); shift 2 ;;
        --cold-download) COLD=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ $(id -u) -eq 0 ]] || die "run as root (it mounts, creates a user and starts sshd)"
[[ -x $BIN ]] || die "no epochfs binary at $BIN: swift build -c release, or pass --bin"
for tool in /usr/sbin/sshd /usr/bin/sftp /usr/bin/ssh-keygen /usr/bin/time; do
    [[ -x $tool ]] || die "$tool is missing (apt-get install openssh-server openssh-client time)"
done

mnt=$BASE/mnt
store=$BASE/store
plain=$BASE/plain
work=$BASE/work
sshd_pids=()

cleanup() {
    set +e
    for pid in "${sshd_pids[@]}"; do kill "$pid" 2>/dev/null; done
    sleep 0.5
    if mountpoint -q "$mnt"; then
        "$BASE/bin/epochfs" district remove "$USER_NAME" --delete-data --store "$store" >/dev/null 2>&1
        fusermount3 -u "$mnt" || umount -l "$mnt"
    fi
    getent passwd "$USER_NAME" >/dev/null && userdel "$USER_NAME" 2>/dev/null
    rm -rf --one-file-system "$BASE"
}
[[ -n ${SFTP_BENCH_KEEP:-} ]] || trap cleanup EXIT

if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u "$mnt" || umount -l "$mnt"; fi
rm -rf --one-file-system "$BASE"
mkdir -p "$BASE"/{mnt,bin,ssh,work} "$plain/$USER_NAME/upload" /run/sshd
chmod 0755 "$BASE" "$BASE/mnt" "$BASE/bin" "$plain" "$plain/$USER_NAME"
chmod 0700 "$BASE/ssh" "$work"
install -m 0755 "$BIN" "$BASE/bin/epochfs"
for group in epochfs-districts epochfs-keys; do getent group "$group" >/dev/null || groupadd --system "$group"; done
getent passwd epochfs-keys >/dev/null || useradd --system --gid epochfs-keys --no-create-home \
    --home-dir /nonexistent --shell /usr/sbin/nologin epochfs-keys

EPOCHFS_CONFIG=/nonexistent "$BASE/bin/epochfs" mount "$mnt" --store "$store" "${MOUNT_ARGS[@]}" >/dev/null
daemon=$(pgrep -f "epochfs mount $mnt " | head -1)
getent passwd "$USER_NAME" >/dev/null && userdel "$USER_NAME"
EPOCHFS_CONFIG=/nonexistent "$BASE/bin/epochfs" district add "$USER_NAME" --create-user --store "$store" >/dev/null
[[ -z $QUOTA ]] || EPOCHFS_CONFIG=/nonexistent "$BASE/bin/epochfs" district set "$USER_NAME" --quota-bytes "$QUOTA" \
    --store "$store" >/dev/null
chown "$USER_NAME:$USER_NAME" "$plain/$USER_NAME/upload"
ssh-keygen -q -t ed25519 -N '' -f "$BASE/ssh/client"
EPOCHFS_CONFIG=/nonexistent "$BASE/bin/epochfs" keys add "$USER_NAME" "$BASE/ssh/client.pub" --store "$store" >/dev/null
install -m 0644 "$BASE/ssh/client.pub" "$BASE/bin/plain_authorized_keys"  # read by sshd as the user
ssh-keygen -q -t ed25519 -N '' -f "$BASE/ssh/host"

# Two sshd: the shipped EpochFS drop-in, and the same settings over a plain directory.
port_epochfs=42201
port_plain=42202
sh "$repo/mount-scripts/epochfs-sshd-config" --mount "$mnt" --epochfs "$BASE/bin/epochfs" --store "$store" \
    > "$BASE/ssh/epochfs.conf"
sed -e "s|^Match Group .*|Match User $USER_NAME|" \
    -e "s|ChrootDirectory .*|ChrootDirectory $plain/%u|" \
    -e "s|AuthorizedKeysFile none|AuthorizedKeysFile $BASE/bin/plain_authorized_keys|" \
    -e "/AuthorizedKeysCommand/d" "$BASE/ssh/epochfs.conf" > "$BASE/ssh/plain.conf"
for side in epochfs plain; do
    port_var=port_$side
    cat > "$BASE/ssh/sshd_$side" <<EOF
Port ${!port_var}
ListenAddress 127.0.0.1
HostKey $BASE/ssh/host
PidFile $BASE/ssh/sshd_$side.pid
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
Include $BASE/ssh/$side.conf
EOF
    /usr/sbin/sshd -t -f "$BASE/ssh/sshd_$side"
    /usr/sbin/sshd -f "$BASE/ssh/sshd_$side" -E "$BASE/ssh/sshd_$side.log"
done
for _ in $(seq 50); do [[ -s $BASE/ssh/sshd_epochfs.pid && -s $BASE/ssh/sshd_plain.pid ]] && break; sleep 0.1; done
sshd_pids=("$(cat "$BASE/ssh/sshd_epochfs.pid")" "$(cat "$BASE/ssh/sshd_plain.pid")")
declare -A listener=([epochfs]=${sshd_pids[0]} [plain]=${sshd_pids[1]})
declare -A port=([epochfs]=$port_epochfs [plain]=$port_plain)

# CPU seconds a process used (utime+stime), and all CPUs' busy time (everything but idle and iowait).
ticks=$(getconf CLK_TCK)
cpu_self() { awk -v t="$ticks" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
cpu_busy() { awk -v t="$ticks" '$1 == "cpu" { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / t }' /proc/stat; }

# Runs one sftp command; prints "seconds client_cpu rest_cpu daemon_cpu".
transfer() {
    local side=$1 command=$2
    local s0 d0 t0 t1 s1 d1 client
    s0=$(cpu_busy)
    d0=$(cpu_self "$daemon")
    t0=$(date +%s.%N)
    client=$( { /usr/bin/time -f "%U %S" /usr/bin/sftp -q -b - -P "${port[$side]}" -i "$BASE/ssh/client" \
        -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o LogLevel=ERROR -o Ciphers="$CIPHER" "$USER_NAME@127.0.0.1" <<<"$command" >/dev/null; } 2>&1 | tail -1) \
        || { echo "sftp-bench: $side: '$command' failed: $client" >&2; return 1; }
    t1=$(date +%s.%N)
    s1=$(cpu_busy)
    d1=$(cpu_self "$daemon")
    awk -v t0="$t0" -v t1="$t1" -v c="$client" -v s0="$s0" -v s1="$s1" -v d0="$d0" -v d1="$d1" -v side="$side" \
        'BEGIN { split(c, u, " "); daemon = side == "epochfs" ? d1 - d0 : 0
                 printf "%.3f %.2f %.2f %.2f\n", t1 - t0, u[1] + u[2], s1 - s0 - u[1] - u[2] - daemon, daemon }'
}

src=$work/source.bin
results=$work/results
: > "$results"
echo "sftp-bench: $SIZE MiB, $RUNS runs per side, cipher $CIPHER, epochfs $BIN${QUOTA:+, district quota $QUOTA bytes}$([[ $COLD == 0 ]] || echo ", cold downloads")"
for run in $(seq "$RUNS"); do
    # New random content every run: a content-addressed store must not see the same file twice.
    dd if=/dev/urandom of="$src" bs=1M count="$SIZE" status=none
    cat "$src" > /dev/null
    for side in plain epochfs; do
        sync
        line=$(transfer "$side" "put $src /upload/file.bin") || die "upload failed"
        echo "$run $side upload $line" >> "$results"
        sync
        [[ $COLD == 0 ]] || echo 3 > /proc/sys/vm/drop_caches
        line=$(transfer "$side" "get /upload/file.bin $work/back.bin") || die "download failed"
        echo "$run $side download $line" >> "$results"
        cmp -s "$src" "$work/back.bin" || die "$side: the downloaded file differs from the uploaded one"
        rm -f "$work/back.bin"
        transfer "$side" "rm /upload/file.bin" > /dev/null
    done
done

echo
printf '%-9s %-8s %9s %9s %10s %10s %10s\n' direction side "MiB/s" ratio "client s" "rest s" "daemon s"
for direction in upload download; do
    for side in plain epochfs; do
        awk -v d="$direction" -v s="$side" '$2 == s && $3 == d' "$results" | sort -k4 -n | awk -v size="$SIZE" '
            { t[NR] = $4; c[NR] = $5; h[NR] = $6; m[NR] = $7 }
            END { i = int((NR + 1) / 2); printf "%.1f %.2f %.2f %.2f\n", size / t[i], c[i], h[i], m[i] }' \
            > "$work/median-$direction-$side"
    done
    read -r plain_rate plain_client plain_sshd _ < "$work/median-$direction-plain"
    read -r ep_rate ep_client ep_sshd ep_daemon < "$work/median-$direction-epochfs"
    printf '%-9s %-8s %9s %9s %10s %10s %10s\n' "$direction" plain "$plain_rate" "" "$plain_client" "$plain_sshd" "-"
    printf '%-9s %-8s %9s %9s %10s %10s %10s\n' "$direction" epochfs "$ep_rate" \
        "$(awk -v a="$ep_rate" -v b="$plain_rate" 'BEGIN { printf "%.2f", a / b }')" "$ep_client" "$ep_sshd" "$ep_daemon"
done
echo
echo "raw (run side direction seconds client_cpu rest_cpu daemon_cpu):"
cat "$results"
