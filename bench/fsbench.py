#!/usr/bin/env python3
"""Helper for fs-bench.sh: timed operations and the final report.

Subcommands (times are printed in seconds on stdout):
  run [--timeout S] -- CMD...     time one command (stdout to /dev/null)
  stamp FILE TAG                  make every 4 KiB page of FILE unique (16-byte tag + page index)
  create DIR COUNT SIZE           time creating COUNT files of SIZE unique random bytes in DIR
  ls DIR REPEAT                   run `ls -l DIR` once to warm, then print the median of REPEAT timed runs
  report RAW [--tsv OUT]          print the table from RAW lines: test side run seconds amount
"""

import mmap
import os
import statistics
import struct
import subprocess
import sys
import time

PAGE = 4096

# name -> (label, kind, unit, target). kind "rate": amount/seconds, ratio epochfs/native;
# kind "time": seconds, ratio native/epochfs. Both ratios read as "fraction of native speed".
TESTS = {
    "write-1m": ("seq write 1 MiB blocks, no fsync", "rate", "MiB/s", None),
    "write-1m-dsync": ("seq write 1 MiB blocks, O_DSYNC each", "rate", "MiB/s", None),
    "write-1m-fsync": ("seq write 1 MiB blocks, fsync at end", "rate", "MiB/s", 0.5),
    "write-32k": ("seq write 32 KiB blocks, no fsync", "rate", "MiB/s", None),
    "write-32k-dsync": ("seq write 32 KiB blocks, O_DSYNC each", "rate", "MiB/s", None),
    "write-32k-fsync": ("seq write 32 KiB blocks, fsync at end", "rate", "MiB/s", 0.4),
    "read-cold": ("seq read 1 MiB blocks, caches dropped", "rate", "MiB/s", None),
    "read-warm": ("seq read 1 MiB blocks, warm", "rate", "MiB/s", 0.85),
    "create": ("create small files (unique content)", "rate", "files/s", 0.6),
    "ls-l": ("warm ls -l of the small-file directory", "time", "ms", 0.4),
}


def die(msg):
    print(f"fsbench.py: {msg}", file=sys.stderr)
    sys.exit(2)


def cmd_run(args):
    timeout = None
    if args and args[0] == "--timeout":
        timeout = float(args[1])
        args = args[2:]
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        die("run: no command")
    start = time.perf_counter()
    try:
        proc = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        die(f"run: timed out after {timeout:.0f} s: {' '.join(args)}")
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode(errors="replace"))
        die(f"run: exit status {proc.returncode}: {' '.join(args)}")
    print(f"{elapsed:.6f}")


def cmd_stamp(args):
    path, tag = args[0], int(args[1])
    size = os.path.getsize(path)
    if size % PAGE:
        die("stamp: file size is not a multiple of 4096")
    fd = os.open(path, os.O_RDWR)
    try:
        with mmap.mmap(fd, size) as m:
            pack = struct.Struct("<QQ").pack
            for page in range(size // PAGE):
                off = page * PAGE
                m[off:off + 16] = pack(tag, page)
            m.flush()
    finally:
        os.close(fd)


def cmd_create(args):
    directory, count, size = args[0], int(args[1]), int(args[2])
    blob = os.urandom(count * size)
    payloads = [blob[i * size:(i + 1) * size] for i in range(count)]
    names = [os.path.join(directory, f"f{i:06d}") for i in range(count)]
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    op, wr, cl = os.open, os.write, os.close
    start = time.perf_counter()
    for name, data in zip(names, payloads):
        fd = op(name, flags, 0o644)
        wr(fd, data)
        cl(fd)
    elapsed = time.perf_counter() - start
    print(f"{elapsed:.6f}")


def cmd_ls(args):
    directory, repeat = args[0], int(args[1])
    env = dict(os.environ, LC_ALL="C")
    argv = ["ls", "-l", directory]

    def once():
        start = time.perf_counter()
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr.decode(errors="replace"))
            die(f"ls: exit status {proc.returncode}")
        return elapsed

    once()
    print(f"{statistics.median(once() for _ in range(repeat)):.6f}")


def fmt(value, unit):
    if value is None:
        return "FAIL"
    if unit == "ms":
        return f"{value:.1f}"
    if value >= 1000:
        return f"{value:.0f}"
    return f"{value:.1f}"


def cmd_report(args):
    raw, tsv = args[0], None
    if len(args) >= 3 and args[1] == "--tsv":
        tsv = args[2]
    samples = {}  # (test, side) -> list of values in the test's unit (None for a failed run)
    order = []
    with open(raw) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 5:
                continue
            test, side, _run, seconds, amount = parts
            if test not in TESTS:
                continue
            if test not in order:
                order.append(test)
            _label, kind, _unit, _target = TESTS[test]
            try:
                secs = float(seconds)
                value = float(amount) / secs if kind == "rate" else secs * 1000.0
                if secs <= 0:
                    value = None
            except ValueError:
                value = None
            samples.setdefault((test, side), []).append(value)

    rows = []
    for test in sorted(order, key=list(TESTS).index):
        label, kind, unit, target = TESTS[test]
        nat = samples.get((test, "native"), [])
        epo = samples.get((test, "epochfs"), [])
        nat_ok = [v for v in nat if v is not None]
        epo_ok = [v for v in epo if v is not None]
        nat_med = statistics.median(nat_ok) if nat_ok else None
        epo_med = statistics.median(epo_ok) if epo_ok and len(epo_ok) == len(epo) else None
        ratio = None
        pair = None
        if nat_med and epo_med:
            ratio = epo_med / nat_med if kind == "rate" else nat_med / epo_med
            pairs = [(e / n if kind == "rate" else n / e) for n, e in zip(nat, epo)
                     if n is not None and e is not None]
            pair = statistics.median(pairs) if pairs else None
        verdict = "-" if target is None else ("FAIL" if ratio is None else ("ok" if ratio >= target else "below"))
        rows.append(dict(test=test, label=label, unit=unit, nat=nat_med, epo=epo_med, ratio=ratio,
                         pair=pair, target=target, verdict=verdict, runs=len(epo), nat_all=nat, epo_all=epo))

    head = ("test", "unit", "native", "epochfs", "ratio", "target", "")
    table = [head]
    for r in rows:
        table.append((r["test"], r["unit"], fmt(r["nat"], r["unit"]), fmt(r["epo"], r["unit"]),
                      "-" if r["ratio"] is None else f"{r['ratio']:.2f}",
                      "-" if r["target"] is None else f">= {r['target']:.2f}", r["verdict"]))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    right = {2, 3, 4}
    for n, row in enumerate(table):
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(row)]
        print("  ".join(cells).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths).rstrip())
    print()
    print("ratio = median(epochfs)/median(native) for rates, median(native)/median(epochfs) for times;")
    print("higher is better, 1.00 = native speed.  Per-run values (native | epochfs):")
    for r in rows:
        nat = " ".join(fmt(v, r["unit"]) for v in r["nat_all"])
        epo = " ".join(fmt(v, r["unit"]) for v in r["epo_all"])
        pair = "-" if r["pair"] is None else f"{r['pair']:.2f}"
        print(f"  {r['test']:<16} {nat} | {epo}   (median of per-run ratios {pair})")

    if tsv:
        with open(tsv, "w") as out:
            out.write("test\tunit\tnative\tepochfs\tratio\ttarget\tverdict\truns\tpair_ratio_median"
                      "\tnative_runs\tepochfs_runs\tdescription\n")
            for r in rows:
                num = lambda v: "nan" if v is None else f"{v:.4f}"
                out.write("\t".join([
                    r["test"], r["unit"], num(r["nat"]), num(r["epo"]), num(r["ratio"]),
                    "" if r["target"] is None else f"{r['target']:.2f}", r["verdict"], str(r["runs"]),
                    num(r["pair"]), ",".join(num(v) for v in r["nat_all"]),
                    ",".join(num(v) for v in r["epo_all"]), r["label"]]) + "\n")


def main():
    if len(sys.argv) < 2:
        die(__doc__.strip())
    sub, args = sys.argv[1], sys.argv[2:]
    handlers = {"run": cmd_run, "stamp": cmd_stamp, "create": cmd_create, "ls": cmd_ls, "report": cmd_report}
    if sub not in handlers:
        die(f"unknown subcommand {sub}")
    handlers[sub](args)


if __name__ == "__main__":
    main()
