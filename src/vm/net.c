/* net.c - a VM on the instance's CNI network (vm.h, vm_net_attach).
 *
 * The instance's network namespace is attached by CNI exactly as for a
 * container (src/net: bridge + host-local + portmap on eth0). In it we
 * create a tap device whose fd QEMU's virtio-net uses, and wire the two
 * together with tc: every frame arriving on eth0 is redirected out of the
 * tap (to the guest), every frame the guest sends is redirected out of
 * eth0 (Kata Containers' "tcfilter" mode). The guest takes over eth0's
 * identity (MAC, address, prefix, gateway, MTU), so the bridge, ARP, the
 * portmap DNAT rules and the router see the instance as they would a
 * container. The tap is not persistent: it goes when its last fd closes
 * (QEMU's exit), the rest with the namespace (net_down).
 *
 * The namespace is entered by a short-lived thread (setns affects only
 * the calling thread), so the caller's own network is never switched;
 * tc runs as a child of that thread and inherits its namespace. */
#include "vm/vm.h"
#include "util/proc.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define ROUTE_MAX (1u << 20)

int vm_route_gateway(const char *text, const char *dev, char gw[16])
{
	const char *l = text;

	gw[0] = '\0';
	/* Iface Destination Gateway Flags ...; hex in network order */
	while (l && *l) {
		char ifn[IFNAMSIZ + 1];
		unsigned dst, g, flags;

		if (sscanf(l, "%16s %x %x %x", ifn, &dst, &g, &flags) == 4 &&
		    dst == 0 && (flags & 0x2 /* RTF_GATEWAY */) &&
		    (!dev || !strcmp(ifn, dev))) {
			struct in_addr a = {.s_addr = g};
			inet_ntop(AF_INET, &a, gw, 16);
			return 0;
		}
		l = strchr(l, '\n');
		if (l)
			l++;
	}
	return -1;
}

struct attach_job {
	const char *netns, *dev, *tap;
	struct vm_net *n;
	int tapfd;
	struct ec_err err;
	int r;
};

static int ifreq_ioctl(int s, unsigned long req, const char *dev,
		       struct ifreq *ifr)
{
	memset(ifr->ifr_name, 0, sizeof(ifr->ifr_name));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", dev);
	return ioctl(s, req, ifr);
}

static int prefix_len(uint32_t mask_be)
{
	uint32_t m = ntohl(mask_be);
	int n = 0;

	while (m & 0x80000000u) {
		n++;
		m <<= 1;
	}
	return n;
}

/* In the namespace: eth0's identity into j->n. */
static int read_identity(struct attach_job *j, int s)
{
	struct vm_net *n = j->n;
	struct ifreq ifr;
	char ip[16], *route = NULL;
	const unsigned char *m;
	uint32_t mask;
	size_t len = 0;
	FILE *f;

	if (ifreq_ioctl(s, SIOCGIFHWADDR, j->dev, &ifr) < 0)
		return ec_err_errno(&j->err, EC_FAIL, errno,
				    "interface '%s' in '%s'", j->dev, j->netns);
	m = (const unsigned char *)ifr.ifr_hwaddr.sa_data;
	snprintf(n->mac, sizeof(n->mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0],
		 m[1], m[2], m[3], m[4], m[5]);
	if (ifreq_ioctl(s, SIOCGIFADDR, j->dev, &ifr) < 0)
		return ec_err_errno(&j->err, EC_FAIL, errno,
				    "no IPv4 address on '%s' in '%s'", j->dev,
				    j->netns);
	inet_ntop(AF_INET, &((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr, ip,
		  sizeof(ip));
	if (ifreq_ioctl(s, SIOCGIFNETMASK, j->dev, &ifr) < 0)
		return ec_err_errno(&j->err, EC_FAIL, errno, "netmask of '%s'",
				    j->dev);
	mask = ((struct sockaddr_in *)&ifr.ifr_netmask)->sin_addr.s_addr;
	snprintf(n->addr, sizeof(n->addr), "%s/%d", ip, prefix_len(mask));
	if (ifreq_ioctl(s, SIOCGIFMTU, j->dev, &ifr) < 0)
		return ec_err_errno(&j->err, EC_FAIL, errno, "MTU of '%s'",
				    j->dev);
	n->mtu = (unsigned)ifr.ifr_mtu;
	/* this thread's namespace: /proc/thread-self, not /proc/self */
	if ((f = fopen("/proc/thread-self/net/route", "re"))) {
		route = xmalloc(ROUTE_MAX);
		len = fread(route, 1, ROUTE_MAX - 1, f);
		route[len] = '\0';
		fclose(f);
		vm_route_gateway(route, j->dev, n->gw);
		free(route);
	}
	return 0;
}

/* In the namespace: the tap, up, with eth0's MTU. */
static int make_tap(struct attach_job *j, int s)
{
	struct ifreq ifr;

	j->tapfd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (j->tapfd < 0)
		return ec_err_errno(&j->err, EC_FAIL, errno,
				    "open /dev/net/tun (the tun driver)");
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", j->tap);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(j->tapfd, TUNSETIFF, &ifr) < 0)
		return ec_err_errno(&j->err, EC_FAIL, errno,
				    "create tap '%s' in '%s'", j->tap,
				    j->netns);
	ifr.ifr_mtu = (int)j->n->mtu;
	if (ifreq_ioctl(s, SIOCSIFMTU, j->tap, &ifr) < 0 ||
	    ifreq_ioctl(s, SIOCGIFFLAGS, j->tap, &ifr) < 0)
		return ec_err_errno(&j->err, EC_FAIL, errno, "tap '%s'",
				    j->tap);
	ifr.ifr_flags |= IFF_UP;
	if (ifreq_ioctl(s, SIOCSIFFLAGS, j->tap, &ifr) < 0)
		return ec_err_errno(&j->err, EC_FAIL, errno, "set '%s' up",
				    j->tap);
	return 0;
}

char *vm_tc_batch(const char *dev, const char *tap)
{
	/* "match u8 0 0": every frame (this kernel may lack matchall) */
	return xasprintf(
	    "qdisc add dev %s ingress\n"
	    "filter add dev %s parent ffff: protocol all u32 match u8 0 0 "
	    "action mirred egress redirect dev %s\n"
	    "qdisc add dev %s ingress\n"
	    "filter add dev %s parent ffff: protocol all u32 match u8 0 0 "
	    "action mirred egress redirect dev %s\n",
	    dev, dev, tap, tap, tap, dev);
}

static int wire(struct attach_job *j)
{
	_cleanup_free_ char *batch = vm_tc_batch(j->dev, j->tap);
	_cleanup_free_ char *tc = vm_find_tool("tc");
	const char *argv[] = {tc, "-batch", "-", NULL};
	struct strbuf eo = STRBUF_INIT;
	struct proc_opts po = {0};
	int st = -1;

	if (!tc)
		return ec_err_set(&j->err, EC_NOTFOUND,
				  "tc not found (install iproute2)");
	po.input = batch;
	po.input_len = strlen(batch);
	po.timeout_ms = 30000;
	if (proc_run(argv, &po, NULL, &eo, &st, &j->err) < 0 || st != 0) {
		if (st > 0) {
			while (eo.len && eo.buf[eo.len - 1] == '\n')
				eo.buf[--eo.len] = '\0';
			ec_err_set(&j->err, EC_FAIL,
				   "tc (redirect between '%s' and '%s'): %s",
				   j->dev, j->tap, eo.len ? eo.buf : "failed");
		} else {
			ec_err_prefix(&j->err, "tc (install iproute2)");
		}
		sb_release(&eo);
		return -1;
	}
	sb_release(&eo);
	return 0;
}

static void *attach_thread(void *p)
{
	struct attach_job *j = p;
	int nsfd = open(j->netns, O_RDONLY | O_CLOEXEC), s = -1;

	j->r = -1;
	if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
		ec_err_errno(&j->err, EC_FAIL, errno,
			     "enter network namespace '%s'", j->netns);
		goto out;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		ec_err_errno(&j->err, EC_FAIL, errno, "socket");
		goto out;
	}
	if (read_identity(j, s) < 0 || make_tap(j, s) < 0 || wire(j) < 0)
		goto out;
	j->r = 0;
out:
	if (s >= 0)
		close(s);
	if (nsfd >= 0)
		close(nsfd);
	return NULL;
}

int vm_net_attach(const char *netns, const char *dev, const char *tap,
		  struct vm_net *n, int *tapfd, struct ec_err *err)
{
	struct attach_job j = {
	    .netns = netns, .dev = dev, .tap = tap, .n = n, .tapfd = -1};
	pthread_t t;
	int e;

	memset(n, 0, sizeof(*n));
	*tapfd = -1;
	if ((e = pthread_create(&t, NULL, attach_thread, &j)))
		return ec_err_errno(err, EC_FAIL, e, "thread");
	pthread_join(t, NULL);
	if (j.r < 0) {
		if (j.tapfd >= 0)
			close(j.tapfd);
		if (err)
			*err = j.err;
		return -1;
	}
	*tapfd = j.tapfd;
	return 0;
}
