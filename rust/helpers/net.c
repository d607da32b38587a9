// SPDX-License-Identifier: GPL-2.0
/*
 * Namespaces, devices and addresses; random numbers, time, user memory.
 * (Thin by design: what Rust cannot do in 6.12. Declarations in
 * af_custom_helpers.h, read by bindgen.)
 */
#include "afc_internal.h"

bool afc_addr_is_local(struct net *net, __be32 addr) { return inet_addr_type(net, addr) == RTN_LOCAL; }
/* inet_addr_type() as 0 unicast, 1 local, 2 broadcast, 3 multicast, 4 anything else. */
int afc_addr_type(struct net *net, __be32 addr)
{
	switch (inet_addr_type(net, addr)) {
	case RTN_UNICAST: return 0;
	case RTN_LOCAL: return 1;
	case RTN_BROADCAST: return 2;
	case RTN_MULTICAST: return 3;
	default: return 4;
	}
}
/* The IPv4 routing generation: changes whenever routes or local addresses
 * do (rt_cache_flush), as early demux's cached input route is checked. */
int afc_rt_genid(const struct net *net) { return rt_genid_ipv4(net); }
bool afc_may_bind_privileged(const struct net *net) { return ns_capable(net->user_ns, CAP_NET_BIND_SERVICE); }
u64 afc_random_u64(void) { return get_random_u64(); }
unsigned long afc_usecs_to_jiffies(u64 us) { return us >= (u64)MAX_JIFFY_OFFSET * 1000 ? MAX_JIFFY_OFFSET : usecs_to_jiffies((unsigned int)min_t(u64, us, UINT_MAX)); }
/* User memory. */
int afc_put_user_int(int val, void __user *p) { return put_user(val, (int __user *)p); }
int afc_sockptr_get_int(sockptr_t optval, unsigned int optlen, int *val)
{
	if (optlen < sizeof(int))
		return -EINVAL;
	return copy_from_sockptr(val, optval, sizeof(int)) ? -EFAULT : 0;
}
int afc_getsockopt_put_int(char __user *optval, int __user *optlen, int val)
{
	int len;

	if (get_user(len, optlen))
		return -EFAULT;
	if (len < 0)
		return -EINVAL;
	len = min_t(unsigned int, len, sizeof(int));
	if (put_user(len, optlen))
		return -EFAULT;
	return copy_to_user(optval, &val, len) ? -EFAULT : 0;
}
/* A byte option (TCP_INFO, TCP_CONGESTION): truncated to *optlen, which
 * then says how much was written, as do_tcp_getsockopt. */
int afc_getsockopt_put_bytes(char __user *optval, int __user *optlen, const void *buf, unsigned int size)
{
	int len;

	if (get_user(len, optlen))
		return -EFAULT;
	if (len < 0)
		return -EINVAL;
	len = min_t(unsigned int, len, size);
	if (put_user(len, optlen))
		return -EFAULT;
	return copy_to_user(optval, buf, len) ? -EFAULT : 0;
}
/* Copies up to size bytes of a setsockopt value; returns how many. */
int afc_sockptr_get_bytes(sockptr_t optval, unsigned int optlen, void *buf, unsigned int size)
{
	unsigned int n = min(optlen, size);

	return copy_from_sockptr(buf, optval, n) ? -EFAULT : (int)n;
}
