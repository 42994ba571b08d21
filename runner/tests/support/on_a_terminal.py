#!/usr/bin/env python3
"""Runs a command on a new pseudo-terminal, as a terminal emulator would,
and prints what it wrote there, then its exit status.

The command is its session's leader with the terminal as its controlling
terminal and stdin, stdout and stderr, 24 rows by 80 columns. When its
output shows "ready-for-intr" this types Ctrl-C; when it shows
"ready-for-line" it types a line; `--type AFTER TEXT` (before the
command, repeatable) types TEXT once the output shows AFTER instead, in
order, each a third of a second after its marker (TEXT takes Python's
escapes: a backslash-n is a newline, a backslash-x03 Ctrl-C). Used by runner/tests/signals.rs and
runner/tests/oci_containerd.rs to compare a program on a terminal natively
and sandboxed. Gives up after 30 seconds (status 124).
"""
import codecs
import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time


def main():
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))

    def take_terminal():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    args = sys.argv[1:]
    answers = []
    while args and args[0] == "--type":
        text = codecs.decode(args[2], "unicode_escape")
        answers.append((args[1].encode(), text.encode("latin-1")))
        args = args[3:]
    if not answers:
        answers = [(b"ready-for-intr", b"\x03"), (b"ready-for-line", b"typed line\n")]
    child = subprocess.Popen(
        args,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=take_terminal,
    )
    os.close(slave)
    out = b""
    seen = 0  # answers look for their marker after the last one's
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: every holder of the terminal is gone
                break
            if not data:
                break
            out += data
            while answers and answers[0][0] in out[seen:]:
                seen = out.index(answers[0][0], seen) + len(answers[0][0])
                time.sleep(0.3)
                os.write(master, answers.pop(0)[1])
        elif child.poll() is not None:
            break
    else:
        child.kill()
        sys.stdout.buffer.write(out)
        print("\n[timed out]")
        sys.exit(124)
    status = child.wait()
    sys.stdout.buffer.write(out)
    print(f"[status {status}]")


main()
