#!/usr/bin/env bash
# Installs what EpochFS needs, builds it, mounts a demo store with a demo district, starts
# a stock sshd on a loopback port (2222, or $EPOCHFS_DEMO_PORT) for that district, and the
# district console on 127.0.0.1:8480 (or $EPOCHFS_DEMO_WEB_PORT) with an invitation for it.
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
for group in epochfs-staff epochfs-districts epochfs-keys; do
    getent group "$group" >/dev/null || groupadd --system "$group"
done
getent passwd epochfs-keys >/dev/null || useradd --system --gid epochfs-keys --no-create-home \
    --home-dir /nonexistent --shell /usr/sbin/nologin epochfs-keys
# The district console's user, before the mount: the daemon opens its control socket to that
# user when it starts.
getent passwd epochfs-web >/dev/null || useradd --system --user-group --no-create-home \
    --home-dir /nonexistent --shell /usr/sbin/nologin epochfs-web

epochfs mount "$base/mnt" --store "$store" --staff-group epochfs-staff
if ! id demo >/dev/null 2>&1; then
    epochfs district add demo --create-user --store "$store"
else
    # A demo user from an earlier demo: make it a district user (key logins only, chrooted).
    usermod -aG epochfs-districts -p '*' -s /usr/sbin/nologin -d /upload demo
    districts=$(epochfs district list --store "$store")
    grep -q '^demo\b' <<<"$districts" || epochfs district add demo --store "$store"
fi

# A key for the demo district, and a stock sshd of the demo's own on a loopback port with
# the shipped configuration (the host's sshd is left alone).
port=${EPOCHFS_DEMO_PORT:-2222}
ssh_dir=$base/ssh
mkdir -p "$ssh_dir" /run/sshd
chmod 0700 "$ssh_dir"
[ -f "$base/demo_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C 'demo district' -f "$base/demo_ed25519"
epochfs keys add demo "$base/demo_ed25519.pub" --store "$store" >/dev/null
[ -f "$ssh_dir/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$ssh_dir/ssh_host_ed25519_key"
sh mount-scripts/epochfs-sshd-config --mount "$base/mnt" --epochfs /usr/local/bin/epochfs --store "$store" \
    > "$ssh_dir/epochfs.conf"
cat > "$ssh_dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $ssh_dir/ssh_host_ed25519_key
PidFile $ssh_dir/sshd.pid
UsePAM no
AllowGroups epochfs-districts
Subsystem sftp internal-sftp
Include $ssh_dir/epochfs.conf
EOF
if [ -f "$ssh_dir/sshd.pid" ] && kill "$(cat "$ssh_dir/sshd.pid")" 2>/dev/null; then sleep 1; fi
/usr/sbin/sshd -t -f "$ssh_dir/sshd_config"
/usr/sbin/sshd -f "$ssh_dir/sshd_config" -E "$ssh_dir/sshd.log"

# The district console, as its own user (never root), and an invitation for the demo
# district's administrator.
web_port=${EPOCHFS_DEMO_WEB_PORT:-8480}
if [ -f "$base/web.pid" ] && kill "$(cat "$base/web.pid")" 2>/dev/null; then sleep 1; fi
invitation=$(epochfs web invite demo admin@demo.example --store "$store" --base-url "http://127.0.0.1:$web_port" | tail -n 1)
setpriv --reuid=epochfs-web --regid=epochfs-web --clear-groups \
    epochfs web serve --listen "127.0.0.1:$web_port" --store "$store" > "$base/web.log" 2>&1 &
echo $! > "$base/web.pid"

# A small Clever-style set to upload as a nightly epoch, and its marker.
sample=$base/sample
mkdir -p "$sample"
printf 'School_id,School_name,School_number\r\nS1,North High,001\r\n' > "$sample/schools.csv"
printf 'School_id,Student_id,Last_name,First_name\r\nS1,1001,Nunez,Ana\r\nS1,1002,Smith,Bo\r\n' > "$sample/students.csv"
printf 'School_id,Teacher_id,First_name,Last_name\r\nS1,T1,Dee,Park\r\n' > "$sample/teachers.csv"
printf 'School_id,Section_id,Teacher_id\r\nS1,SEC1,T1\r\n' > "$sample/sections.csv"
printf 'School_id,Section_id,Student_id\r\nS1,SEC1,1001\r\nS1,SEC1,1002\r\n' > "$sample/enrollments.csv"
: > "$sample/.done"
epoch=$(date -u +%Y%m%dT%H%M%SZ)

echo
echo "EpochFS is mounted on $base/mnt (store $store); sshd for districts listens on 127.0.0.1:$port."
echo "Upload as the demo district (its key is root's):"
echo "  sftp -i $base/demo_ed25519 -P $port demo@127.0.0.1"
echo "Upload a nightly epoch (a Clever-style set, then its .done marker) in one go:"
echo "  printf 'mkdir $epoch\\ncd $epoch\\nlcd $sample\\nput *.csv\\nput .done\\n' | sftp -b - -i $base/demo_ed25519 -P $port demo@127.0.0.1"
echo "  ls -l $base/mnt/demo/upload-processed/$epoch     # processing-succeeded.log, processing.json, SHA256SUMS"
echo "  epochfs epochs list --store $store"
echo "The server's host key, to compare with what sftp shows on first connect:"
epochfs host-key --directory "$ssh_dir" | sed 's/^/  /'
echo "Browse as staff or root:"
echo "  ls -la $base/mnt/demo/upload"
echo "  getfattr -n user.sha256 $base/mnt/demo/upload-processed/$epoch/students.csv"
echo "  epochfs keys list demo --store $store"
echo "The district console listens on http://127.0.0.1:$web_port (log: $base/web.log);"
echo "the demo district's administrator sets a password at this one-time link:"
echo "  $invitation"
echo "Stop: kill \$(cat $ssh_dir/sshd.pid) \$(cat $base/web.pid); fusermount3 -u $base/mnt"
