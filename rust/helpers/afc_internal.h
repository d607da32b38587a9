/* SPDX-License-Identifier: GPL-2.0 */
#ifndef AFC_INTERNAL_H
#define AFC_INTERNAL_H
/* What the C helpers share among themselves (not seen by bindgen). */
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
#include <linux/net_tstamp.h>
#include <linux/hash.h>
#include "../uapi/linux/af_custom.h"
#include "af_custom_helpers.h"

/* gso.c: what the GSO decision needs to know of a device. */
void afc_dev_gso_facts(const struct net_device *dev, bool *veth, bool *nic, bool *takes_gso);
/* rust/abstractions/gso.rs: rewrites the headers of the pieces of a cut GSO frame. */
int afc_gso_fix_pieces(struct sk_buff *segs);
/* A NIC: a device with a parent on a bus (PCI, virtio); software devices
 * (lo, veth, bridges, tun) have none or register rtnl_link_ops. */
static inline bool afc_dev_is_nic(const struct net_device *dev)
{
	return !dev->rtnl_link_ops && dev->dev.parent;
}
/* gro.c, for skb.c's afc_skb_own_rx: the frames a received segment stood
 * for on the wire. */
unsigned int afc_skb_rx_frames(const struct sk_buff *skb);
/* gro.c: the receive offload's callbacks (gso.c's packet_offload). */
struct sk_buff *afc_gro_receive(struct list_head *head, struct sk_buff *skb);
int afc_gro_complete(struct sk_buff *skb, int nhoff);
/* rust/abstractions/gro.rs: the core's GRO rule (rust/proto/src/gro.rs)
 * on linear headers of AFC_WIRE_HDR_LEN bytes. */
bool afc_gro_frame_eligible(const u8 *hdr, unsigned int frame_len);
int afc_gro_verdict(const u8 *held, unsigned int held_payload, const u8 *next);
int afc_gro_complete_header(u8 *hdr, unsigned int total);

/* pernet.c, for diag.c: collects at most `max` socks of net that pass
 * req's filters, from the cursor (*chain, *offset), each with a reference
 * (the caller puts it); at[i] is the cursor of out[i].  Advances the
 * cursor past what it examined; returns 0 only at the end of the list. */
struct afc_diag_pos {
	unsigned long chain, offset;
};
int afc_net_diag_batch(struct net *net, const struct afc_diag_req *req, struct afc_diag_pos *cur,
		       struct sock **out, struct afc_diag_pos *at, int max);
void afc_net_diag_fill(struct sock *sk, struct afc_diag_msg *r, struct tcp_info *info);

/* Bytes consumed from the front of a buffer whose fragments a clone
 * shares (rust/abstractions/skb.rs, `skb_front`): the first four bytes of
 * the control block, the owner's while the module holds the buffer. */
#define AFC_SKB_FRONT(skb) (*(u32 *)(skb)->cb)
/* The frames a received segment stood for on the wire (more than one when
 * GRO merged them; rust/abstractions/skb.rs, `SkBuff::gro_frames`): the
 * next four bytes, set by afc_skb_own_rx(), so that the receive path
 * never writes a clone's shared gso_segs. */
#define AFC_SKB_FRAMES(skb) (*(u32 *)((skb)->cb + 4))
/* Bytes cut at the end of a clone whose fragments are shared, instead of
 * pskb_trim(), which would copy (SkBuff::trim): the next four. */
#define AFC_SKB_BACK(skb) (*(u32 *)((skb)->cb + 8))

#endif
