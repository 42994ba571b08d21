/* Cost of creating and destroying a VM with one vCPU, as the runner's
 * cold start pays it, with and without the split irqchip
 * (thinvisor-kmod's VmOptions::kernel_lapic).
 *
 *   gcc -O2 -o /tmp/vm-lifecycle bench/probes/vm-lifecycle.c
 *   /tmp/vm-lifecycle 0    # plain VM (no in-kernel APIC)
 *   /tmp/vm-lifecycle 1    # KVM_CAP_SPLIT_IRQCHIP before KVM_CREATE_VCPU
 *
 * Prints the mean create (KVM_CREATE_VM [+ ENABLE_CAP] + KVM_CREATE_VCPU)
 * and destroy (closing both) times over 200 rounds. */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	int split = argc > 1 && atoi(argv[1]) == 1;
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		perror("/dev/kvm");
		return 1;
	}
	double create = 0, destroy = 0;
	const int rounds = 200;
	for (int i = 0; i < rounds; i++) {
		double t0 = now();
		int vm = ioctl(kvm, KVM_CREATE_VM, 0);
		if (vm < 0) {
			perror("KVM_CREATE_VM");
			return 1;
		}
		if (split) {
			struct kvm_enable_cap cap = { .cap = KVM_CAP_SPLIT_IRQCHIP };
			if (ioctl(vm, KVM_ENABLE_CAP, &cap) < 0) {
				perror("KVM_ENABLE_CAP(SPLIT_IRQCHIP)");
				return 1;
			}
		}
		int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
		if (vcpu < 0) {
			perror("KVM_CREATE_VCPU");
			return 1;
		}
		double t1 = now();
		close(vcpu);
		close(vm);
		double t2 = now();
		create += t1 - t0;
		destroy += t2 - t1;
	}
	printf("%s: create %.0f us, destroy %.0f us (mean of %d)\n",
	       split ? "split irqchip" : "no irqchip", create / rounds * 1e6,
	       destroy / rounds * 1e6, rounds);
	return 0;
}
