// SPDX-License-Identifier: GPL-2.0
/*
 * Ancillary data on recvmsg (issue 16 item 2): receive timestamps
 * (SO_TIMESTAMP, SO_TIMESTAMPNS, SO_TIMESTAMPING software receive stamps)
 * as TCP delivers them for the bytes read (the stamp of the last buffer
 * read from), AFC_PKTINFO (ingress interface, local and peer address),
 * MSG_CTRUNC with a short control buffer.  Every timestamp body runs
 * unchanged against AF_INET/TCP with AFC_TEST_FAMILY=inet (afc_test.h);
 * AFC_PKTINFO has no TCP twin and is skipped there.
 *
 * Variants: "lo" (both ends on 127.0.0.1 in one fresh namespace) and
 * "veth" (server in namespace a on va 10.77.0.1, client in namespace b
 * on vb 10.77.0.2).
 */
#include <net/if.h>
#include <stdint.h>
#include <sys/time.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include "afc_test.h"
#include "kselftest_harness.h"

struct conn {
	int l, c, s, port;
};

FIXTURE(cmsg) {
	struct afc_nets n;
	int stampfd;	/* keeps the stack's receive stamping switched on */
	struct conn k;
};
FIXTURE_VARIANT(cmsg) {
	int veth;
	const char *srv;	/* server address (namespace a) */
	const char *dev;	/* the server's ingress device */
};
FIXTURE_VARIANT_ADD(cmsg, lo) { .veth = 0, .srv = "127.0.0.1", .dev = "lo" };
FIXTURE_VARIANT_ADD(cmsg, veth) { .veth = 1, .srv = "10.77.0.1", .dev = "va" };

/* CLOCK_REALTIME in nanoseconds. */
static long long real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

FIXTURE_SETUP(cmsg)
{
	int rc = variant->veth ? afc_veth_setup(&self->n) : afc_lo_setup(&self->n);
	int one = 1;

	self->k.l = self->k.c = self->k.s = -1;
	if (rc && variant->veth && afc_inet())
		SKIP(return, "veth unavailable on this host (AFC_TEST_FAMILY=inet)");
	ASSERT_EQ(0, rc) TH_LOG("namespace setup failed");
	if (!afc_inet()) {
		ASSERT_LT(0, afc_family()) TH_LOG("af_custom is not loaded");
	}
	/*
	 * The stack stamps received frames only once some socket asked for
	 * it (net_enable_timestamp switches a static key from a work item):
	 * ask early, on a socket of our own, so that TCP's first segment is
	 * stamped too.
	 */
	self->stampfd = socket(AF_INET, SOCK_DGRAM, 0);
	ASSERT_LE(0, self->stampfd);
	ASSERT_EQ(0, setsockopt(self->stampfd, SOL_SOCKET, SO_TIMESTAMP, &one, sizeof(one)));
	usleep(200 * 1000);

	self->k.port = 0;
	self->k.l = afc_tsocket();
	ASSERT_LE(0, self->k.l);
	ASSERT_EQ(0, afc_bind(self->k.l, variant->srv, 0)) TH_LOG("bind: %s", strerror(errno));
	ASSERT_EQ(0, listen(self->k.l, 4));
	self->k.port = afc_port(self->k.l, 0);
	self->k.c = afc_socket_in(&self->n, self->n.b, 0);
	ASSERT_LE(0, self->k.c);
	ASSERT_EQ(0, afc_setint(self->k.c, afc_optlevel(), AFC_NODELAY, 1));
	ASSERT_EQ(0, afc_connect(self->k.c, variant->srv, self->k.port)) TH_LOG("connect: %s", strerror(errno));
	self->k.s = accept(self->k.l, NULL, NULL);
	ASSERT_LE(0, self->k.s) TH_LOG("accept: %s", strerror(errno));
}

FIXTURE_TEARDOWN(cmsg)
{
	if (self->k.c >= 0)
		close(self->k.c);
	if (self->k.s >= 0)
		close(self->k.s);
	if (self->k.l >= 0)
		close(self->k.l);
	if (self->stampfd >= 0)
		close(self->stampfd);
	afc_nets_close(&self->n);
}

/* A received message: data, control bytes (filled with 0xa5 before). */
struct rmsg {
	ssize_t n;
	int flags;
	size_t clen;
	char data[64];
	union {
		struct cmsghdr align;
		unsigned char buf[512];
	} ctl;
};

/* recvmsg of up to len bytes with a control buffer of ctl_len bytes. */
static void do_recv(struct __test_metadata *_metadata, int fd, size_t len, size_t ctl_len,
		    int flags, struct rmsg *r)
{
	struct iovec iov = { .iov_base = r->data, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	ASSERT_GE(sizeof(r->data), len);
	ASSERT_GE(sizeof(r->ctl.buf), ctl_len);
	memset(r->ctl.buf, 0xa5, sizeof(r->ctl.buf));
	m.msg_control = ctl_len ? r->ctl.buf : NULL;
	m.msg_controllen = ctl_len;
	r->n = recvmsg(fd, &m, flags);
	ASSERT_LT(0, r->n) TH_LOG("recvmsg: %s", strerror(errno));
	r->flags = m.msg_flags;
	r->clen = m.msg_controllen;
}

/* The one control message of (level, type) in r; fails unless exactly one. */
static struct cmsghdr *find_cmsg(struct __test_metadata *_metadata, struct rmsg *r,
				 int level, int type)
{
	struct msghdr m = { .msg_control = r->ctl.buf, .msg_controllen = r->clen };
	struct cmsghdr *c, *found = NULL;
	int n = 0;

	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level == level && c->cmsg_type == type) {
			found = c;
			n++;
		}
	}
	EXPECT_EQ(1, n) TH_LOG("control messages (%d, %d): %d in %zu bytes", level, type, n, r->clen);
	return found;
}

static void send1(struct __test_metadata *_metadata, int fd, const char *s)
{
	ASSERT_EQ((ssize_t)strlen(s), send(fd, s, strlen(s), 0)) TH_LOG("send: %s", strerror(errno));
}

/* ---- the three kinds of receive timestamp ----------------------------------
 * TCP: SO_TIMESTAMP gives SCM_TIMESTAMP with a struct timeval,
 * SO_TIMESTAMPNS SCM_TIMESTAMPNS with a struct timespec, SO_TIMESTAMPING
 * (RX_SOFTWARE|SOFTWARE) SCM_TIMESTAMPING with a struct scm_timestamping
 * whose ts[0] is the stamp (ts[1], ts[2] zero); each within the test's
 * own CLOCK_REALTIME readings before the send and after the receive.
 * Without any of them, no control message at all.
 */
TEST_F(cmsg, timestamp_kinds)
{
	const int kinds[3] = { SO_TIMESTAMP, SO_TIMESTAMPNS, SO_TIMESTAMPING };
	struct rmsg r;
	int i;

	/* Nothing asked for: nothing returned, no MSG_CTRUNC. */
	send1(_metadata, self->k.c, "z");
	do_recv(_metadata, self->k.s, 1, sizeof(r.ctl.buf), 0, &r);
	ASSERT_EQ(0, r.clen);
	ASSERT_EQ(0, r.flags & MSG_CTRUNC);

	for (i = 0; i < 3; i++) {
		int one = 1, off = 0, tsflags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
		long long before, after, ns;
		struct cmsghdr *c;

		if (kinds[i] == SO_TIMESTAMPING) {
			ASSERT_EQ(0, setsockopt(self->k.s, SOL_SOCKET, SO_TIMESTAMPING, &tsflags, sizeof(tsflags)));
		} else {
			ASSERT_EQ(0, setsockopt(self->k.s, SOL_SOCKET, kinds[i], &one, sizeof(one)));
		}
		before = real_ns();
		send1(_metadata, self->k.c, "a");
		do_recv(_metadata, self->k.s, 1, sizeof(r.ctl.buf), 0, &r);
		after = real_ns();
		ASSERT_EQ(1, r.n);
		ASSERT_EQ(0, r.flags & MSG_CTRUNC);
		if (kinds[i] == SO_TIMESTAMP) {
			struct timeval tv;

			c = find_cmsg(_metadata, &r, SOL_SOCKET, SCM_TIMESTAMP);
			ASSERT_NE(NULL, c);
			ASSERT_EQ(CMSG_LEN(sizeof(tv)), c->cmsg_len);
			ASSERT_EQ(CMSG_SPACE(sizeof(tv)), r.clen);
			memcpy(&tv, CMSG_DATA(c), sizeof(tv));
			ns = tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL;
			/* Microseconds: compare at that precision. */
			before -= before % 1000;
		} else if (kinds[i] == SO_TIMESTAMPNS) {
			struct timespec ts;

			c = find_cmsg(_metadata, &r, SOL_SOCKET, SCM_TIMESTAMPNS);
			ASSERT_NE(NULL, c);
			ASSERT_EQ(CMSG_LEN(sizeof(ts)), c->cmsg_len);
			ASSERT_EQ(CMSG_SPACE(sizeof(ts)), r.clen);
			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			ns = ts.tv_sec * 1000000000LL + ts.tv_nsec;
		} else {
			struct scm_timestamping st;

			c = find_cmsg(_metadata, &r, SOL_SOCKET, SCM_TIMESTAMPING);
			ASSERT_NE(NULL, c);
			ASSERT_EQ(CMSG_LEN(sizeof(st)), c->cmsg_len);
			ASSERT_EQ(CMSG_SPACE(sizeof(st)), r.clen);
			memcpy(&st, CMSG_DATA(c), sizeof(st));
			ns = st.ts[0].tv_sec * 1000000000LL + st.ts[0].tv_nsec;
			ASSERT_EQ(0, st.ts[1].tv_sec);
			ASSERT_EQ(0, st.ts[1].tv_nsec);
			ASSERT_EQ(0, st.ts[2].tv_sec);
			ASSERT_EQ(0, st.ts[2].tv_nsec);
		}
		EXPECT_LE(before, ns) TH_LOG("kind %d: stamp %lld before the send %lld", kinds[i], ns, before);
		EXPECT_GE(after, ns) TH_LOG("kind %d: stamp %lld after the receive %lld", kinds[i], ns, after);
		/* Off again for the next kind. */
		if (kinds[i] == SO_TIMESTAMPING) {
			ASSERT_EQ(0, setsockopt(self->k.s, SOL_SOCKET, SO_TIMESTAMPING, &off, sizeof(off)));
		} else {
			ASSERT_EQ(0, setsockopt(self->k.s, SOL_SOCKET, kinds[i], &off, sizeof(off)));
		}
	}
	/* All off: no control message again. */
	send1(_metadata, self->k.c, "z");
	do_recv(_metadata, self->k.s, 1, sizeof(r.ctl.buf), 0, &r);
	ASSERT_EQ(0, r.clen);
}

/* SO_TIMESTAMPNS's stamp of r. */
static long long stamp_ns(struct __test_metadata *_metadata, struct rmsg *r)
{
	struct cmsghdr *c = find_cmsg(_metadata, r, SOL_SOCKET, SCM_TIMESTAMPNS);
	struct timespec ts;

	if (!c)
		return -1;
	EXPECT_EQ(CMSG_LEN(sizeof(ts)), c->cmsg_len);
	memcpy(&ts, CMSG_DATA(c), sizeof(ts));
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- monotonic, and the stamp of the last buffer read -----------------------
 * TCP: successive reads report non-decreasing stamps, each between the
 * send and the receive; a read that takes two segments sent 50 ms apart
 * reports the later one's stamp (tcp_recvmsg keeps the last buffer's).
 * MSG_PEEK reports a stamp as well.
 */
TEST_F(cmsg, monotonic_and_last)
{
	long long prev = 0, before, after, ns, mid;
	int one = 1, i;
	struct rmsg r;

	ASSERT_EQ(0, setsockopt(self->k.s, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)));
	for (i = 0; i < 20; i++) {
		before = real_ns();
		send1(_metadata, self->k.c, "m");
		do_recv(_metadata, self->k.s, 1, sizeof(r.ctl.buf), 0, &r);
		after = real_ns();
		ns = stamp_ns(_metadata, &r);
		ASSERT_LE(before, ns) TH_LOG("read %d: stamp %lld before the send %lld", i, ns, before);
		ASSERT_GE(after, ns) TH_LOG("read %d: stamp %lld after the receive %lld", i, ns, after);
		ASSERT_LE(prev, ns) TH_LOG("read %d: stamp %lld went back from %lld", i, ns, prev);
		prev = ns;
		usleep(2000);
	}

	/* Two segments, one read: the later segment's stamp. */
	before = real_ns();
	send1(_metadata, self->k.c, "ab");
	usleep(50 * 1000);
	mid = real_ns();
	send1(_metadata, self->k.c, "cd");
	usleep(50 * 1000);
	/* Peek first: it reports a stamp too, within the same bounds. */
	do_recv(_metadata, self->k.s, 4, sizeof(r.ctl.buf), MSG_PEEK | MSG_WAITALL, &r);
	ASSERT_EQ(4, r.n);
	ns = stamp_ns(_metadata, &r);
	ASSERT_LE(mid, ns) TH_LOG("peek: stamp %lld before the second send %lld", ns, mid);
	do_recv(_metadata, self->k.s, 4, sizeof(r.ctl.buf), MSG_WAITALL, &r);
	after = real_ns();
	ASSERT_EQ(4, r.n);
	ASSERT_EQ(0, memcmp(r.data, "abcd", 4));
	ns = stamp_ns(_metadata, &r);
	ASSERT_LE(mid, ns) TH_LOG("stamp %lld of the first segment (second sent at %lld, first at %lld)", ns, mid, before);
	ASSERT_GE(after, ns);
}

/* ---- MSG_CTRUNC ------------------------------------------------------------
 * TCP: a control buffer too short for the message gets MSG_CTRUNC (the
 * data are read all the same); one of the right size does not.
 */
TEST_F(cmsg, ctrunc)
{
	int one = 1;
	struct rmsg r;

	ASSERT_EQ(0, setsockopt(self->k.s, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)));
	send1(_metadata, self->k.c, "x");
	do_recv(_metadata, self->k.s, 1, sizeof(struct cmsghdr) + 4, 0, &r);
	ASSERT_EQ(1, r.n);
	ASSERT_EQ('x', r.data[0]);
	ASSERT_EQ(MSG_CTRUNC, r.flags & MSG_CTRUNC);

	send1(_metadata, self->k.c, "y");
	do_recv(_metadata, self->k.s, 1, CMSG_SPACE(sizeof(struct timespec)), 0, &r);
	ASSERT_EQ(1, r.n);
	ASSERT_EQ('y', r.data[0]);
	ASSERT_EQ(0, r.flags & MSG_CTRUNC);
	ASSERT_EQ(CMSG_SPACE(sizeof(struct timespec)), r.clen);
}

/* ---- AFC_PKTINFO -------------------------------------------------------------
 * The ingress interface (lo, or the veth device va) and the connection's
 * local and peer addresses, exactly as getsockname/getpeername give them
 * (padding zero); off by default; inherited from the listener; a short
 * buffer gets MSG_CTRUNC.  AF_CUSTOM only.
 */
TEST_F(cmsg, pktinfo)
{
	struct sockaddr_custom local, peer;
	socklen_t len = sizeof(local);
	struct afc_pktinfo pi;
	struct cmsghdr *c;
	struct rmsg r;
	int s2, c2, one = 1;

	if (afc_inet())
		SKIP(return, "AFC_PKTINFO has no TCP twin");
	ASSERT_EQ(0, afc_getint(self->k.s, SOL_AF_CUSTOM, AFC_PKTINFO));
	send1(_metadata, self->k.c, "q");
	do_recv(_metadata, self->k.s, 1, sizeof(r.ctl.buf), 0, &r);
	ASSERT_EQ(0, r.clen);

	ASSERT_EQ(0, afc_setint(self->k.s, SOL_AF_CUSTOM, AFC_PKTINFO, 1));
	ASSERT_EQ(1, afc_getint(self->k.s, SOL_AF_CUSTOM, AFC_PKTINFO));
	ASSERT_EQ(0, getsockname(self->k.s, (struct sockaddr *)&local, &len));
	len = sizeof(peer);
	ASSERT_EQ(0, getpeername(self->k.s, (struct sockaddr *)&peer, &len));
	send1(_metadata, self->k.c, "p");
	do_recv(_metadata, self->k.s, 1, sizeof(r.ctl.buf), 0, &r);
	ASSERT_EQ(0, r.flags & MSG_CTRUNC);
	ASSERT_EQ(CMSG_SPACE(sizeof(pi)), r.clen);
	c = find_cmsg(_metadata, &r, SOL_AF_CUSTOM, AFC_PKTINFO);
	ASSERT_NE(NULL, c);
	ASSERT_EQ(CMSG_LEN(sizeof(pi)), c->cmsg_len);
	memcpy(&pi, CMSG_DATA(c), sizeof(pi));
	ASSERT_NE(0, if_nametoindex(variant->dev));
	ASSERT_EQ((int)if_nametoindex(variant->dev), pi.ipi_ifindex);
	ASSERT_EQ(0, memcmp(&local, &pi.ipi_local, sizeof(local)));
	ASSERT_EQ(0, memcmp(&peer, &pi.ipi_peer, sizeof(peer)));
	ASSERT_EQ(afc_family(), pi.ipi_local.scu_family);
	ASSERT_EQ(htons(self->k.port), pi.ipi_local.scu_port);

	/* With a timestamp as well: both, and a short buffer truncates. */
	ASSERT_EQ(0, setsockopt(self->k.s, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)));
	send1(_metadata, self->k.c, "t");
	do_recv(_metadata, self->k.s, 1, sizeof(r.ctl.buf), 0, &r);
	ASSERT_EQ(CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(sizeof(pi)), r.clen);
	ASSERT_NE(NULL, find_cmsg(_metadata, &r, SOL_SOCKET, SCM_TIMESTAMPNS));
	ASSERT_NE(NULL, find_cmsg(_metadata, &r, SOL_AF_CUSTOM, AFC_PKTINFO));
	send1(_metadata, self->k.c, "u");
	do_recv(_metadata, self->k.s, 1, CMSG_SPACE(sizeof(struct timespec)) + 8, 0, &r);
	ASSERT_EQ(MSG_CTRUNC, r.flags & MSG_CTRUNC);

	/* Inherited by an accepted socket from its listener. */
	ASSERT_EQ(0, afc_setint(self->k.l, SOL_AF_CUSTOM, AFC_PKTINFO, 1));
	c2 = afc_socket_in(&self->n, self->n.b, 0);
	ASSERT_LE(0, c2);
	ASSERT_EQ(0, afc_connect(c2, variant->srv, self->k.port));
	s2 = accept(self->k.l, NULL, NULL);
	ASSERT_LE(0, s2);
	ASSERT_EQ(1, afc_getint(s2, SOL_AF_CUSTOM, AFC_PKTINFO));
	send1(_metadata, c2, "i");
	do_recv(_metadata, s2, 1, sizeof(r.ctl.buf), 0, &r);
	c = find_cmsg(_metadata, &r, SOL_AF_CUSTOM, AFC_PKTINFO);
	ASSERT_NE(NULL, c);
	memcpy(&pi, CMSG_DATA(c), sizeof(pi));
	ASSERT_EQ((int)if_nametoindex(variant->dev), pi.ipi_ifindex);
	close(c2);
	close(s2);
}

TEST_HARNESS_MAIN
