#!/usr/bin/env bash
# Thread benchmarks (docs/benchmarks.md, "Threads"): bench/threads.c built
# static with musl, run natively, under the runner (release build), under
# qemu-x86_64 and under gVisor (runsc --platform=ptrace do) when installed,
# interleaved, REPS times each; prints every measurement and the median.
#   bench/threads.sh [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
out=$(mktemp -d)
musl-gcc -static -O2 -o "$out/threads" bench/threads.c
cargo build --release -q -p runner
R=target/release/runner
declare -A how=(
    [native]=""
    [runner]="$R exec --timeout 300"
)
command -v qemu-x86_64 >/dev/null && how[qemu]="qemu-x86_64"
command -v runsc >/dev/null && how[gvisor]="runsc --rootless=false --network=none --platform=ptrace do"
for test in "create 2000" "pingpong 20000" "compute 1" "compute 2"; do
    for who in native runner qemu gvisor; do
        [ -n "${how[$who]+x}" ] || continue
        vals=()
        for _ in $(seq "$reps"); do
            # shellcheck disable=SC2086
            line=$(${how[$who]} "$out/threads" $test 2>/dev/null | tail -1) || line="failed"
            vals+=("$(echo "$line" | grep -oE '[0-9]+\.[0-9]+ (us|s)' | head -1)")
        done
        median=$(printf '%s\n' "${vals[@]}" | sort -n | sed -n "$(( (reps + 1) / 2 ))p")
        printf '%-16s %-7s median %-12s (%s)\n' "$test" "$who" "$median" "${vals[*]}"
    done
done
rm -rf "$out"
