#!/usr/bin/env bash
# Installs the Debian packages EpochFS builds, runs and is tested with (Debian 12).
# The Swift 6.3 toolchain itself is expected on PATH.
set -euo pipefail
if ! command -v swift >/dev/null; then
    echo "error: swift is not on PATH: install the Swift 6.3 toolchain for Debian 12 first (swift.org/install)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Waits for another apt or dpkg (unattended-upgrades on a fresh machine) instead of failing.
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    fuse3 libsqlite3-dev sqlite3 attr rsync util-linux coreutils findutils diffutils procps \
    passwd openssh-server openssh-client lftp python3-paramiko zlib1g-dev zip unzip gdb \
    chromium chromium-driver python3-pip \
    >/dev/null
# The console's browser test drives Chromium with selenium, from PyPI. Debian's own python3
# refuses pip installs into it unless told (PEP 668); a python3 of its own (pyenv) does not.
if ! python3 -c 'import selenium' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check selenium 2>/dev/null \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages selenium
fi
bash "$(dirname "$0")/build-libfuse.sh"
