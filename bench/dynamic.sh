#!/usr/bin/env bash
# Start time of dynamically linked programs (docs/benchmarks.md, "Dynamic
# programs"): Debian's /bin/true and `python3 -c pass`, natively, under the
# runner (release build, sandbox-policy/examples/host-tools.toml), under
# qemu-x86_64 and under gVisor (runsc --platform=ptrace do) when installed,
# interleaved, REPS times each; prints every wall-clock time (the whole
# command, from outside) and the median. Also the runner's own phases for
# one run of each (its --stats JSON: prepare, boot, lock down, run).
#   bench/dynamic.sh [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
cargo build --release -q -p runner
R=target/release/runner
P=sandbox-policy/examples/host-tools.toml
declare -A how=(
    [native]=""
    [runner]="$R exec --policy $P"
)
q=$(command -v qemu-x86_64 || true)
g=$(command -v runsc || true)
[ -n "$q" ] && how[qemu]="$q"
[ -n "$g" ] && how[gvisor]="$g --rootless=false --network=none --platform=ptrace do"
us() { date +%s%N; }
for test in "/bin/true" "/usr/bin/python3 -c pass"; do
    for who in native runner qemu gvisor; do
        [ -n "${how[$who]+x}" ] || continue
        vals=()
        for _ in $(seq "$reps"); do
            t0=$(us)
            # shellcheck disable=SC2086
            ${how[$who]} $test > /dev/null 2>&1 || { vals+=(failed); continue; }
            vals+=("$(( ($(us) - t0) / 1000 ))")
        done
        median=$(printf '%s\n' "${vals[@]}" | sort -n | sed -n "$(( (reps + 1) / 2 ))p")
        printf '%-26s %-7s median %8s us   (%s)\n' "$test" "$who" "$median" "${vals[*]}"
    done
done
stats=$(mktemp)
trap 'rm -f "$stats"' EXIT
for test in "/bin/true" "/usr/bin/python3 -c pass"; do
    # shellcheck disable=SC2086
    $R exec --policy $P --stats "$stats" $test > /dev/null
    printf '%-26s runner phases: %s\n' "$test" \
        "$(python3 - "$stats" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
phases = ", ".join("%s %.1f ms" % (k, v / 1e6) for k, v in s["phases_ns"].items())
print("%s (in the guest %.1f ms), %d exits" % (phases, s["guest_ns"] / 1e6, s["exits"]))
PY
)"
done
