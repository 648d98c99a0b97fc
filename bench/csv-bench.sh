#!/usr/bin/env bash
# CSV reading throughput per core on a large OneRoster-shaped users.csv (quoted lists, commas
# in names, CRLF), generated fresh in a scratch directory.
#
# Usage: bench/csv-bench.sh [--mb N]     (default 256 MB)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
mb=256
[[ ${1:-} == --mb ]] && mb=$2
work=$(mktemp -d /var/tmp/csv-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work/users.csv" "$mb" <<'PY'
import random, sys
path, mb = sys.argv[1], int(sys.argv[2])
random.seed(7)
names = ["Nuñez", "O'Connor", "Smith, Jr.", "Lee", "García", "Nguyen", "Müller", "Okafor"]
header = "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\r\n"
with open(path, "w", encoding="utf-8", newline="") as f:
    f.write(header)
    size, i = len(header), 0
    while size < mb * 1_000_000:
        family = random.choice(names)
        family = f'"{family}"' if "," in family else family
        row = (f"u{i:09d},,,true,\"org{i % 40},org{i % 7}\",student,user{i},\"{{LDAP:{i}}}\",Ana,{family},,"
               f"{100000 + i},user{i}@example.org,,,,\"0{i % 9 + 1}\",\r\n")
        f.write(row)
        size += len(row.encode())
        i += 1
PY
cd "$repo"
swift build -c release --product ingest-bench >/dev/null
"$(swift build -c release --show-bin-path)/ingest-bench" "$work/users.csv"
echo "target: >= 100 MB/s per core"
