#!/usr/bin/env python3
"""Runs per second of a static musl hello, side by side: native exec,
`runner exec` (cold), and `runner exec --server` against a `runner serve`
and against a `runner serve --policy` (workers locked down ahead)
(docs/benchmarks.md, "Served runs per second"). CONCURRENCY client loops
run for SECONDS each way; every run must print the hello and exit 0. CPU
seconds are those of every process involved (clients, and for the served
rows the server with its workers).

    bench/serve_rate.py [--seconds S] [--concurrency C] [--workers W]
"""
import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import threading
import time

from bench import HELLO_C, RUNNER, Server, empty_policy, musl_build, small_client


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def proc_cpu(pid):
    """utime + stime of `pid` and of its reaped children, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def loop(argv, until, counts, errors):
    n = 0
    while time.monotonic() < until:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0 or r.stdout != b"hello\n":
            errors.append(f"{argv}: status {r.returncode}, stdout {r.stdout!r}, stderr {r.stderr!r}")
            return
        n += 1
    counts.append(n)


def rate(argv, seconds, concurrency, server_pid=None):
    counts, errors = [], []
    cpu0 = children_cpu() + (proc_cpu(server_pid) if server_pid else 0)
    start = time.monotonic()
    until = start + seconds
    threads = [threading.Thread(target=loop, args=(argv, until, counts, errors))
               for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    cpu = children_cpu() + (proc_cpu(server_pid) if server_pid else 0) - cpu0
    if errors:
        raise SystemExit("serve_rate: " + errors[0])
    runs = sum(counts)
    return runs, runs / wall, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp()
    try:
        hello = musl_build(tmp, "hello", HELLO_C)
        client = small_client(tmp)
        server_log = open(os.path.join(tmp, "server.err"), "w+")
        with Server(tmp, workers=a.workers, log=server_log) as server, \
                Server(tmp, workers=a.workers, log=server_log, policy=empty_policy(tmp)) as ahead:
            rows = [
                ("native exec", [hello], None),
                ("runner exec", [RUNNER, "exec", hello], None),
                (f"runner exec --server ({a.workers} workers)",
                 [RUNNER, "exec", "--server", server.socket, hello], server.proc.pid),
                (f"runner exec --server, locked down ahead ({a.workers} workers)",
                 [RUNNER, "exec", "--server", ahead.socket, hello], ahead.proc.pid),
                (f"thinvisor-exec --server, locked down ahead ({a.workers} workers)",
                 [client, "--server", ahead.socket, hello], ahead.proc.pid),
            ]
            print("| variant | runs | runs/s | CPU s | CPU ms per run |")
            print("| --- | --- | --- | --- | --- |")
            for name, argv, pid in rows:
                try:
                    runs, per_s, cpu = rate(argv, a.seconds, a.concurrency, pid)
                except SystemExit:
                    server_log.seek(0)
                    print("serve_rate: the server's log:\n" + server_log.read())
                    raise
                print(f"| {name} | {runs} | {per_s:.0f} | {cpu:.1f} | {1e3 * cpu / runs:.2f} |")
        print(f"({a.concurrency} client loops, {a.seconds:.0f} s each, {os.cpu_count()} CPUs)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
