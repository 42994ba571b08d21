#!/usr/bin/env python3
"""When the syscall ring starts (docs/benchmarks.md, "When the ring
starts"): short programs and a call loop under `--syscalls exit`, `auto`
and `ring`, on every CPU the runner may use and on one (taskset), for one
or more runner builds side by side, interleaved. Prints, per row, the
median wall milliseconds of the whole `runner exec` and the median of its
`--stats` run phase (the guest's own time, from its first instruction to
its end), over REPS runs.

    cargo build --release -p runner
    python3 bench/ring_start.py [--reps N] [--runner PATH]...
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import HELLO_C, musl_build  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LOOP = r"""
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv)
{
    for (int i = 0; i < 2000; i++)
        syscall(SYS_getppid);
    return 0;
}
"""



def one(argv, stats):
    t0 = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.decode().strip()}")
    with open(stats) as f:
        run = json.load(f)["phases_ns"]["run"]
    return wall * 1e3, run / 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--runner", action="append",
                    help="a runner binary (repeatable; default target/release/runner)")
    a = ap.parse_args()
    runners = a.runner or [os.path.join(ROOT, "target", "release", "runner")]
    if not shutil.which("musl-gcc"):
        raise SystemExit("ring_start: needs musl-gcc (Debian package musl-tools)")
    work = tempfile.mkdtemp(prefix="thinvisor-ring-start.")
    stats = os.path.join(work, "stats.json")
    programs = [
        ("static hello (5 calls, 5 sites)", [musl_build(work, "hello", HELLO_C)]),
        ("busybox true", ["/bin/busybox", "true"]),
        ("2000 getppid from one site", [musl_build(work, "loop", LOOP)]),
    ]
    rows = []
    for title, program in programs:
        for cpus in (None, "0"):
            variants = {}
            for r in runners:
                for mode in ("exit", "auto", "ring"):
                    pin = ["taskset", "-c", cpus] if cpus else []
                    name = (f"{os.path.relpath(r, ROOT)} {mode}"
                            f"{' (one CPU)' if cpus else ''}")
                    variants[name] = pin + [r, "exec", "--syscalls", mode,
                                            "--stats", stats] + program
            results = {n: ([], []) for n in variants}
            for argv in variants.values():
                one(argv, stats)
            for _ in range(a.reps):
                for n, argv in variants.items():
                    w, g = one(argv, stats)
                    results[n][0].append(w)
                    results[n][1].append(g)
            for n, (w, g) in results.items():
                rows.append((title, n, statistics.median(w), statistics.median(g)))
    width = max(len(t) + len(n) for t, n, _, _ in rows) + 3
    print(f"{'program / runner mode':<{width}} {'wall ms':>9} {'run ms':>9}")
    for t, n, w, g in rows:
        print(f"{t + ' / ' + n:<{width}} {w:9.2f} {g:9.2f}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
