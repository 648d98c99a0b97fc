#!/usr/bin/env bash
# The district console end to end in headless Chromium (Debian's chromium and chromium-driver,
# Python selenium): the built epochfs, copied outside the checkout (its templates are inside
# it), serves a fresh store as a web user this script creates and removes again.
#
# Usage: scripts/browser-test.sh [--update-docs]   (as root, after swift build)
#   Screenshots go to $EPOCHFS_TEST_OUTPUT/console (default /tmp/epochfs-test-output/console);
#   --update-docs also copies them to docs/console/.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "error: the browser test creates a system user: run as root" >&2; exit 1; }
update_docs=0
[[ ${1:-} == --update-docs ]] && update_docs=1

built=${EPOCHFS_BINARY:-.build/debug/epochfs}
[[ -x $built ]] || { echo "error: no $built: build first (swift build)" >&2; exit 1; }
output=${EPOCHFS_TEST_OUTPUT:-/tmp/epochfs-test-output}/console
rm -rf "$output"
mkdir -p "$output"

user=epochfs-web-test
work=$(mktemp -d /tmp/epochfs-browser.XXXXXX)
cleanup() {
    # The test stops the server it started (userdel refuses a user that still has processes).
    getent passwd "$user" >/dev/null && { userdel "$user" || echo "browser-test: could not remove user $user" >&2; }
    getent group "$user" >/dev/null && groupdel "$user" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
getent passwd "$user" >/dev/null && userdel "$user"
useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
    --comment "EpochFS browser test" "$user"

# The binary outside the checkout: no template or style sheet can come from the tree.
mkdir -p "$work/bin"
cp "$built" "$work/bin/epochfs"
chmod 0711 "$work"
printf 'web_user = %s\n' "$user" > "$work/epochfs.conf"
chmod 0644 "$work/epochfs.conf"

EPOCHFS_CONFIG="$work/epochfs.conf" EPOCHFS="$work/bin/epochfs" STORE="$work/store" WEB_USER="$user" \
    OUTPUT="$output" python3 Tests/Browser/console_test.py

if (( update_docs )); then
    mkdir -p docs/console
    cp "$output"/*.png docs/console/
    echo "browser-test: screenshots copied to docs/console/"
fi
