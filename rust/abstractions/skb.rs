// SPDX-License-Identifier: GPL-2.0

//! Owned socket buffers and the network devices they arrive on.

use crate::abstractions::bindings;
use crate::proto::wire::HEADER_LEN;
use core::ptr::{addr_of_mut, write_volatile, NonNull};
use kernel::prelude::*;

/// Why a frame is dropped, as the `skb:kfree_skb` tracepoint (and with it
/// the drop monitor, dropwatch, `perf trace`) reports it: the kernel's
/// `enum skb_drop_reason`.  A buffer the family is done with is no drop:
/// dropping a [`SkBuff`] consumes it (`consume_skb`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// None more precise (TCP's for a segment not addressed to the host).
    NotSpecified,
    /// Addressed to another host's MAC (`OTHERHOST`).
    OtherHost,
    /// Shorter than its header says, or a header that does not parse
    /// (`PKT_TOO_SMALL`).
    Malformed,
    /// A checksum that does not match (`SKB_CSUM`).
    Checksum,
    /// A martian source or destination (`IP_INADDRERRORS`).
    Martian,
    /// No socket for it (`NO_SOCKET`).
    NoSocket,
    /// The socket's filter or the LSM refused it (`SOCKET_FILTER`).
    Filter,
    /// The socket's backlog is full (`SOCKET_BACKLOG`).
    Backlog,
    /// No receive memory for its data (`SOCKET_RCVBUFF`).
    ReceiveBuffer,
}

impl DropReason {
    fn as_raw(self) -> bindings::skb_drop_reason {
        match self {
            Self::NotSpecified => bindings::skb_drop_reason_SKB_DROP_REASON_NOT_SPECIFIED,
            Self::OtherHost => bindings::skb_drop_reason_SKB_DROP_REASON_OTHERHOST,
            Self::Malformed => bindings::skb_drop_reason_SKB_DROP_REASON_PKT_TOO_SMALL,
            Self::Checksum => bindings::skb_drop_reason_SKB_DROP_REASON_SKB_CSUM,
            Self::Martian => bindings::skb_drop_reason_SKB_DROP_REASON_IP_INADDRERRORS,
            Self::NoSocket => bindings::skb_drop_reason_SKB_DROP_REASON_NO_SOCKET,
            Self::Filter => bindings::skb_drop_reason_SKB_DROP_REASON_SOCKET_FILTER,
            Self::Backlog => bindings::skb_drop_reason_SKB_DROP_REASON_SOCKET_BACKLOG,
            Self::ReceiveBuffer => bindings::skb_drop_reason_SKB_DROP_REASON_SOCKET_RCVBUFF,
        }
    }
}

/// An owned `struct sk_buff`, freed when dropped (consumed: no drop is
/// reported; [`SkBuff::drop_because`] reports one).
///
/// # Invariants
///
/// `self.0` points to a valid, unshared `sk_buff` that this value owns
/// (holds the only reference the module has to it).  Its data may be
/// shared with clones (a frame sent as the clone of a send buffer,
/// [`QueuedSkb::clone_for_send`], and the buffer itself; or a clone
/// received from the wire): nobody writes the bytes of a cloned buffer
/// from its data on, except the header its sender pushed in front of the
/// buffer's bytes; [`SkBuff::linear_mut`] hands out nothing of a clone,
/// and what is consumed of shared fragments is counted, not cut
/// (`skb_front`).
pub(crate) struct SkBuff(NonNull<bindings::sk_buff>);

// SAFETY: an owned, unshared skb may be moved to and freed on any CPU.
unsafe impl Send for SkBuff {}

impl SkBuff {
    /// Takes ownership of a received `skb` (`afc_skb_own_rx`): cloned
    /// first if someone else holds a reference (`skb_share_check`), its
    /// wire frames counted ([`Self::gro_frames`]) and nothing consumed
    /// (`skb_front`); a clone's head, fragments and shared info stay
    /// shared, unwritten (a GSO clone keeps its sender's marks); `None`
    /// if that fails.
    ///
    /// # Safety
    ///
    /// `skb` must be a valid skb whose reference the caller passes on.
    pub(crate) unsafe fn from_raw_shared(skb: *mut bindings::sk_buff) -> Option<Self> {
        // SAFETY: the caller passes a valid skb and its reference;
        // `afc_skb_own_rx` consumes it and returns an unshared one or
        // NULL.
        let skb = unsafe { bindings::afc_skb_own_rx(skb) };
        // INVARIANT: non-NULL result of skb_share_check is unshared and ours.
        NonNull::new(skb).map(Self)
    }

    /// Takes ownership of an skb whose only reference the caller passes on
    /// (`None` for NULL).
    ///
    /// # Safety
    ///
    /// `skb` must be NULL or a valid, unshared skb whose reference the
    /// caller gives up.
    pub(crate) unsafe fn from_raw_owned(skb: *mut bindings::sk_buff) -> Option<Self> {
        // INVARIANT: the caller passes its only reference.
        NonNull::new(skb).map(Self)
    }

    /// Allocates a frame of `len` bytes of data, with headroom for the
    /// link-layer header and the network header at the start of the data
    /// (`skb->protocol` is our EtherType).  Atomic allocation.
    pub(crate) fn alloc_frame(len: usize) -> Option<Self> {
        let len = u32::try_from(len).ok()?;
        // SAFETY: no preconditions; NULL on failure.
        let skb = unsafe { bindings::afc_alloc_frame(len) };
        // INVARIANT: a fresh skb is unshared and ours.
        NonNull::new(skb).map(Self)
    }

    pub(in crate::abstractions) fn as_ptr(&self) -> *mut bindings::sk_buff {
        self.0.as_ptr()
    }

    /// The receive timestamp (`skb->tstamp`, nanoseconds; 0: none).
    pub(crate) fn tstamp(&self) -> i64 {
        // SAFETY: the skb is valid (type invariant).
        unsafe { skb_tstamp(self.0.as_ptr()) }
    }

    /// Whether the buffer carries a delivery time (`skb->tstamp_type`
    /// not `SKB_CLOCK_REALTIME`), which the receive path clears.
    pub(crate) fn has_delivery_time(&self) -> bool {
        // SAFETY: valid (type invariant) and ours: nobody writes the
        // bitfield meanwhile.
        unsafe { skb_headers(self.0.as_ptr()).tstamp_type() != 0 }
    }

    /// Sets the receive timestamp (a buffer made of received ones).
    pub(crate) fn set_tstamp(&mut self, ns: i64) {
        // SAFETY: the skb is valid and ours (type invariant).
        unsafe { bindings::afc_skb_set_tstamp(self.0.as_ptr(), ns) }
    }

    /// Gives up ownership, returning the raw pointer.
    pub(in crate::abstractions) fn into_raw(self) -> *mut bindings::sk_buff {
        let p = self.0.as_ptr();
        core::mem::forget(self);
        p
    }

    /// The linear data (`skb_headlen` bytes at `data`), writable.
    pub(crate) fn linear_mut(&mut self) -> &mut [u8] {
        let p = self.0.as_ptr();
        // SAFETY: the skb is valid (type invariant).
        if unsafe { bindings::afc_skb_cloned(p) } {
            // Shared data is written by nobody (type invariant).
            return &mut [];
        }
        // SAFETY: `headlen` bytes at `data` are the linear part of a
        // valid skb, unshared and not cloned (checked above), borrowed
        // uniquely here.
        unsafe { core::slice::from_raw_parts_mut((*p).data, skb_headlen(p)) }
    }

    /// The length of the linear part.
    fn headlen(&self) -> usize {
        // SAFETY: the skb is valid (type invariant).
        unsafe { skb_headlen(self.0.as_ptr()) }
    }

    /// Copies bytes at `offset` (linear or paged) into `out`.
    pub(crate) fn copy_out(&self, offset: usize, out: &mut [u8]) -> Result {
        copy_bits(self.0.as_ptr(), offset, out)
    }

    /// Drops `n` bytes from the front, linear or paged, without copying.
    pub(crate) fn pull(&mut self, n: usize) {
        let n = n.min(self.len());
        // SAFETY: valid, and unshared (type invariant): ours to pull;
        // `n <= len`.
        unsafe { skb_pull(self.0.as_ptr(), n) };
    }

    /// Cuts the buffer to `len` bytes: `pskb_trim`, or, for a clone
    /// whose fragments are shared (which `pskb_trim` would have to copy
    /// first, and that may fail), by counting the bytes cut at its end
    /// (`skb_back`), as [`Self::pull`] counts those at its front.
    pub(crate) fn trim(&mut self, len: usize) {
        let cur = self.len();
        if len >= cur {
            return;
        }
        let p = self.0.as_ptr();
        // SAFETY: the skb is valid and ours (type invariant); the control
        // block is the owner's.
        unsafe {
            if (*p).data_len > 0 && bindings::afc_skb_cloned(p) {
                cb_set(
                    p,
                    CbWord::Back,
                    cb_get(p, CbWord::Back) + (cur - len) as u32,
                );
            } else {
                // `front + len` is below the raw length; what is consumed
                // at the front stays, and `pskb_trim` cuts the end (the
                // bytes `skb_back` counted with it).
                bindings::afc_skb_trim(p, (skb_front(p) + len) as u32);
                cb_set(p, CbWord::Back, 0);
            }
        }
    }

    /// Fills `len` bytes at `offset` (linear or paged) from the user's
    /// buffers of `msg`; returns how many it copied, fewer than `len`
    /// (maybe 0) when the user's buffer faults part-way.
    pub(crate) fn copy_from_msg(
        &mut self,
        offset: usize,
        msg: &mut super::msg::MsgHdr,
        len: usize,
    ) -> Result<usize> {
        // SAFETY: `self` is valid and unshared (type invariant), ours.
        unsafe { msg.copy_to_skb(self.0.as_ptr(), offset, len) }
    }

    /// Appends references to `n` bytes at `offset` of the paged send
    /// buffer `src` as fragments: the frame shares its pages, nothing is
    /// copied.  `Err` when `src` is not paged or the frame is out of
    /// fragment slots (the frame is then only fit to be dropped).
    pub(crate) fn attach_pages(&mut self, src: &QueuedSkb<'_>, offset: usize, n: usize) -> Result {
        // SAFETY: `src` is valid while queued (the caller's walk).
        let front = unsafe { skb_front(src.0.as_ptr()) };
        let off = u32::try_from(front + offset).map_err(|_| EINVAL)?;
        let n = u32::try_from(n).map_err(|_| EINVAL)?;
        // SAFETY: both valid; `self` is unshared (type invariant) and
        // `src` is held queued by the caller; the helper checks ranges
        // and takes a page reference per fragment.
        crate::abstractions::errno::check(unsafe {
            bindings::afc_skb_ref_frags(self.0.as_ptr(), src.0.as_ptr(), off, n)
        })
    }

    /// Leaves the frame checksum (header and payload, into the header
    /// field at `field`, which must be zero) pending (`CHECKSUM_PARTIAL`),
    /// for a GSO frame: whoever cuts it sums each piece, and a veth peer
    /// trusts it whole.
    pub(crate) fn offload_checksum(&mut self, field: usize) {
        if field + 2 <= self.headlen() {
            // SAFETY: valid, unshared; the field lies in the linear part
            // (in the header, the sender's own even in a clone).
            unsafe { bindings::afc_skb_csum_offload(self.0.as_ptr(), field as u32) };
        }
    }

    /// Computes the frame checksum into the header field at `field`
    /// (which must be zero) now.
    pub(crate) fn fill_checksum(&mut self, field: usize) -> Result {
        if field + 2 > self.headlen() {
            return Err(EINVAL);
        }
        // SAFETY: valid, unshared; the field lies in the linear part (in
        // the header, the sender's own even in a clone), and the helper
        // reads the data (skb_checksum) and writes the field.
        crate::abstractions::errno::check(unsafe {
            bindings::afc_skb_csum_fill(self.0.as_ptr(), field as u32)
        })
    }

    /// Where the frame's checksum is still to be computed
    /// (`CHECKSUM_PARTIAL`): `csum_start`'s offset from the frame's first
    /// byte, and `csum_offset`.  `None` when nothing is pending
    /// (`CHECKSUM_UNNECESSARY` included: the receiver judges that claim).
    pub(crate) fn pending_checksum(&self) -> Option<(i32, u32)> {
        // SAFETY: valid (type invariant) and ours: nobody writes the
        // bitfield meanwhile.  Read here so that the usual frame (nothing
        // pending) makes no C call.
        let summed = unsafe { skb_headers(self.0.as_ptr()).ip_summed() };
        if u32::from(summed) != bindings::CHECKSUM_PARTIAL {
            return None;
        }
        let (mut start, mut field) = (0i32, 0u32);
        // SAFETY: valid (type invariant); out-pointers writable.
        unsafe { bindings::afc_skb_csum_pending(self.0.as_ptr(), &mut start, &mut field) }
            .then_some((start, field))
    }

    /// Whether the frame's checksum (over all its bytes) is right.
    pub(crate) fn checksum_ok(&mut self) -> bool {
        // SAFETY: valid; skb_checksum only reads.
        unsafe { bindings::afc_skb_csum_ok(self.0.as_ptr()) }
    }

    /// The frames on the wire this segment stood for: more than one when
    /// receive offload merged them (`afc_skb_own_rx` counted them into
    /// the control block: `AFC_SKB_FRAMES`, the four bytes after
    /// [`skb_front`]'s).
    pub(crate) fn gro_frames(&self) -> u32 {
        // Never looks at `skb->dev`: a segment from the socket's backlog
        // holds no reference on its device, which may be gone by then.
        // SAFETY: a valid skb (type invariant) whose control block is
        // ours (`afc_skb_own_rx` wrote the count).
        unsafe { cb_get(self.as_ptr(), CbWord::Frames) }.max(1)
    }

    /// Marks a frame (header, then payload) for segmentation into wire
    /// frames of `gso_size` payload bytes (`afc_gso_segment`).
    pub(crate) fn set_gso(&mut self, gso_size: u32) {
        if gso_size == 0 {
            return;
        }
        let payload = (self.len() as u32).saturating_sub(HEADER_LEN as u32);
        let segs = payload.div_ceil(gso_size);
        // SAFETY: valid and unshared (type invariant), about to leave: a
        // fresh frame of ours, or the clone of a send buffer, whose shared
        // info nobody else holds until it leaves (`afc_skb_clone_send`).
        unsafe { bindings::afc_skb_set_gso(self.0.as_ptr(), gso_size, segs) }
    }

    /// Whether the frame's destination hardware address is this host's
    /// (`PACKET_HOST`) rather than broadcast or multicast.
    pub(crate) fn for_host(&self) -> bool {
        self.pkt_type() == 0
    }

    /// Whether the frame was addressed to another host (`PACKET_OTHERHOST`,
    /// seen in promiscuous mode).
    pub(crate) fn for_other_host(&self) -> bool {
        self.pkt_type() == 3
    }

    /// `skb->pkt_type` (`PACKET_HOST` 0 ... `PACKET_OTHERHOST` 3), read
    /// without a C call (every frame asks twice).
    fn pkt_type(&self) -> u8 {
        // SAFETY: valid (type invariant) and ours: nobody writes the
        // bitfield meanwhile.
        unsafe { skb_headers(self.0.as_ptr()).pkt_type() }
    }

    /// Returns the number of bytes in the buffer (linear and paged).
    pub(crate) fn len(&self) -> usize {
        // SAFETY: `self.0` is valid by the type invariant; `len` and the
        // control block are plain fields that only its owner (us) writes.
        unsafe { skb_len(self.0.as_ptr()) }
    }

    /// Makes the first `n` bytes linear and returns them; `None` if the
    /// buffer is shorter than `n` or memory for the pull is lacking.  For
    /// a frame as it arrived (nothing consumed: `skb_front` is 0).
    pub(crate) fn pull_linear(&mut self, n: usize) -> Option<&[u8]> {
        let n32 = u32::try_from(n).ok()?;
        // Already linear (every frame over lo and veth): no call, as
        // `pskb_may_pull`'s own first test.
        // SAFETY: `self.0` is valid and unshared, so it may be modified.
        if n > self.headlen() && unsafe { bindings::afc_pskb_may_pull(self.0.as_ptr(), n32) } == 0 {
            return None;
        }
        // SAFETY: `n` bytes at `data` are linear (tested, or pulled), and
        // readable for as long as the skb is not modified, which the
        // `&mut self` borrow in the returned lifetime prevents.
        Some(unsafe { core::slice::from_raw_parts((*self.0.as_ptr()).data, n) })
    }
}

impl SkBuff {
    /// Frees a frame that is dropped, and why (`kfree_skb_reason`: the
    /// `skb:kfree_skb` tracepoint reports it).
    pub(crate) fn drop_because(self, why: DropReason) {
        // SAFETY: we own the skb (type invariant) and give it up here;
        // `kfree_skb_reason` is this call, inline in C.
        unsafe {
            bindings::sk_skb_reason_drop(core::ptr::null_mut(), self.into_raw(), why.as_raw())
        };
    }
}

impl Drop for SkBuff {
    fn drop(&mut self) {
        // Done with, not dropped: `consume_skb`, as TCP frees what it
        // consumed (no drop is reported).  Without tracepoints the
        // kernel's `consume_skb` is an inline `kfree_skb`, that is this
        // very call, reached here without a C wrapper around it.
        #[cfg(not(CONFIG_TRACEPOINTS))]
        // SAFETY: we own the skb (type invariant); it is not used again.
        unsafe {
            bindings::sk_skb_reason_drop(
                core::ptr::null_mut(),
                self.0.as_ptr(),
                bindings::skb_drop_reason_SKB_CONSUMED,
            )
        };
        #[cfg(CONFIG_TRACEPOINTS)]
        // SAFETY: we own the skb (type invariant); it is not used again.
        unsafe {
            bindings::consume_skb(self.0.as_ptr())
        };
    }
}

fn copy_bits(skb: *const bindings::sk_buff, offset: usize, out: &mut [u8]) -> Result {
    // SAFETY: `skb` is valid (callers' invariants).
    let front = unsafe { skb_front(skb) };
    let off = i32::try_from(front + offset).map_err(|_| EINVAL)?;
    let len = i32::try_from(out.len()).map_err(|_| EINVAL)?;
    // SAFETY: `skb` is valid (callers' invariants); `out` is writable for
    // `len` bytes; skb_copy_bits checks the range against the skb.
    crate::abstractions::errno::check(unsafe {
        bindings::skb_copy_bits(skb, off, out.as_mut_ptr().cast(), len)
    })
}

/// An skb queue of a socket (`sk_receive_queue`, `sk_write_queue`),
/// reached only through the socket owner's [`super::sock::SockQueues`]:
/// only the owner links and unlinks its buffers, without the queue's
/// spinlock (as TCP uses its queues; lockless readers such as `poll`
/// only look at the length and the first link, written once each), and
/// `&mut self` on every call that adds, removes or walks means one user
/// at a time, so nothing is popped while a walk holds a buffer.
///
/// # Invariants
///
/// `self.0` is a valid `sk_buff_head` for `'a`, and no other `SkbQueue`
/// of the same queue exists while this one does.
pub(crate) struct SkbQueue<'a>(
    NonNull<bindings::sk_buff_head>,
    core::marker::PhantomData<&'a mut ()>,
);

/// A buffer inside an [`SkbQueue`], borrowed while the owner walks it.
pub(crate) struct QueuedSkb<'a>(
    NonNull<bindings::sk_buff>,
    core::marker::PhantomData<&'a ()>,
);

impl<'a> QueuedSkb<'a> {
    /// The receive timestamp (`skb->tstamp`, nanoseconds of
    /// CLOCK_REALTIME; 0 when not stamped).
    pub(crate) fn tstamp(&self) -> i64 {
        // SAFETY: a queued skb is valid while queued (owner's walk).
        unsafe { skb_tstamp(self.0.as_ptr()) }
    }

    /// The index of the device the buffer arrived on (`skb_iif`).
    pub(crate) fn iif(&self) -> i32 {
        // SAFETY: a queued skb is valid while queued (owner's walk), and
        // only its owner writes it.
        unsafe { skb_headers(self.0.as_ptr()).skb_iif }
    }

    pub(crate) fn len(&self) -> usize {
        // SAFETY: a queued skb is valid while queued (owner's walk), and
        // only the queue's owner writes its `len` and control block.
        unsafe { skb_len(self.0.as_ptr()) }
    }

    /// Copies bytes at `offset` into `out`.
    pub(crate) fn copy_out(&self, offset: usize, out: &mut [u8]) -> Result {
        copy_bits(self.0.as_ptr(), offset, out)
    }

    /// Copies `len` bytes at `offset` to the user's buffers of `msg`.
    pub(crate) fn copy_to_msg(
        &self,
        offset: usize,
        msg: &mut super::msg::MsgHdr,
        len: usize,
    ) -> Result {
        let p = self.0.as_ptr();
        // SAFETY: a queued skb is valid while queued (owner's walk); the
        // bytes consumed at its front are skipped.
        unsafe { msg.copy_from_skb(p, skb_front(p) + offset, len) }
    }

    /// Drops `n` bytes from the front (the buffer stays queued).
    pub(crate) fn pull(&mut self, n: usize) {
        let n = n.min(self.len());
        // SAFETY: valid; only the queue's owner (the caller) touches
        // queued buffers; `n <= len`.
        unsafe { skb_pull(self.0.as_ptr(), n) };
    }

    /// The frame for a segment that is all of this send buffer
    /// (`Sock::alloc_send_skb`, `Sock::alloc_send_paged`; nothing of it
    /// consumed), as TCP transmits a clone of its write
    /// queue's buffer: a clone of it (no allocation, no copy) with
    /// [`HEADER_LEN`] bytes in front, which `header` fills.  `None` when
    /// this is not such a buffer, when an earlier clone of it is still out
    /// (a retransmission: the caller copies), or `header` fails.
    pub(crate) fn clone_for_send(
        &self,
        header: impl FnOnce(&mut [u8]) -> Result,
    ) -> Option<SkBuff> {
        const _: () = assert!(HEADER_LEN == bindings::AFC_FRAME_HEADER_LEN as usize);
        // SAFETY: a queued skb is valid while queued (owner's walk).
        if unsafe { skb_front(self.0.as_ptr()) } != 0 {
            return None;
        }
        // SAFETY: a queued skb is valid while queued (owner's walk); the
        // helper checks that it is a fast-clone send buffer with no
        // clone out, and returns a new clone or NULL.
        let c = unsafe { bindings::afc_skb_clone_send(self.0.as_ptr()) };
        // INVARIANT: a fresh clone; its only reference is ours.
        let c = SkBuff(NonNull::new(c)?);
        // SAFETY: the helper pushed `HEADER_LEN` zeroed bytes into the
        // buffer's headroom (released: no other clone of it exists, the
        // helper checked); they belong to this frame alone, borrowed
        // uniquely through `c` while `header` runs.
        let hdr = unsafe { core::slice::from_raw_parts_mut((*c.0.as_ptr()).data, HEADER_LEN) };
        header(hdr).ok()?;
        Some(c)
    }

    /// Whether bytes may be appended to this buffer
    /// ([`Self::append_from_msg`]): paged and nothing consumed (a buffer
    /// with a clone out the helper refuses: it appends nothing).
    pub(crate) fn appendable(&self) -> bool {
        let p = self.0.as_ptr();
        // SAFETY: a queued skb is valid while queued (owner's walk).
        unsafe { skb_headlen(p) == 0 && skb_front(p) == 0 }
    }

    /// Appends up to `n` bytes from the user's buffers of `msg` to this
    /// paged send buffer of `sk`'s write queue (its last), growing its
    /// truesize (`afc_skb_append_paged`); returns how
    /// many.  The queue's owner charges them.
    ///
    /// # Safety
    ///
    /// `sk` must be the sock whose write queue holds this buffer as its
    /// last, owned by the caller (`lock_sock`).
    pub(in crate::abstractions) unsafe fn append_from_msg(
        &mut self,
        sk: *mut bindings::sock,
        msg: &mut super::msg::MsgHdr,
        n: usize,
    ) -> usize {
        // SAFETY: as the caller promised.
        unsafe { msg.append_to_skb(sk, self.0.as_ptr(), n) }
    }

    /// Whether all the data is in page fragments (a paged send buffer).
    pub(crate) fn is_paged(&self) -> bool {
        // SAFETY: a queued skb is valid while queued (owner's walk).
        unsafe { skb_headlen(self.0.as_ptr()) == 0 }
    }
}

impl<'a> SkbQueue<'a> {
    /// # Safety
    ///
    /// `q` must be a valid, initialised queue for `'a`, and the caller
    /// its owner: no other `SkbQueue` of it may exist meanwhile, and
    /// nothing else links or unlinks its buffers (the module's queues are
    /// used by the socket's owner alone, as TCP uses its own: the queue's
    /// spinlock is not taken).
    pub(super) unsafe fn from_raw(q: *mut bindings::sk_buff_head) -> Self {
        // SAFETY: valid per the caller; never NULL (a struct field).
        Self(
            unsafe { NonNull::new_unchecked(q) },
            core::marker::PhantomData,
        )
    }

    /// Appends `skb` (the queue owns it from now on).
    pub(crate) fn push(&mut self, skb: SkBuff) {
        let q = self.0.as_ptr();
        let new = skb.into_raw();
        // SAFETY: valid queue that only we link and unlink (invariant);
        // the skb's ownership moves in.  `__skb_queue_tail` without a C
        // call: the head and every buffer begin with the two links
        // (`struct sk_buff_list`), written once each (`WRITE_ONCE`, for
        // lockless peekers), as `__skb_insert` writes them.
        unsafe {
            let head = links(q.cast());
            let last = (*head).prev;
            write_volatile(addr_of_mut!((*links(new)).next), q.cast());
            write_volatile(addr_of_mut!((*links(new)).prev), last);
            write_volatile(addr_of_mut!((*head).prev), new);
            write_volatile(addr_of_mut!((*links(last)).next), new);
            write_volatile(addr_of_mut!((*q).qlen), (*q).qlen.wrapping_add(1));
        }
    }

    /// Frees every buffer.
    pub(crate) fn purge(&mut self) {
        // SAFETY: valid queue (invariant); each buffer is unlinked, then
        // freed (uncharged by its destructor).
        unsafe { bindings::afc_skb_queue_purge(self.0.as_ptr()) }
    }

    /// Removes and returns the first buffer.
    pub(crate) fn pop(&mut self) -> Option<SkBuff> {
        let q = self.0.as_ptr();
        // SAFETY: valid queue that only we link and unlink (invariant).
        let skb = unsafe { queue_first(q) };
        if skb.is_null() {
            return None;
        }
        // SAFETY: `skb` is the first of the queue's buffers; it is
        // unlinked as `__skb_unlink` does (its neighbours' links written
        // once each), and then it is ours.
        unsafe {
            write_volatile(addr_of_mut!((*q).qlen), (*q).qlen.wrapping_sub(1));
            let l = links(skb);
            let (next, prev) = ((*l).next, (*l).prev);
            (*l).next = core::ptr::null_mut();
            (*l).prev = core::ptr::null_mut();
            write_volatile(addr_of_mut!((*links(next)).prev), prev);
            write_volatile(addr_of_mut!((*links(prev)).next), next);
            SkBuff::from_raw_owned(skb)
        }
    }

    /// The last buffer, borrowed.
    pub(crate) fn last(&mut self) -> Option<QueuedSkb<'_>> {
        let q = self.0.as_ptr();
        // SAFETY: valid queue (invariant) whose links only we write; the
        // head's `prev` is its last buffer, or the head when it is empty.
        let last = unsafe { before_head(q, (*q).__bindgen_anon_1.__bindgen_anon_1.prev) };
        NonNull::new(last).map(|p| QueuedSkb(p, core::marker::PhantomData))
    }

    /// The buffers in order, borrowed: nothing pops while the walk lives
    /// (the borrow of `&mut self` sees to that).
    pub(crate) fn walk(&mut self) -> QueueWalk<'_> {
        // SAFETY: valid queue (invariant).
        let first = unsafe { queue_first(self.0.as_ptr()) };
        QueueWalk {
            q: self.0,
            next: NonNull::new(first),
            _p: core::marker::PhantomData,
        }
    }

    /// The buffer whose bytes are exactly `[offset, offset + len)` of the
    /// queue's data, if one is (the range starts where it starts and
    /// ends where it ends): what [`Self::for_range`] would call back
    /// once with the whole buffer, found with one test per buffer passed
    /// and one for the one it lands in.
    pub(crate) fn whole_at(&mut self, mut offset: usize, len: usize) -> Option<QueuedSkb<'_>> {
        for skb in self.walk() {
            let l = skb.len();
            if offset < l {
                let exact = u8::from(offset == 0) & u8::from(l == len);
                // Kept from being split back into a branch per term.
                return (core::hint::black_box(exact) != 0).then_some(skb);
            }
            offset -= l;
        }
        None
    }

    /// Calls `f(buffer, offset, n)` for each piece of the byte range
    /// `[offset, offset + len)` of the queue's data, in order; returns
    /// how many bytes the pieces covered (less than `len` when the queue
    /// is shorter).
    pub(crate) fn for_range(
        &mut self,
        mut offset: usize,
        len: usize,
        mut f: impl FnMut(&QueuedSkb<'_>, usize, usize) -> Result,
    ) -> Result<usize> {
        let mut done = 0;
        for skb in self.walk() {
            if done == len {
                break;
            }
            let l = skb.len();
            if offset >= l {
                offset -= l;
                continue;
            }
            let n = (l - offset).min(len - done);
            f(&skb, offset, n)?;
            done += n;
            offset = 0;
        }
        Ok(done)
    }
}

/// An iterator over the buffers of a queue.
pub(crate) struct QueueWalk<'a> {
    q: NonNull<bindings::sk_buff_head>,
    next: Option<NonNull<bindings::sk_buff>>,
    _p: core::marker::PhantomData<&'a mut ()>,
}

impl<'a> Iterator for QueueWalk<'a> {
    type Item = QueuedSkb<'a>;

    fn next(&mut self) -> Option<QueuedSkb<'a>> {
        let cur = self.next?;
        // SAFETY: `cur` is queued in `q`; nobody unlinks while the owner walks.
        let n = unsafe { queue_next(self.q.as_ptr(), cur.as_ptr()) };
        self.next = NonNull::new(n);
        Some(QueuedSkb(cur, core::marker::PhantomData))
    }
}

/// `skb_headlen`: the bytes of `skb` in its linear part, read without a
/// C call (every frame asks).
///
/// # Safety
///
/// `skb` must be valid, and its lengths not written meanwhile (its
/// owner reads them).
unsafe fn skb_headlen(skb: *const bindings::sk_buff) -> usize {
    // SAFETY: valid per the caller.
    let (len, data_len) = unsafe { ((*skb).len, (*skb).data_len) };
    len.saturating_sub(data_len) as usize
}

/// Drops `n` bytes from the front of `skb` (`afc_skb_pull`): within the
/// linear part, as `__skb_pull` (the data pointer and length moved in
/// Rust, no C call: every frame's header and most partial reads), else
/// by the C helper, which also drops page fragments.
///
/// # Safety
///
/// `skb` must be valid, owned by the caller as `afc_skb_pull` requires,
/// and `n <= skb->len`.
unsafe fn skb_pull(skb: *mut bindings::sk_buff, n: usize) {
    // SAFETY: valid per the caller.
    let (head, front) = unsafe { (skb_headlen(skb), skb_front(skb)) };
    if front == 0 && n <= head {
        // SAFETY: `n` bytes of the linear part are skipped; `len` stays
        // at least `data_len` (the paged part).
        unsafe { pull_linear_part(skb, n) };
        return;
    }
    // SAFETY: valid per the caller.
    if front > 0 || unsafe { bindings::afc_skb_cloned(skb) } {
        // Fragments shared with a clone are not ours to edit: the linear
        // part goes (a clone moves its own data pointer), the rest is
        // counted as consumed (`skb_front`).
        // SAFETY: `head < n <= len` bytes of the linear part are skipped
        // (none when `front > 0`: the linear part went with the first
        // such pull); the control block is the owner's.
        unsafe {
            pull_linear_part(skb, head);
            set_skb_front(skb, front + (n - head));
        }
    } else {
        // SAFETY: as the caller promised; not a clone.
        unsafe { bindings::afc_skb_pull(skb, n as u32) };
    }
}

/// `__skb_pull` of `n` linear bytes, in Rust.
///
/// # Safety
///
/// `skb` must be valid and owned by the caller, with at least `n` bytes
/// in its linear part.
unsafe fn pull_linear_part(skb: *mut bindings::sk_buff, n: usize) {
    // SAFETY: as the caller promised: `len` stays at least `data_len`.
    unsafe {
        (*skb).data = (*skb).data.add(n);
        (*skb).len = (*skb).len.wrapping_sub(n as u32);
    }
}

/// The bytes consumed at the front of `skb` that are still in its data:
/// a buffer whose page fragments a clone shares (a paged send buffer and
/// the frame sent as its clone, which on loopback is the very buffer the
/// receiver queues) keeps its fragment descriptors as they are, as TCP
/// reads its queues by sequence offset instead of editing them, and what
/// is consumed past its linear part is counted here: the first four
/// bytes of the control block (`AFC_SKB_FRONT` in C), the owner's while
/// the module holds the buffer (zero from allocation; zeroed by
/// `afc_skb_own_rx` on arrival).  Every length, copy and reference of
/// this module skips them.
///
/// # Safety
///
/// `skb` must be valid, and its control block not written meanwhile
/// (its owner reads it).
unsafe fn skb_front(skb: *const bindings::sk_buff) -> usize {
    // SAFETY: as the caller promised.
    unsafe { cb_get(skb, CbWord::Front) as usize }
}

/// Sets [`skb_front`].
///
/// # Safety
///
/// `skb` must be valid and owned by the caller.
unsafe fn set_skb_front(skb: *mut bindings::sk_buff, front: usize) {
    // SAFETY: as the caller promised.
    unsafe { cb_set(skb, CbWord::Front, front as u32) }
}

/// The bytes of `skb` not yet consumed: `len` less [`skb_front`] and
/// the bytes a trim of a clone counted at its end (`SkBuff::trim`).
///
/// # Safety
///
/// As [`skb_front`].
unsafe fn skb_len(skb: *const bindings::sk_buff) -> usize {
    // SAFETY: as the caller promised.
    unsafe {
        ((*skb).len as usize)
            .saturating_sub(skb_front(skb))
            .saturating_sub(cb_get(skb, CbWord::Back) as usize)
    }
}

/// The module's words in a buffer's control block (`skb->cb`, the
/// owner's while the module holds the buffer: zero from allocation, set
/// by `afc_skb_own_rx` on arrival; `AFC_SKB_FRONT`, `AFC_SKB_FRAMES` and
/// `AFC_SKB_BACK` in C).
#[derive(Clone, Copy)]
enum CbWord {
    /// Bytes consumed at the front ([`skb_front`]).
    Front = 0,
    /// Wire frames the segment stood for ([`SkBuff::gro_frames`]).
    Frames = 1,
    /// Bytes cut at the end of a clone ([`SkBuff::trim`]).
    Back = 2,
}

/// Reads a word of the control block.
///
/// # Safety
///
/// `skb` must be valid, and its control block not written meanwhile.
unsafe fn cb_get(skb: *const bindings::sk_buff, w: CbWord) -> u32 {
    // SAFETY: valid per the caller; `cb` is 48 bytes, the word within.
    unsafe {
        core::ptr::read_unaligned(core::ptr::addr_of!((*skb).cb).cast::<u32>().add(w as usize))
    }
}

/// Writes a word of the control block.
///
/// # Safety
///
/// `skb` must be valid and owned by the caller.
unsafe fn cb_set(skb: *mut bindings::sk_buff, w: CbWord, v: u32) {
    // SAFETY: valid per the caller; `cb` is 48 bytes, the owner's.
    unsafe { core::ptr::write_unaligned(addr_of_mut!((*skb).cb).cast::<u32>().add(w as usize), v) }
}

/// The first buffer of queue `q`, or NULL if it is empty: `skb_peek`
/// without a C call.
///
/// # Safety
///
/// `q` must be a valid queue whose links nobody changes meanwhile (its
/// owner walks it).
unsafe fn queue_first(q: *mut bindings::sk_buff_head) -> *mut bindings::sk_buff {
    // SAFETY: valid per the caller.
    before_head(q, unsafe { (*q).__bindgen_anon_1.__bindgen_anon_1.next })
}

/// The buffer after `skb` in queue `q`, or NULL at the end:
/// `skb_peek_next` without a C call.
///
/// # Safety
///
/// As for [`queue_first`], and `skb` must be one of `q`'s buffers.
unsafe fn queue_next(
    q: *mut bindings::sk_buff_head,
    skb: *mut bindings::sk_buff,
) -> *mut bindings::sk_buff {
    // SAFETY: `skb` is a queued buffer, valid per the caller.
    before_head(q, unsafe { (*skb).__bindgen_anon_1.__bindgen_anon_1.next })
}

/// The two links a queue's head and each of its buffers begin with
/// (`struct sk_buff_list`), of a buffer or of a head cast to one.
fn links(p: *mut bindings::sk_buff) -> *mut bindings::sk_buff_head__bindgen_ty_1_sk_buff_list {
    p.cast()
}

/// `next` as a link of queue `q` reads it: NULL when it is the queue's
/// head (the list is circular through it).
fn before_head(
    q: *mut bindings::sk_buff_head,
    next: *mut bindings::sk_buff,
) -> *mut bindings::sk_buff {
    if next == q.cast() {
        core::ptr::null_mut()
    } else {
        next
    }
}

/// The header group of `skb` (`struct_group(headers)`: `pkt_type`,
/// `ip_summed`, `tstamp_type`, `skb_iif`...), the first member of its
/// union, read in place: the reference covers the whole group (the
/// bindgen union field's own `as_ref` would widen a zero-sized one).
///
/// # Safety
///
/// `skb` must be valid for `'a`, and the fields read not written
/// meanwhile (its owner reads them).
unsafe fn skb_headers<'a>(
    skb: *const bindings::sk_buff,
) -> &'a bindings::sk_buff__bindgen_ty_4__bindgen_ty_1 {
    // SAFETY: valid per the caller; the union's members all start at its
    // first byte, and this one is the group as the C code names it.
    unsafe {
        &*core::ptr::addr_of!((*skb).__bindgen_anon_4)
            .cast::<bindings::sk_buff__bindgen_ty_4__bindgen_ty_1>()
    }
}

/// `ktime_to_ns(skb->tstamp)` without a C call (every buffer a read
/// takes asks).
///
/// # Safety
///
/// `skb` must be valid, its stamp not written meanwhile (its owner reads
/// it).
unsafe fn skb_tstamp(skb: *const bindings::sk_buff) -> i64 {
    // SAFETY: valid per the caller; `tstamp` and `skb_mstamp_ns` share
    // the word, and a received or queued buffer's is `tstamp`.
    unsafe { (*skb).__bindgen_anon_2.tstamp }
}
