#!/bin/sh
# Cases that prove the emulated AMD-V environment of ci/hw-kvm.sh:
#     ci/hw-kvm.sh --probes
# (--probes compiles ci/hw-kvm/probes/*.c with gcc -O2 -static and puts them
# in /extra, on PATH: user-mode and exit-cost, copies of the shared probes,
# and syscall-sysret.) Checks that /dev/kvm is kvm_amd with NPT, then runs the
# probes and asserts the AMD-V semantics that differ from kvm_pvm.
# shellcheck source=cases-lib.sh
. "${HWKVM_LIB:-/hwkvm/cases-lib.sh}"
# shellcheck disable=SC2034 # read by cases-lib.sh
HWKVM_VERBOSE=1   # show what the probes print

# --- the platform
check dev-kvm -- test -c /dev/kvm
check cpuinfo-svm -- grep -qw svm /proc/cpuinfo
check kvm-amd-loaded -- test -d /sys/module/kvm_amd
expect_stdout_contains kvm-amd-npt 0 Y -- cat /sys/module/kvm_amd/parameters/npt
check not-kvm-pvm -- test ! -e /sys/module/kvm_pvm

# --- guest code at CPL0 (exit-cost.c N MODE): every mode must reach HLT.
#     0: CPUID exits, 1: MOV CR3, 2: plain loop, 3: RDTSC.
for m in 0 1 2 3; do
    expect_stdout_contains "exit-cost-mode$m" 0 "mode $m: " -- exit-cost 1000 $m
done

# --- guest code at CPL3 (user-mode.c N MODE). The user loop counts R12 down
#     from N; "r12=0" in the last line means every iteration ran.
# Mode 2, a plain loop at CPL3, ends with UD2 (#UD, vector 6): same on both
# platforms.
expect_stdout_contains user-mode-2-loop 0 "exception vec 6
mode 2: 1000 iters
r12=0" -- user-mode 1000 2

# Mode 0, INT 0x80 through a DPL3 gate: works on AMD-V (N round trips through
# the IDT, then INT 0x80 with EAX=1 halts; no exception, r12=0). On kvm_pvm
# the first INT 0x80 raises #UD instead ("exception vec 6", r12=3e8).
expect_stdout_contains user-mode-0-int80 0 "mode 0: 1000 iters
userspace exits 0)
r12=0" -- user-mode 1000 0
expect_stdout_lacks user-mode-0-int80-no-exception 0 "exception vec" -- user-mode 1000 0

# Mode 3, OUT from CPL3 with IOPL=0: #GP (vector 13) at once here. On kvm_pvm
# it is not refused: N user-space exits, then UD2 (vector 6). kvm_pvm is the
# architecturally right one: the probe's TSS has I/O map base 0, and the bit
# of port 0x10 there is clear, so the port is permitted. The #GP here comes
# from QEMU TCG (check_io in target/i386 refuses port access unless TR has
# type 9, "available"; a TR loaded by VMRUN is type 11, busy), so this case
# pins the emulator's behaviour, not AMD-V's. (The runner's TSS has no I/O
# bitmap at all, so its guests get #GP on every platform.)
expect_stdout_contains user-mode-3-out-gp 0 "exception vec 13
r12=3e8" -- user-mode 1000 3

# SYSCALL/SYSRET (syscall-sysret.c N): on hardware, SYSCALL from CPL3 enters
# the CPL0 handler at LSTAR (a supervisor-only page) and SYSRETQ returns to
# CPL3: N round trips, handler CS 0x8, user CS 0x23. On kvm_pvm SYSCALL stays
# at CPL3 and the fetch at LSTAR faults ("exception vec 14", r13=0).
expect_stdout_contains syscall-sysret 0 "syscall-sysret: OK
r12=0 r13=3e8 r14=23 r15=8" -- syscall-sysret 1000

# user-mode.c mode 1, SYSCALL with LSTAR on a supervisor-only page. kvm_pvm
# does not switch to CPL0, so fetching LSTAR faults (#PF, CR2=LSTAR) and the
# probe's #PF handler emulates the call: "exception vec 14 ... r12=0". A
# genuine SYSCALL enters CPL0 at LSTAR instead, which this probe does not
# expect: LSTAR's page is zero-filled, execution slides into the IRETQ stub at
# 0x11000, which restarts the user loop from its start, forever. So on AMD-V
# it never ends (killed after 5 s) and never takes the #PF path.
_t=$HWKVM_CASE_TIMEOUT; HWKVM_CASE_TIMEOUT=5
expect_stdout_lacks user-mode-1-syscall-no-pf-path 137 "exception vec 14" -- user-mode 1000 1
HWKVM_CASE_TIMEOUT=$_t

# --- the runner, when one was put in (--build or --runner): it must at least
#     start (a static binary that runs in this initramfs).
if [ -n "${HWKVM_RUNNER:-}" ]; then
    check runner-starts -- "$HWKVM_RUNNER" --help
else
    skip runner-starts "no runner in this VM (--no-runner)"
fi
