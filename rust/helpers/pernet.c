// SPDX-License-Identifier: GPL-2.0
/*
 * The per-namespace state: sysctls, the socket list, `/proc/net` files,
 * and the pernet registration.
 * (Thin by design: what Rust cannot do in 6.12. Declarations in
 * af_custom_helpers.h, read by bindgen.)
 */
#include "afc_internal.h"

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
	int fin_timeout;
	int syncookies;
	int rst_ratelimit;
	struct ctl_table_header *sysctl;
};
static int afc_port_min = 1, afc_port_max = 65535;
static int afc_buf_min = 4096;
static int afc_zero, afc_one = 1, afc_two = 2, afc_u8_max = 255, afc_int_max = INT_MAX, afc_rst_max = 16383;
/* net.af_custom.max_orphans: family-wide, as net.ipv4.tcp_max_orphans,
 * and so writable only in the initial namespace (the last entry of the
 * template, left out of every other namespace's copy).  Set at
 * registration from the memory size, as tcp_init() does. */
static int afc_max_orphans;
/* A day: the core counts microseconds in 64 bits, any int would do, but
 * a FIN_WAIT_2 orphan that waits longer is a leak by another name. */
static int afc_fin_timeout_max = 86400;
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
		/* As net.ipv4.tcp_fin_timeout: seconds an orphan in
		 * FIN_WAIT_2 waits for the peer's FIN (at least 3.5 RTOs,
		 * rust/proto/src/conn.rs). */
		.procname = "fin_timeout",
		.maxlen = sizeof(int),
		.mode = 0644,
		.proc_handler = proc_dointvec_minmax,
		.extra1 = &afc_one,
		.extra2 = &afc_fin_timeout_max,
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
/* net.af_custom.fin_timeout of the namespace, in seconds. */
int afc_net_fin_timeout(const struct net *net)
{
	struct afc_net *an = net_generic(net, afc_net_id);

	return READ_ONCE(an->fin_timeout);
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
	t[4].data = &an->fin_timeout;
	t[5].data = &an->syncookies;
	t[6].data = &an->rst_ratelimit;
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
void *afc_net_data(const struct net *net)
{
	return ((struct afc_net *)net_generic(net, afc_net_id))->state;
}
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

void afc_seq_sock_ref(struct seq_file *seq, const struct sock *sk)
{
	seq_printf(seq, " %d %pK", refcount_read(&sk->sk_refcnt), sk);
}

static int afc_seq_show(struct seq_file *seq, void *v)
{
	struct afc_seq_iter *it = seq->private;

	if (v == SEQ_START_TOKEN)
		seq_puts(seq, "  sl  local_address rem_address   st tx_queue "
			 "rx_queue tr tm->when retrnsmt   uid  timeout inode\n");
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
/*
 * The sock_diag walk (diag.c): chain by chain, under socks_lock with
 * bottom halves off, like the /proc walk; the lock is held for one chain
 * at a time and nothing sleeps under it (diag_match reads atomics only,
 * refcount_inc_not_zero does not sleep).  A sock on the list may already
 * have dropped its last reference (it leaves the list in sk_destruct):
 * such a sock is skipped.  The socks are filled after the lock is
 * dropped, since filling AFC_DIAG_INFO takes the socket lock.
 */
int afc_net_diag_batch(struct net *net, const struct afc_diag_req *req, struct afc_diag_pos *cur,
		       struct sock **out, struct afc_diag_pos *at, int max)
{
	struct afc_net *an = net_generic(net, afc_net_id);
	int n = 0;

	for (; cur->chain < AFC_SOCK_CHAINS; cur->chain++, cur->offset = 0) {
		unsigned long i = 0;
		struct sock *sk;

		if (hlist_empty(&an->socks[cur->chain]))
			continue;
		spin_lock_bh(&an->socks_lock);
		sk_for_each(sk, &an->socks[cur->chain]) {
			if (i < cur->offset) {
				i++;
				continue;
			}
			if (n == max) {
				cur->offset = i;
				spin_unlock_bh(&an->socks_lock);
				return n;
			}
			if (afc_pernet_cb->diag_match(sk, req) && refcount_inc_not_zero(&sk->sk_refcnt)) {
				at[n].chain = cur->chain;
				at[n].offset = i;
				out[n++] = sk;
			}
			i++;
		}
		spin_unlock_bh(&an->socks_lock);
	}
	return n;
}
void afc_net_diag_fill(struct sock *sk, struct afc_diag_msg *r, struct tcp_info *info)
{
	afc_pernet_cb->diag_fill(sk, r, info);
}
static int __net_init afc_pernet_init(struct net *net)
{
	struct afc_net *an = net_generic(net, afc_net_id);
	int i;

	spin_lock_init(&an->socks_lock);
	for (i = 0; i < AFC_SOCK_CHAINS; i++)
		INIT_HLIST_HEAD(&an->socks[i]);
	an->port_range[0] = afc_pernet_cb->defaults.port_lo;
	an->port_range[1] = afc_pernet_cb->defaults.port_hi;
	an->rmem_default = afc_pernet_cb->defaults.rmem_default;
	an->wmem_default = afc_pernet_cb->defaults.wmem_default;
	an->orphan_retries = afc_pernet_cb->defaults.orphan_retries;
	an->fin_timeout = afc_pernet_cb->defaults.fin_timeout;
	an->syncookies = afc_pernet_cb->defaults.syncookies;
	an->rst_ratelimit = afc_pernet_cb->defaults.rst_ratelimit;
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
	int err;

	/* One state type at a time: the Rust lookups cast to it. */
	if (afc_pernet_cb)
		return -EBUSY;
	afc_max_orphans = min(slots, 512UL * 1024) / 2;
	afc_pernet_cb = cb;
	err = register_pernet_subsys(&afc_pernet_ops);
	if (err)
		afc_pernet_cb = NULL;
	return err;
}
void afc_pernet_unregister(void)
{
	unregister_pernet_subsys(&afc_pernet_ops);
	afc_pernet_cb = NULL;
}
