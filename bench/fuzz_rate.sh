#!/usr/bin/env bash
# Fuzz throughput (docs/benchmarks.md, "Fuzz throughput"): programs per
# second of `runner fuzz` for the default mix and for each generator alone,
# with VMs reset and reused between programs (the default) and with a new
# VM for every program (--fresh-vms), side by side, with the CPU seconds
# each campaign used. Same seed for every row.
#   bench/fuzz_rate.sh [SECONDS] [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
jobs=${2:-2}
cargo build --release -q -p runner
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '| programs | VMs | programs/s | CPU s (user + sys) | runs in a reset VM | VMs built |\n'
printf '| --- | --- | --- | --- | --- | --- |\n'
for gen in all bytes instructions mutations concurrency; do
    for vms in reused fresh; do
        flag=()
        [ "$vms" = fresh ] && flag=(--fresh-vms)
        log="$out/$gen-$vms.log"
        /usr/bin/time -f 'cpu %U %S' target/release/runner fuzz --seed 1 \
            --duration "$secs" --jobs "$jobs" --generator "$gen" \
            --out "$out/failures" "${flag[@]}" > "$log" 2>&1 || {
            echo "fuzz_rate: the $gen campaign failed:" >&2
            tail -20 "$log" >&2
            exit 1
        }
        rate=$(sed -n 's/^fuzz: \([0-9]*\) programs\/s over.*/\1/p' "$log")
        cpu=$(awk '/^cpu /{printf "%.1f", $2 + $3}' "$log")
        reused=$(sed -n 's/^fuzz: VMs: \([0-9]*\) built, \([0-9]*\) runs.*/\2/p' "$log")
        built=$(sed -n 's/^fuzz: VMs: \([0-9]*\) built.*/\1/p' "$log")
        printf '| %s | %s | %s | %s | %s | %s |\n' "$gen" "$vms" "$rate" "$cpu" "$reused" "$built"
    done
done
echo "($jobs jobs, ${secs} s each, seed 1, $(nproc) CPUs)"
