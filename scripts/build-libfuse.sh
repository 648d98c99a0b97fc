#!/usr/bin/env bash
# Builds libfuse 3.17 into /opt/epochfs/libfuse (what Package.swift links against).
#
# Debian 12 ships libfuse 3.14, which cannot negotiate what EpochFS's I/O paths rely on
# (FUSE passthrough, HANDLE_KILLPRIV_V2, shared mmap with direct I/O; see
# docs/performance.md). The source is Debian 13's fuse3 package, fetched with apt from a
# deb-src line of its own for the Debian archive the machine's apt sources already use (so
# apt checks it against trixie's signed Release file) and
# built with meson: under a minute. Nothing of the system's libfuse is replaced; fusermount3
# and the kernel module stay Debian 12's. Run as root; does nothing when already built.
#
# --examples DIR: also build libfuse's example filesystems passthrough_hp and memfs_ll (C++)
# from the same source into DIR, for bench/fuse-floor.sh (run them with
# LD_LIBRARY_PATH=/opt/epochfs/libfuse/lib). An installed library is left as it is: rewriting a
# shared library in place would break a daemon running on it.
set -euo pipefail
prefix=/opt/epochfs/libfuse
examples=
if [[ ${1:-} == --examples ]]; then
    [[ -n ${2:-} ]] || { echo "usage: $0 [--examples DIR]" >&2; exit 2; }
    examples=$2
fi
installed=0
if [[ -e $prefix/lib/libfuse3.so.4 && -e $prefix/include/fuse3/fuse_lowlevel.h ]]; then
    installed=1
fi
if [[ $installed == 1 && ( -z $examples || -x $examples/passthrough_hp ) ]]; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
packages=(gcc libc6-dev meson ninja-build pkg-config)
[[ -z $examples ]] || packages+=(g++)
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial"
# The same Debian archive (mirror or proxy included) the machine's own apt sources name for
# its release, asked for trixie's sources instead.
archive=$(apt-get indextargets --format '$(ORIGIN) $(CODENAME) $(REPO_URI)' 2>/dev/null \
    | awk '$1 == "Debian" && $2 !~ /-/ { print $3; exit }')
if [[ -z $archive ]]; then
    echo "error: no Debian archive among this machine's apt sources (run apt-get update first)" >&2
    exit 1
fi
echo "deb-src $archive trixie main" >"$work/trixie.list"
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
    -Dexamples="$([[ -n $examples ]] && echo true || echo false)" -Dutils=false -Dtests=false \
    -Ddisable-mtab=true >/dev/null
if [[ $installed == 0 ]]; then
    ninja -C "$work/build" install >/dev/null
    echo "libfuse $(basename "$source_dir" | sed 's/^fuse-//') installed in $prefix"
fi
if [[ -n $examples ]]; then
    ninja -C "$work/build" example/passthrough_hp example/memfs_ll >/dev/null
    mkdir -p "$examples"
    install -m 0755 "$work/build/example/passthrough_hp" "$work/build/example/memfs_ll" "$examples/"
    echo "libfuse's passthrough_hp and memfs_ll installed in $examples"
fi
