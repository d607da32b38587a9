// SPDX-License-Identifier: GPL-2.0
/*
 * Socket buffers: allocation, trimming, page fragments, checksums, queues,
 * copies to and from the user.
 * (Thin by design: what Rust cannot do in 6.12. Declarations in
 * af_custom_helpers.h, read by bindgen.)
 */
#include "afc_internal.h"

/* The receive path owns what it queues: an unshared skb (a shared one is
 * cloned first).  A clone (a sender's afc_skb_clone_send() frame, linear
 * or paged, GSO or not, or netem's duplicate) keeps its shared head,
 * fragments and skb_shared_info, none of which the receive path writes:
 * it only moves the clone's data pointer and length over linear data,
 * counts what it consumes of shared fragments in the control block
 * instead of editing them (AFC_SKB_FRONT; afc_skb_pull() edits only the
 * descriptors of a buffer with no clone), and reads.  A frag list (no
 * device here builds one for us) is linearised. */
struct sk_buff *afc_skb_own_rx(struct sk_buff *skb)
{
	skb = skb_share_check(skb, GFP_ATOMIC);
	if (!skb)
		return NULL;
	if (skb_has_frag_list(skb) && skb_linearize(skb)) {
		kfree_skb(skb);
		return NULL;
	}
	/* The control block is ours from here on (it held the layers'
	 * below): the frames the segment stood for on the wire (the count
	 * of a segment GRO merged, else 1: SkBuff::gro_frames), and nothing
	 * consumed or cut yet. */
	AFC_SKB_FRAMES(skb) = afc_skb_rx_frames(skb);
	AFC_SKB_FRONT(skb) = 0;
	AFC_SKB_BACK(skb) = 0;
	/* A GSO frame is taken whole: it is data now.  A clone's marks are
	 * its sender's and stay (nothing here segments a queued buffer). */
	if (skb_is_gso(skb) && !skb_cloned(skb))
		skb_gso_reset(skb);
	return skb;
}
int afc_pskb_may_pull(struct sk_buff *skb, unsigned int len) { return pskb_may_pull(skb, len); }
unsigned int afc_skb_len(const struct sk_buff *skb) { return skb->len; }
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
/* A linear send buffer of len bytes, allocated as tcp_stream_alloc_skb()
 * allocates TCP's: a fast-clone pair with headroom for a frame header of
 * hdr_len bytes and the link layer, its header area released
 * (__skb_header_release), so that a segment which is exactly this buffer
 * leaves as its clone (afc_skb_clone_send) with no allocation and no
 * copy.  Not owned by sk (no skb_set_owner_w, no sock_wfree when it is
 * freed): as TCP's write queue, the buffer is charged to the socket by
 * the write queue itself (sk_wmem_queued and the forward allocation,
 * WriteQueue in rust/abstractions/sock/queues.rs), and the send buffer's
 * room is counted from that charge. */
struct sk_buff *afc_sock_alloc_linear(struct sock *sk, unsigned int len, unsigned int hdr_len)
{
	struct sk_buff *skb = alloc_skb_fclone(MAX_HEADER + hdr_len + len, sk->sk_allocation);

	if (!skb)
		return NULL;
	skb_reserve(skb, MAX_HEADER + hdr_len);
	__skb_put(skb, len);
	__skb_header_release(skb);
	return skb;
}
/* The frame for a segment that is all of the send buffer skb, linear
 * (afc_sock_alloc_linear) or paged (afc_sock_alloc_paged), as
 * __tcp_transmit_skb() clones its write queue's skb: a clone (the
 * fast-clone companion, no allocation; a paged buffer's fragments shared,
 * not referenced one by one) with AFC_FRAME_HEADER_LEN zeroed bytes
 * pushed for the frame header (a constant: stores, not a call to
 * memset), which only this clone's owner writes (the buffer's own data
 * starts after them).  NULL when skb is not such a buffer, or when an
 * earlier clone of it is still out (on loopback it waits in the
 * receiver's queue until read; the header area is its): the caller then
 * builds the frame otherwise, as TCP's pskb_copy().  The caller may mark
 * the clone for GSO before it leaves, as tcp_set_skb_tso_segs() marks
 * TCP's buffer: the shinfo it writes is the buffer's, which nobody else
 * holds until the clone leaves (no earlier clone is out), and which
 * nobody writes while the clone is out. */
struct sk_buff *afc_skb_clone_send(struct sk_buff *skb)
{
	struct sk_buff *c;

	if (skb->fclone != SKB_FCLONE_ORIG || skb_cloned(skb) || skb_has_frag_list(skb) ||
	    skb_headroom(skb) < MAX_HEADER + AFC_FRAME_HEADER_LEN)
		return NULL;
	/* An earlier send's GSO marks go: the caller sets this frame's. */
	if (skb_is_gso(skb))
		skb_gso_reset(skb);
	c = skb_clone(skb, GFP_ATOMIC);
	if (!c)
		return NULL;
	memset(__skb_push(c, AFC_FRAME_HEADER_LEN), 0, AFC_FRAME_HEADER_LEN);
	skb_reset_network_header(c);
	c->protocol = htons(ETH_P_AF_CUSTOM);
	return c;
}
bool afc_skb_cloned(const struct sk_buff *skb) { return skb_cloned(skb); }
/* Drops len bytes from the front of skb, linear part first, then paged
 * fragments, without copying (tcp_output.c's __pskb_trim_head).  Never
 * called for a clone (the Rust caller counts what it consumes of shared
 * fragments in AFC_SKB_FRONT instead), so the descriptors it edits are
 * private. */
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
/* A send buffer of len bytes held in page fragments (no linear part),
 * charged by the write queue as afc_sock_alloc_linear()'s: frames reference its pages instead
 * of copying them (afc_skb_ref_frags).  The pages come from the socket's
 * page fragment (sk_page_frag(): the task's, or the socket's), carved as
 * tcp_sendmsg_locked() carves them: a 32 KiB page is reused from its
 * start once every buffer and frame holding it is gone, so a stream
 * recycles a few hot pages instead of a trip through the page allocator
 * per buffer.  The caller owns the socket (lock_sock), as sk_page_frag()
 * requires; truesize counts the bytes taken, as TCP's does.  Allocated
 * as afc_sock_alloc_linear() allocates (a fast-clone pair, headroom for a
 * frame header of hdr_len bytes, released), so that a segment which is
 * exactly this buffer leaves as its clone (afc_skb_clone_send): two slab
 * objects per segment, as TCP's, instead of four. */
struct sk_buff *afc_sock_alloc_paged(struct sock *sk, unsigned int len, unsigned int hdr_len)
{
	struct page_frag *pfrag = sk_page_frag(sk);
	struct sk_buff *skb;
	unsigned int left = len;

	skb = alloc_skb_fclone(MAX_HEADER + hdr_len, sk->sk_allocation);
	if (!skb)
		return NULL;
	skb_reserve(skb, MAX_HEADER + hdr_len);
	__skb_header_release(skb);
	while (left) {
		int i = skb_shinfo(skb)->nr_frags;
		unsigned int n;

		if (i >= MAX_SKB_FRAGS || !skb_page_frag_refill(min(left, 32U), pfrag, sk->sk_allocation)) {
			kfree_skb(skb);
			return NULL;
		}
		n = min(left, pfrag->size - pfrag->offset);
		get_page(pfrag->page);
		skb_fill_page_desc(skb, i, pfrag->page, pfrag->offset, n);
		pfrag->offset += n;
		left -= n;
	}
	skb->data_len = len;
	skb->len = len;
	skb->truesize += len;
	return skb;
}
/* Appends up to n bytes from msg to the paged send buffer skb, the
 * write queue's tail (afc_sock_alloc_paged; none of it sent, no clone
 * out), in fragments of the socket's page fragment (a fragment that
 * continues the last one in its page grows instead), as
 * tcp_sendmsg_locked() fills its tail skb up to size_goal, so that a
 * segment is one whole buffer.  Returns the bytes copied: fewer than n
 * when the user's buffer faults, the fragment slots run out or a page
 * cannot be had.  skb grows by them, truesize too; the caller charges
 * the queue (afc_sock_alloc_linear: the queue's charge is the buffer's).  The
 * caller owns the socket (lock_sock), as sk_page_frag() requires. */
int afc_skb_append_paged(struct sock *sk, struct sk_buff *skb, struct msghdr *msg, int n)
{
	struct page_frag *pfrag = sk_page_frag(sk);
	struct skb_shared_info *sh = skb_shinfo(skb);
	int copied = 0;

	if (skb_headlen(skb) || skb_cloned(skb) || skb_has_frag_list(skb))
		return 0;
	while (copied < n) {
		int i = sh->nr_frags, want;
		size_t got;
		bool merge;

		if (!skb_page_frag_refill(32U, pfrag, sk->sk_allocation))
			break;
		merge = skb_can_coalesce(skb, i, pfrag->page, pfrag->offset);
		if (!merge && i >= MAX_SKB_FRAGS)
			break;
		if (PageHighMem(pfrag->page))
			break;
		want = min_t(int, n - copied, pfrag->size - pfrag->offset);
		got = copy_from_iter(page_address(pfrag->page) + pfrag->offset, want, &msg->msg_iter);
		if (!got)
			break;
		if (merge) {
			skb_frag_size_add(&sh->frags[i - 1], got);
		} else {
			skb_fill_page_desc(skb, i, pfrag->page, pfrag->offset, got);
			get_page(pfrag->page);
		}
		pfrag->offset += got;
		skb->len += got;
		skb->data_len += got;
		skb->truesize += got;
		copied += got;
		if (got < want)
			break;
	}
	return copied;
}
/* Fills len bytes at offset of skb (linear or paged) from the user and
 * returns how many it copied: len, or fewer when the user's buffer faults
 * part-way, so that the caller sends what was copied and reports it, as
 * tcp_sendmsg_locked() does (a negative errno only for a bad range).  All
 * of a send buffer is filled with one copy per fragment (or one for its
 * linear data), as tcp_sendmsg_locked() fills its fragments
 * (skb_copy_to_page_nocache(): copy_from_iter_full() on the page's
 * address), where skb_copy_datagram_from_iter() makes a copy call per
 * 4 KiB page (copy_page_from_iter()): 2-3 calls per 64 KiB of a paged
 * buffer (afc_sock_alloc_paged: fragments of the socket's 32 KiB
 * page-fragment pages) instead of 16.  Anything else, or a highmem page
 * (none on 64-bit), takes skb_copy_datagram_from_iter(). */
int afc_skb_copy_from_msg(struct sk_buff *skb, int offset, struct msghdr *msg, int len)
{
	struct skb_shared_info *sh = skb_shinfo(skb);
	size_t n, left;
	int i, copied = 0;

	if (offset || len != skb->len || skb_has_frag_list(skb))
		goto general;
	if (!skb->data_len)
		return copy_from_iter(skb->data, len, &msg->msg_iter);
	if (skb_headlen(skb))
		goto general;
	for (i = 0; i < sh->nr_frags; i++)
		if (PageHighMem(skb_frag_page(&sh->frags[i])))
			goto general;
	for (i = 0; i < sh->nr_frags; i++) {
		const skb_frag_t *f = &sh->frags[i];

		n = copy_from_iter(skb_frag_address(f), skb_frag_size(f), &msg->msg_iter);
		copied += n;
		if (n < skb_frag_size(f))
			break;
	}
	return copied;
general:
	if (offset < 0 || len < 0 || offset > (int)skb->len || len > (int)skb->len - offset)
		return -EINVAL;
	/* It copies in order and leaves the iterator where it stopped. */
	left = iov_iter_count(&msg->msg_iter);
	if (skb_copy_datagram_from_iter(skb, offset, &msg->msg_iter, len))
		return left - iov_iter_count(&msg->msg_iter);
	return len;
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
	__sum16 sum;

	/* skb_checksum_help()'s sum, without its checks: the frame is ours
	 * (never a clone), the field linear and zero while summing. */
	if (field + sizeof(sum) > skb_headlen(skb))
		return -EINVAL;
	put_unaligned(0, (__sum16 *)(skb->data + field));
	sum = csum_fold(skb_checksum(skb, 0, skb->len, 0)) ?: CSUM_MANGLED_0;
	put_unaligned(sum, (__sum16 *)(skb->data + field));
	skb->ip_summed = CHECKSUM_NONE;
	return 0;
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
void afc_skb_set_owner_r(struct sk_buff *skb, struct sock *sk) { skb_set_owner_r(skb, sk); }
/* The module's queues are used by their socket's owner alone (under
 * lock_sock, or bh_lock_sock while no process owns it), as TCP uses its
 * receive and write queues: their spinlocks are not taken. */
void afc_skb_queue_purge(struct sk_buff_head *q) { skb_queue_purge(q); }
int afc_skb_copy_datagram_msg(const struct sk_buff *skb, int offset, struct msghdr *msg, int len) { return skb_copy_datagram_msg(skb, offset, msg, len); }
size_t afc_msg_data_left(struct msghdr *msg) { return msg_data_left(msg); }
/* Moves the user's buffers back by n bytes copied but not taken, so that
 * what a sendmsg reports and where its iterator stands agree (io_uring's
 * MSG_WAITALL retry goes on from the iterator). */
void afc_msg_revert(struct msghdr *msg, size_t n) { iov_iter_revert(&msg->msg_iter, n); }
int afc_memcpy_to_msg(struct msghdr *msg, const void *data, int len) { return memcpy_to_msg(msg, (void *)data, len); }

/*
 * Receive timestamps and the ingress device of queued data (recvmsg's
 * control messages, io.rs).  A frame is stamped as IPv4's input does
 * (ip_rcv_core: a forwarded frame's delivery time becomes a receive
 * stamp) and, when its socket asks for receive stamps and the stack has
 * not stamped it yet (netstamp_needed_key is switched on from a work
 * item after the first such setsockopt), now, at its arrival.
 */
void afc_skb_rx_stamp(struct sk_buff *skb, const struct sock *sk)
{
	skb_clear_delivery_time(skb);
	if (!skb->tstamp &&
	    (sock_flag(sk, SOCK_RCVTSTAMP) || sock_flag(sk, SOCK_TIMESTAMPING_RX_SOFTWARE)))
		__net_timestamp(skb);
}
void afc_skb_set_tstamp(struct sk_buff *skb, s64 ns) { skb->tstamp = ns_to_ktime(ns); }
