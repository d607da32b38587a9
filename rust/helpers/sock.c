// SPDX-License-Identifier: GPL-2.0
/*
 * The `struct sock` and `struct socket`: fields, locks, waits, the timer,
 * children made in softirq, socket filters, options.
 * (Thin by design: what Rust cannot do in 6.12. Declarations in
 * af_custom_helpers.h, read by bindgen.)
 */
#include "afc_internal.h"

void afc_sock_put(struct sock *sk) { sock_put(sk); }
void afc_sock_orphan(struct sock *sk) { sock_orphan(sk); }
unsigned int afc_sock_uid(const struct sock *sk) { return from_kuid_munged(sock_net(sk)->user_ns, sk->sk_uid); }
unsigned int afc_sock_kuid(const struct sock *sk) { return __kuid_val(sk->sk_uid); }
void afc_sk_set_addrs(struct sock *sk, __be32 saddr, u16 sport, __be32 daddr, __be16 dport)
{
	WRITE_ONCE(sk->sk_rcv_saddr, saddr);
	WRITE_ONCE(sk->sk_num, sport);
	WRITE_ONCE(sk->sk_daddr, daddr);
	WRITE_ONCE(sk->sk_dport, dport);
}
void afc_sk_addrs(const struct sock *sk, __be32 *saddr, u16 *sport, __be32 *daddr, __be16 *dport)
{
	*saddr = READ_ONCE(sk->sk_rcv_saddr);
	*sport = READ_ONCE(sk->sk_num);
	*daddr = READ_ONCE(sk->sk_daddr);
	*dport = READ_ONCE(sk->sk_dport);
}

/* Socket state, waiting, the timer and the queues: thin wrappers of
 * static inlines and macros; rust/abstractions/ documents when each may be called. */
void afc_sk_add_shutdown(struct sock *sk, int bits) { WRITE_ONCE(sk->sk_shutdown, sk->sk_shutdown | bits); }
void afc_sk_clear_shutdown(struct sock *sk) { WRITE_ONCE(sk->sk_shutdown, 0); }
void afc_sk_set_err(struct sock *sk, int err) { WRITE_ONCE(sk->sk_err, err); sk_error_report(sk); }
int afc_sock_error(struct sock *sk) { return sock_error(sk); }
void afc_sk_set_bufs(struct sock *sk, int rcvbuf, int sndbuf) { WRITE_ONCE(sk->sk_rcvbuf, rcvbuf); WRITE_ONCE(sk->sk_sndbuf, sndbuf); }
int afc_sk_rcvlowat(const struct sock *sk) { return READ_ONCE(sk->sk_rcvlowat); }
void afc_sk_set_rcvlowat(struct sock *sk, int val) { WRITE_ONCE(sk->sk_rcvlowat, val); }
int afc_sk_peek_offset(const struct sock *sk, int flags) { return sk_peek_offset(sk, flags); }
void afc_sk_peek_offset_fwd(struct sock *sk, int val) { sk_peek_offset_fwd(sk, val); }
void afc_sk_peek_offset_bwd(struct sock *sk, int val) { sk_peek_offset_bwd(sk, val); }
void afc_sk_set_rcvbuf(struct sock *sk, int val) { WRITE_ONCE(sk->sk_rcvbuf, val); }
/* sk_flags: test_bit and __set_bit (the latter only on a sock nobody
 * else sees yet, or under its lock, as the kernel's callers do). */
bool afc_sock_flag(const struct sock *sk, unsigned int flag) { return sock_flag(sk, flag); }
void afc_sock_set_flag(struct sock *sk, unsigned int flag) { sock_set_flag(sk, flag); }
void afc_sk_state_change(struct sock *sk) { sk->sk_state_change(sk); }
/*
 * Send-space wake-ups, as TCP's (tcp_check_space, sk_stream_write_space):
 * writers hear of freed room only when one ran out of it.  A send that
 * finds no room (before it waits or fails with EAGAIN), a poll that finds
 * the socket not writable, and a lingering close set SOCK_NOSPACE
 * (afc_sk_set_nospace); an acknowledgement that frees room calls
 * afc_sk_write_space, which wakes once at most half the send buffer is in
 * use (poll's POLLOUT test, rust/socket/control.rs) and clears the flag.
 * Freeing a send buffer wakes nobody by itself (SOCK_USE_WRITE_QUEUE, as
 * tcp_init_sock sets it, so sock_wfree skips sk_write_space): before,
 * every acknowledgement woke every waiter on the socket's queue, a reader
 * waiting for its answer included.  afc_sk_write_space runs under the
 * socket lock (owned or bh-locked), which keeps sk_socket as it is
 * (sock_orphan takes it); afc_sk_set_nospace in the socket's own calls,
 * which hold the socket.
 */
void afc_sk_init_wakeups(struct sock *sk) { sock_set_flag(sk, SOCK_USE_WRITE_QUEUE); }

/* The send buffer's use is what the write queue holds (sk_wmem_queued),
 * as sk_stream_memory_free() counts TCP's; its buffers are not owned by
 * the socket (afc_sock_alloc_linear), so sk_wmem_alloc does not count
 * them. */
static bool afc_sk_writeable(const struct sock *sk)
{
	return 2 * (u64)max(READ_ONCE(sk->sk_wmem_queued), 0) < (u64)READ_ONCE(sk->sk_sndbuf);
}

void afc_sk_set_nospace(struct sock *sk)
{
	struct socket *sock = READ_ONCE(sk->sk_socket);

	if (!sock)
		return;
	sk_set_bit(SOCKWQ_ASYNC_NOSPACE, sk);
	set_bit(SOCK_NOSPACE, &sock->flags);
	/* Pairs with afc_sk_write_space(): the caller looks at the room
	 * again after this, or the wake-up sees the flag. */
	smp_mb__after_atomic();
}

/* Wakes writers and POLLOUT pollers, and SIGIO owners, as
 * sk_stream_write_space: not a sync wake-up, for the ACK that makes room
 * usually runs in the peer reader's recvmsg, which goes on reading. */
static void afc_wake_space(struct sock *sk)
{
	struct socket_wq *wq;

	rcu_read_lock();
	wq = rcu_dereference(sk->sk_wq);
	if (skwq_has_sleeper(wq))
		wake_up_interruptible_poll(&wq->wait, EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND);
	if (wq && wq->fasync_list && !(sk->sk_shutdown & SEND_SHUTDOWN))
		sock_wake_async(wq, SOCK_WAKE_SPACE, POLL_OUT);
	rcu_read_unlock();
}

void afc_sk_write_space(struct sock *sk)
{
	struct socket *sock = READ_ONCE(sk->sk_socket);

	/* Pairs with afc_sk_set_nospace(). */
	smp_mb();
	if (!sock || !test_bit(SOCK_NOSPACE, &sock->flags) || !afc_sk_writeable(sk))
		return;
	clear_bit(SOCK_NOSPACE, &sock->flags);
	afc_wake_space(sk);
}
void afc_sk_wake_writers(struct sock *sk) { afc_wake_space(sk); }
void afc_sk_set_ack_backlog(struct sock *sk, unsigned int len, unsigned int max)
{
	WRITE_ONCE(sk->sk_ack_backlog, len);
	WRITE_ONCE(sk->sk_max_ack_backlog, max);
}
unsigned int afc_sk_ack_backlog(const struct sock *sk) { return READ_ONCE(sk->sk_ack_backlog); }
unsigned int afc_sk_max_ack_backlog(const struct sock *sk) { return READ_ONCE(sk->sk_max_ack_backlog); }
void afc_sock_hold(struct sock *sk) { sock_hold(sk); }
void afc_bh_lock_sock(struct sock *sk) { bh_lock_sock(sk); }
void afc_bh_unlock_sock(struct sock *sk) { bh_unlock_sock(sk); }
int afc_sk_add_backlog(struct sock *sk, struct sk_buff *skb)
{
	return sk_add_backlog(sk, skb, READ_ONCE(sk->sk_rcvbuf) + READ_ONCE(sk->sk_sndbuf));
}
/* Takes the whole backlog, for the caller to run in softirq: it holds the
 * spinlock and nobody owns the socket (what __release_sock() takes, but
 * without dropping the spinlock: nobody owns the socket to keep others out). */
struct sk_buff *afc_sk_backlog_take(struct sock *sk)
{
	struct sk_buff *skb = sk->sk_backlog.head;

	sk->sk_backlog.head = sk->sk_backlog.tail = NULL;
	sk->sk_backlog.len = 0;
	return skb;
}
/* The frame after skb on a list taken whole; skb leaves it. */
struct sk_buff *afc_skb_list_next(struct sk_buff *skb)
{
	struct sk_buff *next = skb->next;

	skb_mark_not_on_list(skb);
	return next;
}
/* The owner runs what waits on the backlog without releasing the socket
 * (__sk_flush_backlog, as tcp_recvmsg_locked); the caller saw it non-empty. */
void afc_sk_flush_backlog(struct sock *sk) { __sk_flush_backlog(sk); }
void afc_sk_set_socket_state(struct socket *sock, int state) { sock->state = state; }
int afc_socket_state(const struct socket *sock) { return sock->state; }
/* Sleeps on the socket's wait queue until woken, a signal, or `timeo`
 * jiffies; the caller owns the socket lock, which is released meanwhile
 * (so the backlog is processed first) and owned again on return: the three
 * steps below, once. */
long afc_sk_wait(struct sock *sk, long timeo)
{
	struct wait_queue_entry wait;

	afc_sk_wait_add(sk, &wait);
	timeo = afc_sk_wait_sleep(sk, &wait, timeo);
	afc_sk_wait_remove(sk, &wait);
	return timeo;
}
/* The steps of afc_sk_wait(), for a waiter that must be on the wait queue
 * before it looks at what it waits for (inet_csk_wait_for_connect()):
 * add, then sleep as often as needed, then remove. */
void afc_sk_wait_add(struct sock *sk, struct wait_queue_entry *w)
{
	init_wait(w);
	w->func = woken_wake_function;
	add_wait_queue(sk_sleep(sk), w);
}
long afc_sk_wait_sleep(struct sock *sk, struct wait_queue_entry *w, long timeo)
{
	release_sock(sk);
	timeo = wait_woken(w, TASK_INTERRUPTIBLE, timeo);
	lock_sock(sk);
	return timeo;
}
void afc_sk_wait_remove(struct sock *sk, struct wait_queue_entry *w)
{
	remove_wait_queue(sk_sleep(sk), w);
}
bool afc_signal_pending(void) { return signal_pending(current); }
int afc_sock_intr_errno(long timeo) { return sock_intr_errno(timeo); }
void afc_send_sigpipe(void) { send_sig(SIGPIPE, current, 0); }
void afc_sock_poll_wait(struct file *file, struct socket *sock, struct poll_table_struct *p) { sock_poll_wait(file, sock, p); }
/* The socket's one timer (sk_timer); sk_reset_timer holds a reference. */
struct timer_list *afc_sk_timer(struct sock *sk) { return &sk->sk_timer; }
void afc_sk_timer_setup(struct sock *sk, void (*fn)(struct timer_list *)) { timer_setup(&sk->sk_timer, fn, 0); }
struct sock *afc_sk_from_timer(struct timer_list *t) { return from_timer((struct sock *)NULL, t, sk_timer); }
/* The child shares its listener's socket filter, charged to the child's
 * option memory, as sk_clone_lock() does with sk_filter_charge() (not
 * exported; __sk_destruct() uncharges and releases it): the filter is
 * read once, in one RCU section, and both the reference and the charge
 * must succeed.  The reference fails for a filter being freed (its
 * listener replaced or detached it after we read the pointer), the
 * charge if the filter no longer fits optmem_max: false then, and the
 * caller frees the child, as sk_clone_lock() frees the clone (the SYN
 * is dropped and retransmitted), rather than let a child live without
 * the filter its listener had.  `sk` is a child nobody else sees yet
 * (rust/abstractions/sock/child.rs). */
bool afc_sk_inherit_filter(struct sock *sk, const struct sock *parent)
{
	int optmem_max = READ_ONCE(sock_net(sk)->core.sysctl_optmem_max);
	struct sk_filter *filter;
	bool ok = true;

	rcu_read_lock();
	filter = rcu_dereference(parent->sk_filter);
	if (filter) {
		u32 size = bpf_prog_size(filter->prog->len);

		ok = size < optmem_max && refcount_inc_not_zero(&filter->refcnt);
		if (ok) {
			atomic_add(size, &sk->sk_omem_alloc);
			RCU_INIT_POINTER(sk->sk_filter, filter);
			if (sock_flag(parent, SOCK_FILTER_LOCKED))
				sock_set_flag(sk, SOCK_FILTER_LOCKED);
		}
	}
	rcu_read_unlock();
	return ok;
}

/* A child socket of a listener, made in softirq (no struct socket yet):
 * allocated under the listener's memory cgroup, initialised, of the
 * listener's type and protocol.  What else it takes from its listener
 * (owner, buffers, timeouts, options, device, filter) is decided in Rust
 * (`inherit_from_listener`, rust/socket/listen.rs), before the child is
 * visible to anyone; if that fails, sk_free() frees it (its sk_destruct
 * is still sock_init_data's, which does nothing). */
struct sock *afc_sk_alloc_child(struct sock *parent)
{
	/* The child's sock is charged to its listener's memory cgroup (mem.c). */
	struct mem_cgroup *old;
	struct sock *sk;

	old = afc_memcg_enter(parent);
	sk = sk_alloc(sock_net(parent), parent->sk_family, GFP_ATOMIC, parent->sk_prot, 0);

	afc_memcg_leave(old);
	if (!sk)
		return NULL;
	afc_sk_inherit_memcg(sk, parent);
	sock_init_data(NULL, sk);
	afc_sk_init_wakeups(sk);
	sk->sk_type = parent->sk_type;
	sk->sk_protocol = parent->sk_protocol;
	return sk;
}
void afc_sock_graft(struct sock *sk, struct socket *parent) { sock_graft(sk, parent); }
/* SOL_SOCKET options reach proto_ops.setsockopt (for SO_REUSEPORT, which
 * the common code refuses for non-inet sockets), as MPTCP does. */
void afc_socket_custom_sockopt(struct socket *sock) { set_bit(SOCK_CUSTOM_SOCKOPT, &sock->flags); }
void afc_sk_set_reuseport(struct sock *sk, bool on) { sk->sk_reuseport = on; }
bool afc_sk_reuseport(const struct sock *sk) { return sk->sk_reuseport; }
/* sk_reuse (SO_REUSEADDR: SK_NO_REUSE, SK_CAN_REUSE, SK_FORCE_REUSE), a
 * bitfield: read and written whole, as sk_clone_lock() copies it. */
unsigned char afc_sk_reuse(const struct sock *sk) { return sk->sk_reuse; }
void afc_sk_set_reuse(struct sock *sk, unsigned char reuse) { sk->sk_reuse = reuse; }
int afc_accept_arg_flags(const struct proto_accept_arg *arg) { return arg->flags; }
/* Whether a SOL_SOCKET option binds the socket to a device
 * (SO_BINDTODEVICE, SO_BINDTOIFINDEX; Sock::bound_dev_if reads it). */
bool afc_sockopt_binds_device(int name) { return name == SO_BINDTODEVICE || name == SO_BINDTOIFINDEX; }

/*
 * tcp_recv_timestamp (net/ipv4/tcp.c, not exported), for a software
 * receive stamp `ns` (the last buffer read from): SO_TIMESTAMP(NS)
 * (old or new layout, as the socket asked) and SO_TIMESTAMPING's
 * software receive stamp.  put_cmsg sets MSG_CTRUNC when the control
 * buffer is short.
 */
void afc_recv_timestamp(struct msghdr *msg, const struct sock *sk, s64 ns)
{
	struct scm_timestamping_internal tss;
	int new_tstamp = sock_flag(sk, SOCK_TSTAMP_NEW);
	u32 tsflags = READ_ONCE(sk->sk_tsflags);

	if (!ns)
		return;
	memset(&tss, 0, sizeof(tss));
	tss.ts[0] = ktime_to_timespec64(ns_to_ktime(ns));
	if (sock_flag(sk, SOCK_RCVTSTAMP)) {
		if (sock_flag(sk, SOCK_RCVTSTAMPNS)) {
			if (new_tstamp) {
				struct __kernel_timespec kts = {
					.tv_sec = tss.ts[0].tv_sec,
					.tv_nsec = tss.ts[0].tv_nsec,
				};
				put_cmsg(msg, SOL_SOCKET, SO_TIMESTAMPNS_NEW, sizeof(kts), &kts);
			} else {
				struct __kernel_old_timespec ts_old = {
					.tv_sec = tss.ts[0].tv_sec,
					.tv_nsec = tss.ts[0].tv_nsec,
				};
				put_cmsg(msg, SOL_SOCKET, SO_TIMESTAMPNS_OLD, sizeof(ts_old), &ts_old);
			}
		} else {
			if (new_tstamp) {
				struct __kernel_sock_timeval stv = {
					.tv_sec = tss.ts[0].tv_sec,
					.tv_usec = tss.ts[0].tv_nsec / 1000,
				};
				put_cmsg(msg, SOL_SOCKET, SO_TIMESTAMP_NEW, sizeof(stv), &stv);
			} else {
				struct __kernel_old_timeval tv = {
					.tv_sec = tss.ts[0].tv_sec,
					.tv_usec = tss.ts[0].tv_nsec / 1000,
				};
				put_cmsg(msg, SOL_SOCKET, SO_TIMESTAMP_OLD, sizeof(tv), &tv);
			}
		}
	}
	if (tsflags & SOF_TIMESTAMPING_SOFTWARE &&
	    (tsflags & SOF_TIMESTAMPING_RX_SOFTWARE ||
	     !(tsflags & SOF_TIMESTAMPING_OPT_RX_FILTER))) {
		if (new_tstamp)
			put_cmsg_scm_timestamping64(msg, &tss);
		else
			put_cmsg_scm_timestamping(msg, &tss);
	}
}

/* put_cmsg: MSG_CTRUNC when the control buffer is short. */
int afc_put_cmsg(struct msghdr *msg, int level, int type, int len, const void *data)
{
	return put_cmsg(msg, level, type, len, (void *)data);
}

/*
 * A kernel socket's (sock_create_kern: sk_kern_sock, no reference of its
 * own on its namespace) hold on its namespace, taken by create and put by
 * the destructor after everything else of ours: our state in a namespace
 * is freed at its exit, and the socket or its orphan runs timers against
 * it.  A reference of our own, not sk_net_refcnt_upgrade(): a kernel user
 * may still upgrade the socket itself, as users of kernel TCP sockets do,
 * and a second upgrade would unbalance the namespace's passive count.
 * False (nothing held) for a namespace already being dismantled.
 */
bool afc_sk_kern_hold_net(struct sock *sk)
{
	return !sk->sk_kern_sock || maybe_get_net(sock_net(sk));
}
void afc_sk_kern_put_net(struct sock *sk)
{
	if (sk->sk_kern_sock)
		put_net(sock_net(sk));
}
