#!/usr/bin/env bash
# Validation throughput per core on a generated, valid OneRoster 1.1 bulk set (every check of
# the built-in profile: headers, values, duplicate ids, references), written fresh into a
# scratch directory and read twice (the first pass warms the page cache).
#
# Usage: bench/validation-bench.sh [--mb N]     (default 256 MB)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
mb=256
[[ ${1:-} == --mb ]] && mb=$2
work=$(mktemp -d /var/tmp/validation-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$repo"
swift build -c release --product ingest-bench >/dev/null
"$(swift build -c release --show-bin-path)/ingest-bench" --oneroster-set "$mb" "$work"
echo "target: >= 100 MB/s per core"
