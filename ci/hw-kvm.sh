#!/usr/bin/env bash
# Run guest test cases on a real hardware-KVM path (AMD-V with NPT) under an
# emulated machine: qemu-system-x86_64 in TCG mode with an EPYC CPU that has
# SVM, booting Debian's stock kernel with kvm/kvm-amd loaded from an
# initramfs. Inside that VM, /dev/kvm is kvm_amd, so a nested guest sees
# genuine AMD-V semantics (real SYSCALL/SYSRET into CPL0, native CPL0, NPT),
# unlike the kvm_pvm software hypervisor that backs /dev/kvm on the dev and
# CI machines. Timings inside mean nothing; semantics are those of hardware.
#
# Usage:
#   ci/hw-kvm.sh [--build | --runner PATH | --no-runner] [--samples DIR]
#                [--cases FILE] [--extra PATH...] [--probes]
#                [--timeout SECS] [--mem MIB] [--log FILE] [--append ARGS]
#
#   --build          (default when neither --runner nor --no-runner is given)
#                    build a static runner with
#                      RUSTFLAGS="-C target-feature=+crt-static" cargo build \
#                        --release -p runner -p samples --target x86_64-unknown-linux-gnu
#                    and use it and target/samples/ (unless --samples is given).
#   --runner PATH    use this statically linked runner (installed as /bin/runner).
#   --no-runner      put no runner into the VM (e.g. for the probes alone).
#   --samples DIR    guest binaries: DIR's contents are copied to /samples/.
#   --cases FILE     POSIX sh script run by busybox sh in the VM as /cases.sh.
#                    Default: ci/hw-kvm/cases-probes.sh with --probes, else
#                    ci/hw-kvm/cases-runner.sh.
#   --extra PATH...  extra files, copied to /extra/ in the VM (for a directory,
#                    its contents are copied into /extra/);
#                    /extra is on PATH there. Takes every following argument
#                    up to the next one starting with "--"; may be repeated.
#   --probes         compile the KVM probes (ci/hw-kvm/probes/*.c, or
#                    $HWKVM_PROBES_SRC/*.c) with gcc -O2 -static
#                    and add them as extras; implies --no-runner unless
#                    --build or --runner is given.
#   --timeout SECS   hard limit for the whole VM run (default 300).
#   --mem MIB        VM memory (default 1024).
#   --log FILE       serial console log (default $HWKVM_CACHE/logs/last.log).
#   --append ARGS    extra kernel command line arguments.
#
# Environment: HWKVM_CACHE (default <repo>/.hwkvm-cache) caches the Debian
# kernel package and its unpacked tree between runs. HWKVM_CASE_TIMEOUT
# (default 120) is passed into the VM: the per-command limit of cases-lib.sh.
# HWKVM_STRIP=0 keeps debug info in ELF files copied into the VM.
# HWKVM_DMESG=1 prints the VM's last kernel messages after the cases (they
# are printed anyway when a case failed).
# HWKVM_QEMU_ACCEL overrides "-accel tcg,thread=single". One TCG thread runs
# both emulated CPUs in turn: with multi-threaded TCG (thread=multi) the
# nested SVM guest's L1 kernel soft-locked on both CPUs within seconds in
# two of the last four runs here (no case finished for 600 s), and a whole
# run took over 600 s where a single-threaded one takes about 200 s.
# HWKVM_QEMU_CPU overrides "-cpu EPYC,+svm" (e.g. "EPYC" to see the harness
# fail without SVM; TCG cannot emulate VT-x, so AMD-V is the only choice).
# HWKVM_SMP sets the VM's CPUs (default 2: guest threads run on vCPUs of
# their own, run by host threads of the runner, in parallel).
#
# Inside the VM the cases script sees:
#   HWKVM=1  HWKVM_PLATFORM=amd-v-emulated  HWKVM_RUNNER=/bin/runner (if any)
#   HWKVM_SAMPLES=/samples  HWKVM_EXTRA=/extra  HWKVM_LIB=/hwkvm/cases-lib.sh
#   HWKVM_CASE_TIMEOUT
# and prints one line per case: "CASE <name> PASS", "CASE <name> FAIL <reason>"
# or "CASE <name> SKIP <reason>" (see ci/hw-kvm/cases-lib.sh).
#
# Host packages: installs what is missing with apt-get (as root, or through
# sudo): qemu-system-x86, busybox-static, cpio, binutils, and for --build or
# --probes gcc and libc6-dev (static libc), xz-utils/zstd if the modules are
# compressed. Fit for CI (.ci/run, CI=true) on a clean clone: everything it
# fetches is cached under HWKVM_CACHE.
#
# Output: the serial console, then the failed cases, the timings, and as the
# very last line "hw-kvm: N passed, M failed" (M counts failed cases and any
# problem of the harness itself: a setup error, a VM that did not finish, a
# cases script that exited non-zero, no case at all).
#
# Exit status: 0 when at least one case ran, none failed, and the VM printed
# "HWKVM-DONE rc=0"; 1 otherwise (a failed case, the VM never reached or never
# finished the cases, the cases script exited non-zero, or no case ran);
# 2 for usage or setup errors.
set -euo pipefail
shopt -s extglob

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
HWKVM_CACHE=${HWKVM_CACHE:-$REPO/.hwkvm-cache}
HWKVM_CASE_TIMEOUT=${HWKVM_CASE_TIMEOUT:-120}
HWKVM_STRIP=${HWKVM_STRIP:-1}
HWKVM_DMESG=${HWKVM_DMESG:-0}
# Load order matters: kvm needs irqbypass, kvm-amd needs kvm and ccp.
HWKVM_MODULES=${HWKVM_MODULES:-"irqbypass kvm ccp kvm-amd"}

T_START=$(date +%s.%N)

# Counts for the final line (printed on every exit but --help's).
npass=0 nfail=0 final=1
work=""
log() { printf 'hw-kvm: %s\n' "$*" >&2; }
die() { printf 'hw-kvm: error: %s\n' "$*" >&2; nfail=$((nfail + 1)); exit 2; }
# shellcheck disable=SC2317 # called by the trap
on_exit() {
    local rc=$?
    [ -z "$work" ] || rm -rf "$work"
    if [ "$final" = 1 ]; then
        [ "$rc" = 0 ] || [ "$nfail" -gt 0 ] || nfail=1
        echo "hw-kvm: $npass passed, $nfail failed"
    fi
    exit "$rc"
}
trap on_exit EXIT
# With set -e, name the command that stopped the script.
trap 'log "error: command failed with status $? at line $LINENO: $BASH_COMMAND"' ERR
trap 'log "interrupted"; nfail=$((nfail + 1)); exit 130' INT
trap 'log "terminated"; nfail=$((nfail + 1)); exit 143' TERM
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

# ---------------------------------------------------------------- arguments
mode=""            # build | runner | none
runner=""
samples=""
cases=""
extras=()
probes=0
vm_timeout=300
mem=1024
logfile=""
append_extra=""

while [ $# -gt 0 ]; do
    case "$1" in
        --build) mode=build; shift ;;
        --runner) [ $# -ge 2 ] || die "--runner needs a path"; mode=runner; runner=$2; shift 2 ;;
        --no-runner) mode=none; shift ;;
        --samples) [ $# -ge 2 ] || die "--samples needs a directory"; samples=$2; shift 2 ;;
        --cases) [ $# -ge 2 ] || die "--cases needs a file"; cases=$2; shift 2 ;;
        --extra)
            shift
            if [ $# -eq 0 ] || [ "${1#--}" != "$1" ]; then die "--extra needs at least one path"; fi
            while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do extras+=("$1"); shift; done ;;
        --probes) probes=1; shift ;;
        --timeout) [ $# -ge 2 ] || die "--timeout needs seconds"; vm_timeout=$2; shift 2 ;;
        --mem) [ $# -ge 2 ] || die "--mem needs MiB"; mem=$2; shift 2 ;;
        --log) [ $# -ge 2 ] || die "--log needs a file"; logfile=$2; shift 2 ;;
        --append) [ $# -ge 2 ] || die "--append needs arguments"; append_extra=$2; shift 2 ;;
        -h|--help) final=0; usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

if [ -z "$mode" ]; then
    if [ "$probes" = 1 ]; then mode=none; else mode=build; fi
fi
if [ -z "$cases" ]; then
    if [ "$probes" = 1 ]; then cases=$SCRIPT_DIR/hw-kvm/cases-probes.sh
    else cases=$SCRIPT_DIR/hw-kvm/cases-runner.sh; fi
fi
[ -f "$cases" ] || die "cases file not found: $cases"
[ -f "$SCRIPT_DIR/hw-kvm/cases-lib.sh" ] || die "missing $SCRIPT_DIR/hw-kvm/cases-lib.sh"
case "$vm_timeout" in ''|*[!0-9]*) die "--timeout must be a number of seconds" ;; esac
case "$mem" in ''|*[!0-9]*) die "--mem must be a number of MiB" ;; esac

mkdir -p "$HWKVM_CACHE"/{debs,kernel,logs,probes}
HWKVM_CACHE=$(cd "$HWKVM_CACHE" && pwd)
[ -n "$logfile" ] || logfile=$HWKVM_CACHE/logs/last.log

# ------------------------------------------------------------ host packages
apt_updated=0
# apt_install PKG...: install with apt-get (root or sudo), updating the package
# lists once if the first attempt fails (a fresh CI image has none).
apt_install() {
    local sudo=()
    command -v apt-get >/dev/null 2>&1 || die "need ${*}, and there is no apt-get to install it"
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "need ${*}: run as root or install them"
        sudo=(sudo -n)
    fi
    log "installing $*"
    export DEBIAN_FRONTEND=noninteractive
    if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@" >&2; then
        [ "$apt_updated" = 0 ] || die "apt-get install $* failed"
        apt_updated=1
        "${sudo[@]}" apt-get update -q >&2 || die "apt-get update failed"
        "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@" >&2 \
            || die "apt-get install $* failed"
    fi
}
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need_pkgs+=(qemu-system-x86)
# (grep without -q: with pipefail, -q can kill the writer with SIGPIPE.)
if ! { [ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -x insmod >/dev/null \
        && ! readelf -l /bin/busybox 2>/dev/null | grep 'program interpreter' >/dev/null; }; then
    need_pkgs+=(busybox-static)
fi
command -v cpio >/dev/null 2>&1 || need_pkgs+=(cpio)
for t in readelf strip as ld; do
    command -v "$t" >/dev/null 2>&1 || { need_pkgs+=(binutils); break; }
done
if [ "$mode" = build ] || [ "$probes" = 1 ]; then
    # A static runner (crt-static) and the probes need gcc and libc.a.
    if ! command -v cc >/dev/null 2>&1 || ! command -v gcc >/dev/null 2>&1; then
        need_pkgs+=(gcc libc6-dev)
    elif [ ! -f "$(gcc -print-file-name=libc.a)" ]; then
        need_pkgs+=(libc6-dev)
    fi
fi
[ ${#need_pkgs[@]} -eq 0 ] || apt_install "${need_pkgs[@]}"
for t in qemu-system-x86_64 cpio readelf strip dpkg apt-get timeout gzip; do
    command -v "$t" >/dev/null 2>&1 || die "$t is missing"
done
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "$BUSYBOX is missing (install busybox-static)"
if readelf -l "$BUSYBOX" | grep 'program interpreter' >/dev/null; then
    die "$BUSYBOX is not static (install busybox-static)"
fi

# ---------------------------------------------------------- kernel + modules
# The package that linux-image-amd64 depends on, e.g. linux-image-6.1.0-48-amd64.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null \
        | awk '$1 ~ /Depends:$/ && $2 ~ /^linux-image-/ { print $2; exit }' || true)
if [ -z "$kpkg" ]; then
    # apt lists may be missing; try an update once, else fall back to the cache.
    apt-get update -q >&2 || true
    kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null \
            | awk '$1 ~ /Depends:$/ && $2 ~ /^linux-image-/ { print $2; exit }' || true)
fi
if [ -z "$kpkg" ]; then
    kpkg=$(find "$HWKVM_CACHE/kernel" -mindepth 2 -maxdepth 2 -name .complete -printf '%h\n' 2>/dev/null \
            | sort -V | tail -n 1 | xargs -r basename)
    [ -n "$kpkg" ] || die "cannot find the kernel package (apt-cache depends linux-image-amd64 gave nothing, no cache)"
    log "apt-cache gave no kernel package; using cached $kpkg"
fi
kdir=$HWKVM_CACHE/kernel/$kpkg
if [ ! -f "$kdir/.complete" ]; then
    log "fetching $kpkg"
    rm -rf "$kdir"
    (
        cd "$HWKVM_CACHE/debs"
        rm -f "${kpkg}"_*.deb
        apt-get download "$kpkg" >&2 || { apt-get update -q >&2 && apt-get download "$kpkg" >&2; }
    ) || die "apt-get download $kpkg failed"
    debs=("$HWKVM_CACHE/debs/${kpkg}"_*.deb)
    deb=${debs[0]}
    [ -f "$deb" ] || die "apt-get download $kpkg produced no .deb"
    mkdir -p "$kdir/root"
    dpkg -x "$deb" "$kdir/root"
    vml=$(find "$kdir/root/boot" -maxdepth 1 -name 'vmlinuz-*' -print -quit)
    [ -n "$vml" ] || die "no boot/vmlinuz-* in $deb"
    cp "$vml" "$kdir/vmlinuz"
    mkdir -p "$kdir/modules"
    for m in $HWKVM_MODULES; do
        f=$(find "$kdir/root" -path '*/lib/modules/*' -type f \
                \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" \) \
                -print -quit)
        [ -n "$f" ] || die "module $m not found in $deb"
        case "$f" in
            *.ko.xz)  command -v xz >/dev/null 2>&1 || apt_install xz-utils
                      xz -dc "$f" > "$kdir/modules/$m.ko" ;;
            *.ko.zst) command -v zstd >/dev/null 2>&1 || apt_install zstd
                      zstd -qdc "$f" > "$kdir/modules/$m.ko" ;;
            *.ko.gz)  gzip -dc "$f" > "$kdir/modules/$m.ko" ;;
            *)        cp "$f" "$kdir/modules/$m.ko" ;;
        esac
    done
    # ~400 MB unpacked and a 70 MB .deb: keep only what is used.
    rm -rf "$kdir/root" "$deb"
    touch "$kdir/.complete"
    # Older kernels in the cache are no longer used.
    find "$HWKVM_CACHE/kernel" -mindepth 1 -maxdepth 1 ! -name "$kpkg" -exec rm -rf {} +
fi
# Each module's dependencies (from its .modinfo "depends=") must be loaded before it.
loaded=" "
for m in $HWKVM_MODULES; do
    [ -s "$kdir/modules/$m.ko" ] || die "missing $kdir/modules/$m.ko (remove $kdir to refetch)"
    deps=$(tr '\0' '\n' < "$kdir/modules/$m.ko" | sed -n 's/^depends=//p' | tr ',' ' ')
    for d in $deps; do
        case "$loaded" in *" ${d//_/-} "*|*" ${d//-/_} "*) ;; *)
            die "module $m needs $d, which is not loaded before it; set HWKVM_MODULES" ;;
        esac
    done
    loaded="$loaded$m "
done

# ------------------------------------------------------------- the runner
if [ "$mode" = build ]; then
    command -v cargo >/dev/null 2>&1 || die "--build needs cargo"
    log "building a static runner (cargo build --release -p runner -p samples)"
    t0=$(date +%s.%N)
    (cd "$REPO" && RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
        cargo build --release -p runner -p samples --target x86_64-unknown-linux-gnu >&2) \
        || { log "cargo build failed"; exit 2; }
    log "build took $(elapsed "$t0" "$(date +%s.%N)") s"
    runner=$REPO/target/x86_64-unknown-linux-gnu/release/runner
    if [ -z "$samples" ]; then
        samples=$REPO/target/samples
        [ -d "$samples" ] || die "the build made no $samples"
    fi
fi
if [ -n "$runner" ]; then
    [ -f "$runner" ] || die "runner not found: $runner"
fi
if [ -n "$samples" ]; then
    [ -d "$samples" ] || die "samples directory not found: $samples"
fi

# ------------------------------------------------------------------ probes
if [ "$probes" = 1 ]; then
    psrc=${HWKVM_PROBES_SRC:-$SCRIPT_DIR/hw-kvm/probes}
    n=0
    for src in "$psrc"/*.c; do
        [ -f "$src" ] || continue
        p=$(basename "$src" .c)
        out=$HWKVM_CACHE/probes/$p
        if [ ! -x "$out" ] || [ "$src" -nt "$out" ]; then
            gcc -O2 -static -o "$out" "$src" || die "compiling $src failed"
        fi
        extras+=("$out"); n=$((n + 1))
    done
    [ "$n" -gt 0 ] || die "no probe sources (*.c) in $psrc"
fi

# -------------------------------------------------------------- initramfs
work=$(mktemp -d "$HWKVM_CACHE/work.XXXXXX")
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,extra,samples,hwkvm,lib/modules}

# The dynamic-program kit: the host's glibc loader and libc and musl's
# loader (which is its libc), at the paths a Debian system has them, so the
# dynamically linked samples run natively and as guests in the VM. The
# links are Debian's, absolute and relative (the runner follows them in
# the guest's namespace).
glibc_dir=/usr/lib/x86_64-linux-gnu
mkdir -p "$root/usr/lib/x86_64-linux-gnu" "$root/usr/lib/x86_64-linux-musl" "$root/lib64"
for f in ld-linux-x86-64.so.2 libc.so.6; do
    [ -e "$glibc_dir/$f" ] || die "missing $glibc_dir/$f (the dynamic samples need it)"
    cp -L "$glibc_dir/$f" "$root/usr/lib/x86_64-linux-gnu/$f"
done
ln -s ../usr/lib/x86_64-linux-gnu "$root/lib/x86_64-linux-gnu"
ln -s /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$root/lib64/ld-linux-x86-64.so.2"
if [ -e /usr/lib/x86_64-linux-musl/libc.so ]; then
    cp -L /usr/lib/x86_64-linux-musl/libc.so "$root/usr/lib/x86_64-linux-musl/libc.so"
    ln -s ../usr/lib/x86_64-linux-musl "$root/lib/x86_64-linux-musl"
    ln -s x86_64-linux-musl/libc.so "$root/lib/ld-musl-x86_64.so.1"
fi

# Debian's own dynamically linked programs (coreutils' ls, cat, sort and
# sha256sum, the sqlite3 shell, python3 with the part of its library a
# script importing json, hashlib, re and sqlite3 needs) and the C++
# sample built with the host's g++, at /debian/bin,
# with every library they and Python's extension modules load, at
# Debian's paths: the dynamic cases of cases-runner.sh compare them with
# their native runs in the VM. A host without one of them skips it.
mkdir -p "$root/debian/bin"
for t in ls cat sort sha256sum sqlite3 python3; do
    [ -e "/usr/bin/$t" ] && cp -L "/usr/bin/$t" "$root/debian/bin/$t"
done
# Static Go programs (samples/go: goroutines, channels, timers, a file;
# a net/http server and its clients in one program).
if command -v go >/dev/null 2>&1; then
    for g in goroutines httpserve; do
        (cd "$SCRIPT_DIR/../samples/go" && CGO_ENABLED=0 GOFLAGS=-mod=mod \
            GOCACHE="$HWKVM_CACHE/go-cache" GOPATH="$HWKVM_CACHE/go-path" \
            go build -o "$root/debian/bin/go-$g" "./$g.go") || die "building samples/go/$g.go failed"
    done
fi
# A dynamically linked C++ program (libstdc++, libgcc_s) with it.
if command -v g++ >/dev/null 2>&1; then
    g++ -O2 -pthread -o "$root/debian/bin/cpp-threads" "$SCRIPT_DIR/../samples/cpp/threads.cpp" \
        || die "building samples/cpp/threads.cpp failed"
fi
pylib=$(ls -d /usr/lib/python3.[0-9]* 2>/dev/null | sort -V | tail -n 1)
if [ -e "$root/debian/bin/python3" ] && [ -n "$pylib" ]; then
    mkdir -p "$root$pylib"
    (cd "$pylib" && find . \( -path './test' -o -path './idlelib' -o -path './tkinter' \
        -o -path './ensurepip' -o -path './lib2to3' -o -path './pydoc_data' \
        -o -path './turtledemo' -o -path './site-packages' -o -path './dist-packages' \
        -o -path './config-*' -o -path './unittest' -o -path './asyncio' \
        -o -path './multiprocessing' \) -prune -o -print \
        | cpio -pdm --quiet "$root$pylib") || die "copying $pylib failed"
fi
# (ldd fails on the static Go programs; their lines are skipped.)
{ ldd "$root/debian/bin/"* $(find "$root/usr/lib" -path '*lib-dynload/*.so' 2>/dev/null) 2>/dev/null || true; } \
    | awk '/=> \//{print $3}' | sort -u | while IFS= read -r lib; do
    dst="$root/usr/lib/x86_64-linux-gnu/$(basename "$lib")"
    [ -e "$dst" ] || cp -L "$lib" "$dst"
done

# Copy an ELF file. A dynamically linked one must use a loader of the kit
# (the VM has no other libraries).
install_file() {  # SRC DST
    local src=$1 dst=$2 interp
    if [ "$(head -c 4 "$src" | od -An -c | tr -d ' ')" = '177ELF' ]; then
        interp=$(readelf -l "$src" 2>/dev/null | sed -n 's/.*program interpreter: \(.*\)]/\1/p')
        case "$interp" in
            ''|/lib64/ld-linux-x86-64.so.2) ;;
            /lib/ld-musl-x86_64.so.1) [ -e "$root/lib/ld-musl-x86_64.so.1" ] \
                || die "$src needs musl's loader, which this host lacks" ;;
            *) die "$src is dynamically linked against $interp; the VM has only glibc's and musl's loaders and libc (link it statically)" ;;
        esac
        if [ "$HWKVM_STRIP" = 1 ] && strip --strip-debug -o "$dst" "$src" 2>/dev/null; then
            chmod --reference="$src" "$dst"; return
        fi
    fi
    cp -p "$src" "$dst"
}
install_tree() {  # SRC (file or dir) DSTDIR
    local src=$1 dstdir=$2 f rel
    if [ -d "$src" ]; then
        (cd "$src" && find . -type d) | while IFS= read -r d; do mkdir -p "$dstdir/$d"; done
        (cd "$src" && find . -type f) | while IFS= read -r rel; do
            install_file "$src/$rel" "$dstdir/$rel"
        done
    else
        install_file "$src" "$dstdir/$(basename "$src")"
    fi
}

cp "$BUSYBOX" "$root/bin/busybox"
"$BUSYBOX" --list-full | while IFS= read -r a; do
    [ -e "$root/$a" ] || ln -s /bin/busybox "$root/$a"
done
for m in $HWKVM_MODULES; do cp "$kdir/modules/$m.ko" "$root/lib/modules/"; done
[ -n "$runner" ] && install_file "$runner" "$root/bin/runner"
[ -n "$samples" ] && install_tree "$samples" "$root/samples"
for e in "${extras[@]+"${extras[@]}"}"; do
    [ -e "$e" ] || die "extra not found: $e"
    install_tree "$e" "$root/extra"
done
cp "$SCRIPT_DIR/hw-kvm/cases-lib.sh" "$root/hwkvm/cases-lib.sh"
# Case files may source one another from /hwkvm (cases-runner.sh runs the
# monitor's cases too).
cp "$SCRIPT_DIR"/hw-kvm/cases-*.sh "$root/hwkvm/"
cp "$cases" "$root/cases.sh"

has_runner=0; [ -n "$runner" ] && has_runner=1
cat > "$root/init" <<EOF
#!/bin/busybox sh
export PATH=/extra:/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/ TMPDIR=/tmp
export HWKVM=1 HWKVM_PLATFORM=amd-v-emulated HWKVM_SAMPLES=/samples HWKVM_EXTRA=/extra
export HWKVM_LIB=/hwkvm/cases-lib.sh HWKVM_CASE_TIMEOUT=$HWKVM_CASE_TIMEOUT
[ $has_runner = 1 ] && export HWKVM_RUNNER=/bin/runner
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
# Keep kernel messages from interleaving with the CASE lines.
echo 1 > /proc/sys/kernel/printk
read up _ < /proc/uptime
echo "HWKVM-BOOT kernel=\$(uname -r) uptime=\$up"
for m in $HWKVM_MODULES; do
    if ! out=\$(insmod /lib/modules/\$m.ko 2>&1); then
        echo "CASE init-insmod-\$m FAIL insmod: \$out"
    fi
done
read up _ < /proc/uptime
echo "HWKVM-READY uptime=\$up"
cd /
{ sh /cases.sh < /dev/null 2>&1; echo \$? > /tmp/.cases-rc; } | tee /tmp/.cases-out
rc=\$(cat /tmp/.cases-rc)
# On a failure show the end of the kernel log (KVM warnings, oopses).
if [ "\$rc" != 0 ] || grep '^CASE [^ ]* FAIL' /tmp/.cases-out >/dev/null || [ "$HWKVM_DMESG" = 1 ]; then
    echo "--- kernel messages: warnings and worse, and any about kvm/svm ---"
    dmesg -r | grep -iE '^<[0-4]>|kvm|svm' | tail -n 40 | sed 's/^/dmesg| /'
fi
read up _ < /proc/uptime
echo "HWKVM-DONE rc=\$rc uptime=\$up"
sync
poweroff -f
EOF
chmod 755 "$root/init"

initrd=$work/initrd.gz
(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 > "$initrd"
log "initramfs $(du -k "$initrd" | cut -f1) KiB ($kpkg)"

# --------------------------------------------------------------------- boot
mkdir -p "$(dirname "$logfile")"
qemu=(qemu-system-x86_64 -accel "${HWKVM_QEMU_ACCEL:-tcg,thread=single}" -cpu "${HWKVM_QEMU_CPU:-EPYC,+svm}" -smp "${HWKVM_SMP:-2}" -m "$mem"
      -nodefaults -nographic -serial stdio -no-reboot
      -kernel "$kdir/vmlinuz" -initrd "$initrd"
      -append "console=ttyS0 quiet panic=-1 $append_extra")
log "booting: ${qemu[*]}"
stampdir=$work/stamps
mkdir -p "$stampdir"
T_VM=$(date +%s.%N)
set +e
timeout -k 10 "$vm_timeout" "${qemu[@]}" < /dev/null 2>&1 \
    | while IFS= read -r line || [ -n "$line" ]; do
        line=${line%$'\r'}
        # drop SeaBIOS's terminal control sequences (ESC c, ESC [ ... letter)
        line=${line//$'\e'c/}
        line=${line//$'\e'[\[]*([0-9;?])[A-Za-z]/}
        case "$line" in
            *HWKVM-BOOT*) date +%s.%N > "$stampdir/boot" ;;
            *HWKVM-READY*) date +%s.%N > "$stampdir/ready" ;;
            # qemu's list of EPYC features TCG lacks: noise, once per boot.
            *"TCG doesn't support requested feature"*) continue ;;
        esac
        printf '%s\n' "$line"
    done | tee "$logfile"
rcs=("${PIPESTATUS[@]}")
set -e
T_END=$(date +%s.%N)
qemu_rc=${rcs[0]}

# ------------------------------------------------------------------ results
npass=$(grep -cE '^CASE [^ ]+ PASS( |$)' "$logfile" || true)
nfail=$(grep -cE '^CASE [^ ]+ FAIL( |$)' "$logfile" || true)
nskip=$(grep -cE '^CASE [^ ]+ SKIP( |$)' "$logfile" || true)
done_line=$(grep -E '^HWKVM-DONE rc=' "$logfile" | tail -n 1 || true)

echo
if [ "$nfail" -gt 0 ]; then
    echo "hw-kvm: failed cases:"
    grep -E '^CASE [^ ]+ FAIL( |$)' "$logfile" | sed 's/^/  /'
fi
# Problems of the harness itself count as failures too.
harness_fail() { echo "hw-kvm: FAILED: $*"; nfail=$((nfail + 1)); }
if [ -z "$done_line" ]; then
    if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
        harness_fail "the VM did not finish within ${vm_timeout}s (no HWKVM-DONE line)"
    elif [ ! -f "$stampdir/boot" ]; then
        harness_fail "the VM never reached /init (qemu exit status $qemu_rc)"
    else
        harness_fail "the VM stopped before the cases finished (qemu exit status $qemu_rc; no HWKVM-DONE line)"
    fi
else
    case_rc=$(printf '%s\n' "$done_line" | sed -n 's/^HWKVM-DONE rc=\([0-9]*\).*/\1/p')
    if [ "$case_rc" != 0 ] && [ "$nfail" = 0 ]; then
        harness_fail "the cases script exited with status $case_rc"
    fi
fi
if [ "$npass" = 0 ] && [ "$nfail" = 0 ]; then
    harness_fail "no case ran"
fi
times="vm $(elapsed "$T_VM" "$T_END") s, total $(elapsed "$T_START" "$T_END") s"
[ -f "$stampdir/ready" ] && times="kvm-amd ready $(elapsed "$T_VM" "$(cat "$stampdir/ready")") s, $times"
[ -f "$stampdir/boot" ] && times="boot to /init $(elapsed "$T_VM" "$(cat "$stampdir/boot")") s, $times"
echo "hw-kvm: $nskip skipped; $times; log: $logfile"
# on_exit prints the last line, "hw-kvm: N passed, M failed".
[ "$nfail" = 0 ] || exit 1
exit 0
