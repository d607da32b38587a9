// SPDX-License-Identifier: GPL-2.0
/*
 * Receive offload (GRO) for our EtherType: the gro_receive/gro_complete
 * callbacks of the packet_offload in gso.c.
 * (Thin by design: what Rust cannot do in 6.12, the GRO control block and
 * its inline helpers. Which frames merge is the core's rule,
 * rust/proto/src/gro.rs, asked through rust/abstractions/gro.rs.)
 *
 * A NIC's NAPI poll hands frames to napi_gro_receive(); consecutive
 * in-order data frames of one connection are merged into the first
 * (afc_gro_merge(): their pages become its fragments) until a frame is not
 * mergeable, is shorter than the first (the sender's segment ended), or
 * the poll ends.  Each frame's checksum is verified here, before it is
 * merged; a merged segment's header is then rewritten to carry the payload
 * of all its frames, and it goes up marked as this host's own GSO frames
 * are (CHECKSUM_PARTIAL at our header's field, SKB_GSO_SCTP with gso_size
 * the first frame's payload): the frame handler trusts it as it trusts
 * those (docs/PROTOCOL.md 1.3), and anything that must cut it again (a
 * bridge toward another port) cuts it with afc_gso_segment(), which
 * computes each piece's checksum.  Frames that are not merged go up
 * untouched and are verified by the handler as before.
 * tests: gro.rs (core), hosts.c transfer_virtio/transfer_e1000 (InGroMerged).
 */
#include "afc_internal.h"
#include <net/gro.h>

/* Counts the frames GRO merged into earlier ones, per namespace (the
 * handler's gro_merged, set at registration). */
static void (*afc_gro_merged_cb)(struct net_device *dev, unsigned int frames) __read_mostly;

void afc_gro_set_counter(void (*cb)(struct net_device *dev, unsigned int frames))
{
	WRITE_ONCE(afc_gro_merged_cb, cb);
}
/* No call of the counter runs once this returns. */
void afc_gro_clear_counter(void)
{
	WRITE_ONCE(afc_gro_merged_cb, NULL);
	synchronize_net();
}

/* Whether the frame of len bytes at the GRO offset sums to zero with a
 * nonzero checksum field (the handler's rule for a verified frame). */
static bool afc_gro_csum_ok(struct sk_buff *skb, const u8 *hdr, unsigned int off, unsigned int len)
{
	if (!get_unaligned((const u16 *)(hdr + AFC_WIRE_CSUM_OFFSET)))
		return false;
	return !csum_fold(skb_checksum(skb, off, len, 0));
}

/* Merges skb (its GRO offset at its payload) into the held p, as
 * skb_gro_receive() does (not exported to modules in 6.12) in its two page
 * paths: skb's page fragments, or its page-fragment head and fragments,
 * move to p's fragments.  Never a frag_list: a segment that would need
 * one (more than MAX_SKB_FRAGS pieces, or 64 KiB) is complete instead
 * (-E2BIG), so the receive path only ever sees paged frames. */
static int afc_gro_merge(struct sk_buff *p, struct sk_buff *skb)
{
	struct skb_shared_info *pinfo = skb_shinfo(p), *skbinfo = skb_shinfo(skb);
	unsigned int offset = skb_gro_offset(skb);
	unsigned int headlen = skb_headlen(skb);
	unsigned int len = skb_gro_len(skb);
	unsigned int delta_truesize, new_truesize;

	if (p->pp_recycle != skb->pp_recycle || skb_zcopy(p) || skb_zcopy(skb))
		return -ETOOMANYREFS;
	/* A clone's shinfo is shared (a sender's afc_skb_clone_send frame
	 * over veth): its fragments are not ours to move. */
	if (skb_cloned(p) || skb_cloned(skb))
		return -E2BIG;
	if (p->len + len >= GRO_LEGACY_MAX_SIZE || NAPI_GRO_CB(p)->last != p)
		return -E2BIG;
	if (headlen <= offset) {
		skb_frag_t *frag, *frag2;
		int i = skbinfo->nr_frags;
		int nr_frags = pinfo->nr_frags + i;

		if (!i || nr_frags > MAX_SKB_FRAGS)
			return -E2BIG;
		offset -= headlen;
		pinfo->nr_frags = nr_frags;
		skbinfo->nr_frags = 0;
		frag = pinfo->frags + nr_frags;
		frag2 = skbinfo->frags + i;
		do {
			*--frag = *--frag2;
		} while (--i);
		skb_frag_off_add(frag, offset);
		skb_frag_size_sub(frag, offset);
		/* all fragments truesize: remove (head size + sk_buff) */
		new_truesize = SKB_TRUESIZE(skb_end_offset(skb));
		delta_truesize = skb->truesize - new_truesize;
		skb->truesize = new_truesize;
		skb->len -= skb->data_len;
		skb->data_len = 0;
		NAPI_GRO_CB(skb)->free = NAPI_GRO_FREE;
	} else if (skb->head_frag) {
		int nr_frags = pinfo->nr_frags;
		skb_frag_t *frag = pinfo->frags + nr_frags;
		struct page *page = virt_to_head_page(skb->head);
		unsigned int first_size = headlen - offset;
		unsigned int first_offset;

		if (nr_frags + 1 + skbinfo->nr_frags > MAX_SKB_FRAGS)
			return -E2BIG;
		first_offset = skb->data - (unsigned char *)page_address(page) + offset;
		pinfo->nr_frags = nr_frags + 1 + skbinfo->nr_frags;
		skb_frag_fill_page_desc(frag, page, first_offset, first_size);
		memcpy(frag + 1, skbinfo->frags, sizeof(*frag) * skbinfo->nr_frags);
		/* skbinfo->nr_frags need not be cleared (NAPI_GRO_FREE_STOLEN_HEAD) */
		new_truesize = SKB_DATA_ALIGN(sizeof(struct sk_buff));
		delta_truesize = skb->truesize - new_truesize;
		skb->truesize = new_truesize;
		NAPI_GRO_CB(skb)->free = NAPI_GRO_FREE_STOLEN_HEAD;
	} else {
		return -E2BIG;
	}
	NAPI_GRO_CB(p)->count += NAPI_GRO_CB(skb)->count;
	p->data_len += len;
	p->truesize += delta_truesize;
	p->len += len;
	pinfo->flags |= skbinfo->flags & SKBFL_SHARED_FRAG;
	NAPI_GRO_CB(skb)->same_flow = 1;
	return 0;
}

struct sk_buff *afc_gro_receive(struct list_head *head, struct sk_buff *skb)
{
	unsigned int off = skb_gro_offset(skb), len = skb_gro_len(skb);
	struct sk_buff *pp = NULL, *p;
	const u8 *hdr;
	int v;

	hdr = skb_gro_header(skb, AFC_WIRE_HDR_LEN, off);
	/* Only plain frames off a wire: not this host's own GSO frames (a
	 * veth in NAPI mode), not one with its checksum pending. */
	if (!hdr || NAPI_GRO_CB(skb)->flush || skb_is_gso(skb) || skb->ip_summed == CHECKSUM_PARTIAL ||
	    !afc_gro_frame_eligible(hdr, len) || !afc_gro_csum_ok(skb, hdr, off, len))
		goto flush;
	list_for_each_entry(p, head, list) {
		if (!NAPI_GRO_CB(p)->same_flow)
			continue;
		/* A held frame's header is linear at its network header
		 * (dev_gro_receive pulled it: gro_try_pull_from_frag0). */
		v = afc_gro_verdict(skb_network_header(p), skb_gro_len(p), hdr);
		if (v == AFC_GRO_OTHER_FLOW) {
			NAPI_GRO_CB(p)->same_flow = 0;
			continue;
		}
		if (v == AFC_GRO_FLUSH) {
			pp = p;
			goto flush;
		}
		skb_gro_pull(skb, AFC_WIRE_HDR_LEN);
		if (afc_gro_merge(p, skb)) {
			/* Could not merge (size, memory kind): both go up as they are. */
			pp = p;
			goto flush;
		}
		return v == AFC_GRO_MERGE_LAST ? p : NULL;
	}
	/* The first frame of its segment: held, its payload counted by
	 * skb_gro_len() from now on. */
	skb_gro_pull(skb, AFC_WIRE_HDR_LEN);
	return NULL;
flush:
	NAPI_GRO_CB(skb)->flush = 1;
	return pp;
}

/* A merged segment (NAPI_GRO_CB(skb)->count frames, our header at nhoff):
 * its header now carries all the payload; marked as this host's GSO
 * frames are. */
int afc_gro_complete(struct sk_buff *skb, int nhoff)
{
	struct skb_shared_info *sh = skb_shinfo(skb);
	void (*cb)(struct net_device *dev, unsigned int frames);
	u8 *hdr = skb->data + nhoff;

	if (afc_gro_complete_header(hdr, skb->len - nhoff - AFC_WIRE_HDR_LEN))
		return -EINVAL;
	skb->csum_start = hdr - skb->head;
	skb->csum_offset = AFC_WIRE_CSUM_OFFSET;
	skb->ip_summed = CHECKSUM_PARTIAL;
	sh->gso_type = SKB_GSO_SCTP;
	sh->gso_segs = NAPI_GRO_CB(skb)->count;
	cb = READ_ONCE(afc_gro_merged_cb);
	if (cb && skb->dev)
		cb(skb->dev, NAPI_GRO_CB(skb)->count - 1);
	return 0;
}

/* The frames a segment stood for on the wire, while its device is
 * known (the frame handler's afc_skb_own_rx, softirq): the count of a
 * segment GRO merged (a GSO frame that came from a NIC: nothing else
 * hands one up), else 1 (this host's own GSO frames through a veth count
 * as one, as the sender's window counts them). */
unsigned int afc_skb_rx_frames(const struct sk_buff *skb)
{
	const struct net_device *dev = skb->dev;

	if (!skb_is_gso(skb) || !(skb_shinfo(skb)->gso_type & SKB_GSO_SCTP) || !dev || !afc_dev_is_nic(dev))
		return 1;
	return max_t(unsigned int, skb_shinfo(skb)->gso_segs, 1);
}
