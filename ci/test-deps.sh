#!/usr/bin/env bash
# Installs what the tests need and the runner's build does not (README's
# test command runs it first): musl-gcc for the C samples, glibc's static
# libraries, g++ and Go for the language tests, Debian's busybox-static for
# the compatibility battery, bash-static for the shell battery. Installs
# only what is missing, with apt-get (as root, or through sudo).
set -euo pipefail

need=()
# go: Debian's golang-go builds the static Go programs of runner/tests/go.rs;
# g++: the static glibc C++ program of runner/tests/languages.rs.
for tool in as:binutils ld:binutils objcopy:binutils musl-gcc:musl-tools cc:gcc g++:g++ go:golang-go; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
# glibc's static libraries (the glibc C samples), and Debian's busybox-static
# at /bin/busybox (the compatibility battery; the dynamic `busybox` package
# would not do).
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
# Debian's bash-static at /bin/bash-static: runner/tests/processes.rs runs
# its shell battery with bash too (external commands through execve).
[ -x /bin/bash-static ] || need+=(bash-static)
# The host's own dynamically linked tools run by runner/tests/dynamic.rs
# with sandbox-policy/examples/host-tools.toml: python3 (with its sqlite3
# module) and the sqlite3 command line.
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
# containerd (with its runc shim) and runc: runner/tests/oci_containerd.rs
# runs containers through a private containerd with thinvisor's OCI runtime
# and with runc, and compares them.
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || need+=(runc)
# GNU time: runner/tests/ring.rs measures the CPU seconds of an idle run.
[ -x /usr/bin/time ] || need+=(time)
# strace: runner/tests/trace.rs compares --trace with strace -f of the same
# programs run natively.
command -v strace >/dev/null 2>&1 || need+=(strace)
if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
echo "ci/test-deps.sh: installing ${need[*]}" >&2
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${need[@]}"
