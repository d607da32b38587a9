/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C side of af_custom.ko: wrappers for static inline kernel functions the
 * Rust code needs, the module parameter, and the per-netns /proc glue.
 * Everything here is declared for bindgen and defined in the helper file
 * of its subject (module.c, net.c, skb.c, sock.c, pernet.c, bhlock.c,
 * gso.c, route.c, mem.c).  The Rust abstraction layer (rust/abstractions/) is the
 * only caller.
 */
#ifndef AF_CUSTOM_HELPERS_H
#define AF_CUSTOM_HELPERS_H

#include <linux/types.h>

struct sk_buff;
struct sock;
struct net;
struct net_device;
struct seq_file;
struct afc_diag_req;
struct afc_diag_msg;
struct tcp_info;

/* Module parameter `family=`; read-only in sysfs. */
int afc_family_param(void);
/* Module parameters `est_buckets=` and `listen_buckets=`, clamped. */
unsigned int afc_est_buckets_param(void);
unsigned int afc_listen_buckets_param(void);

/* Static inline wrappers. */
struct sk_buff *afc_skb_own_rx(struct sk_buff *skb);
int afc_pskb_may_pull(struct sk_buff *skb, unsigned int len);
unsigned int afc_skb_len(const struct sk_buff *skb);
void afc_sock_put(struct sock *sk);
void afc_sock_orphan(struct sock *sk);
unsigned int afc_sock_uid(const struct sock *sk);
unsigned int afc_sock_kuid(const struct sock *sk);
bool afc_addr_is_local(struct net *net, __be32 addr);
int afc_addr_type(struct net *net, __be32 addr);
int afc_rt_genid(const struct net *net);
bool afc_may_bind_privileged(const struct net *net);
u64 afc_random_u64(void);

/*
 * Per-netns state: init() makes the module's state of a new namespace and
 * returns a pointer to it (NULL: out of memory), kept in the namespace's
 * generic block and handed to exit() and to stat_show(), the show()
 * callback of /proc/net/af_custom_stat.  One registration at a time.
 */
/* The initial values of a new namespace's net.af_custom sysctls (the
 * protocol core's defaults, rust/proto/src/defaults.rs). */
struct afc_net_defaults {
	int port_lo, port_hi, rmem_default, wmem_default, orphan_retries, fin_timeout, syncookies,
		rst_ratelimit;
};
struct afc_pernet_callbacks {
	struct afc_net_defaults defaults;
	void *(*init)(struct net *net);
	void (*exit)(struct net *net, void *state);
	int (*stat_show)(struct seq_file *seq, void *state);
	/* One line of /proc/net/af_custom for sock `sk` (slot `sl`), called
	 * with the namespace's sock list locked (bottom halves off). */
	void (*sock_show)(struct seq_file *seq, struct sock *sk, int sl);
	/* sock_diag (diag.c).  diag_match: whether sk passes the request's
	 * state and port filters; called with the namespace's sock list
	 * locked (bottom halves off): lockless reads only, must not sleep.
	 * diag_fill: fills r's state, addresses, ports, queues and shutdown
	 * bits (the C side fills family, uid, inode and cookie) and, if info
	 * is not NULL, *info (zeroed) as AFC_INFO does; called in process
	 * context with a reference on sk and no lock held: may sleep (it
	 * takes the socket lock for info). */
	bool (*diag_match)(const struct sock *sk, const struct afc_diag_req *req);
	void (*diag_fill)(struct sock *sk, struct afc_diag_msg *r, struct tcp_info *info);
};
/* sock_diag handler for family `family` (the number registered), diag.c. */
int afc_diag_register(int family);
void afc_diag_unregister(void);
/* " refcnt %pK" of sk, as /proc/net/tcp prints them after the inode. */
void afc_seq_sock_ref(struct seq_file *seq, const struct sock *sk);
/* net.af_custom sysctls: ip_local_port_range, rmem_default, wmem_default,
 * orphan_retries, fin_timeout, syncookies, rst_ratelimit, max_orphans. */
void afc_net_port_range(const struct net *net, int *lo, int *hi);
void afc_net_buf_defaults(const struct net *net, int *rmem, int *wmem);
/* net.af_custom.orphan_retries (per namespace), max_orphans (global). */
int afc_net_orphan_retries(const struct net *net);
/* net.af_custom.fin_timeout (per namespace), in seconds. */
int afc_net_fin_timeout(const struct net *net);
int afc_net_syncookies(const struct net *net);
int afc_max_orphans_sysctl(void);
/* net.af_custom.rst_ratelimit (per namespace). */
int afc_net_rst_ratelimit(const struct net *net);
void afc_sock_link(struct sock *sk);
void afc_sock_unlink(struct sock *sk);
void afc_sk_set_addrs(struct sock *sk, __be32 saddr, u16 sport, __be32 daddr, __be16 dport);
void afc_sk_addrs(const struct sock *sk, __be32 *saddr, u16 *sport, __be32 *daddr, __be16 *dport);
int afc_pernet_register(const struct afc_pernet_callbacks *cb);
void afc_pernet_unregister(void);
void *afc_net_data(const struct net *net);

/* Per-CPU counters (percpu.c): `n` zeroed u64 per CPU; add to this
 * CPU's copy of counter `i`; the sum of its copies. */
void *afc_counters_alloc(unsigned int n);
void afc_counters_free(void *c);
void afc_counters_add(void *c, unsigned int i, u64 n);
u64 afc_counters_sum(void *c, unsigned int i);

/* Socket memory accounting (mem.c). */
struct proto;
struct mem_cgroup;
extern int afc_sysctl_rmem[3];
extern int afc_sysctl_wmem[3];
int afc_proto_mem_setup(struct proto *p);
void afc_proto_mem_teardown(void);
void afc_buf_max(int *rmem, int *wmem);
void afc_sk_mem_init(struct sock *sk);
void afc_sk_mem_destruct(struct sock *sk);
bool afc_sk_kern_hold_net(struct sock *sk);
void afc_sk_kern_put_net(struct sock *sk);
bool afc_sk_rmem_schedule(struct sock *sk, struct sk_buff *skb);
bool afc_sk_wmem_schedule(struct sock *sk, int size);
bool afc_sk_may_grow_bufs(const struct sock *sk);
bool afc_sk_under_memory_pressure(const struct sock *sk);
void afc_sk_mem_reclaim(struct sock *sk);
bool afc_sk_out_of_memory(const struct sock *sk);
int afc_sk_wmem_queued(const struct sock *sk);
int afc_sk_userlocks(const struct sock *sk);
void afc_mem_stats(long *pages, long *sockets, int *pressure);
struct mem_cgroup *afc_memcg_enter(const struct sock *parent);
void afc_memcg_leave(struct mem_cgroup *old);
void afc_sk_inherit_memcg(struct sock *child, const struct sock *parent);

/* Stream sockets (sock.c, skb.c). */
struct socket;
struct file;
struct poll_table_struct;
struct timer_list;
struct sk_buff_head;
struct msghdr;
struct proto_accept_arg;
#include <linux/sockptr.h>
#include <linux/spinlock_types.h>
void afc_sk_add_shutdown(struct sock *sk, int bits);
void afc_sk_clear_shutdown(struct sock *sk);
void afc_sk_set_err(struct sock *sk, int err);
int afc_sock_error(struct sock *sk);
void afc_sk_set_bufs(struct sock *sk, int rcvbuf, int sndbuf);
int afc_sk_rcvlowat(const struct sock *sk);
void afc_sk_set_rcvlowat(struct sock *sk, int val);
int afc_sk_peek_offset(const struct sock *sk, int flags);
void afc_sk_peek_offset_fwd(struct sock *sk, int val);
void afc_sk_peek_offset_bwd(struct sock *sk, int val);
void afc_sk_set_rcvbuf(struct sock *sk, int val);
bool afc_sock_flag(const struct sock *sk, unsigned int flag);
void afc_sock_set_flag(struct sock *sk, unsigned int flag);
void afc_sk_state_change(struct sock *sk);
void afc_sk_write_space(struct sock *sk);
void afc_sk_set_nospace(struct sock *sk);
void afc_sk_init_wakeups(struct sock *sk);
void afc_sk_wake_writers(struct sock *sk);
void afc_sk_set_ack_backlog(struct sock *sk, unsigned int len, unsigned int max);
unsigned int afc_sk_ack_backlog(const struct sock *sk);
unsigned int afc_sk_max_ack_backlog(const struct sock *sk);
void afc_sock_hold(struct sock *sk);
void afc_bh_lock_sock(struct sock *sk);
void afc_bh_unlock_sock(struct sock *sk);
int afc_sk_add_backlog(struct sock *sk, struct sk_buff *skb);
void afc_sk_flush_backlog(struct sock *sk);
struct sk_buff *afc_sk_backlog_take(struct sock *sk);
struct sk_buff *afc_skb_list_next(struct sk_buff *skb);
void afc_sk_set_socket_state(struct socket *sock, int state);
int afc_socket_state(const struct socket *sock);
long afc_sk_wait(struct sock *sk, long timeo);
void afc_sk_wait_add(struct sock *sk, struct wait_queue_entry *w);
long afc_sk_wait_sleep(struct sock *sk, struct wait_queue_entry *w, long timeo);
void afc_sk_wait_remove(struct sock *sk, struct wait_queue_entry *w);
bool afc_signal_pending(void);
int afc_sock_intr_errno(long timeo);
void afc_send_sigpipe(void);
void afc_sock_poll_wait(struct file *file, struct socket *sock, struct poll_table_struct *p);
struct timer_list *afc_sk_timer(struct sock *sk);
void afc_sk_timer_setup(struct sock *sk, void (*fn)(struct timer_list *));
struct sock *afc_sk_from_timer(struct timer_list *t);
unsigned long afc_usecs_to_jiffies(u64 us);
struct sk_buff *afc_alloc_frame(unsigned int len);
struct sk_buff *afc_sock_alloc_linear(struct sock *sk, unsigned int len, unsigned int hdr_len);
/* The frame header's length (proto::wire::HEADER_LEN, which a build
 * assertion keeps equal): what afc_skb_clone_send() pushes. */
#define AFC_FRAME_HEADER_LEN 32
struct sk_buff *afc_skb_clone_send(struct sk_buff *skb);
bool afc_skb_cloned(const struct sk_buff *skb);
void afc_skb_pull(struct sk_buff *skb, unsigned int len);
void afc_skb_trim(struct sk_buff *skb, unsigned int len);
struct sk_buff *afc_sock_alloc_paged(struct sock *sk, unsigned int len, unsigned int hdr_len);
int afc_skb_append_paged(struct sock *sk, struct sk_buff *skb, struct msghdr *msg, int n);
int afc_skb_copy_from_msg(struct sk_buff *skb, int offset, struct msghdr *msg, int len);
int afc_skb_ref_frags(struct sk_buff *frame, const struct sk_buff *src, unsigned int off, unsigned int len);
void afc_skb_csum_offload(struct sk_buff *skb, unsigned int field);
int afc_skb_csum_fill(struct sk_buff *skb, unsigned int field);
bool afc_skb_csum_pending(const struct sk_buff *skb, int *start, unsigned int *field);
bool afc_skb_csum_ok(struct sk_buff *skb);
void afc_skb_set_owner_r(struct sk_buff *skb, struct sock *sk);
void afc_skb_queue_purge(struct sk_buff_head *q);
int afc_skb_copy_datagram_msg(const struct sk_buff *skb, int offset, struct msghdr *msg, int len);
size_t afc_msg_data_left(struct msghdr *msg);
void afc_msg_revert(struct msghdr *msg, size_t n);
int afc_memcpy_to_msg(struct msghdr *msg, const void *data, int len);
/* Receive timestamps, the ingress device, control messages (skb.c, sock.c). */
void afc_skb_rx_stamp(struct sk_buff *skb, const struct sock *sk);
void afc_skb_set_tstamp(struct sk_buff *skb, s64 ns);
void afc_recv_timestamp(struct msghdr *msg, const struct sock *sk, s64 ns);
int afc_put_cmsg(struct msghdr *msg, int level, int type, int len, const void *data);
struct sock *afc_sk_alloc_child(struct sock *parent);
bool afc_sk_inherit_filter(struct sock *sk, const struct sock *parent);
void afc_sock_graft(struct sock *sk, struct socket *parent);
void afc_socket_custom_sockopt(struct socket *sock);
void afc_sk_set_reuseport(struct sock *sk, bool on);
bool afc_sk_reuseport(const struct sock *sk);
unsigned char afc_sk_reuse(const struct sock *sk);
void afc_sk_set_reuse(struct sock *sk, unsigned char reuse);
int afc_accept_arg_flags(const struct proto_accept_arg *arg);
int afc_put_user_int(int val, void __user *p);
int afc_sockptr_get_int(sockptr_t optval, unsigned int optlen, int *val);
int afc_getsockopt_put_int(char __user *optval, int __user *optlen, int val);
int afc_getsockopt_put_bytes(char __user *optval, int __user *optlen, const void *buf, unsigned int size);
int afc_sockptr_get_bytes(sockptr_t optval, unsigned int optlen, void *buf, unsigned int size);
void afc_bh_lock_init(spinlock_t *l, unsigned int cls);
void afc_spin_lock_bh(spinlock_t *l);
void afc_spin_unlock_bh(spinlock_t *l);
int afc_route(struct net *net, int oif, __be32 daddr, __be32 saddr, __be32 *src_out, unsigned int *mtu,
	      bool *loopback, bool *veth, bool *nic, bool *takes_gso, struct dst_entry **dst_out);
void afc_dst_release(struct dst_entry *dst);
void afc_sk_dst_set(struct sock *sk, struct dst_entry *dst);
bool afc_gso_param(void);
int afc_xmit(struct net *net, struct sk_buff *skb, __be32 saddr, __be32 daddr);
int afc_xmit_sk(struct sock *sk, struct sk_buff *skb, __be32 saddr, __be32 daddr);
void afc_sk_dst_reset(struct sock *sk);
bool afc_sockopt_binds_device(int name);

/* The frame header's length, which the GSO segmenter pulls before cutting
 * and GRO before merging, and its checksum field's offset (the layout is
 * the protocol core's, rust/proto/src/wire.rs, and only it rewrites
 * headers; abstractions/gso.rs and gro.rs assert these agree). */
#define AFC_WIRE_HDR_LEN	32
#define AFC_WIRE_CSUM_OFFSET	10
/* afc_gro_verdict's answers (the core's gro::GroVerdict). */
#define AFC_GRO_OTHER_FLOW	0
#define AFC_GRO_MERGE		1
#define AFC_GRO_MERGE_LAST	2
#define AFC_GRO_FLUSH		3

int afc_offload_register(void);
void afc_gro_set_counter(void (*cb)(struct net_device *dev, unsigned int frames));
void afc_gro_clear_counter(void);
void afc_offload_unregister(void);
void afc_skb_set_gso(struct sk_buff *skb, unsigned int gso_size, unsigned int gso_segs);
struct sk_buff *afc_skb_next(const struct sk_buff *skb);
int afc_skb_network_offset(const struct sk_buff *skb);
unsigned char *afc_skb_network_header(const struct sk_buff *skb);
u16 afc_skb_piece_sum(struct sk_buff *skb, int off);
void afc_skb_csum_none(struct sk_buff *skb);

#endif
