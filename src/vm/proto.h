/* proto.h - the channel between `run --runtime qemu` and the guest init
 * (guest/init.c): one virtio-serial port named VM_PORT_NAME, frames both
 * ways. Shared by the host (src/vm, src/runtime/qemu.c) and the guest, so
 * it includes nothing but <stdint.h>.
 *
 * A frame is a 5-byte header, type (1 byte) and payload length (4 bytes,
 * little-endian), then the payload. In one stream, so the exit frame comes
 * after every byte of output.
 *
 *   host -> guest
 *     'C'  config: (key NUL value NUL)... see vm_config_encode()
 *     'S'  signal: 1 byte, the signal number, for the entrypoint
 *     'A'  ack of the exit frame: the guest may power off
 *   guest -> host
 *     'W'  waiting for the config: booted, modules loaded, port open (the
 *          point where `images vm-disk --boot` saves a snapshot)
 *     'R'  ready: the entrypoint was started
 *     'O'  its stdout bytes, 'E' its stderr bytes
 *     'F'  failed to start: a message (the entrypoint never ran)
 *     'X'  exit: its status as decimal text (128+N when killed by N) */
#ifndef EC_VM_PROTO_H
#define EC_VM_PROTO_H

#include <stdint.h>

#define VM_PORT_NAME "edgectl.io"
#define VM_FRAME_HDR 5
#define VM_FRAME_MAX (1u << 20) /* payload cap, both ways */

enum {
	VM_F_CONFIG = 'C',
	VM_F_SIGNAL = 'S',
	VM_F_ACK = 'A',
	VM_F_WAITING = 'W',
	VM_F_READY = 'R',
	VM_F_STDOUT = 'O',
	VM_F_STDERR = 'E',
	VM_F_FAILED = 'F',
	VM_F_EXIT = 'X',
};

/* Config keys (one letter each; 'a' and 'e' repeat, in order). */
#define VM_K_ARG      'a' /* argv element */
#define VM_K_ENV      'e' /* "K=V" */
#define VM_K_CWD      'w' /* working directory */
#define VM_K_USER     'u' /* "uid[:gid]" or "name[:group]" */
#define VM_K_HOSTNAME 'h'
#define VM_K_READONLY 'r' /* "1": no writable overlay */
/* network (eth0 in the guest takes over the CNI interface's identity) */
#define VM_K_MAC  'm' /* "aa:bb:cc:dd:ee:ff" */
#define VM_K_ADDR 'i' /* "A.B.C.D/PREFIX" */
#define VM_K_GW	  'g' /* default gateway "A.B.C.D" */
#define VM_K_MTU  't' /* decimal */
#define VM_K_VIP  'v' /* "A.B.C.D" on lo as /32 (repeats) */
/* volumes (repeat): "v<N> <ro 0|1> <guest path>" a virtio-9p share with
 * mount tag v<N>; "- <ro 0|1> <guest path>" a tmpfs */
#define VM_K_MOUNT 'M'
/* 64 hex digits of host randomness: mixed into the guest's RNG and its
 * CRNG reseeded, so VMs restored from one snapshot do not share a random
 * stream */
#define VM_K_SEED 's'
/* the entrypoint's memory limit in bytes (decimal): the guest puts it in
 * a cgroup with that memory.max, so --memory is the workload's limit, not
 * the guest kernel's RAM, and a kill by its OOM killer is told apart */
#define VM_K_MEMORY 'L'

static inline void vm_frame_hdr(uint8_t h[VM_FRAME_HDR], int type, uint32_t len)
{
	h[0] = (uint8_t)type;
	h[1] = (uint8_t)len;
	h[2] = (uint8_t)(len >> 8);
	h[3] = (uint8_t)(len >> 16);
	h[4] = (uint8_t)(len >> 24);
}

static inline uint32_t vm_frame_len(const uint8_t h[VM_FRAME_HDR])
{
	return (uint32_t)h[1] | (uint32_t)h[2] << 8 | (uint32_t)h[3] << 16 |
	       (uint32_t)h[4] << 24;
}

#endif
