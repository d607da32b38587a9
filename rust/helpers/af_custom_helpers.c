// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers linked into af_custom.ko beside the Rust object.  Thin by
 * design: wrappers for static inline functions and macros that bindgen
 * cannot see, the `family=` module parameter (the 6.12 `module!` macro has
 * no parameters), and the pernet/procfs registration glue.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/netdevice.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/skbuff.h>
#include <linux/skbuff_ref.h>
#include <net/checksum.h>
#include <net/gso.h>
#include <linux/unaligned.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <linux/random.h>
#include <net/route.h>
#include <net/sock.h>
#include <linux/filter.h>
#include <net/ip.h>
#include <net/arp.h>
#include <net/neighbour.h>
#include <linux/sched/signal.h>
#include <linux/poll.h>
#include <linux/sockptr.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/mm.h>
#include <linux/log2.h>
#include <linux/hash.h>
#include "../uapi/linux/af_custom.h"
#include "af_custom_helpers.h"

static int family = AF_CUSTOM_DEFAULT;
module_param(family, int, 0444);
MODULE_PARM_DESC(family, "address family number to register (default 23; must be a free slot below AF_MAX)");

int afc_family_param(void) { return family; }

static unsigned int est_buckets = 16384;
module_param(est_buckets, uint, 0444);
MODULE_PARM_DESC(est_buckets, "buckets of each namespace's established-connection table (default 16384)");
static unsigned int listen_buckets = 4096;
module_param(listen_buckets, uint, 0444);
MODULE_PARM_DESC(listen_buckets, "buckets of each namespace's listener table, keyed by port (default 4096)");

unsigned int afc_est_buckets_param(void) { return clamp(est_buckets, 1U, 1U << 22); }
unsigned int afc_listen_buckets_param(void) { return clamp(listen_buckets, 1U, 65536U); }

/* The receive path owns what it queues: an unshared skb whose frag
 * descriptors are its own (a clone, e.g. from netem duplication or a
 * shared skb, gets a private head first), so that afc_skb_pull() may
 * edit them.  A frag list (no device here builds one for us) is
 * linearised. */
struct sk_buff *afc_skb_own_rx(struct sk_buff *skb)
{
	skb = skb_share_check(skb, GFP_ATOMIC);
	if (!skb)
		return NULL;
	if ((skb_cloned(skb) && skb_unclone(skb, GFP_ATOMIC)) ||
	    (skb_has_frag_list(skb) && skb_linearize(skb))) {
		kfree_skb(skb);
		return NULL;
	}
	/* A GSO frame from a veth peer is taken whole: it is data now. */
	if (skb_is_gso(skb))
		skb_gso_reset(skb);
	return skb;
}
int afc_pskb_may_pull(struct sk_buff *skb, unsigned int len) { return pskb_may_pull(skb, len); }
unsigned int afc_skb_len(const struct sk_buff *skb) { return skb->len; }
const unsigned char *afc_skb_data(const struct sk_buff *skb) { return skb->data; }
struct net *afc_dev_net(const struct net_device *dev) { return dev_net(dev); }
bool afc_dev_is_loopback(const struct net_device *dev) { return dev->flags & IFF_LOOPBACK; }
int afc_dev_ifindex(const struct net_device *dev) { return dev->ifindex; }
void afc_kfree_skb(struct sk_buff *skb) { kfree_skb(skb); }
void afc_sock_put(struct sock *sk) { sock_put(sk); }
void afc_sock_orphan(struct sock *sk) { sock_orphan(sk); }
struct net *afc_sock_net(const struct sock *sk) { return sock_net(sk); }
void afc_lock_sock(struct sock *sk) { lock_sock(sk); }
void afc_release_sock(struct sock *sk) { release_sock(sk); }
unsigned int afc_sock_uid(const struct sock *sk) { return from_kuid_munged(sock_net(sk)->user_ns, sk->sk_uid); }
unsigned int afc_sock_kuid(const struct sock *sk) { return __kuid_val(sk->sk_uid); }
bool afc_sock_reuseaddr(const struct sock *sk) { return sk->sk_reuse != SK_NO_REUSE; }
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
bool afc_may_bind_privileged(const struct net *net) { return ns_capable(net->user_ns, CAP_NET_BIND_SERVICE); }
u64 afc_random_u64(void) { return get_random_u64(); }


static unsigned int afc_net_id;
static const struct afc_pernet_callbacks *afc_pernet_cb;

/* Chains of the namespace's sock list (a hash of the sock's address). */
#define AFC_SOCK_CHAIN_BITS 7
#define AFC_SOCK_CHAINS (1 << AFC_SOCK_CHAIN_BITS)

struct afc_net {
	void *state;
	/* Every AF_CUSTOM sock of the namespace, for /proc/net/af_custom;
	 * linked through sk_node (unused otherwise) from initialisation to
	 * sk_destruct, so a reader under the lock sees only socks whose
	 * memory is alive.  The list is cut into chains so that the /proc
	 * walk holds the lock (bottom halves off) for one chain at a time,
	 * as /proc/net/tcp holds one ehash bucket lock, never across the
	 * whole list. */
	spinlock_t socks_lock;
	struct hlist_head socks[AFC_SOCK_CHAINS];
	/* net.af_custom sysctls of the namespace. */
	int port_range[2];
	int rmem_default;
	int wmem_default;
	int orphan_retries;
	int syncookies;
	int rst_ratelimit;
	struct ctl_table_header *sysctl;
};

static int afc_port_min = 1, afc_port_max = 65535;
static int afc_buf_min = 4096;
static int afc_zero, afc_two = 2, afc_u8_max = 255, afc_int_max = INT_MAX, afc_rst_max = 16383;

/* net.af_custom.max_orphans: family-wide, as net.ipv4.tcp_max_orphans,
 * and so writable only in the initial namespace (the last entry of the
 * template, left out of every other namespace's copy).  Set at
 * registration from the memory size, as tcp_init() does. */
static int afc_max_orphans;

/* Ports below this need CAP_NET_BIND_SERVICE (rust/socket/bind.rs). */
#define AFC_PROT_SOCK 1024

/* As ipv4_local_port_range(): an inverted range, or one reaching into the
 * privileged ports, is refused with EINVAL and the old one stays. */
static int afc_port_range_handler(const struct ctl_table *table, int write,
				  void *buffer, size_t *lenp, loff_t *ppos)
{
	int *cur = table->data;
	int range[2] = { READ_ONCE(cur[0]), READ_ONCE(cur[1]) };
	struct ctl_table tmp = {
		.data = range,
		.maxlen = sizeof(range),
		.mode = table->mode,
		.extra1 = &afc_port_min,
		.extra2 = &afc_port_max,
	};
	int ret = proc_dointvec_minmax(&tmp, write, buffer, lenp, ppos);

	if (write && ret == 0) {
		if (range[1] < range[0] || range[0] < AFC_PROT_SOCK) {
			ret = -EINVAL;
		} else {
			WRITE_ONCE(cur[0], range[0]);
			WRITE_ONCE(cur[1], range[1]);
		}
	}
	return ret;
}

/* Template; each namespace gets a copy pointing at its own afc_net. */
static struct ctl_table afc_sysctl_template[] = {
	{
		.procname = "ip_local_port_range",
		.maxlen = 2 * sizeof(int),
		.mode = 0644,
		.proc_handler = afc_port_range_handler,
	},
	{
		.procname = "rmem_default",
		.maxlen = sizeof(int),
		.mode = 0644,
		.proc_handler = proc_dointvec_minmax,
		.extra1 = &afc_buf_min,
		.extra2 = &afc_sysctl_rmem[2],
	},
	{
		.procname = "wmem_default",
		.maxlen = sizeof(int),
		.mode = 0644,
		.proc_handler = proc_dointvec_minmax,
		.extra1 = &afc_buf_min,
		.extra2 = &afc_sysctl_wmem[2],
	},
	{
		/* As net.ipv4.tcp_orphan_retries: 0 means 8. */
		.procname = "orphan_retries",
		.maxlen = sizeof(int),
		.mode = 0644,
		.proc_handler = proc_dointvec_minmax,
		.extra1 = &afc_zero,
		.extra2 = &afc_u8_max,
	},
	{
		/* As net.ipv4.tcp_syncookies: 0 never, 1 (default) when the
		 * SYN queue overflows, 2 always (rust/proto/src/syncookie.rs). */
		.procname = "syncookies",
		.maxlen = sizeof(int),
		.mode = 0644,
		.proc_handler = proc_dointvec_minmax,
		.extra1 = &afc_zero,
		.extra2 = &afc_two,
	},
	{
		/* RSTs per second to one address, answering frames that
		 * matched no socket (rust/proto/src/ingress.rs); 0: none. */
		.procname = "rst_ratelimit",
		.maxlen = sizeof(int),
		.mode = 0644,
		.proc_handler = proc_dointvec_minmax,
		.extra1 = &afc_zero,
		.extra2 = &afc_rst_max,
	},
	{
		/* Must stay last: the initial namespace's only. */
		.procname = "max_orphans",
		.data = &afc_max_orphans,
		.maxlen = sizeof(int),
		.mode = 0644,
		.proc_handler = proc_dointvec_minmax,
		.extra1 = &afc_zero,
		.extra2 = &afc_int_max,
	},
};

/* The namespace's ephemeral port range (lo > hi if set so; the caller
 * falls back to the default) and default buffer sizes. */
void afc_net_port_range(const struct net *net, int *lo, int *hi)
{
	struct afc_net *an = net_generic(net, afc_net_id);

	*lo = READ_ONCE(an->port_range[0]);
	*hi = READ_ONCE(an->port_range[1]);
}

void afc_net_buf_defaults(const struct net *net, int *rmem, int *wmem)
{
	struct afc_net *an = net_generic(net, afc_net_id);

	/* Clamped to the init namespace's limits (net.af_custom.rmem/wmem):
	 * the owner of a namespace cannot raise its sockets above them. */
	*rmem = clamp(READ_ONCE(an->rmem_default), READ_ONCE(afc_sysctl_rmem[0]), READ_ONCE(afc_sysctl_rmem[2]));
	*wmem = clamp(READ_ONCE(an->wmem_default), READ_ONCE(afc_sysctl_wmem[0]), READ_ONCE(afc_sysctl_wmem[2]));
}

/* net.af_custom.orphan_retries of the namespace (0: 8, as TCP's). */
int afc_net_orphan_retries(const struct net *net)
{
	struct afc_net *an = net_generic(net, afc_net_id);

	return READ_ONCE(an->orphan_retries);
}

/* net.af_custom.syncookies of the namespace (0, 1 or 2). */
int afc_net_syncookies(const struct net *net)
{
	struct afc_net *an = net_generic(net, afc_net_id);

	return READ_ONCE(an->syncookies);
}

/* net.af_custom.rst_ratelimit of the namespace. */
int afc_net_rst_ratelimit(const struct net *net)
{
	struct afc_net *an = net_generic(net, afc_net_id);

	return READ_ONCE(an->rst_ratelimit);
}

/* net.af_custom.max_orphans (family-wide). */
int afc_max_orphans_sysctl(void) { return READ_ONCE(afc_max_orphans); }

static int afc_sysctl_register(struct net *net, struct afc_net *an)
{
	struct ctl_table *t = kmemdup(afc_sysctl_template, sizeof(afc_sysctl_template), GFP_KERNEL);

	if (!t)
		return -ENOMEM;
	t[0].data = an->port_range;
	t[1].data = &an->rmem_default;
	t[2].data = &an->wmem_default;
	t[3].data = &an->orphan_retries;
	t[4].data = &an->syncookies;
	t[5].data = &an->rst_ratelimit;
	/* max_orphans (last) is global: only the initial namespace shows it. */
	an->sysctl = register_net_sysctl_sz(net, "net/af_custom", t,
					    ARRAY_SIZE(afc_sysctl_template) - !net_eq(net, &init_net));
	if (!an->sysctl) {
		kfree(t);
		return -ENOMEM;
	}
	return 0;
}

static void afc_sysctl_unregister(struct afc_net *an)
{
	const struct ctl_table *t;

	if (!an->sysctl)
		return;
	t = an->sysctl->ctl_table_arg;
	unregister_net_sysctl_table(an->sysctl);
	kfree(t);
	an->sysctl = NULL;
}

void afc_sock_link(struct sock *sk)
{
	struct afc_net *an = net_generic(sock_net(sk), afc_net_id);

	spin_lock_bh(&an->socks_lock);
	hlist_add_head(&sk->sk_node, &an->socks[hash_ptr(sk, AFC_SOCK_CHAIN_BITS)]);
	spin_unlock_bh(&an->socks_lock);
}

void afc_sock_unlink(struct sock *sk)
{
	struct afc_net *an = net_generic(sock_net(sk), afc_net_id);

	if (hlist_unhashed(&sk->sk_node))
		return;
	spin_lock_bh(&an->socks_lock);
	hlist_del_init(&sk->sk_node);
	spin_unlock_bh(&an->socks_lock);
}

void afc_sk_set_addrs(struct sock *sk, __be32 saddr, u16 sport, __be32 daddr, __be16 dport)
{
	WRITE_ONCE(sk->sk_rcv_saddr, saddr);
	WRITE_ONCE(sk->sk_num, sport);
	WRITE_ONCE(sk->sk_daddr, daddr);
	WRITE_ONCE(sk->sk_dport, dport);
}

void afc_sk_addrs(const struct sock *sk, __be32 *saddr, u16 *sport, __be32 *daddr, __be16 *dport)
{
	*saddr = READ_ONCE(sk->sk_rcv_saddr);
	*sport = READ_ONCE(sk->sk_num);
	*daddr = READ_ONCE(sk->sk_daddr);
	*dport = READ_ONCE(sk->sk_dport);
}

unsigned long afc_sock_i_ino(struct sock *sk) { return sock_i_ino(sk); }

void *afc_net_data(const struct net *net)
{
	return ((struct afc_net *)net_generic(net, afc_net_id))->state;
}

void afc_seq_write(struct seq_file *seq, const char *buf, size_t len) { seq_write(seq, buf, len); }

static int afc_stat_seq_show(struct seq_file *seq, void *v)
{
	return afc_pernet_cb->stat_show(seq, afc_net_data(seq_file_single_net(seq)));
}

/*
 * /proc/net/af_custom, walked chain by chain as /proc/net/tcp walks the
 * ehash: the lock is held while one chain's rows are written, and dropped
 * between chains and between read() calls.  A read() resumes at the chain
 * and offset where the last one stopped (tcp_seek_last_pos), so reading
 * the file costs O(socks), not O(socks^2); rows may be missed or repeated
 * when socks come and go meanwhile, as in /proc/net/tcp.
 */
struct afc_seq_iter {
	struct seq_net_private p;
	int chain;	/* chain of the current sock */
	int offset;	/* its position in the chain */
	int num;	/* its row number ("sl") */
	loff_t last_pos;	/* its seq_file position */
};

static struct afc_net *afc_seq_net(struct seq_file *seq)
{
	return net_generic(seq_file_net(seq), afc_net_id);
}

/* The sock at `offset` in chain it->chain, else the first of a later
 * chain; returned with socks_lock held (NULL: the end, lock not held). */
static struct sock *afc_seq_from(struct afc_net *an, struct afc_seq_iter *it, int offset)
{
	for (; it->chain < AFC_SOCK_CHAINS; it->chain++, offset = 0) {
		struct sock *sk;
		int i = 0;

		if (hlist_empty(&an->socks[it->chain]))
			continue;
		spin_lock_bh(&an->socks_lock);
		sk_for_each(sk, &an->socks[it->chain]) {
			if (i++ < offset)
				continue;
			it->offset = i - 1;
			return sk;
		}
		spin_unlock_bh(&an->socks_lock);
	}
	return NULL;
}

/* The sock after `sk` (socks_lock held, as afc_seq_from returns). */
static struct sock *afc_seq_after(struct afc_net *an, struct afc_seq_iter *it, struct sock *sk)
{
	struct sock *next = sk_next(sk);

	it->num++;
	if (next) {
		it->offset++;
		return next;
	}
	spin_unlock_bh(&an->socks_lock);
	it->chain++;
	return afc_seq_from(an, it, 0);
}

static void *afc_seq_start(struct seq_file *seq, loff_t *pos)
{
	struct afc_seq_iter *it = seq->private;
	struct afc_net *an = afc_seq_net(seq);
	struct sock *sk;
	loff_t n;

	if (!*pos) {
		it->chain = it->offset = it->num = 0;
		it->last_pos = 0;
		return SEQ_START_TOKEN;
	}
	if (*pos == it->last_pos)
		return afc_seq_from(an, it, it->offset);
	/* Not where the last read stopped (lseek): count from the start. */
	it->chain = it->offset = it->num = 0;
	sk = afc_seq_from(an, it, 0);
	for (n = 1; sk && n < *pos; n++)
		sk = afc_seq_after(an, it, sk);
	it->last_pos = *pos;
	return sk;
}

static void *afc_seq_next(struct seq_file *seq, void *v, loff_t *pos)
{
	struct afc_seq_iter *it = seq->private;
	struct afc_net *an = afc_seq_net(seq);
	struct sock *sk;

	if (v == SEQ_START_TOKEN) {
		it->chain = it->offset = it->num = 0;
		sk = afc_seq_from(an, it, 0);
	} else {
		sk = afc_seq_after(an, it, v);
	}
	++*pos;
	it->last_pos = *pos;
	return sk;
}

static void afc_seq_stop(struct seq_file *seq, void *v)
{
	if (v && v != SEQ_START_TOKEN)
		spin_unlock_bh(&afc_seq_net(seq)->socks_lock);
}

static int afc_seq_show(struct seq_file *seq, void *v)
{
	struct afc_seq_iter *it = seq->private;

	if (v == SEQ_START_TOKEN)
		seq_puts(seq, "  sl  local_address rem_address   st tx_queue rx_queue   uid  inode reuseport\n");
	else
		afc_pernet_cb->sock_show(seq, v, it->num);
	return 0;
}

static const struct seq_operations afc_socks_seq_ops = {
	.start = afc_seq_start,
	.next = afc_seq_next,
	.stop = afc_seq_stop,
	.show = afc_seq_show,
};

static int __net_init afc_pernet_init(struct net *net)
{
	struct afc_net *an = net_generic(net, afc_net_id);
	int i;

	spin_lock_init(&an->socks_lock);
	for (i = 0; i < AFC_SOCK_CHAINS; i++)
		INIT_HLIST_HEAD(&an->socks[i]);
	an->port_range[0] = 32768;
	an->port_range[1] = 60999;
	/* tcp_rmem[1] and tcp_wmem[1]; buffers grow from there (autotuning). */
	an->rmem_default = 131072;
	an->wmem_default = 16384;
	an->syncookies = 1;
	an->rst_ratelimit = 1000;
	if (afc_sysctl_register(net, an))
		return -ENOMEM;

	an->state = afc_pernet_cb->init(net);
	if (!an->state) {
		afc_sysctl_unregister(an);
		return -ENOMEM;
	}
	if (!proc_create_net_single("af_custom_stat", 0444, net->proc_net,
				    afc_stat_seq_show, NULL))
		goto err_stat;
	if (!proc_create_net("af_custom", 0444, net->proc_net, &afc_socks_seq_ops,
			     sizeof(struct afc_seq_iter)))
		goto err_socks;
	return 0;
err_socks:
	remove_proc_entry("af_custom_stat", net->proc_net);
err_stat:
	afc_pernet_cb->exit(net, an->state);
	an->state = NULL;
	afc_sysctl_unregister(an);
	return -ENOMEM;
}

static void __net_exit afc_pernet_exit(struct net *net)
{
	struct afc_net *an = net_generic(net, afc_net_id);

	remove_proc_entry("af_custom", net->proc_net);
	remove_proc_entry("af_custom_stat", net->proc_net);
	afc_pernet_cb->exit(net, an->state);
	an->state = NULL;
	afc_sysctl_unregister(an);
}

static struct pernet_operations afc_pernet_ops = {
	.init = afc_pernet_init,
	.exit = afc_pernet_exit,
	.id = &afc_net_id,
	.size = sizeof(struct afc_net),
};

int afc_pernet_register(const struct afc_pernet_callbacks *cb)
{
	/* As tcp_init(): half the established-table slots, one slot per
	 * 128 KiB of memory, at most 512 Ki slots. */
	unsigned long slots = roundup_pow_of_two(max(totalram_pages() >> (17 - PAGE_SHIFT), 1UL));

	afc_max_orphans = min(slots, 512UL * 1024) / 2;
	afc_pernet_cb = cb;
	return register_pernet_subsys(&afc_pernet_ops);
}

void afc_pernet_unregister(void)
{
	unregister_pernet_subsys(&afc_pernet_ops);
}

/* ------------------------------------------------------------------------
 * Stream sockets: socket state, waiting, timers, queues, routing.
 * Every function is a thin wrapper of a static inline or a macro; the
 * Rust abstraction layer (rust/abi/) documents when each may be called.
 */

int afc_sk_state(const struct sock *sk) { return READ_ONCE(sk->sk_state); }
void afc_sk_set_state(struct sock *sk, int state) { WRITE_ONCE(sk->sk_state, state); }
int afc_sk_shutdown(const struct sock *sk) { return READ_ONCE(sk->sk_shutdown); }
void afc_sk_add_shutdown(struct sock *sk, int bits) { WRITE_ONCE(sk->sk_shutdown, sk->sk_shutdown | bits); }
void afc_sk_clear_shutdown(struct sock *sk) { WRITE_ONCE(sk->sk_shutdown, 0); }
int afc_sk_err(const struct sock *sk) { return READ_ONCE(sk->sk_err); }
void afc_sk_set_err(struct sock *sk, int err) { WRITE_ONCE(sk->sk_err, err); sk_error_report(sk); }
int afc_sock_error(struct sock *sk) { return sock_error(sk); }
int afc_sk_rcvbuf(const struct sock *sk) { return READ_ONCE(sk->sk_rcvbuf); }
int afc_sk_sndbuf(const struct sock *sk) { return READ_ONCE(sk->sk_sndbuf); }
void afc_sk_set_bufs(struct sock *sk, int rcvbuf, int sndbuf) { WRITE_ONCE(sk->sk_rcvbuf, rcvbuf); WRITE_ONCE(sk->sk_sndbuf, sndbuf); }
int afc_sk_rmem_alloc(const struct sock *sk) { return atomic_read(&sk->sk_rmem_alloc); }
int afc_sk_wmem_alloc(const struct sock *sk) { return sk_wmem_alloc_get(sk); }
int afc_sock_rcvlowat(const struct sock *sk, bool waitall, int len) { return sock_rcvlowat(sk, waitall, len); }
int afc_sk_rcvlowat(const struct sock *sk) { return READ_ONCE(sk->sk_rcvlowat); }
void afc_sk_set_rcvlowat(struct sock *sk, int val) { WRITE_ONCE(sk->sk_rcvlowat, val); }
void afc_sk_set_rcvbuf(struct sock *sk, int val) { WRITE_ONCE(sk->sk_rcvbuf, val); }
bool afc_sk_rcvbuf_locked(const struct sock *sk) { return READ_ONCE(sk->sk_userlocks) & SOCK_RCVBUF_LOCK; }
long afc_sock_rcvtimeo(const struct sock *sk, bool nonblock) { return sock_rcvtimeo(sk, nonblock); }
long afc_sock_sndtimeo(const struct sock *sk, bool nonblock) { return sock_sndtimeo(sk, nonblock); }
bool afc_sock_linger(const struct sock *sk, long *lingertime)
{
	*lingertime = READ_ONCE(sk->sk_lingertime);
	return sock_flag(sk, SOCK_LINGER);
}
bool afc_sock_keepopen(const struct sock *sk) { return sock_flag(sk, SOCK_KEEPOPEN); }
bool afc_sock_dead(const struct sock *sk) { return sock_flag(sk, SOCK_DEAD); }
void afc_sk_data_ready(struct sock *sk) { sk->sk_data_ready(sk); }
void afc_sk_state_change(struct sock *sk) { sk->sk_state_change(sk); }
void afc_sk_write_space(struct sock *sk) { sk->sk_write_space(sk); }
void afc_sk_set_ack_backlog(struct sock *sk, unsigned int len, unsigned int max)
{
	WRITE_ONCE(sk->sk_ack_backlog, len);
	WRITE_ONCE(sk->sk_max_ack_backlog, max);
}
unsigned int afc_sk_ack_backlog(const struct sock *sk) { return READ_ONCE(sk->sk_ack_backlog); }
unsigned int afc_sk_max_ack_backlog(const struct sock *sk) { return READ_ONCE(sk->sk_max_ack_backlog); }
void afc_sock_hold(struct sock *sk) { sock_hold(sk); }
void afc_bh_lock_sock(struct sock *sk) { bh_lock_sock(sk); }
void afc_bh_unlock_sock(struct sock *sk) { bh_unlock_sock(sk); }
bool afc_sock_owned_by_user(const struct sock *sk) { return sock_owned_by_user_nocheck(sk); }
int afc_sk_add_backlog(struct sock *sk, struct sk_buff *skb)
{
	return sk_add_backlog(sk, skb, READ_ONCE(sk->sk_rcvbuf) + READ_ONCE(sk->sk_sndbuf));
}
void afc_sk_set_socket_state(struct socket *sock, int state) { sock->state = state; }
int afc_socket_state(const struct socket *sock) { return sock->state; }

/* Sleeps on the socket's wait queue until woken, a signal, or `timeo`
 * jiffies; the caller owns the socket lock, which is released meanwhile
 * (so the backlog is processed first) and owned again on return. */
long afc_sk_wait(struct sock *sk, long timeo)
{
	DEFINE_WAIT_FUNC(wait, woken_wake_function);

	add_wait_queue(sk_sleep(sk), &wait);
	release_sock(sk);
	timeo = wait_woken(&wait, TASK_INTERRUPTIBLE, timeo);
	lock_sock(sk);
	remove_wait_queue(sk_sleep(sk), &wait);
	return timeo;
}
bool afc_signal_pending(void) { return signal_pending(current); }
int afc_sock_intr_errno(long timeo) { return sock_intr_errno(timeo); }
void afc_send_sigpipe(void) { send_sig(SIGPIPE, current, 0); }
void afc_sock_poll_wait(struct file *file, struct socket *sock, struct poll_table_struct *p) { sock_poll_wait(file, sock, p); }

/* The socket's one timer (sk_timer); sk_reset_timer holds a reference. */
void afc_sk_timer_setup(struct sock *sk, void (*fn)(struct timer_list *)) { timer_setup(&sk->sk_timer, fn, 0); }
struct sock *afc_sk_from_timer(struct timer_list *t) { return from_timer((struct sock *)NULL, t, sk_timer); }
void afc_sk_reset_timer(struct sock *sk, unsigned long expires) { sk_reset_timer(sk, &sk->sk_timer, expires); }
void afc_sk_stop_timer(struct sock *sk) { sk_stop_timer(sk, &sk->sk_timer); }
unsigned long afc_jiffies(void) { return jiffies; }
unsigned long afc_usecs_to_jiffies(u64 us) { return us >= (u64)MAX_JIFFY_OFFSET * 1000 ? MAX_JIFFY_OFFSET : usecs_to_jiffies((unsigned int)min_t(u64, us, UINT_MAX)); }
u64 afc_now_us(void) { return div_u64(ktime_get_ns(), 1000); }

/* Socket buffers. */
struct sk_buff *afc_alloc_frame(unsigned int len)
{
	struct sk_buff *skb = alloc_skb(MAX_HEADER + len, GFP_ATOMIC);

	if (!skb)
		return NULL;
	skb_reserve(skb, MAX_HEADER);
	skb_reset_network_header(skb);
	skb_put(skb, len);
	skb->protocol = htons(ETH_P_AF_CUSTOM);
	return skb;
}
struct sk_buff *afc_sock_wmalloc(struct sock *sk, unsigned int len)
{
	struct sk_buff *skb = sock_wmalloc(sk, len, 1, sk->sk_allocation);

	if (skb)
		skb_put(skb, len);
	return skb;
}
unsigned char *afc_skb_data_mut(struct sk_buff *skb) { return skb->data; }
/* Drops len bytes from the front of skb, linear part first, then paged
 * fragments, without copying (tcp_output.c's __pskb_trim_head).  The
 * module's skbs are never clones (send buffers are its own; the receive
 * path unclones), so the fragment descriptors are private. */
void afc_skb_pull(struct sk_buff *skb, unsigned int len)
{
	struct skb_shared_info *sh = skb_shinfo(skb);
	unsigned int head = skb_headlen(skb), eat, i, k = 0;

	len = min(len, skb->len);
	if (len <= head) {
		__skb_pull(skb, len);
		return;
	}
	if (WARN_ON_ONCE(skb_cloned(skb) || skb_has_frag_list(skb))) {
		pskb_pull(skb, len);
		return;
	}
	__skb_pull(skb, head);
	eat = len - head;
	for (i = 0; i < sh->nr_frags; i++) {
		unsigned int size = skb_frag_size(&sh->frags[i]);

		if (size <= eat) {
			skb_frag_unref(skb, i);
			eat -= size;
		} else {
			sh->frags[k] = sh->frags[i];
			if (eat) {
				skb_frag_off_add(&sh->frags[k], eat);
				skb_frag_size_sub(&sh->frags[k], eat);
				eat = 0;
			}
			k++;
		}
	}
	sh->nr_frags = k;
	skb->data_len -= len - head;
	skb->len = skb->data_len;
}

/* Cuts skb to len bytes, linear or paged (never fails on an skb that is
 * not a clone, which the module's are not). */
void afc_skb_trim(struct sk_buff *skb, unsigned int len)
{
	WARN_ON_ONCE(pskb_trim(skb, len));
}

unsigned int afc_skb_headlen(const struct sk_buff *skb) { return skb_headlen(skb); }

/* A send buffer of len bytes held in page fragments (no linear part),
 * charged to sk like sock_wmalloc(): frames reference its pages instead
 * of copying them (afc_skb_ref_frags). */
struct sk_buff *afc_sock_alloc_paged(struct sock *sk, unsigned int len)
{
	struct sk_buff *skb;
	int err;

	skb = alloc_skb_with_frags(0, len, PAGE_ALLOC_COSTLY_ORDER, &err, sk->sk_allocation);
	if (!skb)
		return NULL;
	/* alloc_skb_with_frags() leaves the lengths to its caller. */
	skb->data_len = len;
	skb->len = len;
	skb_set_owner_w(skb, sk);
	return skb;
}

/* Fills len bytes at offset of skb (linear or paged) from the user. */
int afc_skb_copy_from_msg(struct sk_buff *skb, int offset, struct msghdr *msg, int len)
{
	return skb_copy_datagram_from_iter(skb, offset, &msg->msg_iter, len);
}

/* Appends to frame references to len bytes at off of src's page
 * fragments (src has no linear data): the payload is not copied.
 * -EMSGSIZE when frame runs out of fragment slots, -EINVAL when src is
 * not a paged send buffer or is shorter; frame keeps the references it
 * took either way (freeing it drops them). */
int afc_skb_ref_frags(struct sk_buff *frame, const struct sk_buff *src, unsigned int off, unsigned int len)
{
	const struct skb_shared_info *s = skb_shinfo(src);
	struct skb_shared_info *d = skb_shinfo(frame);
	unsigned int i, added = 0;

	if (skb_headlen(src) || skb_has_frag_list(src))
		return -EINVAL;
	for (i = 0; i < s->nr_frags && added < len; i++) {
		unsigned int size = skb_frag_size(&s->frags[i]), n;
		skb_frag_t *f;

		if (off >= size) {
			off -= size;
			continue;
		}
		if (d->nr_frags >= MAX_SKB_FRAGS)
			return -EMSGSIZE;
		n = min(size - off, len - added);
		f = &d->frags[d->nr_frags++];
		*f = s->frags[i];
		skb_frag_off_add(f, off);
		skb_frag_size_set(f, n);
		__skb_frag_ref(f);
		frame->len += n;
		frame->data_len += n;
		frame->truesize += n;
		added += n;
		off = 0;
	}
	return added == len ? 0 : -EINVAL;
}

/* The frame checksum is the Internet checksum over header and payload,
 * stored at field (zero while summing; a computed zero is sent as 0xffff,
 * since zero means "not computed").  That is exactly what the generic
 * CHECKSUM_PARTIAL contract computes from csum_start to the end into
 * csum_start + csum_offset.  A GSO frame leaves with it pending: veth
 * hands it on whole and the receiver trusts a pending sum of ours
 * (wire::receive_checksum_policy); anything else that must cut it calls
 * afc_gso_segment(), which sums each piece. */
void afc_skb_csum_offload(struct sk_buff *skb, unsigned int field)
{
	skb->ip_summed = CHECKSUM_PARTIAL;
	skb->csum_start = skb_headroom(skb);
	skb->csum_offset = field;
}

/* Every other frame leaves with its checksum computed here: a device's
 * NETIF_F_HW_CSUM is a promise about protocols it knows, and a frame that
 * a veth peer bridges on would reach a tap or NIC still pending (virtio's
 * NEEDS_CSUM at offset 14, which a guest's or host's virtio_net_hdr_to_skb
 * refuses as shorter than an IP header). */
int afc_skb_csum_fill(struct sk_buff *skb, unsigned int field)
{
	afc_skb_csum_offload(skb, field);
	return skb_checksum_help(skb);
}

/* Whether a received frame's checksum is still pending (CHECKSUM_PARTIAL),
 * and if so where: *start, csum_start's offset from skb->data (our
 * header), and *field, csum_offset.  The receiver decides what to trust
 * (wire::receive_checksum_policy); CHECKSUM_UNNECESSARY is reported as
 * nothing pending, since no device checks a sum it does not know. */
bool afc_skb_csum_pending(const struct sk_buff *skb, int *start, unsigned int *field)
{
	if (skb->ip_summed != CHECKSUM_PARTIAL)
		return false;
	*start = skb_checksum_start_offset(skb);
	*field = skb->csum_offset;
	return true;
}

/* Whether the frame (header and payload) sums to zero. */
bool afc_skb_csum_ok(struct sk_buff *skb)
{
	return !csum_fold(skb_checksum(skb, 0, skb->len, 0));
}
int afc_skb_copy_bits(const struct sk_buff *skb, int offset, void *to, int len) { return skb_copy_bits(skb, offset, to, len); }
void afc_skb_set_owner_r(struct sk_buff *skb, struct sock *sk) { skb_set_owner_r(skb, sk); }
unsigned int afc_skb_pkt_type(const struct sk_buff *skb) { return skb->pkt_type; }
void afc_skb_queue_tail(struct sk_buff_head *q, struct sk_buff *skb) { skb_queue_tail(q, skb); }
struct sk_buff *afc_skb_peek(struct sk_buff_head *q) { return skb_peek(q); }
struct sk_buff *afc_skb_peek_next(struct sk_buff *skb, struct sk_buff_head *q) { return skb_peek_next(skb, q); }
struct sk_buff *afc_skb_dequeue(struct sk_buff_head *q) { return skb_dequeue(q); }
void afc_skb_queue_purge(struct sk_buff_head *q) { skb_queue_purge(q); }
struct sk_buff_head *afc_sk_receive_queue(struct sock *sk) { return &sk->sk_receive_queue; }
struct sk_buff_head *afc_sk_write_queue(struct sock *sk) { return &sk->sk_write_queue; }
int afc_skb_copy_datagram_msg(const struct sk_buff *skb, int offset, struct msghdr *msg, int len) { return skb_copy_datagram_msg(skb, offset, msg, len); }
size_t afc_msg_data_left(struct msghdr *msg) { return msg_data_left(msg); }

/* The child shares its listener's socket filter, charged to the child's
 * option memory, as sk_clone_lock() does with sk_filter_charge() (not
 * exported; __sk_destruct() uncharges and releases it): the filter is
 * read once, in one RCU section, and both the reference and the charge
 * must succeed.  The reference fails for a filter being freed (its
 * listener replaced or detached it after we read the pointer), the
 * charge if the filter no longer fits optmem_max: false then, and the
 * caller frees the child, as sk_clone_lock() frees the clone (the SYN
 * is dropped and retransmitted), rather than let a child live without
 * the filter its listener had. */
static bool afc_sk_inherit_filter(struct sock *sk, struct sock *parent)
{
	int optmem_max = READ_ONCE(sock_net(sk)->core.sysctl_optmem_max);
	struct sk_filter *filter;
	bool ok = true;

	rcu_read_lock();
	filter = rcu_dereference(parent->sk_filter);
	if (filter) {
		u32 size = bpf_prog_size(filter->prog->len);

		ok = size < optmem_max && refcount_inc_not_zero(&filter->refcnt);
		if (ok) {
			atomic_add(size, &sk->sk_omem_alloc);
			RCU_INIT_POINTER(sk->sk_filter, filter);
			if (sock_flag(parent, SOCK_FILTER_LOCKED))
				sock_set_flag(sk, SOCK_FILTER_LOCKED);
		}
	}
	rcu_read_unlock();
	return ok;
}

/* A child socket of a listener, made in softirq (no struct socket yet).
 * It inherits what sk_clone_lock() would copy for TCP: owner, buffers,
 * timeouts, the SO_KEEPALIVE/SO_LINGER settings, the bound device and the
 * socket filter.  NULL if the child could not take the filter (TCP frees
 * the clone then too): the child is freed before anything else knows it
 * (its sk_destruct is still sock_init_data's, which does nothing). */
struct sock *afc_sk_alloc_child(struct sock *parent)
{
	/* The child's sock is charged to its listener's memory cgroup (mem.c). */
	struct mem_cgroup *old;
	struct sock *sk;

	old = afc_memcg_enter(parent);
	sk = sk_alloc(sock_net(parent), parent->sk_family, GFP_ATOMIC, parent->sk_prot, 0);

	afc_memcg_leave(old);
	if (!sk)
		return NULL;
	afc_sk_inherit_memcg(sk, parent);
	sock_init_data(NULL, sk);
	sk->sk_type = parent->sk_type;
	sk->sk_protocol = parent->sk_protocol;
	sk->sk_uid = parent->sk_uid;
	sk->sk_reuse = parent->sk_reuse;
	sk->sk_reuseport = parent->sk_reuseport;
	sk->sk_rcvbuf = READ_ONCE(parent->sk_rcvbuf);
	sk->sk_sndbuf = READ_ONCE(parent->sk_sndbuf);
	sk->sk_userlocks = parent->sk_userlocks;
	sk->sk_rcvlowat = READ_ONCE(parent->sk_rcvlowat);
	sk->sk_rcvtimeo = READ_ONCE(parent->sk_rcvtimeo);
	sk->sk_sndtimeo = READ_ONCE(parent->sk_sndtimeo);
	sk->sk_lingertime = READ_ONCE(parent->sk_lingertime);
	sk->sk_mark = READ_ONCE(parent->sk_mark);
	if (sock_flag(parent, SOCK_KEEPOPEN))
		sock_set_flag(sk, SOCK_KEEPOPEN);
	if (sock_flag(parent, SOCK_LINGER))
		sock_set_flag(sk, SOCK_LINGER);
	sk->sk_bound_dev_if = READ_ONCE(parent->sk_bound_dev_if);
	if (!afc_sk_inherit_filter(sk, parent)) {
		sk_free(sk);
		return NULL;
	}
	return sk;
}
void afc_sock_graft(struct sock *sk, struct socket *parent) { sock_graft(sk, parent); }
/* SOL_SOCKET options reach proto_ops.setsockopt (for SO_REUSEPORT, which
 * the common code refuses for non-inet sockets), as MPTCP does. */
void afc_socket_custom_sockopt(struct socket *sock) { set_bit(SOCK_CUSTOM_SOCKOPT, &sock->flags); }
void afc_sk_set_reuseport(struct sock *sk, bool on) { sk->sk_reuseport = on; }
bool afc_sk_reuseport(const struct sock *sk) { return sk->sk_reuseport; }
int afc_accept_arg_flags(const struct proto_accept_arg *arg) { return arg->flags; }

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

/* Bottom-half spinlocks, allocated in arrays (hash buckets, queues).
 * Each array gets the lockdep class of its `cls`, so that taking a lock
 * of one class inside another is not taken for recursion.  Allocated in
 * process context for a socket call (listen, the namespace's first bind
 * or connect), so charged to the caller's memory cgroup. */
#define AFC_LOCK_CLASSES 4
spinlock_t *afc_bh_locks_alloc(unsigned int n, unsigned int cls)
{
	static struct lock_class_key keys[AFC_LOCK_CLASSES];
	static const char *const names[AFC_LOCK_CLASSES] = {
		"afc_accept_queue", "afc_established", "afc_listeners", "afc_other",
	};
	spinlock_t *locks;
	unsigned int i;

	if (cls >= AFC_LOCK_CLASSES)
		return NULL;
	locks = kvmalloc_array(n ? n : 1, sizeof(*locks), GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	if (!locks)
		return NULL;
	for (i = 0; i < n; i++) {
		spin_lock_init(&locks[i]);
		lockdep_set_class_and_name(&locks[i], &keys[cls], names[cls]);
	}
	return locks;
}

void afc_bh_locks_free(spinlock_t *locks) { kvfree(locks); }
void afc_spin_lock_bh(spinlock_t *l) { spin_lock_bh(l); }
void afc_spin_unlock_bh(spinlock_t *l) { spin_unlock_bh(l); }

/* Routing: the source address, MTU and device kind toward `daddr`. */
/* Segmentation offload (gso=1, the default): over a veth device a
 * connection sends frames of up to 64 KiB marked GSO with gso_size the
 * device's payload per wire frame; veth forwards them unsegmented to its
 * peer (NETIF_F_GSO_SOFTWARE), whose frame handler takes them whole.
 * Whatever must cut such a frame (netem corrupting it, or any device
 * without the GSO type's feature, such as every NIC behind a bridge the
 * veth peer is a port of) calls afc_gso_segment() through the
 * packet_offload below.  The GSO type is borrowed to pass the feature
 * checks, and it is SCTP's: NETIF_F_GSO_SCTP is a software-only feature
 * (veth, bridge, bonding, macvlan...; no NIC driver in 6.12 advertises it)
 * and carries no frag_list meaning (unlike FRAGLIST, which skb_copy()
 * refuses), so no hardware is ever handed our frame to cut as its own
 * protocol (UDP_L4, which NICs with USO segment in hardware, was that
 * risk).  tests: offload.c, gso_frames_reach_a_bridged_tap_cut_to_the_mtu. */
static bool gso = true;
module_param(gso, bool, 0644);
MODULE_PARM_DESC(gso, "send 64 KiB GSO frames over veth (default on)");

static bool afc_dev_is_veth(const struct net_device *dev)
{
	return dev->rtnl_link_ops && !strcmp(dev->rtnl_link_ops->kind, "veth");
}

static bool afc_dev_gso_ok(const struct net_device *dev)
{
	return READ_ONCE(gso) && afc_dev_is_veth(dev) &&
	       (dev->features & (NETIF_F_SG | NETIF_F_GSO_SCTP)) == (NETIF_F_SG | NETIF_F_GSO_SCTP);
}

int afc_route(struct net *net, int oif, __be32 daddr, __be32 saddr, __be32 *src_out,
	      unsigned int *mtu, bool *loopback, unsigned int *gso_size)
{
	struct flowi4 fl4 = { .flowi4_oif = oif, .daddr = daddr, .saddr = saddr };
	struct rtable *rt = ip_route_output_key(net, &fl4);

	if (IS_ERR(rt))
		return PTR_ERR(rt);
	if (rt->rt_type != RTN_UNICAST && rt->rt_type != RTN_LOCAL) {
		ip_rt_put(rt);
		return -ENETUNREACH;
	}
	*src_out = fl4.saddr;
	*mtu = dst_mtu(&rt->dst);
	*loopback = !!(rt->dst.dev->flags & IFF_LOOPBACK);
	*gso_size = !*loopback && afc_dev_gso_ok(rt->dst.dev) && *mtu > AFC_WIRE_HDR_LEN ?
		    *mtu - AFC_WIRE_HDR_LEN : 0;
	ip_rt_put(rt);
	return 0;
}

/* Marks a frame (our header, then payload, checksum pending as
 * CHECKSUM_PARTIAL) for segmentation into frames of gso_size payload
 * bytes; afc_gso_segment() computes each piece's checksum if it is cut. */
void afc_skb_set_gso(struct sk_buff *skb, unsigned int gso_size)
{
	struct skb_shared_info *sh = skb_shinfo(skb);

	sh->gso_size = gso_size;
	sh->gso_type = SKB_GSO_SCTP;
	sh->gso_segs = DIV_ROUND_UP(skb->len - AFC_WIRE_HDR_LEN, gso_size);
}

/* Cuts a GSO frame (data at our header) into frames of gso_size payload
 * bytes, each with the header copied and its payload length, sequence
 * number, FIN (last only) and checksum rewritten. */
static struct sk_buff *afc_gso_segment(struct sk_buff *skb, netdev_features_t features)
{
	struct sk_buff *segs, *seg;
	u8 flags, *h;
	u32 seq;

	if (!pskb_may_pull(skb, AFC_WIRE_HDR_LEN))
		return ERR_PTR(-EINVAL);
	skb_reset_network_header(skb);
	h = skb->data;
	flags = h[AFC_WIRE_FLAGS_OFF];
	seq = get_unaligned_be32(h + AFC_WIRE_SEQ_OFF);
	__skb_pull(skb, AFC_WIRE_HDR_LEN);
	/* skb_segment() leaves skb->data at the MAC header (it pushes the
	 * headers back itself), and skb_mac_gso_segment() moves it there in
	 * any case: no push here. */
	segs = skb_segment(skb, features);
	if (IS_ERR_OR_NULL(segs))
		return segs;
	for (seg = segs; seg; seg = seg->next) {
		int noff = skb_network_offset(seg);
		unsigned int plen = seg->len - noff - AFC_WIRE_HDR_LEN;
		__sum16 c;

		h = skb_network_header(seg);
		put_unaligned_be16(plen, h + AFC_WIRE_LEN_OFF);
		put_unaligned_be32(seq, h + AFC_WIRE_SEQ_OFF);
		h[AFC_WIRE_FLAGS_OFF] = seg->next ? flags & ~AFC_WIRE_FLAG_FIN : flags;
		memset(h + AFC_WIRE_CSUM_OFF, 0, sizeof(c));
		c = csum_fold(skb_checksum(seg, noff, seg->len - noff, 0));
		if (!c)
			c = CSUM_MANGLED_0;
		memcpy(h + AFC_WIRE_CSUM_OFF, &c, sizeof(c));
		seg->ip_summed = CHECKSUM_NONE;
		seq += plen;
	}
	return segs;
}

static struct packet_offload afc_offload __read_mostly = {
	.type = cpu_to_be16(ETH_P_AF_CUSTOM),
	.priority = 30,
	.callbacks = {
		.gso_segment = afc_gso_segment,
	},
};

int afc_offload_register(void)
{
	dev_add_offload(&afc_offload);
	return 0;
}

/* dev_remove_offload() waits (synchronize_net) for users to finish. */
void afc_offload_unregister(void)
{
	dev_remove_offload(&afc_offload);
}

/* Sends a frame whose network header is our header over rt's device: the
 * ARP neighbour entry gives the hardware address (the frame waits in the
 * neighbour's queue while it resolves; arp_solicit() reads the source
 * address at offset 12 of our header).  The neighbour's cached hard header
 * carries ETH_P_IP, so the cache is skipped: the header is built from
 * skb->protocol.  Consumes skb, not rt. */
static int afc_xmit_rt(struct rtable *rt, struct sk_buff *skb)
{
	struct neighbour *neigh;
	bool is_v6gw = false;
	int err;

	skb->dev = rt->dst.dev;
	skb->protocol = htons(ETH_P_AF_CUSTOM);
	skb_reset_network_header(skb);
	rcu_read_lock();
	neigh = ip_neigh_for_gw(rt, skb, &is_v6gw);
	if (IS_ERR(neigh)) {
		rcu_read_unlock();
		kfree_skb(skb);
		return -EHOSTUNREACH;
	}
	local_bh_disable();
	err = neigh_output(neigh, skb, true);
	local_bh_enable();
	rcu_read_unlock();
	return err < 0 ? err : 0;
}

/* A frame with no socket (an RST): a route lookup for it alone. */
int afc_xmit(struct net *net, struct sk_buff *skb, __be32 saddr, __be32 daddr)
{
	struct flowi4 fl4 = { .daddr = daddr, .saddr = saddr };
	struct rtable *rt;
	int err;

	rt = ip_route_output_key(net, &fl4);
	if (IS_ERR(rt)) {
		kfree_skb(skb);
		return PTR_ERR(rt);
	}
	err = afc_xmit_rt(rt, skb);
	ip_rt_put(rt);
	return err;
}

/* A connection's frame: the route is cached in sk_dst_cache (as TCP's
 * sk_setup_caps), looked up again only when the routing tables changed
 * (the dst check fails) or the bound device did (sock_bindtoindex resets
 * the cache).  A device-bound socket's route goes out of that device
 * (flowi4_oif, as ip_route_connect).  The caller owns sk (lock_sock or
 * bh_lock_sock), which keeps the cached dst alive without a reference of
 * our own. */
int afc_xmit_sk(struct sock *sk, struct sk_buff *skb, __be32 saddr, __be32 daddr)
{
	struct rtable *rt = (struct rtable *)__sk_dst_check(sk, 0);

	if (!rt) {
		struct flowi4 fl4 = { .flowi4_oif = READ_ONCE(sk->sk_bound_dev_if),
				      .daddr = daddr, .saddr = saddr };

		rt = ip_route_output_key(sock_net(sk), &fl4);
		if (IS_ERR(rt)) {
			kfree_skb(skb);
			return PTR_ERR(rt);
		}
		sk_dst_set(sk, &rt->dst);
	}
	return afc_xmit_rt(rt, skb);
}

/* Drops the cached route (connection closed, or the socket freed). */
void afc_sk_dst_reset(struct sock *sk) { sk_dst_reset(sk); }

/* The device a socket is bound to (SO_BINDTODEVICE, SO_BINDTOIFINDEX:
 * set by sock_setsockopt), 0 for none; read without the socket lock, as
 * the IPv4 lookups read it. */
int afc_sk_bound_dev_if(const struct sock *sk) { return READ_ONCE(sk->sk_bound_dev_if); }
bool afc_sockopt_binds_device(int name) { return name == SO_BINDTODEVICE || name == SO_BINDTOIFINDEX; }

/* Runs the socket's filter (SO_ATTACH_FILTER/SO_ATTACH_BPF) and the LSM
 * per-packet hook on a received frame (data at our header), as
 * tcp_filter(): 0 to keep it, an error to drop it.  The cap is the whole
 * frame: a filter may drop a segment but not cut it short (the header's
 * length and checksum cover the whole payload). */
int afc_sk_filter(struct sock *sk, struct sk_buff *skb) { return sk_filter_trim_cap(sk, skb, skb->len); }
