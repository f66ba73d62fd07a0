/* blob.c - the guest init (guest/init.c, built static by the Makefile as
 * $(O)/guest/init) linked into edgectl, so the initramfs needs no file
 * installed beside the binary. VM_GUEST_INIT is its path at build time. */
#include "vm/vm.h"

#ifndef VM_GUEST_INIT
#error "VM_GUEST_INIT: the path of the static guest init (see the Makefile)"
#endif

__asm__(".section .rodata\n"
	".balign 16\n"
	".global vm_guest_init_bytes\n"
	"vm_guest_init_bytes:\n"
	".incbin \"" VM_GUEST_INIT "\"\n"
	"vm_guest_init_bytes_end:\n"
	".balign 8\n"
	".global vm_guest_init_size\n"
	"vm_guest_init_size:\n"
	".quad vm_guest_init_bytes_end - vm_guest_init_bytes\n"
	".previous\n");

extern const unsigned char vm_guest_init_bytes[];
extern const size_t vm_guest_init_size;

const unsigned char *vm_guest_init_data(void)
{
	return vm_guest_init_bytes;
}

size_t vm_guest_init_length(void)
{
	return vm_guest_init_size;
}
