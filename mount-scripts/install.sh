#!/usr/bin/env bash
# Puts EpochFS in place on a Debian 12 host, idempotently: the binary, the groups and the
# key-reading user, the console's user (epochfs-web) and its directory of the store,
# /etc/epochfs/epochfs.conf, the sshd drop-in (checked with `sshd -t` before sshd is
# reloaded), the helper scripts and the systemd units (the mount's and the console's). Run it again after an
# upgrade or a change of options; it changes only what differs.
#
# Usage: mount-scripts/install.sh [options]            (as root)
#   --binary PATH        the epochfs binary to install (default: .build/release/epochfs of this
#                        checkout; an installed /usr/local/bin/epochfs is kept when there is none)
#   --mount DIR          where the mount lives (default /srv/epochfs)
#   --store DIR          the store (default /var/lib/epochfs)
#   --staff-group GROUP  who may browse every district read-only (default epochfs-staff)
#   --retention-days N   processed epochs are pruned N days after publishing (default 30)
#   --no-start           install only; do not enable or (re)start epochfs.service and
#                        epochfs-web.service or reload sshd
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

binary=""
binary_changed=0
web_user_created=0
mount=/srv/epochfs
store=/var/lib/epochfs
staff_group=epochfs-staff
retention_days=30
start=1
districts_group=epochfs-districts
keys_user=epochfs-keys
web_user=epochfs-web

die() { printf "install: %b\n" "$*" >&2; exit 1; }
say() { echo "install: $*"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --binary) binary=$2; shift 2 ;;
        --mount) mount=${2%/}; shift 2 ;;
        --store) store=${2%/}; shift 2 ;;
        --staff-group) staff_group=$2; shift 2 ;;
        --retention-days) retention_days=$2; shift 2 ;;
        --no-start) start=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

[[ $(id -u) -eq 0 ]] || die "run as root (it installs into /usr/local, /etc and systemd)"
[[ -x /usr/sbin/sshd ]] || die "/usr/sbin/sshd is missing: apt-get install openssh-server"
[[ $mount == /* && $store == /* ]] || die "--mount and --store must be absolute paths"
[[ $retention_days =~ ^[0-9]+$ ]] || die "--retention-days takes a whole number of days"
[[ $mount =~ ^[A-Za-z0-9/._-]+$ && $store =~ ^[A-Za-z0-9/._-]+$ ]] \
    || die "--mount and --store may hold only letters, digits and / . _ - (sshd_config and systemd read them unquoted)"

# Installs $1 as $2 with mode $3 unless it is identical already; says so when it changes.
put() {
    local source=$1 target=$2 mode=$3
    if [[ -f $target ]] && cmp -s "$source" "$target"; then return 1; fi
    install -D -o root -g root -m "$mode" "$source" "$target"
    say "installed $target"
}

# 1. The binary. sshd runs it as AuthorizedKeysCommand: root-owned, in root-owned directories.
if [[ -z $binary && -x $repo/.build/release/epochfs ]]; then binary=$repo/.build/release/epochfs; fi
if [[ -n $binary ]]; then
    [[ -x $binary ]] || die "$binary is not an executable (build it: swift build -c release)"
    put "$binary" /usr/local/bin/epochfs 0755 && binary_changed=1
fi
[[ -x /usr/local/bin/epochfs ]] || die "no epochfs binary: build one (swift build -c release) or pass --binary"
# It is linked against libfuse 3.17 in /opt/epochfs/libfuse (scripts/build-libfuse.sh).
if missing=$(ldd /usr/local/bin/epochfs | grep 'not found'); then
    die "/usr/local/bin/epochfs lacks libraries ($missing): run scripts/install-deps.sh on this host"
fi
put "$here/epochfs-end-sessions" /usr/local/sbin/epochfs-end-sessions 0755 || true
put "$here/epochfs-retention" /usr/local/sbin/epochfs-retention 0755 || true
put "$here/epochfs-sshd-config" /usr/local/share/epochfs/epochfs-sshd-config 0755 || true
put "$here/sshd-epochfs.conf.in" /usr/local/share/epochfs/sshd-epochfs.conf.in 0644 || true
for doc in "$repo/README.md" "$repo"/docs/*.md; do
    [[ -f $doc ]] && { put "$doc" "/usr/local/share/doc/epochfs/$(basename "$doc")" 0644 || true; }
done

# 2. Groups; the user sshd runs the key command as (it can read keys and nothing else); the
# user the web console runs as (the daemon's control socket serves it its own requests only).
for group in "$districts_group" "$staff_group" "$keys_user" "$web_user"; do
    getent group "$group" >/dev/null || { groupadd --system "$group"; say "created group $group"; }
done
if ! getent passwd "$keys_user" >/dev/null; then
    useradd --system --gid "$keys_user" --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        --comment "EpochFS: reads districts' SSH keys for sshd" "$keys_user"
    say "created user $keys_user"
fi
if ! getent passwd "$web_user" >/dev/null; then
    useradd --system --gid "$web_user" --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        --comment "EpochFS: the district console" "$web_user"
    say "created user $web_user"
    web_user_created=1
fi

# The console's directory of the store: its accounts and sessions, the web user's alone.
# The store itself is root's; 0711 lets the user through to its directory and no further.
[[ -d $store ]] || install -d -o root -g root -m 0711 "$store"
install -d -o "$web_user" -g "$web_user" -m 0700 "$store/web"

# 3. Configuration: what a plain `epochfs …` (sshd, systemd, an operator) uses.
config=$(mktemp)
trap 'rm -f "$config"' EXIT
cat > "$config" <<EOF
# EpochFS configuration (written by mount-scripts/install.sh).
store = $store
staff_group = $staff_group
keys_group = $keys_user
districts_group = $districts_group
web_user = $web_user
EOF
# An existing file is the operator's: it is never overwritten (a store path reset to the
# default would make the daemon serve an empty store).
if [[ ! -f /etc/epochfs/epochfs.conf ]]; then
    put "$config" /etc/epochfs/epochfs.conf 0644
elif ! cmp -s "$config" /etc/epochfs/epochfs.conf; then
    say "kept /etc/epochfs/epochfs.conf as it is; it differs from these options:"
    diff /etc/epochfs/epochfs.conf "$config" | sed -n 's/^> /  wanted: /p' || true
fi

# 4. The mount point: sshd refuses a chroot below anything group- or world-writable.
mkdir -p "$mount"
if ! mountpoint -q "$mount"; then chown root:root "$mount"; chmod 0755 "$mount"; fi
path=""
for part in $(tr '/' ' ' <<<"${mount#/}"); do
    path="$path/$part"
    read -r owner mode < <(stat -c '%u %a' "$path")
    [[ $owner -eq 0 ]] || die "$path is not owned by root: sshd refuses a ChrootDirectory below it"
    (( (8#$mode & 8#022) == 0 )) || die "$path is group- or world-writable: sshd refuses a ChrootDirectory below it (chmod go-w $path)"
done

# 5. sshd: the drop-in, checked before it can take effect.
mkdir -p /run/sshd
dropin=/etc/ssh/sshd_config.d/epochfs.conf
rendered=$(mktemp)
trap 'rm -f "$config" "$rendered"' EXIT
"$here/epochfs-sshd-config" --mount "$mount" --epochfs /usr/local/bin/epochfs \
    --keys-user "$keys_user" --districts-group "$districts_group" > "$rendered"
if [[ -f /etc/ssh/sshd_config ]] && ! grep -Eq '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\.d/\*\.conf' /etc/ssh/sshd_config; then
    die "/etc/ssh/sshd_config does not include /etc/ssh/sshd_config.d/*.conf: add 'Include /etc/ssh/sshd_config.d/*.conf' at its top"
fi
# sftp clients ask for the "sftp" subsystem; sshd refuses the request (before ForceCommand
# applies) when the main configuration names none. Debian's default configuration has one.
sshd_settings=$(/usr/sbin/sshd -T 2>/dev/null || true)
if ! grep -qi '^subsystem sftp' <<<"$sshd_settings"; then
    die "sshd has no 'Subsystem sftp …' line: add 'Subsystem sftp internal-sftp' to /etc/ssh/sshd_config"
fi
if ! cmp -s "$rendered" "$dropin" 2>/dev/null; then
    backup=""
    [[ -f $dropin ]] && { backup=$(mktemp); cp -p "$dropin" "$backup"; }
    install -D -o root -g root -m 0644 "$rendered" "$dropin"
    if ! check=$(/usr/sbin/sshd -t 2>&1); then
        if [[ -n $backup ]]; then mv "$backup" "$dropin"; else rm -f "$dropin"; fi
        die "sshd -t rejects the configuration with $dropin, so it was not installed:\n$check"
    fi
    [[ -n $backup ]] && rm -f "$backup"
    say "installed $dropin (sshd -t: ok)"
fi

# 6. systemd.
unit=$(mktemp)
trap 'rm -f "$config" "$rendered" "$unit"' EXIT
sed "s|@MOUNT@|$mount|g" "$here/epochfs.service.in" > "$unit"
unit_changed=0
put "$unit" /etc/systemd/system/epochfs.service 0644 && unit_changed=1
sed -e "s|@MOUNT@|$mount|g" -e "s|@DAYS@|$retention_days|g" "$here/epochfs-retention.service.in" > "$unit"
put "$unit" /etc/systemd/system/epochfs-retention.service 0644 || true
put "$here/epochfs-retention.timer" /etc/systemd/system/epochfs-retention.timer 0644 || true
web_unit_changed=0
sed "s|/var/lib/epochfs|$store|g" "$here/epochfs-web.service" > "$unit"
put "$unit" /etc/systemd/system/epochfs-web.service 0644 && web_unit_changed=1

if [[ ! -d /run/systemd/system ]]; then
    say "systemd is not running here: start the mount with  epochfs mount $mount"
    exit 0
fi
systemctl daemon-reload
(( start )) || { say "installed; not started (--no-start)"; exit 0; }
systemctl enable --quiet epochfs.service
systemctl enable --quiet --now epochfs-retention.timer
# A new binary or unit takes effect only in a new daemon (an old one cannot answer requests
# it does not know); restarting ends the sessions inside the mount, and clients reconnect.
# The daemon looks the web console's user up when it starts: a new user needs a new daemon.
if (( unit_changed || binary_changed || web_user_created )) || ! systemctl is-active --quiet epochfs.service; then
    systemctl restart epochfs.service
    say "epochfs.service (re)started: $mount is live"
fi
systemctl enable --quiet epochfs-web.service
if (( web_unit_changed || binary_changed )) || ! systemctl is-active --quiet epochfs-web.service; then
    systemctl restart epochfs-web.service
    say "epochfs-web.service (re)started: the console listens on 127.0.0.1:8480"
fi
# Reloaded every time (sshd -t passed above): a run that stopped before the reload must not
# leave sshd without the drop-in it installed.
if systemctl is-active --quiet ssh.service; then
    /usr/sbin/sshd -t && systemctl reload ssh.service
    say "sshd reloaded"
fi
say "done. Next: epochfs district add NAME --create-user; epochfs keys add NAME FILE.pub;"
say "      epochfs web invite NAME EMAIL (the console: docs/operations.md)"
