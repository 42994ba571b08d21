#!/usr/bin/env bash
# Process benchmarks (docs/benchmarks.md, "Processes"): bench/processes.c
# built static with musl, and a five-applet busybox pipeline, run natively,
# under the runner (release build), under qemu-x86_64 and under gVisor
# (runsc --platform=ptrace do) when installed, interleaved, REPS times
# each; prints every measurement and the median. Under qemu-x86_64 only the
# first program is emulated: the programs it execs run natively (qemu-user
# does not follow execve without binfmt_misc), so its vforkexec and
# pipeline rows are not an emulator's cost.
#   bench/processes.sh [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
musl-gcc -static -O2 -o "$out/processes" bench/processes.c
cargo build --release -q -p runner
R=target/release/runner
# The busybox applets the pipeline runs, and its input (about 2 MiB).
mkdir -p "$out/bin"
cp /bin/busybox "$out/bin/busybox"
for a in sh cat tr sort uniq; do ln -s busybox "$out/bin/$a"; done
awk 'BEGIN { for (i = 0; i < 200000; i++) printf "word%d\n", (i * 7919) % 5000 }' > "$out/words"
cat > "$out/policy.toml" <<TOML
[limits]
wall_time = "300s"
memory = "512MiB"
[env]
vars = { PATH = "/bin" }
[[files]]
path = "/bin"
host_path = "$out/bin"
access = "read-exec"
[[files]]
path = "$out"
access = "read-exec"
TOML
pipeline="cat $out/words | tr a-z A-Z | sort | uniq -c | sort -rn > /dev/null"
declare -A how=(
    [native]=""
    [runner]="$R exec --policy $out/policy.toml"
)
# Absolute paths: the pipeline runs with PATH set to the applets' directory.
q=$(command -v qemu-x86_64 || true)
g=$(command -v runsc || true)
[ -n "$q" ] && how[qemu]="$q"
[ -n "$g" ] && how[gvisor]="$g --rootless=false --network=none --platform=ptrace do"
ms() { date +%s%N; }
for test in "forkwait 200 0" "forkwait 50 64" "vforkexec 200" "pipeline"; do
    for who in native runner qemu gvisor; do
        [ -n "${how[$who]+x}" ] || continue
        vals=()
        for _ in $(seq "$reps"); do
            if [ "$test" = pipeline ]; then
                t0=$(ms)
                # shellcheck disable=SC2086
                PATH="$out/bin" ${how[$who]} "$out/bin/busybox" sh -c "$pipeline" || { vals+=(failed); continue; }
                vals+=("$(( ($(ms) - t0) / 1000 )).0 us")
            else
                # shellcheck disable=SC2086
                line=$(${how[$who]} "$out/processes" $test 2>/dev/null | tail -1) || line="failed"
                vals+=("$(echo "$line" | grep -oE '[0-9]+\.[0-9]+ us' | head -1)")
            fi
        done
        median=$(printf '%s\n' "${vals[@]}" | sort -n | sed -n "$(( (reps + 1) / 2 ))p")
        printf '%-16s %-7s median %-12s (%s)\n' "$test" "$who" "$median" "${vals[*]}"
    done
done
