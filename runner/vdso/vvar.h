/*
 * vvar.h - the layout of the vDSO's data page ("vvar"), shared by the vDSO
 * (vdso.c) and the runner: build.rs turns every `#define VVAR_...` below into
 * a Rust constant of the same name (guest::vdso), so there is one definition.
 *
 * The page is mapped read-only (and NX) for the program, one page below the
 * vDSO's ELF header. Only the runner writes it, and only while the single
 * vCPU is stopped at an exit, so a reader never sees a half-written update
 * and needs no sequence counter.
 *
 * Every clock the vDSO answers is the guest's monotonic line plus a per-clock
 * offset (wrapping 64-bit arithmetic):
 *
 *     mono(tsc)  = MONO_BASE + (((tsc - TSC_BASE) * MULT) >> 32)
 *                  (tsc below TSC_BASE counts as TSC_BASE)
 *     clock c    = mono(tsc) + OFFSET[c]     if bit c of CLOCKS is set
 *
 * MULT is nanoseconds per TSC tick as a 32.32 fixed-point number.
 */
#define VVAR_FORMAT     0       /* VVAR_FORMAT_1 once filled; else every call makes the syscall */
#define VVAR_TSC_BASE   8       /* guest TSC at the anchor */
#define VVAR_MULT       16      /* ns per tick << 32 */
#define VVAR_MONO_BASE  24      /* CLOCK_MONOTONIC (ns) at TSC_BASE */
#define VVAR_CLOCKS     32      /* bit c: clock id c is answered here */
#define VVAR_OFFSET     40      /* u64[VVAR_NCLOCKS]: clock c minus CLOCK_MONOTONIC (ns) */
#define VVAR_NCLOCKS    8       /* clock ids 0..7 */
#define VVAR_SIZE       104     /* bytes used: VVAR_OFFSET + 8 * VVAR_NCLOCKS */
#define VVAR_FORMAT_1   1       /* the only layout so far */
