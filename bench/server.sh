#!/usr/bin/env bash
# A TCP server in the sandbox (docs/benchmarks.md, "Servers"): the
# tcp_server sample (samples/c/tcp_server.c, static) serves N connections
# one after another on 127.0.0.1, each a line read and a line written
# back; a Python client outside makes them as fast as it can. Natively,
# under the runner (release build, a listen rule) and under qemu-x86_64;
# prints connections per second, REPS runs each, and the median. Not
# under gVisor: `runsc do` puts the program behind a network namespace of
# its own (a veth pair and NAT, whatever --network says), so a server on
# its loopback cannot be reached from the host's.
#   bench/server.sh [N] [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
reps=${2:-3}
cargo build --release -q -p runner
R=target/release/runner
S=target/samples/tcp_server
[ -x "$S" ] || { echo "build the samples first (cargo build)"; exit 1; }
work=$(mktemp -d /tmp/thinvisor-bench-server.XXXXXX)
trap 'rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
client() {  # PORT N: prints seconds
    python3 - "$1" "$2" <<'PY'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", port)).close()
        break
    except OSError:
        time.sleep(0.02)
t0 = time.perf_counter()
for i in range(n - 1):
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"ping\n")
    c.recv(64)
    c.close()
print(time.perf_counter() - t0)
PY
}
q=$(command -v qemu-x86_64 || true)
for who in native runner qemu; do
    vals=()
    for _ in $(seq "$reps"); do
        p=$(port)
        printf '[[network]]\naddress = "127.0.0.1:%s"\nlisten = true\n[limits]\nwall_time = "120s"\n' "$p" > "$work/p.toml"
        case $who in
            native) "$S" "$p" "$n" > /dev/null & ;;
            runner) "$R" exec --policy "$work/p.toml" "$S" "$p" "$n" > /dev/null & ;;
            qemu) [ -n "$q" ] || continue 2; "$q" "$S" "$p" "$n" > /dev/null & ;;
        esac
        server=$!
        secs=$(client "$p" "$n")
        wait "$server" || true
        vals+=("$(python3 -c "print(int(($n - 1) / $secs))")")
    done
    median=$(printf '%s\n' "${vals[@]}" | sort -n | sed -n "$(( (reps + 1) / 2 ))p")
    printf '%-7s median %7s connections/s   (%s)\n' "$who" "$median" "${vals[*]}"
done
