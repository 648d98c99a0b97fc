#!/usr/bin/env bash
# Builds libfuse 3.17 into /opt/epochfs/libfuse (what Package.swift links against).
#
# Debian 12 ships libfuse 3.14, which cannot negotiate what EpochFS's I/O paths rely on
# (FUSE passthrough, HANDLE_KILLPRIV_V2, shared mmap with direct I/O; see
# docs/performance.md). The source is Debian 13's fuse3 package, fetched with apt from a
# deb-src line of its own (so apt checks it against trixie's signed Release file) and
# built with meson: under a minute. Nothing of the system's libfuse is replaced; fusermount3
# and the kernel module stay Debian 12's. Run as root; does nothing when already built.
set -euo pipefail
prefix=/opt/epochfs/libfuse
if [[ -e $prefix/lib/libfuse3.so.4 && -e $prefix/include/fuse3/fuse_lowlevel.h ]]; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends gcc libc6-dev meson ninja-build pkg-config >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial"
echo "deb-src http://deb.debian.org/debian trixie main" >"$work/trixie.list"
# (APT::Sandbox::User=root: the download lands in this root-only directory.)
apt_trixie=(-o "Dir::Etc::SourceList=$work/trixie.list" -o "Dir::Etc::SourceParts=/dev/null"
            -o "Dir::State::Lists=$work/lists" -o "APT::Sandbox::User=root" -o "DPkg::Lock::Timeout=600" -qq)
apt-get "${apt_trixie[@]}" update
(cd "$work" && apt-get "${apt_trixie[@]}" source --download-only fuse3 >/dev/null)
tarball=$(ls "$work"/fuse3_3.17.*.orig.tar.gz 2>/dev/null | head -n1 || true)
if [[ -z $tarball ]]; then
    echo "error: Debian 13's fuse3 source is no longer 3.17.x ($(ls "$work")): update scripts/build-libfuse.sh" >&2
    exit 1
fi
tar -xzf "$tarball" -C "$work"
source_dir=$(find "$work" -maxdepth 1 -type d -name 'fuse-3.17*' | head -n1)
meson setup "$work/build" "$source_dir" --prefix="$prefix" --libdir=lib --buildtype=release \
    -Dexamples=false -Dutils=false -Dtests=false -Ddisable-mtab=true >/dev/null
ninja -C "$work/build" install >/dev/null
echo "libfuse $(basename "$source_dir" | sed 's/^fuse-//') installed in $prefix"
