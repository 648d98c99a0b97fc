#!/usr/bin/env bash
# Builds the fuzz targets of Fuzz/ (libFuzzer, through swiftc -sanitize=fuzzer) and runs each
# for the given seconds over its seed corpus in Fuzz/Corpus/ and the inputs earlier runs on this
# machine found. Exits non-zero when a target crashed, ran out of memory or hung on an input;
# the log says where libFuzzer left that input.
#
# Usage: scripts/fuzz.sh [seconds-per-target] [target...]   (default: 25 s, every target)
# Reproduce a crash: .build-fuzz/release/fuzz-TARGET FILE (runs that one input).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-25}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(csv validator manifest zip sshkeys)
# The validator reads CSV files: it starts from the CSV reader's seeds.
declare -A seeds=([csv]=csv [validator]=csv [manifest]=manifest [zip]=zip [sshkeys]=sshkeys)

scratch=$PWD/.build-fuzz
build=(swift build --package-path Fuzz -c release --scratch-path "$scratch"
       -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library)
mkdir -p "$scratch/logs"
started=$SECONDS
if ! "${build[@]}" >"$scratch/logs/build.log" 2>&1; then
    grep -E 'error' "$scratch/logs/build.log" | head -n 40 >&2
    echo "error: the fuzz targets did not build; log in $scratch/logs/build.log" >&2
    exit 1
fi
bin=$("${build[@]}" --show-bin-path)
for target in "${targets[@]}"; do
    [ -x "$bin/fuzz-$target" ] || { echo "error: no fuzz target fuzz-$target" >&2; exit 1; }
done
echo "fuzz targets built in $((SECONDS - started)) s"

# A crash must reach libFuzzer as a signal, which the Swift runtime's backtracer would take first.
export SWIFT_BACKTRACE=enable=no
# The targets write each input to a file; in memory where there is /dev/shm.
TMPDIR=$(mktemp -d "$( [ -d /dev/shm ] && echo /dev/shm || echo /tmp)/epochfs-fuzz.XXXXXX")
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT

failed=()
for target in "${targets[@]}"; do
    corpus=$scratch/corpus/$target
    artifacts=$scratch/crashes/$target
    log=$scratch/logs/fuzz-$target.log
    mkdir -p "$corpus" "$artifacts"
    # New inputs go to the first folder, never into the seeds. -timeout: one input taking
    # longer is a hang; -rss_limit_mb (and the malloc limit it sets): memory a hostile file
    # must not make the reader take.
    if "$bin/fuzz-$target" "$corpus" "Fuzz/Corpus/${seeds[$target]}" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -max_len=8192 -artifact_prefix="$artifacts/" >"$log" 2>&1; then
        coverage=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' || true)
        echo "fuzz-$target: $(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | sed 's/second/s/'), no crash ($coverage)"
    else
        tail -n 40 "$log"
        input=$(grep -oE 'Test unit written to .*' "$log" | sed 's/Test unit written to //' || true)
        echo "fuzz-$target FAILED: input in ${input:-(none written)}; log in $log" >&2
        echo "reproduce (with a Swift backtrace): $bin/fuzz-$target ${input:-FILE}" >&2
        failed+=("$target")
    fi
done
echo "fuzzing took $((SECONDS - started)) s in all"
[ ${#failed[@]} -eq 0 ] || { echo "fuzz targets that failed: ${failed[*]}" >&2; exit 1; }
