# netop OP PORT [MESSAGE] — one socket exchange with a loopback peer.
# Exit status: 0 on success; the errno of the first failing syscall; 100 bad
# usage; 101 when writing to stdout fails; 102 when SO_ERROR is not 0; 103 when
# a datagram's source address is not the peer's.
#
#   t PORT MSG   TCP to 127.0.0.1:PORT: socket, connect, sendto(MSG),
#                shutdown(SHUT_WR), recvfrom until 0 -> stdout, getsockopt(SO_ERROR)
#   w PORT MSG   the same with write/read instead of sendto/recvfrom
#   T PORT MSG   like t, to [::1]:PORT over AF_INET6
#   u PORT MSG   UDP to 127.0.0.1:PORT: sendto(MSG), recvfrom one datagram
#                -> stdout, checks the source address
#   x PORT       socket(AF_NETLINK, SOCK_STREAM): exits with its errno
        .include "common.inc"
        .include "files.inc"
        .equ    BUFSZ, 4096
        .equ    SA, BUFSZ                       # sockaddr at [rsp + SA], 32 bytes
        .equ    FROM, BUFSZ + 32                # source address, 32 bytes
        .equ    LEN, BUFSZ + 64                 # socklen_t / int scratch
        .globl  _start
_start:
        mov     rbp, rsp
        cmp     qword ptr [rbp], 3
        jb      usage
        mov     rax, [rbp + 16]
        movzx   ebx, byte ptr [rax]
        ARG_U64 2, 0
        mov     r15, rax                        # port
        xor     r13d, r13d                      # message
        xor     r14d, r14d                      # its length
        cmp     qword ptr [rbp], 4
        jb      1f
        mov     r13, [rbp + 32]
        STRLEN  r13
        mov     r14, rax
1:
        sub     rsp, BUFSZ + 128
        and     rsp, -16
        # sockaddr_in for 127.0.0.1:port
        xor     eax, eax
        mov     qword ptr [rsp + SA], rax
        mov     qword ptr [rsp + SA + 8], rax
        mov     qword ptr [rsp + SA + 16], rax
        mov     qword ptr [rsp + SA + 24], rax
        mov     word ptr [rsp + SA], AF_INET
        mov     eax, r15d
        xchg    al, ah                          # network byte order
        mov     word ptr [rsp + SA + 2], ax
        mov     dword ptr [rsp + SA + 4], 0x0100007f
        mov     r12d, 16                        # sockaddr length
        cmp     bl, 't'
        je      op_tcp
        cmp     bl, 'w'
        je      op_tcp
        cmp     bl, 'T'
        je      op_tcp6
        cmp     bl, 'u'
        je      op_udp
        cmp     bl, 'x'
        je      op_unix
usage:
        EXIT    100
write_failed:
        EXIT    101
ok:
        EXIT    0
        ERRNO_EXIT

op_unix:
        mov     edi, 16                         # AF_NETLINK: not emulated
        mov     esi, SOCK_STREAM
        xor     edx, edx
        TRYSYS  SYS_socket
        jmp     ok

op_tcp6:
        # sockaddr_in6 for [::1]:port (flowinfo 0, scope 0)
        mov     word ptr [rsp + SA], AF_INET6
        mov     dword ptr [rsp + SA + 4], 0
        mov     byte ptr [rsp + SA + 23], 1
        mov     r12d, 28
        mov     edi, AF_INET6
        jmp     .Ltcp_socket
op_tcp:
        mov     edi, AF_INET
.Ltcp_socket:
        mov     esi, SOCK_STREAM | SOCK_CLOEXEC
        xor     edx, edx
        TRYSYS  SYS_socket
        mov     [rsp + LEN + 8], rax            # the socket
        mov     rdi, rax
        lea     rsi, [rsp + SA]
        mov     edx, r12d
        TRYSYS  SYS_connect
        mov     rdi, [rsp + LEN + 8]
        mov     rsi, r13
        mov     rdx, r14
        cmp     bl, 'w'
        je      1f
        xor     r10d, r10d
        xor     r8d, r8d
        xor     r9d, r9d
        TRYSYS  SYS_sendto
        jmp     2f
1:      TRYSYS  SYS_write
2:      mov     rdi, [rsp + LEN + 8]
        mov     esi, SHUT_WR
        TRYSYS  SYS_shutdown
.Lrecv:
        mov     rdi, [rsp + LEN + 8]
        mov     rsi, rsp
        mov     edx, BUFSZ
        cmp     bl, 'w'
        je      1f
        xor     r10d, r10d
        xor     r8d, r8d
        xor     r9d, r9d
        TRYSYS  SYS_recvfrom
        jmp     2f
1:      TRYSYS  SYS_read
2:      test    rax, rax
        jz      .Lso_error
        mov     rsi, rsp
        mov     rdx, rax
        WRITE_ALL STDOUT, write_failed
        jmp     .Lrecv
.Lso_error:
        mov     dword ptr [rsp + LEN], 4
        mov     dword ptr [rsp + LEN + 4], -1
        mov     rdi, [rsp + LEN + 8]
        mov     esi, SOL_SOCKET
        mov     edx, SO_ERROR
        lea     r10, [rsp + LEN + 4]
        lea     r8, [rsp + LEN]
        TRYSYS  SYS_getsockopt
        cmp     dword ptr [rsp + LEN + 4], 0
        jne     .Lbad_so_error
        mov     rdi, [rsp + LEN + 8]
        TRYSYS  SYS_close
        jmp     ok
.Lbad_so_error:
        EXIT    102

op_udp:
        mov     edi, AF_INET
        mov     esi, SOCK_DGRAM
        xor     edx, edx
        TRYSYS  SYS_socket
        mov     [rsp + LEN + 8], rax
        mov     rdi, rax
        mov     rsi, r13
        mov     rdx, r14
        xor     r10d, r10d
        lea     r8, [rsp + SA]
        mov     r9d, 16
        TRYSYS  SYS_sendto
        mov     dword ptr [rsp + LEN], 32
        mov     rdi, [rsp + LEN + 8]
        mov     rsi, rsp
        mov     edx, BUFSZ
        xor     r10d, r10d
        lea     r8, [rsp + FROM]
        lea     r9, [rsp + LEN]
        TRYSYS  SYS_recvfrom
        mov     r12, rax
        cmp     dword ptr [rsp + LEN], 16       # sockaddr_in
        jne     .Lbad_source
        mov     eax, dword ptr [rsp + FROM]     # family and port
        cmp     eax, dword ptr [rsp + SA]
        jne     .Lbad_source
        mov     eax, dword ptr [rsp + FROM + 4] # address
        cmp     eax, dword ptr [rsp + SA + 4]
        jne     .Lbad_source
        mov     rsi, rsp
        mov     rdx, r12
        WRITE_ALL STDOUT, write_failed
        jmp     ok
.Lbad_source:
        EXIT    103
