// SPDX-License-Identifier: GPL-2.0
/*
 * Routes and sending: the route toward a peer, and a frame out of its
 * device through the neighbour layer.
 * (Thin by design: what Rust cannot do in 6.12. Declarations in
 * af_custom_helpers.h, read by bindgen.)
 */
#include "afc_internal.h"

/* Routing: the source address, MTU and device kind toward `daddr`
 * (a loopback? a veth? a NIC? one that takes our GSO frames?).  With
 * `dst_out`, the route's reference is handed to the caller there (for a
 * connection's sk_dst_cache, as tcp_v4_connect() keeps the route it
 * looked up), else put. */
int afc_route(struct net *net, int oif, __be32 daddr, __be32 saddr, __be32 *src_out,
	      unsigned int *mtu, bool *loopback, bool *veth, bool *nic, bool *takes_gso,
	      struct dst_entry **dst_out)
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
	afc_dev_gso_facts(rt->dst.dev, veth, nic, takes_gso);
	if (dst_out)
		*dst_out = &rt->dst;
	else
		ip_rt_put(rt);
	return 0;
}
void afc_dst_release(struct dst_entry *dst) { dst_release(dst); }
/* A connection's first route, looked up by connect() or for a child, goes
 * into its cache (which takes the reference) before its first frame. */
void afc_sk_dst_set(struct sock *sk, struct dst_entry *dst) { sk_dst_set(sk, dst); }
/* neigh_output() for our EtherType: a resolved neighbour's cached
 * Ethernet header (IP's: neigh_resolve_output() fills it on first use)
 * is copied as neigh_hh_output() copies it, under its seqlock, and its
 * protocol field rewritten; anything else (unresolved, a device without
 * a plain 14-byte header, too little headroom) takes the neighbour's own
 * output, which builds the header from skb->protocol. */
static int afc_neigh_output(struct neighbour *n, struct sk_buff *skb)
{
	const struct hh_cache *hh = &n->hh;
	unsigned int seq, hh_len;

	if (!(READ_ONCE(n->nud_state) & NUD_CONNECTED) || skb_headroom(skb) < HH_DATA_MOD)
		return READ_ONCE(n->output)(n, skb);
	do {
		seq = read_seqbegin(&hh->hh_lock);
		hh_len = READ_ONCE(hh->hh_len);
		if (hh_len == ETH_HLEN)
			memcpy(skb->data - HH_DATA_MOD, hh->hh_data, HH_DATA_MOD);
	} while (read_seqretry(&hh->hh_lock, seq));
	if (hh_len != ETH_HLEN)
		return READ_ONCE(n->output)(n, skb);
	__skb_push(skb, ETH_HLEN);
	skb_reset_mac_header(skb);
	eth_hdr(skb)->h_proto = htons(ETH_P_AF_CUSTOM);
	return dev_queue_xmit(skb);
}
/* Sends a frame whose network header is our header over rt's device: the
 * ARP neighbour entry gives the hardware address (the frame waits in the
 * neighbour's queue while it resolves; arp_solicit() reads the source
 * address at offset 12 of our header); once resolved, the neighbour's
 * cached hard header is copied and its protocol rewritten
 * (afc_neigh_output).  Consumes skb, not rt. */
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
	err = afc_neigh_output(neigh, skb);
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
