#!/usr/bin/env python3
"""thinvisor benchmark driver: runs each case's variants interleaved (A, B, C,
A, B, C, ...) so machine noise hits all of them alike, and prints medians and
ratios. Invoked by bench/run.sh after the release build."""

import argparse
import glob
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(ROOT, "target", "release", "runner")
SAMPLES = os.path.join(ROOT, "target", "samples")
QEMU = shutil.which("qemu-x86_64")
BUSYBOX = shutil.which("busybox")


def run_once(argv, stdin_path=None, stdout=subprocess.DEVNULL):
    """Runs argv; returns (seconds, exit status, peak RSS of the child in KiB)."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    finally:
        if stdin_path:
            stdin.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {err.strip()}")
    return elapsed, proc.returncode, usage.ru_maxrss


def interleaved(variants, reps, stdin_path=None):
    """variants: {name: argv}. Returns {name: [seconds...]}."""
    times = {name: [] for name in variants}
    for name, argv in variants.items():  # warm-up (page cache, binaries)
        run_once(argv, stdin_path)
    for _ in range(reps):
        for name, argv in variants.items():
            times[name].append(run_once(argv, stdin_path)[0])
    return times


def runner_exec(program, args=(), policy=None, stats=None, extra=()):
    argv = [RUNNER, "exec"]
    if policy:
        argv += ["--policy", policy]
    if stats:
        argv += ["--stats", stats]
    argv += list(extra)
    return argv + [program] + list(args)


class Table:
    def __init__(self):
        self.rows = []

    def add(self, case, variant, value, unit, ratio=""):
        self.rows.append((case, variant, value, unit, ratio))

    def render(self):
        head = ("case", "variant", "median", "unit", "ratio")
        widths = [max(len(str(r[i])) for r in self.rows + [head]) for i in range(5)]
        line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
        out = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        out += [line(r) for r in self.rows]
        return "\n".join(out)


def med(xs):
    return statistics.median(xs)


def compare(table, case, times, base="native", unit_scale=1e3, unit="ms"):
    for name, xs in times.items():
        ratio = ""
        if base in times and name != base:
            ratio = f"{med(xs) / med(times[base]):.2f}x {base}"
        table.add(case, name, f"{med(xs) * unit_scale:.2f}", unit, ratio)


def musl_build(tmp, name, source):
    src = os.path.join(tmp, name + ".c")
    with open(src, "w") as f:
        f.write(source)
    exe = os.path.join(tmp, name)
    subprocess.run(["musl-gcc", "-O2", "-static", "-o", exe, src], check=True)
    return exe


HELLO_C = '#include <stdio.h>\nint main(void){puts("hello");return 0;}\n'


class Server:
    """A `runner serve` for the duration of a `with` block."""

    def __init__(self, tmp, workers=2, log=None, policy=None, tag=""):
        # policy: `runner serve --policy`, workers locked down ahead (an
        # empty file: the default policy, which clients name by no
        # --policy at all). tag: tells apart servers of one kind.
        name = ("runner-ahead" if policy else "runner") + tag + ".sock"
        self.socket = os.path.join(tmp, name)
        self.workers = workers
        self.log = log  # a file for the server's stderr, else /dev/null
        self.policy = policy

    def __enter__(self):
        extra = ["--policy", self.policy] if self.policy else []
        self.proc = subprocess.Popen(
            [RUNNER, "serve", "--socket", self.socket, "--workers", str(self.workers)] + extra,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self.log or subprocess.DEVNULL)
        deadline = time.time() + 10
        while not os.path.exists(self.socket):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("runner serve did not start")
            time.sleep(0.02)
        time.sleep(0.2)  # let its workers build their VMs
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def empty_policy(tmp):
    """An empty policy file (the default policy) for `runner serve --policy`."""
    path = os.path.join(tmp, "default-policy.toml")
    open(path, "w").close()
    return path


def small_client(tmp):
    """`thinvisor-exec` (`runner install-client`), the small front end of
    `runner exec`, installed into tmp."""
    path = os.path.join(tmp, "thinvisor-exec")
    subprocess.run([RUNNER, "install-client", path], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path


def cold_start(table, tmp, reps):
    exe = musl_build(tmp, "hello", HELLO_C)
    client = small_client(tmp)
    case = "cold start: static musl hello"
    # A server for each served variant: a served run's worker is replaced
    # as it runs, and the replacement's start (a runner process building a
    # VM) must not land on the next variant's run.
    policy = empty_policy(tmp)
    with Server(tmp) as server, Server(tmp, policy=policy) as ahead, \
            Server(tmp, tag="-c") as server_c, Server(tmp, policy=policy, tag="-c") as ahead_c:
        variants = {
            "native": [exe],
            "runner": runner_exec(exe),
            "runner --server (VM built ahead)": runner_exec(exe, extra=["--server", server.socket]),
            "runner --server, locked down ahead (serve --policy)": runner_exec(
                exe, extra=["--server", ahead.socket]),
            "thinvisor-exec --server": [client, "--server", server_c.socket, exe],
            "thinvisor-exec --server, locked down ahead": [client, "--server", ahead_c.socket, exe],
        }
        if QEMU:
            variants["qemu-x86_64"] = [QEMU, exe]
        times = interleaved(variants, reps)
    compare(table, case, times)
    if "qemu-x86_64" in times:
        for name in ("runner", "runner --server (VM built ahead)",
                     "runner --server, locked down ahead (serve --policy)",
                     "thinvisor-exec --server, locked down ahead"):
            table.add(case, f"{name} vs qemu", f"{med(times['qemu-x86_64']) / med(times[name]):.1f}", "x faster", "")
    cold_start_phases(table, tmp, exe, reps)


PHASES = ("prepare", "build_vm", "lock_down", "run")


def cold_start_phases(table, tmp, exe, reps):
    """Where a cold start goes: the phases `--stats` records inside the
    runner, and the rest (process start before them, the VM's teardown at
    exit after them) as the outside time minus `wall_ns`."""
    stats = os.path.join(tmp, "hello-stats.json")
    phases = {p: [] for p in PHASES}
    outside = []
    for _ in range(reps):
        elapsed = run_once(runner_exec(exe, stats=stats))[0]
        with open(stats) as f:
            s = json.load(f)
        for p in PHASES:
            phases[p].append(s["phases_ns"][p] / 1e6)
        outside.append(elapsed * 1e3 - s["wall_ns"] / 1e6)
    case = "cold start: where the runner's time goes"
    for p in PHASES:
        table.add(case, f"phase {p} (--stats)", f"{med(phases[p]):.2f}", "ms")
    table.add(case, "process start + VM teardown", f"{med(outside):.2f}", "ms", "outside wall_ns")


def compute(table, tmp, reps, size_mib):
    data = os.path.join(tmp, "data.bin")
    with open(data, "wb") as f:
        f.write(os.urandom(size_mib << 20))
    policy = os.path.join(tmp, "read-data.toml")
    with open(policy, "w") as f:
        f.write(f'[limits]\nmemory = "256MiB"\n[[files]]\npath = "{tmp}"\naccess = "read"\n')
    if BUSYBOX:
        variants = {
            "native": [BUSYBOX, "sha256sum", data],
            "runner": runner_exec(BUSYBOX, ["sha256sum", data], policy=policy),
            "runner --huge-pages off": runner_exec(BUSYBOX, ["sha256sum", data], policy=policy,
                                                   extra=["--huge-pages", "off"]),
        }
        if QEMU:
            variants["qemu-x86_64"] = [QEMU, BUSYBOX, "sha256sum", data]
        compare(table, f"compute: busybox sha256sum {size_mib} MiB", interleaved(variants, reps))
    musl_bench = os.path.join(SAMPLES, "bench")
    if os.path.exists(musl_bench):
        variants = {
            "native": [musl_bench, "20000000"],
            "runner": runner_exec(musl_bench, ["20000000"]),
            "runner --huge-pages off": runner_exec(musl_bench, ["20000000"],
                                                   extra=["--huge-pages", "off"]),
        }
        if QEMU:
            variants["qemu-x86_64"] = [QEMU, musl_bench, "20000000"]
        compare(table, "compute: musl bench sample (sieve + sha256, 2e7)", interleaved(variants, reps))
    # The flat sample's native twin: the same object linked as an ELF at the
    # same address by the samples build (OUT_DIR/compute.elf).
    flat = os.path.join(SAMPLES, "compute.bin")
    twins = sorted(glob.glob(os.path.join(ROOT, "target", "*", "build", "samples-*", "out", "compute.elf")), key=os.path.getmtime)
    variants = {"runner": runner_exec(flat, ["300000000"])}
    if twins:
        variants = {"native": [twins[-1], "300000000"], **variants}
    compare(table, "compute: xorshift 3e8, registers only (flat sample)", interleaved(variants, reps))


def syscall_path(table, tmp, reps, n):
    stats = os.path.join(tmp, "stats.json")
    flat = os.path.join(SAMPLES, "syscall_loop.bin")
    times = interleaved({"runner": runner_exec(flat, [str(n)], stats=stats)}, reps)
    with open(stats) as f:
        s = json.load(f)
    per = med(times["runner"]) / n
    table.add(f"syscall path: {n} getpid", "time per syscall", f"{per * 1e6:.2f}", "us", "")
    table.add(f"syscall path: {n} getpid", "exits per syscall", f"{s['exits'] / (n + 2):.3f}", "", "")
    table.add(f"syscall path: {n} getpid", "vCPU ioctls per syscall", f"{(s['vcpu_ioctls'] - s['vcpu_ioctls_other']) / (n + 2):.3f}", "", f"+{s['vcpu_ioctls_other']} setup")
    info = subprocess.run([RUNNER, "info"], capture_output=True, text=True, check=True).stdout
    for line in info.splitlines():
        if line.startswith("exit round trip:"):
            bare = float(line.split()[3])
            table.add(f"syscall path: {n} getpid", "runner info exit round trip", f"{bare:.2f}", "us", f"{per * 1e6 / bare:.2f}x (loop/bare)")


def clock_path(table, tmp, reps, n):
    """clock_gettime(CLOCK_MONOTONIC) through the C library (the musl clocks
    sample), timed by the sample itself: natively, under the runner with the
    vDSO, and with the vDSO turned off by the policy (every call an exit)."""
    sample = os.path.join(SAMPLES, "clocks")
    no_vdso = os.path.join(tmp, "no-vdso.toml")
    with open(no_vdso, "w") as f:
        f.write("[syscalls]\nvdso = false\n")
    stats = os.path.join(tmp, "clock-stats.json")
    variants = {
        "native": [sample, "bench", str(n)],
        "runner (vDSO)": runner_exec(sample, ["bench", str(n)], stats=stats),
        "runner, vdso = false": runner_exec(sample, ["bench", str(n)], policy=no_vdso, stats=stats),
    }
    case = f"syscall path: {n} clock_gettime via libc"
    per = {name: [] for name in variants}
    exits = {}
    for rep in range(reps + 1):  # the first round warms up
        for name, argv in variants.items():
            out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
            ns = float(out.split(",")[1].split()[0])  # "clock_gettime: N calls, X ns per call"
            if rep:
                per[name].append(ns)
            if name != "native":
                with open(stats) as f:
                    exits[name] = json.load(f)["exits"]
    for name, xs in per.items():
        ratio = "" if name == "native" else f"{med(xs) / med(per['native']):.1f}x native"
        table.add(case, f"{name}: time per call", f"{med(xs) / 1e3:.3f}", "us", ratio)
    for name, e in exits.items():
        table.add(case, f"{name}: exits per call", f"{e / n:.4f}", "", f"{e} exits in all")


def file_io(table, tmp, reps, size_mib):
    data = os.path.join(tmp, "cat.bin")
    with open(data, "wb") as f:
        f.write(os.urandom(size_mib << 20))
    flat = os.path.join(SAMPLES, "cat.bin")
    variants = {"native cat": ["cat"]}
    # The flat sample's native twin (the same object linked as an ELF by the
    # samples build): the same 4 KiB reads and writes, where coreutils' cat
    # reads 128 KiB at a time.
    twins = sorted(glob.glob(os.path.join(ROOT, "target", "*", "build", "samples-*", "out", "cat.elf")), key=os.path.getmtime)
    if twins:
        variants["native twin of the flat cat sample"] = [twins[-1]]
    variants["runner --syscalls exit (flat cat sample)"] = runner_exec(flat, extra=["--syscalls", "exit"])
    variants["runner --syscalls ring (flat cat sample)"] = runner_exec(flat, extra=["--syscalls", "ring"])
    times = interleaved(variants, reps, stdin_path=data)
    compare(table, f"file I/O: cat {size_mib} MiB stdin->/dev/null", times, base="native cat")


def memory_overhead(table, tmp):
    # Peak RSS via GNU time: os.wait4's ru_maxrss would also count the
    # Python process the child was forked from, before it exec'd.
    stats = os.path.join(tmp, "mem.json")
    rss_file = os.path.join(tmp, "rss.txt")
    flat = os.path.join(SAMPLES, "hello.bin")
    run_once(["/usr/bin/time", "-f", "%M", "-o", rss_file] + runner_exec(flat, stats=stats))
    with open(rss_file) as f:
        rss_kib = int(f.read().split()[-1])
    with open(stats) as f:
        guest = json.load(f)["peak_guest_memory_bytes"]
    table.add("runner memory", "peak RSS", f"{rss_kib / 1024:.1f}", "MiB", "")
    table.add("runner memory", "guest peak memory", f"{guest / (1 << 20):.1f}", "MiB", "")
    table.add("runner memory", "overhead (RSS - guest)", f"{(rss_kib * 1024 - guest) / (1 << 20):.1f}", "MiB", "")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument("--quick", action="store_true", help="small sizes and 3 repetitions")
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--only", help="run only the cases whose step name contains this (cold, compute, syscall, syscall-clock, file, memory)")
    a = ap.parse_args()
    reps = 3 if a.quick else a.reps
    size = 8 if a.quick else 64
    n = 10000 if a.quick else 100000
    table = Table()
    with tempfile.TemporaryDirectory(prefix="thinvisor-bench-") as tmp:
        for name, step in (
            ("cold", lambda: cold_start(table, tmp, reps)),
            ("compute", lambda: compute(table, tmp, reps, size)),
            ("syscall", lambda: syscall_path(table, tmp, reps, n)),
            ("syscall-clock", lambda: clock_path(table, tmp, reps, n)),
            ("file", lambda: file_io(table, tmp, reps, size)),
            ("memory", lambda: memory_overhead(table, tmp)),
        ):
            if a.only and a.only not in name:
                continue
            try:
                step()
            except Exception as e:  # a failing case is reported, the rest still run
                table.add("ERROR", type(e).__name__, str(e)[:120], "", "")
    text = table.render()
    uname = os.uname()
    header = f"machine: {uname.sysname} {uname.release}, {os.cpu_count()} CPUs; reps={reps}"
    print(header)
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(header + "\n\n" + text + "\n")
    return 1 if any(r[0] == "ERROR" for r in table.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
