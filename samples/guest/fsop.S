# fsop OP PATH [ARG] — one file operation, chosen by the first letter of OP.
# Exit status: 0 on success; the errno of the first failing syscall (so the
# runner's refusals are visible as exit statuses); 100 bad usage; 101 when
# writing the output to stdout fails.
#
#   r PATH        open O_RDONLY, copy the file to stdout
#   w PATH TEXT   open O_WRONLY|O_CREAT|O_TRUNC 0644, write TEXT
#   a PATH TEXT   open O_WRONLY|O_APPEND, write TEXT
#   x PATH        open O_WRONLY|O_CREAT|O_EXCL 0644, close
#   o PATH        open O_RDONLY|O_NOFOLLOW, close
#   m PATH        mkdir 0755          u PATH   unlink        d PATH  rmdir
#   n OLD NEW     rename              t PATH N truncate to N bytes
#   s PATH        stat     -> "mode=%016x size=%016x\n"
#   l PATH        lstat    -> same      f PATH   open + fstat -> same
#   X PATH        statx    -> same (stx_mode, stx_size)
#   g PATH [N]    open O_DIRECTORY, getdents64 with an N-byte buffer
#                 (default and at most 4096) until 0; one name per line
#   k PATH        readlink -> the text and "\n"
#   c DIR [FILE]  chdir, getcwd -> the cwd and "\n"; then like `r FILE`
#   e PATH        open O_RDONLY until it fails; prints the number of
#                 successful opens as %016x\n, exits with the errno
#   W PATH / F PATH / A PATH   access W_OK / F_OK / X_OK
        .include "common.inc"
        .include "files.inc"
        .equ    BUFSZ, 4096
        .globl  _start
_start:
        mov     rbp, rsp
        cmp     qword ptr [rbp], 3
        jb      usage
        mov     rax, [rbp + 16]         # argv[1]
        movzx   ebx, byte ptr [rax]
        mov     r12, [rbp + 24]         # argv[2]
        xor     r13d, r13d
        cmp     qword ptr [rbp], 4
        jb      1f
        mov     r13, [rbp + 32]         # argv[3]
1:
        sub     rsp, BUFSZ + 64
        and     rsp, -16
        cmp     bl, 'r'
        je      op_read
        cmp     bl, 'w'
        je      op_write
        cmp     bl, 'a'
        je      op_append
        cmp     bl, 'x'
        je      op_excl
        cmp     bl, 'o'
        je      op_nofollow
        cmp     bl, 'm'
        je      op_mkdir
        cmp     bl, 'u'
        je      op_unlink
        cmp     bl, 'd'
        je      op_rmdir
        cmp     bl, 'n'
        je      op_rename
        cmp     bl, 't'
        je      op_truncate
        cmp     bl, 's'
        je      op_stat
        cmp     bl, 'l'
        je      op_lstat
        cmp     bl, 'f'
        je      op_fstat
        cmp     bl, 'X'
        je      op_statx
        cmp     bl, 'g'
        je      op_list
        cmp     bl, 'k'
        je      op_readlink
        cmp     bl, 'c'
        je      op_chdir
        cmp     bl, 'e'
        je      op_exhaust
        cmp     bl, 'W'
        je      op_access_w
        cmp     bl, 'F'
        je      op_access_f
        cmp     bl, 'A'
        je      op_access_x
usage:
        EXIT    100
write_failed:
        EXIT    101
ok:
        EXIT    0
        ERRNO_EXIT

op_read:
        mov     rdi, r12
        mov     esi, O_RDONLY
        xor     edx, edx
        TRYSYS  SYS_open
        mov     r14, rax
.Lcat:
        mov     edi, r14d
        mov     rsi, rsp
        mov     edx, BUFSZ
        TRYSYS  SYS_read
        test    rax, rax
        jz      ok
        mov     rsi, rsp
        mov     rdx, rax
        WRITE_ALL STDOUT, write_failed
        jmp     .Lcat

op_write:
        mov     esi, O_WRONLY | O_CREAT | O_TRUNC
        jmp     .Lopen_for_text
op_append:
        mov     esi, O_WRONLY | O_APPEND
.Lopen_for_text:
        test    r13, r13
        jz      usage
        mov     rdi, r12
        mov     edx, 0644
        TRYSYS  SYS_open
        mov     r14, rax
        STRLEN  r13
        mov     rdx, rax
        mov     rsi, r13
.Lwrite_loop:
        test    rdx, rdx
        jz      ok
        mov     edi, r14d
        TRYSYS  SYS_write
        test    rax, rax
        jz      write_failed
        add     rsi, rax
        sub     rdx, rax
        jmp     .Lwrite_loop

op_excl:
        mov     rdi, r12
        mov     esi, O_WRONLY | O_CREAT | O_EXCL
        mov     edx, 0644
        jmp     .Lopen_close
op_nofollow:
        mov     rdi, r12
        mov     esi, O_RDONLY | O_NOFOLLOW
        xor     edx, edx
.Lopen_close:
        TRYSYS  SYS_open
        mov     edi, eax
        TRYSYS  SYS_close
        jmp     ok

op_mkdir:
        mov     rdi, r12
        mov     esi, 0755
        TRYSYS  SYS_mkdir
        jmp     ok
op_unlink:
        mov     rdi, r12
        TRYSYS  SYS_unlink
        jmp     ok
op_rmdir:
        mov     rdi, r12
        TRYSYS  SYS_rmdir
        jmp     ok
op_rename:
        test    r13, r13
        jz      usage
        mov     rdi, r12
        mov     rsi, r13
        TRYSYS  SYS_rename
        jmp     ok
op_truncate:
        ARG_U64 3, 0
        mov     rsi, rax
        mov     rdi, r12
        TRYSYS  SYS_truncate
        jmp     ok

op_stat:
        mov     rdi, r12
        mov     rsi, rsp
        TRYSYS  SYS_stat
        jmp     .Lprint_stat
op_lstat:
        mov     rdi, r12
        mov     rsi, rsp
        TRYSYS  SYS_lstat
        jmp     .Lprint_stat
op_fstat:
        mov     rdi, r12
        mov     esi, O_RDONLY
        xor     edx, edx
        TRYSYS  SYS_open
        mov     edi, eax
        mov     rsi, rsp
        TRYSYS  SYS_fstat
.Lprint_stat:
        mov     r14d, dword ptr [rsp + 24]      # st_mode
        mov     r15, qword ptr [rsp + 48]       # st_size
        jmp     .Lprint_mode_size
op_statx:
        mov     edi, AT_FDCWD
        mov     rsi, r12
        xor     edx, edx
        mov     r10d, STATX_BASIC_STATS
        mov     r8, rsp
        TRYSYS  SYS_statx
        movzx   r14d, word ptr [rsp + 28]       # stx_mode
        mov     r15, qword ptr [rsp + 40]       # stx_size
.Lprint_mode_size:
        PRINT   STDOUT, "mode="
        PRINT_HEX64 STDOUT, r14
        PRINT   STDOUT, " size="
        PRINT_HEX64 STDOUT, r15
        PRINT   STDOUT, "\n"
        jmp     ok

op_list:
        ARG_U64 3, BUFSZ
        cmp     rax, BUFSZ
        jbe     1f
        mov     eax, BUFSZ
1:      mov     rbx, rax                        # buffer size
        mov     rdi, r12
        mov     esi, O_RDONLY | O_DIRECTORY
        xor     edx, edx
        TRYSYS  SYS_open
        mov     r14, rax
.Lgetdents:
        mov     edi, r14d
        mov     rsi, rsp
        mov     rdx, rbx
        TRYSYS  SYS_getdents64
        test    rax, rax
        jz      ok
        mov     r15, rax                        # bytes in the buffer
        xor     r13d, r13d                      # offset of the entry
.Lentry:
        cmp     r13, r15
        jae     .Lgetdents
        lea     r12, [rsp + r13 + 19]           # d_name
        STRLEN  r12
        mov     rdx, rax
        mov     rsi, r12
        WRITE_ALL STDOUT, write_failed
        PRINT   STDOUT, "\n"
        movzx   eax, word ptr [rsp + r13 + 16]  # d_reclen
        test    eax, eax
        jz      write_failed
        add     r13, rax
        jmp     .Lentry

op_readlink:
        mov     rdi, r12
        mov     rsi, rsp
        mov     edx, BUFSZ
        TRYSYS  SYS_readlink
        mov     rdx, rax
        mov     rsi, rsp
        WRITE_ALL STDOUT, write_failed
        PRINT   STDOUT, "\n"
        jmp     ok

op_chdir:
        mov     rdi, r12
        TRYSYS  SYS_chdir
        mov     rdi, rsp
        mov     esi, BUFSZ
        TRYSYS  SYS_getcwd
        lea     rdx, [rax - 1]                  # without the NUL
        mov     rsi, rsp
        WRITE_ALL STDOUT, write_failed
        PRINT   STDOUT, "\n"
        test    r13, r13
        jz      ok
        mov     r12, r13
        jmp     op_read

op_exhaust:
        xor     r15d, r15d
1:      mov     rdi, r12
        mov     esi, O_RDONLY
        xor     edx, edx
        SYS     SYS_open
        test    rax, rax
        js      2f
        inc     r15
        jmp     1b
2:      mov     r14, rax
        PRINT_HEX64 STDOUT, r15
        PRINT   STDOUT, "\n"
        mov     rax, r14
        jmp     errno_exit

op_access_w:
        mov     esi, 2
        jmp     .Laccess
op_access_f:
        xor     esi, esi
        jmp     .Laccess
op_access_x:
        mov     esi, 1
.Laccess:
        mov     rdi, r12
        TRYSYS  SYS_access
        jmp     ok
