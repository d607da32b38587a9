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
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <linux/random.h>
#include <net/route.h>
#include <net/sock.h>
#include "../uapi/linux/af_custom.h"
#include "af_custom_helpers.h"

static int family = AF_CUSTOM_DEFAULT;
module_param(family, int, 0444);
MODULE_PARM_DESC(family, "address family number to register (default 23; must be a free slot below AF_MAX)");

int afc_family_param(void) { return family; }

struct sk_buff *afc_skb_share_check(struct sk_buff *skb) { return skb_share_check(skb, GFP_ATOMIC); }
int afc_pskb_may_pull(struct sk_buff *skb, unsigned int len) { return pskb_may_pull(skb, len); }
unsigned int afc_skb_len(const struct sk_buff *skb) { return skb->len; }
const unsigned char *afc_skb_data(const struct sk_buff *skb) { return skb->data; }
struct net *afc_dev_net(const struct net_device *dev) { return dev_net(dev); }
bool afc_dev_is_loopback(const struct net_device *dev) { return dev->flags & IFF_LOOPBACK; }
void afc_kfree_skb(struct sk_buff *skb) { kfree_skb(skb); }
void afc_consume_skb(struct sk_buff *skb) { consume_skb(skb); }
void afc_sock_put(struct sock *sk) { sock_put(sk); }
void afc_sock_orphan(struct sock *sk) { sock_orphan(sk); }
struct net *afc_sock_net(const struct sock *sk) { return sock_net(sk); }
void afc_lock_sock(struct sock *sk) { lock_sock(sk); }
void afc_release_sock(struct sock *sk) { release_sock(sk); }
unsigned int afc_sock_uid(const struct sock *sk) { return from_kuid_munged(sock_net(sk)->user_ns, sk->sk_uid); }
bool afc_sock_reuseaddr(const struct sock *sk) { return sk->sk_reuse != SK_NO_REUSE; }
bool afc_addr_is_local(struct net *net, __be32 addr) { return inet_addr_type(net, addr) == RTN_LOCAL; }
bool afc_may_bind_privileged(const struct net *net) { return ns_capable(net->user_ns, CAP_NET_BIND_SERVICE); }
u64 afc_random_u64(void) { return get_random_u64(); }


static unsigned int afc_net_id;
static const struct afc_pernet_callbacks *afc_pernet_cb;

struct afc_net {
	void *state;
};

void *afc_net_data(const struct net *net)
{
	return ((struct afc_net *)net_generic(net, afc_net_id))->state;
}

void afc_seq_write(struct seq_file *seq, const char *buf, size_t len) { seq_write(seq, buf, len); }

static int afc_stat_seq_show(struct seq_file *seq, void *v)
{
	return afc_pernet_cb->stat_show(seq, afc_net_data(seq_file_single_net(seq)));
}

static int __net_init afc_pernet_init(struct net *net)
{
	struct afc_net *an = net_generic(net, afc_net_id);

	an->state = afc_pernet_cb->init(net);
	if (!an->state)
		return -ENOMEM;
	if (!proc_create_net_single("af_custom_stat", 0444, net->proc_net,
				    afc_stat_seq_show, NULL)) {
		afc_pernet_cb->exit(net, an->state);
		an->state = NULL;
		return -ENOMEM;
	}
	return 0;
}

static void __net_exit afc_pernet_exit(struct net *net)
{
	struct afc_net *an = net_generic(net, afc_net_id);

	remove_proc_entry("af_custom_stat", net->proc_net);
	afc_pernet_cb->exit(net, an->state);
	an->state = NULL;
}

static struct pernet_operations afc_pernet_ops = {
	.init = afc_pernet_init,
	.exit = afc_pernet_exit,
	.id = &afc_net_id,
	.size = sizeof(struct afc_net),
};

int afc_pernet_register(const struct afc_pernet_callbacks *cb)
{
	afc_pernet_cb = cb;
	return register_pernet_subsys(&afc_pernet_ops);
}

void afc_pernet_unregister(void)
{
	unregister_pernet_subsys(&afc_pernet_ops);
}
