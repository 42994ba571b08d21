// syscall-sysret.c N: does SYSCALL from CPL3 enter CPL0 at LSTAR, and does
// SYSRETQ return to CPL3? Same guest layout as user-mode.c (identity-mapped
// supervisor-only 2 MiB page at 0, user page at 0x40000000, GDT/IDT/TSS).
// The user loop does N SYSCALLs; the handler at LSTAR (on the supervisor-only
// page) records CS in R15, counts in R13 and returns with SYSRETQ. After the
// loop, user code stores CS in R14 and ends with UD2 (#UD, vector 6).
//
// Hardware KVM (AMD-V/VT-x): "exception vec 6", r13=N, r14=0x23 (CPL3),
//   r15=0x8 (CPL0) -> "syscall-sysret: OK".
// kvm_pvm: SYSCALL jumps to LSTAR at CPL3, so the fetch faults:
//   "exception vec 14", r13=0 -> "syscall-sysret: NO". (Exit status 0 both
//   ways: the probe reports, the caller decides.)
#include <err.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#define MEM (4 << 20)
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static void setmsr(int fd, uint32_t i, uint64_t v) {
  struct { struct kvm_msrs h; struct kvm_msr_entry e[1]; } m = {.h = {.nmsrs = 1}};
  m.e[0].index = i; m.e[0].data = v;
  if (ioctl(fd, KVM_SET_MSRS, &m) != 1) err(1, "msr %x", i);
}
int main(int argc, char **argv) {
  long N = argc > 1 ? atol(argv[1]) : 1000;
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC); if (kvm < 0) err(1, "/dev/kvm");
  int vmfd = ioctl(kvm, KVM_CREATE_VM, (unsigned long)0); if (vmfd < 0) err(1, "vm");
  uint8_t *mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  struct kvm_userspace_memory_region region = {.slot = 0, .guest_phys_addr = 0, .memory_size = MEM, .userspace_addr = (uint64_t)mem};
  if (ioctl(vmfd, KVM_SET_USER_MEMORY_REGION, &region) < 0) err(1, "region");
  int vcpufd = ioctl(vmfd, KVM_CREATE_VCPU, (unsigned long)0); if (vcpufd < 0) err(1, "vcpu");
  int sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, NULL);
  struct kvm_run *run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpufd, 0);
  struct { struct kvm_cpuid2 h; struct kvm_cpuid_entry2 e[100]; } c = {.h = {.nent = 100}};
  if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &c) < 0) err(1, "getcpuid");
  if (ioctl(vcpufd, KVM_SET_CPUID2, &c) < 0) err(1, "setcpuid");
  // Page tables: 0-2 MiB supervisor-only, 0x40000000-0x401fffff user.
  uint64_t *pml4 = (void *)(mem + 0x1000), *pdpt = (void *)(mem + 0x2000), *pd = (void *)(mem + 0x3000);
  pml4[0] = 0x2000 | 7; pdpt[0] = 0x3000 | 7; pd[0] = 0x0 | 0x83;
  uint64_t *pdu = (void *)(mem + 0x4000); pdpt[1] = 0x4000 | 7; pdu[0] = 0x200000 | 0x87;
  // GDT: 0x08 code64 DPL0, 0x10 data DPL0, 0x18 data DPL3, 0x20 code64 DPL3, 0x28 TSS.
  uint64_t *gdt = (void *)(mem + 0x500);
  gdt[0] = 0; gdt[1] = 0x00af9a000000ffffULL; gdt[2] = 0x00cf92000000ffffULL; gdt[3] = 0x00cff2000000ffffULL; gdt[4] = 0x00affa000000ffffULL;
  uint64_t tss = 0x800; gdt[5] = 0x67 | ((tss & 0xffffff) << 16) | (0x89ULL << 40) | ((tss >> 24) & 0xff) << 56; gdt[6] = tss >> 32;
  *(uint64_t *)(mem + tss + 4) = 0x1f0000;  // RSP0
  // IDT: every vector reports itself on port 0x11 and halts.
  uint64_t *idt = (void *)(mem + 0x5000);
  for (int v = 0; v < 256; v++) {
    uint64_t h = 0x12000 + v * 16;
    idt[2 * v] = (h & 0xffff) | (0x08ULL << 16) | (0x8eULL << 40) | ((h >> 16) & 0xffff) << 48; idt[2 * v + 1] = h >> 32;
    mem[h] = 0xb0; mem[h + 1] = v; mem[h + 2] = 0xe6; mem[h + 3] = 0x11; mem[h + 4] = 0xf4;
  }
  // LSTAR handler: mov eax,cs; mov r15,rax; inc r13; sysretq
  uint8_t handler[] = {0x8c, 0xc8, 0x49, 0x89, 0xc7, 0x49, 0xff, 0xc5, 0x48, 0x0f, 0x07};
  memcpy(mem + 0x10000, handler, sizeof handler);
  // user: syscall; dec r12; jnz -7; mov eax,cs; mov r14,rax; ud2
  uint8_t user[] = {0x0f, 0x05, 0x49, 0xff, 0xcc, 0x75, 0xf9, 0x8c, 0xc8, 0x49, 0x89, 0xc6, 0x0f, 0x0b};
  memcpy(mem + 0x200000, user, sizeof user);
  // STAR: SYSCALL CS=0x08 SS=0x10; SYSRET CS=0x10+16|3=0x23 SS=0x10+8|3=0x1b.
  setmsr(vcpufd, 0xC0000081, (0x10ULL << 48) | (0x08ULL << 32));
  setmsr(vcpufd, 0xC0000082, 0x10000);  // LSTAR
  setmsr(vcpufd, 0xC0000084, 0x200);    // FMASK: clear IF
  struct kvm_sregs s; ioctl(vcpufd, KVM_GET_SREGS, &s);
  s.cr3 = 0x1000; s.cr4 = (1 << 5); s.cr0 = 0x80000001 | 0x10 | 0x20 | (1 << 16) | 2; s.efer = 0xd01;
  s.gdt.base = 0x500; s.gdt.limit = 7 * 8 - 1; s.idt.base = 0x5000; s.idt.limit = 256 * 16 - 1;
  struct kvm_segment cs = {.base = 0, .limit = 0xfffff, .selector = 0x08, .present = 1, .type = 11, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1};
  s.cs = cs; struct kvm_segment ds = cs; ds.type = 3; ds.selector = 0x10; ds.l = 0; ds.db = 1; s.ds = s.es = s.fs = s.gs = s.ss = ds;
  s.tr.base = tss; s.tr.limit = 0x67; s.tr.selector = 0x28; s.tr.present = 1; s.tr.type = 11; s.tr.s = 0;
  if (ioctl(vcpufd, KVM_SET_SREGS, &s) < 0) err(1, "ssregs");
  // CPL0 stub: IRETQ to 0x40000000 at CPL3 (SS 0x1b, RSP 0x401f0000, RFLAGS 0x202, CS 0x23).
  uint8_t st[] = {0x6a, 0x1b, 0x68, 0x00, 0x00, 0x1f, 0x40, 0x68, 0x02, 0x02, 0, 0, 0x6a, 0x23, 0x68, 0x00, 0x00, 0x00, 0x40, 0x48, 0xcf};
  memcpy(mem + 0x11000, st, sizeof st);
  struct kvm_regs regs = {.rip = 0x11000, .r12 = N, .rflags = 0x2, .rsp = 0x1ff000};
  if (ioctl(vcpufd, KVM_SET_REGS, &regs) < 0) err(1, "sregs");
  int vec = -1; double t0 = now();
  for (;;) {
    if (ioctl(vcpufd, KVM_RUN, NULL) < 0) err(1, "run");
    if (run->exit_reason == KVM_EXIT_IO && run->io.port == 0x11) {
      vec = *((uint8_t *)run + run->io.data_offset); printf("exception vec %d\n", vec); continue;
    }
    if (run->exit_reason == KVM_EXIT_HLT) break;
    printf("exit %d sub %d\n", run->exit_reason, run->internal.suberror); return 1;
  }
  double t = now() - t0;
  struct kvm_regs rr; ioctl(vcpufd, KVM_GET_REGS, &rr);
  printf("syscall-sysret: %ld iters in %.3fs = %.0f ns/iter r12=%llx r13=%llx r14=%llx r15=%llx\n",
         N, t, t / N * 1e9, rr.r12, rr.r13, rr.r14, rr.r15);
  int ok = vec == 6 && rr.r13 == (uint64_t)N && rr.r14 == 0x23 && rr.r15 == 0x08;
  printf("syscall-sysret: %s\n", ok ? "OK (SYSCALL entered CPL0, SYSRETQ returned to CPL3)"
                                    : "NO (not hardware SYSCALL/SYSRET semantics)");
  return 0;
}
