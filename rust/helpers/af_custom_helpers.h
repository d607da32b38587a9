/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C side of af_custom.ko: wrappers for static inline kernel functions the
 * Rust code needs, the module parameter, and the per-netns /proc glue.
 * Everything here is declared for bindgen and defined in
 * af_custom_helpers.c.  The Rust abstraction layer (rust/abi/) is the only
 * caller.
 */
#ifndef AF_CUSTOM_HELPERS_H
#define AF_CUSTOM_HELPERS_H

#include <linux/types.h>

struct sk_buff;
struct sock;
struct net;
struct net_device;
struct seq_file;

/* Module parameter `family=`; read-only in sysfs. */
int afc_family_param(void);

/* Static inline wrappers. */
struct sk_buff *afc_skb_share_check(struct sk_buff *skb);
int afc_pskb_may_pull(struct sk_buff *skb, unsigned int len);
unsigned int afc_skb_len(const struct sk_buff *skb);
const unsigned char *afc_skb_data(const struct sk_buff *skb);
struct net *afc_dev_net(const struct net_device *dev);
bool afc_dev_is_loopback(const struct net_device *dev);
void afc_kfree_skb(struct sk_buff *skb);
void afc_consume_skb(struct sk_buff *skb);
void afc_sock_put(struct sock *sk);
void afc_sock_orphan(struct sock *sk);
struct net *afc_sock_net(const struct sock *sk);
void afc_lock_sock(struct sock *sk);
void afc_release_sock(struct sock *sk);
unsigned int afc_sock_uid(const struct sock *sk);
bool afc_sock_reuseaddr(const struct sock *sk);
bool afc_addr_is_local(struct net *net, __be32 addr);
bool afc_may_bind_privileged(const struct net *net);
u64 afc_random_u64(void);

/*
 * Per-netns state: init() makes the module's state of a new namespace and
 * returns a pointer to it (NULL: out of memory), kept in the namespace's
 * generic block and handed to exit() and to stat_show(), the show()
 * callback of /proc/net/af_custom_stat.  One registration at a time.
 */
struct afc_pernet_callbacks {
	void *(*init)(struct net *net);
	void (*exit)(struct net *net, void *state);
	int (*stat_show)(struct seq_file *seq, void *state);
};
int afc_pernet_register(const struct afc_pernet_callbacks *cb);
void afc_pernet_unregister(void);
void *afc_net_data(const struct net *net);
void afc_seq_write(struct seq_file *seq, const char *buf, size_t len);

#endif
