// SPDX-License-Identifier: GPL-2.0
/*
 * Segmentation offload: which devices get 64 KiB GSO frames, and the
 * `packet_offload` that cuts them.
 * (Thin by design: what Rust cannot do in 6.12. Declarations in
 * af_custom_helpers.h, read by bindgen.)
 */
#include "afc_internal.h"

/* Segmentation offload (gso=1, the default; which devices get GSO frames
 * is decided in rust/abstractions/route.rs from the facts below): a
 * connection sends frames of up to 64 KiB marked GSO with gso_size the
 * device's payload per wire frame, over two kinds of device.  A veth
 * forwards them unsegmented to its peer (NETIF_F_GSO_SOFTWARE), whose
 * frame handler takes them whole.  A NIC (a device of a bus: PCI, virtio)
 * never has the GSO type's feature, so the device layer cuts them in
 * software just before the driver (validate_xmit_skb), as it cuts TCP's
 * GSO frames for a NIC without TSO: the connection builds one frame per
 * 64 KiB instead of one per MTU.  Whatever must cut such a frame (the
 * device layer before a NIC, netem corrupting it, any device without the
 * GSO type's feature, such as every NIC behind a bridge the veth peer is
 * a port of) calls afc_gso_segment() through the packet_offload below.
 * The GSO type is borrowed to pass the feature checks, and it is SCTP's:
 * NETIF_F_GSO_SCTP is a software-only feature (veth, bridge, bonding,
 * macvlan...; no NIC driver in 6.12 advertises it) and carries no
 * frag_list meaning (unlike FRAGLIST, which skb_copy() refuses), so no
 * hardware is ever handed our frame to cut as its own protocol (UDP_L4,
 * which NICs with USO segment in hardware, was that risk).  Other
 * software devices (bridge, bond, tunnels) get no GSO frames: MTU-sized
 * frames, as before.  tests: offload.c,
 * gso_frames_reach_a_bridged_tap_cut_to_the_mtu; hosts.c over virtio-net
 * and e1000. */
static bool gso = true;
module_param(gso, bool, 0644);
MODULE_PARM_DESC(gso, "send 64 KiB GSO frames over veth and NICs (default on)");
bool afc_gso_param(void) { return READ_ONCE(gso); }

/* What the GSO decision needs to know of a device: whether it is a veth,
 * a NIC (a device with a parent on a bus: PCI, virtio; software devices
 * have none), and whether it takes frames in pieces (SG) of the borrowed
 * GSO type. */
void afc_dev_gso_facts(const struct net_device *dev, bool *veth, bool *nic, bool *takes_gso)
{
	*veth = dev->rtnl_link_ops && !strcmp(dev->rtnl_link_ops->kind, "veth");
	*nic = afc_dev_is_nic(dev);
	*takes_gso = (dev->features & (NETIF_F_SG | NETIF_F_GSO_SCTP)) == (NETIF_F_SG | NETIF_F_GSO_SCTP);
}
/* Marks a frame (our header, then payload, checksum pending as
 * CHECKSUM_PARTIAL) for segmentation into frames of gso_size payload
 * bytes; afc_gso_segment() computes each piece's checksum if it is cut. */
void afc_skb_set_gso(struct sk_buff *skb, unsigned int gso_size, unsigned int gso_segs)
{
	struct skb_shared_info *sh = skb_shinfo(skb);

	sh->gso_size = gso_size;
	sh->gso_type = SKB_GSO_SCTP;
	sh->gso_segs = gso_segs;
}
/* Cuts a GSO frame (data at our header) into frames of gso_size payload
 * bytes with skb_segment(), which copies the header into each piece; the
 * pieces' headers are then rewritten (payload length, sequence number,
 * FIN on the last only, checksum) by the Rust side, which alone knows the
 * header's layout (afc_gso_fix_pieces, rust/abstractions/gso.rs). */
static struct sk_buff *afc_gso_segment(struct sk_buff *skb, netdev_features_t features)
{
	struct sk_buff *segs;

	if (!pskb_may_pull(skb, AFC_WIRE_HDR_LEN))
		return ERR_PTR(-EINVAL);
	skb_reset_network_header(skb);
	__skb_pull(skb, AFC_WIRE_HDR_LEN);
	/* skb_segment() leaves skb->data at the MAC header (it pushes the
	 * headers back itself), and skb_mac_gso_segment() moves it there in
	 * any case: no push here. */
	segs = skb_segment(skb, features);
	if (IS_ERR_OR_NULL(segs))
		return segs;
	if (afc_gso_fix_pieces(segs)) {
		kfree_skb_list(segs);
		return ERR_PTR(-EINVAL);
	}
	return segs;
}

/* What afc_gso_fix_pieces reads of a piece: the next one, where our
 * header is (linear: skb_segment copies headers into each head), and the
 * sum of the piece from our header on, folded (in host order, as the
 * header's big-endian field reads). */
struct sk_buff *afc_skb_next(const struct sk_buff *skb) { return skb->next; }
int afc_skb_network_offset(const struct sk_buff *skb) { return skb_network_offset(skb); }
unsigned char *afc_skb_network_header(const struct sk_buff *skb) { return skb_network_header(skb); }
u16 afc_skb_piece_sum(struct sk_buff *skb, int off)
{
	return be16_to_cpu((__force __be16)csum_fold(skb_checksum(skb, off, skb->len - off, 0)));
}
void afc_skb_csum_none(struct sk_buff *skb) { skb->ip_summed = CHECKSUM_NONE; }

static struct packet_offload afc_offload __read_mostly = {
	.type = cpu_to_be16(ETH_P_AF_CUSTOM),
	.priority = 30,
	.callbacks = {
		.gso_segment = afc_gso_segment,
		.gro_receive = afc_gro_receive,
		.gro_complete = afc_gro_complete,
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
