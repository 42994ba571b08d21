# fileio DIR — self-checking descriptor and file syscalls in DIR, which must be
# an empty directory in a read-write [[files]] rule. Steps in samples/README.md;
# prints "fileio: ok\n", or "fileio: FAIL <step>\n" on stderr and exits 1.
        .include "common.inc"
        .include "files.inc"
        .equ    BUF, 256                        # scratch at [rsp], 256 bytes

# EXPECT value, step — fail unless rax == value (a sign-extended imm32).
.macro EXPECT val:req, step:req
        cmp     rax, \val
        JFAIL   ne, "fileio: FAIL \step\n"
.endm

# CALL6 nr, a, b, c, d — load rdi rsi rdx r10 and make the syscall.
.macro CALL4 nr:req, a:req, b:req, c:req, d:req
        mov     rdi, \a
        mov     rsi, \b
        mov     rdx, \c
        mov     r10, \d
        SYS     \nr
.endm

        .globl  _start
_start:
        mov     rbp, rsp
        cmp     qword ptr [rbp], 2
        JFAIL   b, "fileio: FAIL usage\n"
        sub     rsp, 1024
        and     rsp, -16

        # chdir, getcwd
        mov     rdi, [rbp + 16]
        SYS     SYS_chdir
        EXPECT  0, chdir
        mov     rbx, [rbp + 16]
        STRLEN  rbx
        lea     r15, [rax + 1]
        CALL4   SYS_getcwd, rsp, BUF, 0, 0
        cmp     rax, r15
        JFAIL   ne, "fileio: FAIL getcwd\n"

        # open, write, lseek, read
        LOAD_STR rdi, esi, "t.txt\0"
        mov     esi, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC
        mov     edx, 0644
        SYS     SYS_open
        EXPECT  3, open
        mov     r12, rax
        LOAD_STR rsi, edx, "hello world"
        mov     rdi, r12
        SYS     SYS_write
        EXPECT  11, write
        CALL4   SYS_lseek, r12, 0, SEEK_SET, 0
        EXPECT  0, lseek
        CALL4   SYS_read, r12, rsp, 64, 0
        EXPECT  11, read
        mov     rax, qword ptr [rsp]
        mov     rcx, 0x6f77206f6c6c6568         # "hello wo"
        cmp     rax, rcx
        JFAIL   ne, "fileio: FAIL read_data\n"

        # pread64, pwrite64
        CALL4   SYS_pread64, r12, rsp, 4, 6
        EXPECT  4, pread
        cmp     dword ptr [rsp], 0x6c726f77     # "worl"
        JFAIL   ne, "fileio: FAIL pread_data\n"
        LOAD_STR rsi, edx, "WORLD"
        mov     rdi, r12
        mov     r10d, 6
        SYS     SYS_pwrite64
        EXPECT  5, pwrite
        CALL4   SYS_pread64, r12, rsp, 4, 6
        cmp     dword ptr [rsp], 0x4c524f57     # "WORL"
        JFAIL   ne, "fileio: FAIL pwrite_data\n"

        # fstat, ftruncate
        CALL4   SYS_fstat, r12, rsp, 0, 0
        EXPECT  0, fstat
        cmp     qword ptr [rsp + 48], 11
        JFAIL   ne, "fileio: FAIL fstat_size\n"
        mov     eax, dword ptr [rsp + 24]
        and     eax, S_IFMT
        cmp     eax, S_IFREG
        JFAIL   ne, "fileio: FAIL fstat_mode\n"
        CALL4   SYS_ftruncate, r12, 5, 0, 0
        EXPECT  0, ftruncate
        CALL4   SYS_fstat, r12, rsp, 0, 0
        cmp     qword ptr [rsp + 48], 5
        JFAIL   ne, "fileio: FAIL ftruncate_size\n"

        # dup shares the offset
        CALL4   SYS_dup, r12, 0, 0, 0
        EXPECT  4, dup
        mov     r13, rax
        CALL4   SYS_lseek, r12, 0, SEEK_SET, 0
        CALL4   SYS_read, r13, rsp, 64, 0
        EXPECT  5, dup_read
        CALL4   SYS_lseek, r12, 0, SEEK_CUR, 0
        EXPECT  5, dup_offset

        # dup2, dup3, F_GETFD/F_SETFD
        CALL4   SYS_dup2, r12, 10, 0, 0
        EXPECT  10, dup2
        CALL4   SYS_dup3, r12, 11, O_CLOEXEC, 0
        EXPECT  11, dup3
        CALL4   SYS_dup3, r12, r12, 0, 0
        EXPECT  -EINVAL, dup3_same
        CALL4   SYS_fcntl, 11, F_GETFD, 0, 0
        EXPECT  1, getfd_cloexec
        CALL4   SYS_fcntl, 10, F_GETFD, 0, 0
        EXPECT  0, getfd
        CALL4   SYS_fcntl, 10, F_SETFD, 1, 0
        EXPECT  0, setfd
        CALL4   SYS_fcntl, 10, F_GETFD, 0, 0
        EXPECT  1, setfd_get
        CALL4   SYS_fcntl, r12, F_DUPFD, 5, 0
        EXPECT  5, dupfd
        CALL4   SYS_fcntl, r12, F_DUPFD_CLOEXEC, 20, 0
        EXPECT  20, dupfd_cloexec
        CALL4   SYS_fcntl, 20, F_GETFD, 0, 0
        EXPECT  1, dupfd_cloexec_flag

        # F_GETFL / F_SETFL O_APPEND
        CALL4   SYS_fcntl, r12, F_GETFL, 0, 0
        and     eax, 3
        EXPECT  O_RDWR, getfl
        CALL4   SYS_fcntl, r12, F_SETFL, O_APPEND, 0
        EXPECT  0, setfl
        CALL4   SYS_fcntl, r12, F_GETFL, 0, 0
        and     eax, O_APPEND
        EXPECT  O_APPEND, getfl_append
        CALL4   SYS_lseek, r12, 0, SEEK_SET, 0
        LOAD_STR rsi, edx, "!"
        mov     rdi, r12
        SYS     SYS_write
        EXPECT  1, append_write
        CALL4   SYS_fstat, r12, rsp, 0, 0
        cmp     qword ptr [rsp + 48], 6
        JFAIL   ne, "fileio: FAIL append_size\n"

        # fsync, fdatasync, ioctl
        CALL4   SYS_fsync, r12, 0, 0, 0
        EXPECT  0, fsync
        CALL4   SYS_fdatasync, r12, 0, 0, 0
        EXPECT  0, fdatasync
        CALL4   SYS_ioctl, r12, TCGETS, rsp, 0
        EXPECT  -ENOTTY, tcgets
        CALL4   SYS_ioctl, 1, TIOCGWINSZ, rsp, 0
        EXPECT  -ENOTTY, tiocgwinsz

        # writev (appends "ab" "cd"), then readv 3 + 7 bytes from 0
        LOAD_STR rax, ecx, "ab"
        mov     qword ptr [rsp + 128], rax
        mov     qword ptr [rsp + 136], 2
        LOAD_STR rax, ecx, "cd"
        mov     qword ptr [rsp + 144], rax
        mov     qword ptr [rsp + 152], 2
        lea     rsi, [rsp + 128]
        CALL4   SYS_writev, r12, rsi, 2, 0
        EXPECT  4, writev
        CALL4   SYS_lseek, r12, 0, SEEK_SET, 0
        mov     qword ptr [rsp + 128], rsp
        mov     qword ptr [rsp + 136], 3
        lea     rax, [rsp + 8]
        mov     qword ptr [rsp + 144], rax
        mov     qword ptr [rsp + 152], 7
        lea     rsi, [rsp + 128]
        CALL4   SYS_readv, r12, rsi, 2, 0
        EXPECT  10, readv
        mov     eax, dword ptr [rsp]
        and     eax, 0xffffff
        cmp     eax, 0x6c6568                   # "hel"
        JFAIL   ne, "fileio: FAIL readv_data1\n"
        cmp     dword ptr [rsp + 8], 0x61216f6c # "lo!a"
        JFAIL   ne, "fileio: FAIL readv_data2\n"

        # close
        CALL4   SYS_close, r12, 0, 0, 0
        EXPECT  0, close
        CALL4   SYS_close, r12, 0, 0, 0
        EXPECT  -EBADF, close_twice
        CALL4   SYS_read, r12, rsp, 8, 0
        EXPECT  -EBADF, read_closed

        # mkdir, rename, stat, openat with a dirfd, newfstatat, getdents64
        LOAD_STR rdi, esi, "sub\0"
        mov     esi, 0755
        SYS     SYS_mkdir
        EXPECT  0, mkdir
        LOAD_STR rdi, esi, "sub\0"
        mov     esi, 0755
        SYS     SYS_mkdir
        EXPECT  -EEXIST, mkdir_exists
        LOAD_STR rdi, esi, "t.txt\0"
        LOAD_STR rsi, edx, "sub/u.txt\0"
        SYS     SYS_rename
        EXPECT  0, rename
        LOAD_STR rdi, esi, "sub/u.txt\0"
        mov     rsi, rsp
        SYS     SYS_stat
        EXPECT  0, stat_renamed
        cmp     qword ptr [rsp + 48], 10
        JFAIL   ne, "fileio: FAIL stat_renamed_size\n"
        LOAD_STR rdi, esi, "t.txt\0"
        mov     rsi, rsp
        SYS     SYS_stat
        EXPECT  -ENOENT, stat_gone
        LOAD_STR rdi, esi, "sub/u.txt\0"
        mov     esi, O_RDONLY | O_DIRECTORY
        SYS     SYS_open
        EXPECT  -ENOTDIR, o_directory
        mov     edi, AT_FDCWD
        LOAD_STR rsi, edx, "sub\0"
        mov     edx, O_RDONLY | O_DIRECTORY
        SYS     SYS_openat
        test    rax, rax
        JFAIL   s, "fileio: FAIL open_dir\n"
        mov     r13, rax
        mov     rdi, r13
        LOAD_STR rsi, edx, "u.txt\0"
        mov     edx, O_RDONLY
        SYS     SYS_openat
        test    rax, rax
        JFAIL   s, "fileio: FAIL openat_dirfd\n"
        mov     r14, rax
        mov     rdi, r13
        LOAD_STR rsi, edx, "u.txt\0"
        mov     rdx, rsp
        xor     r10d, r10d
        SYS     SYS_newfstatat
        EXPECT  0, newfstatat
        cmp     qword ptr [rsp + 48], 10
        JFAIL   ne, "fileio: FAIL newfstatat_size\n"
        mov     rdi, r14
        LOAD_STR rsi, edx, "\0"
        mov     rdx, rsp
        mov     r10d, AT_EMPTY_PATH
        SYS     SYS_newfstatat
        EXPECT  0, empty_path
        cmp     qword ptr [rsp + 48], 10
        JFAIL   ne, "fileio: FAIL empty_path_size\n"
        CALL4   SYS_getdents64, r13, rsp, BUF, 0
        test    rax, rax
        JFAIL   le, "fileio: FAIL getdents\n"
        xor     ecx, ecx                        # offset
        xor     edx, edx                        # entries
1:      cmp     rcx, rax
        jae     2f
        inc     edx
        movzx   esi, word ptr [rsp + rcx + 16]
        add     rcx, rsi
        jmp     1b
2:      cmp     edx, 3                          # ".", "..", "u.txt"
        JFAIL   ne, "fileio: FAIL getdents_count\n"
        CALL4   SYS_getdents64, r13, rsp, BUF, 0
        EXPECT  0, getdents_end

        # readlink of a file, access, removal
        LOAD_STR rdi, esi, "sub/u.txt\0"
        mov     rsi, rsp
        mov     edx, 64
        SYS     SYS_readlink
        EXPECT  -EINVAL, readlink_file
        LOAD_STR rdi, esi, "sub/u.txt\0"
        mov     esi, 2
        SYS     SYS_access
        EXPECT  0, access_w
        LOAD_STR rdi, esi, "sub\0"
        SYS     SYS_rmdir
        EXPECT  -ENOTEMPTY, rmdir_notempty
        LOAD_STR rdi, esi, "sub/u.txt\0"
        SYS     SYS_unlink
        EXPECT  0, unlink
        LOAD_STR rdi, esi, "sub\0"
        SYS     SYS_rmdir
        EXPECT  0, rmdir

        # O_EXCL
        LOAD_STR rdi, esi, "x.txt\0"
        mov     esi, O_WRONLY | O_CREAT | O_EXCL
        mov     edx, 0600
        SYS     SYS_open
        test    rax, rax
        JFAIL   s, "fileio: FAIL excl_create\n"
        LOAD_STR rdi, esi, "x.txt\0"
        mov     esi, O_WRONLY | O_CREAT | O_EXCL
        mov     edx, 0600
        SYS     SYS_open
        EXPECT  -EEXIST, excl_exists
        LOAD_STR rdi, esi, "x.txt\0"
        SYS     SYS_unlink
        EXPECT  0, excl_unlink

        PRINT   STDOUT, "fileio: ok\n"
        EXIT    0
