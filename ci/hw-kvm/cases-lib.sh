# shellcheck shell=sh
# Helpers for hw-kvm cases scripts. POSIX sh (busybox sh in the VM; also
# works with dash/bash on a host). Source it from a cases script with
#
#     . "${HWKVM_LIB:-/hwkvm/cases-lib.sh}"
#
# Each helper prints exactly one result line,
#     CASE <name> PASS
#     CASE <name> FAIL <reason>
#     CASE <name> SKIP <reason>
# which ci/hw-kvm.sh counts, and returns 0 on PASS/SKIP, 1 on FAIL (so do not
# use `set -e` in a cases script). Details (command, captured output) follow
# a failure on lines indented with "    | ". Names must not contain spaces.
#
#   expect_run NAME STATUS STDOUT -- CMD [ARG...]
#       Run CMD (stdin /dev/null, at most $HWKVM_CASE_TIMEOUT s); PASS if its
#       exit status is STATUS and its stdout equals STDOUT (trailing newlines
#       ignored, as with $(...)). STATUS or STDOUT "*" matches anything.
#   expect_exact NAME STATUS STDOUT STDERR -- CMD [ARG...]
#       PASS if the exit status is STATUS and stdout and stderr are exactly
#       the given bytes (nothing ignored). STDOUT and STDERR are printf %b
#       strings ('a\n' is "a" and a newline, '' is no bytes at all), or
#       "@FILE" for the exact contents of FILE, or "*" for anything.
#   expect_stdout_contains NAME STATUS TEXT -- CMD [ARG...]
#   expect_stderr_contains NAME STATUS TEXT -- CMD [ARG...]
#       As expect_run, but PASS if stdout (stderr) contains TEXT (a fixed
#       string, possibly several lines: each line must appear, in any order).
#   expect_stdout_lacks NAME STATUS TEXT -- CMD [ARG...]
#       PASS if the status matches and stdout does not contain TEXT.
#   check NAME -- CMD [ARG...]
#       PASS if CMD exits 0 (a shorthand for a condition: check x -- test -c /dev/kvm).
#   pass NAME / fail NAME REASON / skip NAME REASON
#       Print a result line directly.
#
#   with_stdin FILE HELPER ARGS...
#       Call a helper with the command's stdin a pipe fed from FILE
#       (`cat FILE | CMD`) instead of /dev/null.
#
# After each run, $CASE_STATUS, $CASE_OUT and $CASE_ERR (files with stdout
# and stderr) describe the last command, for further checks by hand.
# HWKVM_VERBOSE=1 shows the output of passing commands too.

HWKVM_CASE_TIMEOUT=${HWKVM_CASE_TIMEOUT:-120}
HWKVM_VERBOSE=${HWKVM_VERBOSE:-0}
HWKVM_STDIN=
_hwkvm_dir=$(mktemp -d "${TMPDIR:-/tmp}/hwkvm-case.XXXXXX") || exit 2
CASE_OUT=$_hwkvm_dir/out
CASE_ERR=$_hwkvm_dir/err
CASE_STATUS=
_hwkvm_cmd=

pass() { echo "CASE $1 PASS"; return 0; }
skip() { _n=$1; shift; echo "CASE $_n SKIP $*"; return 0; }
fail() { _n=$1; shift; echo "CASE $_n FAIL $*"; return 1; }
with_stdin() {
    HWKVM_STDIN=$1; shift
    "$@"; _r=$?
    HWKVM_STDIN=
    return $_r
}

# _hwkvm_show FILE LABEL: print up to 40 lines of FILE, indented.
_hwkvm_show() {
    if [ -s "$1" ]; then
        echo "    | $2:"
        head -n 40 "$1" | sed 's/^/    |   /'
        [ "$(wc -l < "$1")" -gt 40 ] && echo "    |   ..."
    fi
    return 0
}
_hwkvm_details() {
    echo "    | command: $_hwkvm_cmd"
    echo "    | status: $CASE_STATUS"
    _hwkvm_show "$CASE_OUT" stdout
    _hwkvm_show "$CASE_ERR" stderr
}

# _hwkvm_run CMD...: run with a time limit, recording status and output.
_hwkvm_run() {
    _hwkvm_cmd=$*
    _to=
    command -v timeout >/dev/null 2>&1 && _to="timeout -s KILL $HWKVM_CASE_TIMEOUT"
    if [ -n "$HWKVM_STDIN" ]; then
        _hwkvm_cmd="cat $HWKVM_STDIN | $*"
        # The pipeline's status is the command's (the last one).
        # shellcheck disable=SC2002 # a pipe on purpose, not a file
        # shellcheck disable=SC2086 # $_to is split on purpose
        cat "$HWKVM_STDIN" | $_to "$@" > "$CASE_OUT" 2> "$CASE_ERR"
    else
        # shellcheck disable=SC2086
        $_to "$@" > "$CASE_OUT" 2> "$CASE_ERR" < /dev/null
    fi
    CASE_STATUS=$?
}

# _hwkvm_args NAME STATUS TEXT -- CMD...: validate; sets _n _st _tx; caller shifts 4.
_hwkvm_args() {
    if [ $# -lt 5 ] || [ "$4" != "--" ]; then
        echo "CASE ${1:-unnamed} FAIL bad helper call (want: NAME STATUS TEXT -- CMD...)"
        return 1
    fi
    _n=$1 _st=$2 _tx=$3
    return 0
}

_hwkvm_status_ok() {
    [ "$_st" = "*" ] || [ "$CASE_STATUS" = "$_st" ]
}

_hwkvm_finish() {  # REASON-or-empty
    if [ -z "$1" ]; then
        echo "CASE $_n PASS"
        [ "$HWKVM_VERBOSE" = 1 ] && { _hwkvm_show "$CASE_OUT" stdout; _hwkvm_show "$CASE_ERR" stderr; }
        return 0
    fi
    echo "CASE $_n FAIL $1"
    _hwkvm_details
    return 1
}

# _hwkvm_reason_status: a reason when the status is wrong.
_hwkvm_status_reason() {
    if [ "$CASE_STATUS" = 137 ]; then
        echo "killed by SIGKILL (time limit ${HWKVM_CASE_TIMEOUT}s?), expected status $_st"
    elif [ "$CASE_STATUS" = 127 ] && [ ! -s "$CASE_OUT" ]; then
        echo "status 127 (command not found?), expected $_st"
    else
        echo "status $CASE_STATUS, expected $_st"
    fi
}

# _hwkvm_contains FILE TEXT: every line of TEXT occurs in FILE.
_hwkvm_contains() {
    _f=$1
    while IFS= read -r _l; do
        grep -qF -- "$_l" "$_f" || return 1
    done <<_HWKVM_EOF
$2
_HWKVM_EOF
    return 0
}

expect_run() {
    _hwkvm_args "$@" || return 1
    shift 4
    _hwkvm_run "$@"
    if ! _hwkvm_status_ok; then
        _hwkvm_finish "$(_hwkvm_status_reason)"; return
    fi
    if [ "$_tx" != "*" ] && [ "$(cat "$CASE_OUT")" != "$_tx" ]; then
        _hwkvm_finish "stdout differs from expected: $(printf '%s' "$_tx" | head -c 200 | tr '\n' '|')"; return
    fi
    _hwkvm_finish ""
}

# _hwkvm_same FILE SPEC: FILE holds exactly SPEC (see expect_exact).
_hwkvm_same() {
    case "$2" in
        "*") return 0 ;;
        @*) cmp -s "$1" "${2#@}" ;;
        *) printf '%b' "$2" > "$_hwkvm_dir/expected" && cmp -s "$1" "$_hwkvm_dir/expected" ;;
    esac
}

expect_exact() {
    if [ $# -lt 6 ] || [ "$5" != "--" ]; then
        echo "CASE ${1:-unnamed} FAIL bad helper call (want: expect_exact NAME STATUS STDOUT STDERR -- CMD...)"
        return 1
    fi
    _n=$1 _st=$2 _eo=$3 _ee=$4
    shift 5
    _hwkvm_run "$@"
    if ! _hwkvm_status_ok; then _hwkvm_finish "$(_hwkvm_status_reason)"; return; fi
    if ! _hwkvm_same "$CASE_OUT" "$_eo"; then
        case "$_eo" in
            # An expectation from a file (a native run): show how they differ.
            @*) _hwkvm_finish "stdout differs from ${_eo#@} (diff expected got):
$(diff "${_eo#@}" "$CASE_OUT" | head -20 | sed 's/^/    | /')"; return ;;
        esac
        _hwkvm_finish "stdout is not exactly: $(printf '%s' "$_eo" | head -c 200)"; return
    fi
    if ! _hwkvm_same "$CASE_ERR" "$_ee"; then
        _hwkvm_finish "stderr is not exactly: $(printf '%s' "$_ee" | head -c 200)"; return
    fi
    _hwkvm_finish ""
}

expect_stdout_contains() {
    _hwkvm_args "$@" || return 1
    shift 4
    _hwkvm_run "$@"
    if ! _hwkvm_status_ok; then _hwkvm_finish "$(_hwkvm_status_reason)"; return; fi
    if ! _hwkvm_contains "$CASE_OUT" "$_tx"; then
        _hwkvm_finish "stdout lacks: $(printf '%s' "$_tx" | head -c 200 | tr '\n' '|')"; return
    fi
    _hwkvm_finish ""
}

expect_stderr_contains() {
    _hwkvm_args "$@" || return 1
    shift 4
    _hwkvm_run "$@"
    if ! _hwkvm_status_ok; then _hwkvm_finish "$(_hwkvm_status_reason)"; return; fi
    if ! _hwkvm_contains "$CASE_ERR" "$_tx"; then
        _hwkvm_finish "stderr lacks: $(printf '%s' "$_tx" | head -c 200 | tr '\n' '|')"; return
    fi
    _hwkvm_finish ""
}

expect_stdout_lacks() {
    _hwkvm_args "$@" || return 1
    shift 4
    _hwkvm_run "$@"
    if ! _hwkvm_status_ok; then _hwkvm_finish "$(_hwkvm_status_reason)"; return; fi
    if grep -qF -- "$_tx" "$CASE_OUT"; then
        _hwkvm_finish "stdout contains: $_tx"; return
    fi
    _hwkvm_finish ""
}

check() {
    if [ $# -lt 3 ] || [ "$2" != "--" ]; then
        echo "CASE ${1:-unnamed} FAIL bad helper call (want: check NAME -- CMD...)"
        return 1
    fi
    _n=$1 _st=0
    shift 2
    _hwkvm_run "$@"
    if [ "$CASE_STATUS" != 0 ]; then _hwkvm_finish "$(_hwkvm_status_reason)"; return; fi
    _hwkvm_finish ""
}
