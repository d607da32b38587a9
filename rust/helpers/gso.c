// SPDX-License-Identifier: GPL-2.0
/*
 * Segmentation offload: which devices get 64 KiB GSO frames, and the
 * `packet_offload` that cuts them.
 * (Thin by design: what Rust cannot do in 6.12. Declarations in
 * af_custom_helpers.h, read by bindgen.)
 */
#include "afc_internal.h"

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
bool afc_dev_gso_ok(const struct net_device *dev)
{
	return READ_ONCE(gso) && afc_dev_is_veth(dev) &&
	       (dev->features & (NETIF_F_SG | NETIF_F_GSO_SCTP)) == (NETIF_F_SG | NETIF_F_GSO_SCTP);
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
