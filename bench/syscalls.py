#!/usr/bin/env python3
"""Syscall-bound programs, side by side in one run (docs/benchmarks.md,
"Exitless syscalls"): native, `runner exec` with every syscall trapping
(`--syscalls exit`), with the syscall ring from the start (`--syscalls
ring`) and from a thread's first reused site on (`--syscalls auto`),
qemu-x86_64, and gVisor (`runsc --platform=ptrace do`). Each case's variants
run interleaved, REPS times; the table gives median wall seconds and median
CPU seconds (user + system of the whole process tree, from wait4), each
with its ratio to native.

    cargo build --release -p runner -p samples
    python3 bench/syscalls.py [--reps N] [--mib N] [--markdown FILE]
"""

import argparse
import glob
import os
import shutil
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(ROOT, "target", "release", "runner")
QEMU = shutil.which("qemu-x86_64")
RUNSC = shutil.which("runsc")
BUSYBOX = "/bin/busybox"

GETPID_LOOP = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000, sum = 0;
    for (long i = 0; i < n; i++)
        sum += getpid();
    printf("%ld\n", sum > 0);
    return 0;
}
"""


def run_once(argv, stdin_path=None):
    """(wall seconds, CPU seconds) of one run; fails on a non-zero status."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    if stdin_path:
        stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {code}: {err.strip()}")
    return wall, usage.ru_utime + usage.ru_stime


def interleaved(variants, reps, stdin_path=None):
    results = {name: ([], []) for name in variants}
    for argv in variants.values():
        run_once(argv, stdin_path)  # warm-up: page cache, binaries
    for _ in range(reps):
        for name, argv in variants.items():
            wall, cpu = run_once(argv, stdin_path)
            results[name][0].append(wall)
            results[name][1].append(cpu)
    return results


def variants_for(program, args, policy):
    v = {
        "native": [program] + args,
        "runner --syscalls exit": [RUNNER, "exec", "--syscalls", "exit", "--policy", policy, program] + args,
        "runner --syscalls ring": [RUNNER, "exec", "--syscalls", "ring", "--policy", policy, program] + args,
        "runner --syscalls auto": [RUNNER, "exec", "--syscalls", "auto", "--policy", policy, program] + args,
    }
    if QEMU:
        v["qemu-x86_64"] = [QEMU, program] + args
    if RUNSC:
        v["gVisor (runsc --platform=ptrace do)"] = [RUNSC, "--platform=ptrace", "--network=none", "do", program] + args
    return v


def flat_cat_variants(policy):
    """The flat `cat` sample (4 KiB reads and writes from stdin to stdout)
    under the runner; natively coreutils' cat (the issue's baseline, 128 KiB
    reads) and the sample's twin (the same object linked as an ELF by the
    samples build), which qemu-x86_64 and gVisor run too."""
    flat = os.path.join(ROOT, "target", "samples", "cat.bin")
    twins = sorted(glob.glob(os.path.join(ROOT, "target", "*", "build", "samples-*", "out", "cat.elf")),
                   key=os.path.getmtime)
    if not os.path.exists(flat) or not twins:
        return None
    twin = twins[-1]
    v = {
        "native": ["cat"],
        "native twin of the sample": [twin],
        "runner --syscalls exit": [RUNNER, "exec", "--syscalls", "exit", "--policy", policy, flat],
        "runner --syscalls ring": [RUNNER, "exec", "--syscalls", "ring", "--policy", policy, flat],
        "runner --syscalls auto": [RUNNER, "exec", "--syscalls", "auto", "--policy", policy, flat],
    }
    if QEMU:
        v["qemu-x86_64 (twin)"] = [QEMU, twin]
    if RUNSC:
        v["gVisor (twin)"] = [RUNSC, "--platform=ptrace", "--network=none", "do", twin]
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--calls", type=int, default=200000)
    ap.add_argument("--markdown")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="thinvisor-syscalls-")
    src = os.path.join(tmp, "getpid_loop.c")
    with open(src, "w") as f:
        f.write(GETPID_LOOP)
    loop = os.path.join(tmp, "getpid_loop")
    subprocess.run(["cc", "-O2", "-static", "-o", loop, src], check=True)
    data = os.path.join(tmp, "data.bin")
    with open(data, "wb") as f:
        f.write(os.urandom(a.mib << 20))
    policy = os.path.join(tmp, "policy.toml")
    with open(policy, "w") as f:
        f.write('[limits]\nmemory = "256MiB"\nwall_time = "600s"\n')
        for tree, access in [("/usr", "read-exec"), ("/lib", "read-exec"), ("/lib64", "read-exec"),
                             ("/etc", "read"), (tmp, "read")]:
            f.write(f'[[files]]\npath = "{tree}"\naccess = "{access}"\n')
    cases = [
        (f"getpid x {a.calls} through glibc (static)", loop, [str(a.calls)]),
        (f"busybox sha256sum {a.mib} MiB", BUSYBOX, ["sha256sum", data]),
        (f"busybox cat {a.mib} MiB > /dev/null", BUSYBOX, ["cat", data]),
        ("find /usr/lib -name '*.so*' (dynamic, glibc)", "/usr/bin/find", ["/usr/lib", "-name", "*.so*"]),
    ]
    runs = [(case, variants_for(program, args, policy), None) for case, program, args in cases]
    flat = flat_cat_variants(policy)
    if flat:
        runs.insert(3, (f"cat {a.mib} MiB stdin > /dev/null (flat sample, 4 KiB reads)", flat, data))
    else:
        print("(no flat cat sample: cargo build --release -p samples)")
    rows = []
    for case, variants, stdin_path in runs:
        r = interleaved(variants, a.reps, stdin_path)
        base_wall = statistics.median(r["native"][0])
        base_cpu = statistics.median(r["native"][1])
        for name, (walls, cpus) in r.items():
            w, c = statistics.median(walls), statistics.median(cpus)
            rows.append((case, name, f"{w:.3f}", f"{w / base_wall:.1f}x", f"{c:.3f}",
                         f"{c / base_cpu:.1f}x" if base_cpu > 0 else "-"))
    head = ("case", "variant", "wall s", "vs native", "CPU s", "vs native")
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    out = "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(x) for x in rows])
    print(out)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(out + "\n")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
