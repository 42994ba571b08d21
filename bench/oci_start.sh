#!/usr/bin/env bash
# Container start latency through containerd (docs/benchmarks.md,
# "Containers"): `ctr run --rm` of `/bin/sh -c 'echo hi'` in a busybox
# root file system, N runs with each runtime: runc, thinvisor's OCI
# runtime (thinvisor-oci, release build) and gVisor's runsc (ptrace
# platform, no network, no cgroups: what this machine allows). A private
# containerd is started for the measurement (needs root, containerd, runc,
# runsc: apt-get install containerd runc runsc busybox-static).
#   bench/oci_start.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
cargo build --release -q -p runner
work=$(mktemp -d /tmp/thinvisor-bench-oci.XXXXXX)
cleanup() { [ -n "${ctrd:-}" ] && kill "$ctrd" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/proc" "$work/rootfs/dev"
cp /bin/busybox "$work/rootfs/bin/busybox"
ln -s busybox "$work/rootfs/bin/sh"
ln -s "$PWD/target/release/runner" "$work/thinvisor-oci"
printf '#!/bin/sh\nexec runsc --platform=ptrace --network=none --ignore-cgroups "$@"\n' > "$work/runsc"
chmod +x "$work/runsc"
cat > "$work/config.toml" <<EOF
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$work/containerd.sock"
EOF
containerd --config "$work/config.toml" > "$work/containerd.log" 2>&1 &
ctrd=$!
C=(ctr --address "$work/containerd.sock" -n bench)
for _ in $(seq 100); do "${C[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
echo "runtime         ms per ctr run --rm (mean of $n)"
for rt in runc "$work/thinvisor-oci" "$work/runsc"; do
    out=$("${C[@]}" run --rm --runc-binary "$rt" --rootfs "$work/rootfs" warm /bin/sh -c 'echo hi')
    [ "$out" = hi ] || { echo "$rt: said '$out'"; exit 1; }
    start=$(date +%s%N)
    for i in $(seq "$n"); do
        "${C[@]}" run --rm --runc-binary "$rt" --rootfs "$work/rootfs" "c$i" /bin/sh -c 'echo hi' >/dev/null
    done
    end=$(date +%s%N)
    printf '%-15s %d\n' "$(basename "$rt")" $(( (end - start) / n / 1000000 ))
done
