// SPDX-License-Identifier: GPL-2.0
/*
 * sock_diag for AF_CUSTOM: SOCK_DIAG_BY_FAMILY dumps on NETLINK_SOCK_DIAG
 * (uapi: struct afc_diag_req / afc_diag_msg in af_custom.h), modelled on
 * net/vmw_vsock/diag.c and net/ipv4/inet_diag.c.
 *
 * The C side is the netlink mechanics Rust cannot reach in 6.12
 * (sock_diag_register, netlink_dump_start, nlmsg_put, nla_reserve); the
 * walk over the namespace's socks is pernet.c's (the same chains as
 * /proc/net/af_custom), and the policy (which socks pass the filters, what
 * a row says) is Rust's, through the pernet callbacks diag_match and
 * diag_fill (rust/abstractions/pernet.rs, rust/socket/diag.rs).
 *
 * Locking: a dump runs in process context under the netlink socket's
 * cb_mutex.  Each round collects up to AFC_DIAG_BATCH matching socks of
 * the requester's namespace under socks_lock (one chain at a time, bottom
 * halves off, nothing sleeps; afc_net_diag_batch), each with a reference,
 * then drops the lock and fills their messages, which may sleep (the
 * socket lock for AFC_DIAG_INFO, sock_i_uid/sock_i_ino), as
 * inet_diag_dump_icsk does.  When the skb is full, cb->args[0..1] keep
 * the chain and offset of the first sock not sent, and the next call
 * resumes there (as vsock_diag_dump's cursor).
 */
#include "afc_internal.h"
#include <linux/sock_diag.h>
#include <net/netlink.h>
#include <net/sock.h>

#define AFC_DIAG_BATCH 16

static int afc_diag_fill(struct sock *sk, struct sk_buff *skb, struct netlink_callback *cb,
			 const struct afc_diag_req *req)
{
	struct user_namespace *user_ns = sk_user_ns(NETLINK_CB(cb->skb).sk);
	struct tcp_info *info = NULL;
	struct afc_diag_msg *r;
	struct nlmsghdr *nlh;

	nlh = nlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq, SOCK_DIAG_BY_FAMILY,
			sizeof(*r), NLM_F_MULTI);
	if (!nlh)
		return -EMSGSIZE;
	r = nlmsg_data(nlh);
	memset(r, 0, sizeof(*r));
	if (req->adiag_ext & (1 << (AFC_DIAG_INFO - 1))) {
		struct nlattr *attr = nla_reserve(skb, AFC_DIAG_INFO, sizeof(*info));

		if (!attr) {
			nlmsg_cancel(skb, nlh);
			return -EMSGSIZE;
		}
		info = nla_data(attr);
		memset(info, 0, sizeof(*info));
	}
	afc_net_diag_fill(sk, r, info);
	r->adiag_family = sk->sk_family;
	r->adiag_uid = from_kuid_munged(user_ns, sock_i_uid(sk));
	r->adiag_inode = sock_i_ino(sk);
	sock_diag_save_cookie(sk, r->adiag_cookie);
	nlmsg_end(skb, nlh);
	return 0;
}

static int afc_diag_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	const struct afc_diag_req *req = nlmsg_data(cb->nlh);
	struct afc_diag_pos cur = { cb->args[0], cb->args[1] };
	struct afc_diag_pos at[AFC_DIAG_BATCH];
	struct sock *socks[AFC_DIAG_BATCH];
	struct net *net = sock_net(skb->sk);
	bool full = false;
	int n, i;

	while (!full && (n = afc_net_diag_batch(net, req, &cur, socks, at, AFC_DIAG_BATCH)) > 0) {
		for (i = 0; i < n; i++) {
			if (!full && afc_diag_fill(socks[i], skb, cb, req) < 0) {
				/* Resume at this sock in the next skb. */
				full = true;
				cur = at[i];
			}
			sock_put(socks[i]);
		}
	}
	cb->args[0] = cur.chain;
	cb->args[1] = cur.offset;
	return skb->len;
}

static int afc_diag_handler_dump(struct sk_buff *skb, struct nlmsghdr *h)
{
	struct net *net = sock_net(skb->sk);

	if (nlmsg_len(h) < (int)sizeof(struct afc_diag_req))
		return -EINVAL;
	if (h->nlmsg_flags & NLM_F_DUMP) {
		struct netlink_dump_control c = {
			.dump = afc_diag_dump,
		};
		return netlink_dump_start(net->diag_nlsk, skb, h, &c);
	}
	return -EOPNOTSUPP;
}

/* .family is the module parameter's number, set before registration. */
static struct sock_diag_handler afc_diag_handler = {
	.owner = THIS_MODULE,
	.dump = afc_diag_handler_dump,
};

int afc_diag_register(int family)
{
	afc_diag_handler.family = family;
	return sock_diag_register(&afc_diag_handler);
}
void afc_diag_unregister(void)
{
	sock_diag_unregister(&afc_diag_handler);
}
