#!/usr/bin/env bash
# Time from the close of an epoch's marker (.done) to the epoch published in
# upload-processed/ with its log, for small epochs (a five-file Clever-style set), on a fresh
# mount of the release build.
#
# Usage: sudo bench/epoch-bench.sh [--epochs N]     (default 30)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
epochs=30
[[ ${1:-} == --epochs ]] && epochs=$2
. "$here/mount-lib.sh"
bench_mount epoch --settle-seconds 3600
"$bin" district add bench --uid 0 --gid 0 --store "$base/store" >/dev/null
/usr/bin/python3 - "$base/mnt/bench" "$epochs" <<'PY'
import os, statistics, sys, time
root, count = sys.argv[1], int(sys.argv[2])
files = {
    "schools.csv": "School_id,School_name,School_number\r\nS1,North High,001\r\n",
    "students.csv": "School_id,Student_id,Last_name,First_name\r\n" + "".join(f"S1,{1000 + n},Family{n},Given{n}\r\n" for n in range(500)),
    "teachers.csv": "School_id,Teacher_id,First_name,Last_name\r\nS1,T1,Dee,Park\r\n",
    "sections.csv": "School_id,Section_id,Teacher_id\r\nS1,SEC1,T1\r\n",
    "enrollments.csv": "School_id,Section_id,Student_id\r\n" + "".join(f"S1,SEC1,{1000 + n}\r\n" for n in range(500)),
}
latencies = []
for i in range(count):
    name = str(1764374400 + i * 86400)
    epoch = f"{root}/upload/{name}"
    os.mkdir(epoch)
    for file, text in files.items():
        with open(f"{epoch}/{file}", "w") as f:
            f.write(text)
    log = f"{root}/upload-processed/{name}/processing-succeeded.log"
    with open(f"{epoch}/.done", "w"):
        pass
    closed = time.monotonic()
    while not os.path.exists(log):
        if time.monotonic() - closed > 30:
            sys.exit(f"epoch {name} was not published within 30 s")
        time.sleep(0.002)
    latencies.append(time.monotonic() - closed)
latencies.sort()
print(f"marker close to published epoch, {count} small epochs (5 files, {sum(len(t) for t in files.values())} bytes): "
      f"median {statistics.median(latencies) * 1000:.0f} ms, p90 {latencies[int(0.9 * (count - 1))] * 1000:.0f} ms, "
      f"max {latencies[-1] * 1000:.0f} ms")
print("target: under 1 s")
PY
