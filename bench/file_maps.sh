#!/usr/bin/env bash
# Shared file mappings on a real program (docs/benchmarks.md, "Shared file
# mappings"): Debian's sqlite3 with PRAGMA mmap_size (it reads the database
# through a MAP_SHARED mapping and writes it with pwrite, which the runner
# copies into the file's shared pages) and the same workload without it,
# natively, under the runner (release build, host-tools.toml plus the work
# directory read-write at its own path), under qemu-x86_64 and under gVisor
# (runsc --platform=ptrace do) when installed, interleaved, REPS times
# each; prints every wall-clock time and the median. Each run starts from
# an empty database; the outputs are compared with the native one.
#   bench/file_maps.sh [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
cargo build --release -q -p runner
R=target/release/runner
work=$(mktemp -d /tmp/thinvisor-bench-maps.XXXXXX)
trap 'rm -rf "$work"' EXIT
P=$work/policy.toml
{ cat sandbox-policy/examples/host-tools.toml
  printf '\n[[files]]\npath = "%s"\naccess = "read-write"\n' "$work"; } > "$P"
sql() {  # MMAP_SIZE
    cat <<SQL
PRAGMA mmap_size=$1;
PRAGMA journal_mode=WAL;
CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<50000) INSERT INTO t SELECT x, printf('%08d-%s', x, hex(x*x)) FROM c;
UPDATE t SET b='changed' WHERE a%7=0;
SELECT count(*), sum(a) FROM t WHERE b='changed';
DELETE FROM t WHERE a%3=0;
SELECT count(*), sum(length(b)) FROM t;
PRAGMA integrity_check;
SQL
}
declare -A how=(
    [native]=""
    [runner]="$R exec --policy $P"
)
q=$(command -v qemu-x86_64 || true)
g=$(command -v runsc || true)
[ -n "$q" ] && how[qemu]="$q"
[ -n "$g" ] && how[gvisor]="$g --rootless=false --network=none --platform=ptrace do"
us() { date +%s%N; }
for size in 268435456 0; do
    sql "$size" > "$work/q.sql"
    rm -f "$work"/t.db*
    /usr/bin/sqlite3 "$work/t.db" < "$work/q.sql" > "$work/native.out"
    for who in native runner qemu gvisor; do
        [ -n "${how[$who]+x}" ] || continue
        vals=()
        for _ in $(seq "$reps"); do
            rm -f "$work"/t.db*
            t0=$(us)
            # shellcheck disable=SC2086
            if ! ${how[$who]} /usr/bin/sqlite3 "$work/t.db" < "$work/q.sql" > "$work/out" 2>&1; then
                vals+=(failed); continue
            fi
            t=$(( ($(us) - t0) / 1000 ))
            if cmp -s "$work/out" "$work/native.out"; then vals+=("$t"); else vals+=(wrong); fi
        done
        median=$(printf '%s\n' "${vals[@]}" | sort -n | sed -n "$(( (reps + 1) / 2 ))p")
        printf 'sqlite3 mmap_size=%-10s %-7s median %8s us   (%s)\n' "$size" "$who" "$median" "${vals[*]}"
    done
done
