#!/bin/sh
# The in-VM monitor (docs/monitor.md) on hardware KVM semantics, where its
# SYSCALL gate runs at CPL0 and returns with SYSRETQ:
#     ci/hw-kvm.sh --cases ci/hw-kvm/cases-monitor.sh
# These are the monitor's cases for ci/hw-kvm/cases-runner.sh as well; they
# also run on a host shell against kvm_pvm (HWKVM_LIB=ci/hw-kvm/cases-lib.sh
# HWKVM_RUNNER=target/debug/runner HWKVM_SAMPLES=target/samples sh FILE),
# except the two marked AMD-V-only.
# shellcheck source=cases-lib.sh
. "${HWKVM_LIB:-/hwkvm/cases-lib.sh}"
R=${HWKVM_RUNNER:-/bin/runner}
S=${HWKVM_SAMPLES:-/samples}
T=${TMPDIR:-/tmp}
amd=0
[ -d /sys/module/kvm_amd ] && amd=1

# --- every sample, monitor on (and off for comparison)
expect_run mon-hello 0 "Hello from inside the VM!" -- "$R" exec --monitor on "$S/hello.bin"
expect_run mon-echo 0 "a b" -- "$R" exec --monitor on "$S/echo.bin" a b
expect_run mon-compute 0 "compute: 56b663219f6e38f5" -- "$R" exec --monitor on "$S/compute.bin" 1000
expect_run mon-exit42 42 "" -- "$R" exec --monitor on "$S/exit42.bin"
expect_run mon-syscall-loop 0 "syscall_loop: done" -- "$R" exec --monitor on "$S/syscall_loop.bin" 1000
expect_run mon-memory 0 "memory: ok" -- "$R" exec --monitor on "$S/memory.bin"
expect_run mon-misc 0 "misc: ok" -- "$R" exec --monitor on "$S/misc.bin"
expect_run mon-badptr 0 "badptr: ok" -- "$R" exec --monitor on "$S/badptr.bin"
expect_run mon-unknown-syscall 0 "unknown_syscall: ok" -- "$R" exec --monitor on "$S/unknown_syscall.bin"
expect_run mon-use-after-munmap 139 "" -- "$R" exec --monitor on "$S/use_after_munmap.bin"
expect_run mon-write-after-mprotect 139 "" -- "$R" exec --monitor on "$S/write_after_mprotect.bin"
for f in fault_pf_read:139 fault_pf_write:139 fault_pf_exec:139 fault_gp:139 \
         fault_gp_noncanonical:139 fault_ud:132 fault_de:136 fault_bp:133; do
    expect_run "mon-${f%%:*}" "${f#*:}" "" -- "$R" exec --monitor on "$S/${f%%:*}.bin"
done
expect_run mon-spin 137 "" -- "$R" exec --monitor on --timeout 0.5 "$S/spin.bin"
expect_stdout_contains mon-calls 0 "monitor_calls: ok" -- "$R" exec --monitor on "$S/monitor_calls.bin"
expect_stdout_contains mon-calls-off 0 "monitor_calls: ok" -- "$R" exec --monitor off "$S/monitor_calls.bin"
expect_stdout_contains mon-interleave 0 "monitor_interleave: done" -- "$R" exec --monitor on "$S/monitor_interleave.bin"

# --- zero exits for designated syscalls (stats JSON, one key per line)
expect_run mon-stats-run 0 "syscall_loop: done" -- "$R" exec --monitor on --stats "$T/mon.json" "$S/syscall_loop.bin" 1000
check mon-stats-in-vm -- grep -q '"syscalls_in_vm": 1001,' "$T/mon.json"
check mon-stats-exits -- grep -q '"exits": 1,' "$T/mon.json"
expect_run mon-calls-stats 0 "*" -- "$R" exec --monitor on --stats "$T/calls.json" "$S/monitor_calls.bin"
check mon-calls-exits -- grep -q '"exits": 6,' "$T/calls.json"

# --- the program cannot reach the monitor
expect_stderr_contains mon-read-data 139 "address 0xffffffffc0001000" -- "$R" exec --monitor on "$S/monitor_attack.bin" 1
expect_stderr_contains mon-write-data 139 "address 0xffffffffc0001000" -- "$R" exec --monitor on "$S/monitor_attack.bin" 2
expect_stderr_contains mon-exec-code 139 "address 0xffffffffc0000000" -- "$R" exec --monitor on "$S/monitor_attack.bin" 3
expect_stderr_contains mon-read-stack 139 "address 0xffffffffc0009000" -- "$R" exec --monitor on "$S/monitor_attack.bin" 4
expect_stderr_contains mon-read-gate 139 "read from protected address" -- "$R" exec --monitor on "$S/monitor_attack.bin" 5
expect_stderr_contains mon-gate-middle 139 "instruction fetch from protected address" -- "$R" exec --monitor on "$S/monitor_attack.bin" 6
expect_stderr_contains mon-out81 139 "general protection fault" -- "$R" exec --monitor on "$S/monitor_attack.bin" 7
expect_stderr_contains mon-out82 139 "general protection fault" -- "$R" exec --monitor on "$S/monitor_attack.bin" 8
expect_stderr_contains mon-load-cr3 139 "general protection fault" -- "$R" exec --monitor on "$S/monitor_attack.bin" 9
expect_stderr_contains mon-forge-marker 139 "write to protected address" -- "$R" exec --monitor on "$S/monitor_attack.bin" 10
expect_run mon-rcx-kernel 139 "" -- "$R" exec --monitor on "$S/monitor_attack.bin" 12
expect_run mon-rcx-noncanonical 139 "" -- "$R" exec --monitor on "$S/monitor_attack.bin" 13
expect_stdout_contains mon-output-before-death 139 "monitor_attack: before the fault" -- "$R" exec --monitor on "$S/monitor_attack.bin" 14
# An entry past the syscall gate's marker (test-only LSTAR): refused, 159.
expect_stderr_contains mon-skip-marker 159 "monitor entry not through a gate" -- "$R" exec --monitor on --monitor-test-skip-marker "$S/hello.bin"

# --- AMD-V only: a jump to LSTAR is a fetch fault there (on kvm_pvm it is a
# syscall that returns to the program's own RCX), and auto measures the
# monitor at native CPL0 speed.
if [ "$amd" = 1 ]; then
    expect_stderr_contains mon-rcx-own 139 "instruction fetch from protected address" -- "$R" exec --monitor on "$S/monitor_attack.bin" 11
else
    expect_run mon-rcx-own 0 "monitor_attack: returned to its own address" -- "$R" exec --monitor on "$S/monitor_attack.bin" 11
fi
HWKVM_VERBOSE=1 expect_stdout_contains mon-info 0 "monitor: " -- "$R" info
