#!/usr/bin/env bash
# Benchmark suite (docs/benchmarks.md): runner vs native vs qemu-x86_64,
# interleaved and repeated, printing medians and ratios.
#   bench/run.sh [--quick] [--reps N] [--markdown FILE]
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for p in qemu-x86_64:qemu-user musl-gcc:musl-tools busybox:busybox-static /usr/bin/time:time; do
    command -v "${p%%:*}" >/dev/null 2>&1 || missing+=("${p#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq "${missing[@]}"
    else
        echo "bench: missing ${missing[*]} (apt-get install them)" >&2
        exit 1
    fi
fi
cargo build --release -q -p runner -p samples
exec python3 bench/bench.py "$@"
