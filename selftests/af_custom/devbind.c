// SPDX-License-Identifier: GPL-2.0
/*
 * SO_BINDTODEVICE / SO_BINDTOIFINDEX and socket filters on receive, as
 * Linux TCP honours them (issue 12, defect 3).  The family is AF_CUSTOM,
 * or AF_INET/TCP with AFC_TEST_FAMILY=inet (how every expectation here
 * was checked): see afc_test.h.
 *
 * Namespaces (afc_veth_setup): a holds lo (127.0.0.1) and va 10.77.0.1,
 * b holds vb 10.77.0.2 (and its own lo).  Servers live in a; a client in
 * a reaches them over lo, a client in b over the veth pair.
 *
 * - A listener bound to a device matches only SYNs that arrive on it;
 *   two listeners may share a port on different devices (bind conflicts
 *   ignore sockets bound to other devices), and each gets its own
 *   device's connections; children inherit the device.  Reuseport
 *   groups never span devices; of two groups that score alike, one takes
 *   every SYN.
 * - A device-bound socket's connect() routes out of that device.
 * - A socket filter (SO_ATTACH_FILTER, classic BPF "ret #0") on the
 *   receiving socket drops every segment before it is queued: no data
 *   arrives; detached, the sender's retransmission delivers it.  On a
 *   listener it drops SYNs.  Children inherit a listener's filter.
 *   TIME_WAIT is never filtered.
 */
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <linux/filter.h>
#include <linux/sockios.h>
#include <sched.h>
#include "afc_test.h"
#include "kselftest_harness.h"

#define PORT 7310

/* Both fixtures' setup: the veth namespaces, and the module for AF_CUSTOM. */
#define NETS_SETUP()									\
	do {										\
		int rc = afc_veth_setup(&self->n);					\
											\
		if (rc && afc_inet())							\
			SKIP(return, "veth unavailable on this host (AFC_TEST_FAMILY=inet)");	\
		ASSERT_EQ(0, rc) TH_LOG("veth namespace setup failed");		\
		if (!afc_inet()) {							\
			ASSERT_LT(0, afc_family()) TH_LOG("af_custom is not loaded");	\
		}									\
	} while (0)

FIXTURE(dev) {
	struct afc_nets n;
};

FIXTURE_SETUP(dev)
{
	NETS_SETUP();
}

FIXTURE_TEARDOWN(dev)
{
	afc_nets_close(&self->n);
}

static int bind_dev(int fd, const char *ifname)
{
	return setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, strlen(ifname) + 1);
}

/* A listener on 0.0.0.0:port, bound to ifname first unless NULL; -1 on error. */
static int listener_on(const char *ifname, int port)
{
	int fd = afc_tsocket_flags(SOCK_NONBLOCK);

	if (fd < 0)
		return -1;
	if ((ifname && bind_dev(fd, ifname)) || afc_bind(fd, "0.0.0.0", port) || listen(fd, 16)) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/*
 * A connect from namespace ns (from a socket bound to ifname unless NULL)
 * to ip:port, waited for up to ms.  Returns the connected socket, or -1
 * with errno: the connect's error, or EINPROGRESS if still pending.
 */
static int connect_from(const struct afc_nets *n, int ns, const char *ifname, const char *ip,
			int port, int ms)
{
	int fd = afc_socket_in(n, ns, SOCK_NONBLOCK), err = 0;
	struct pollfd p = { .events = POLLOUT };
	socklen_t len = sizeof(err);

	if (fd < 0)
		return -1;
	if (ifname && bind_dev(fd, ifname))
		goto fail;
	if (afc_connect(fd, ip, port) && errno != EINPROGRESS)
		goto fail;
	p.fd = fd;
	if (poll(&p, 1, ms) < 0)
		goto fail;
	if (!p.revents) {
		errno = EINPROGRESS;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		goto fail;
	if (err) {
		errno = err;
		goto fail;
	}
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

/* A connection accepted on listener l within ms, or -1. */
static int accept_within(int l, int ms)
{
	struct pollfd p = { .fd = l, .events = POLLIN };

	if (poll(&p, 1, ms) <= 0)
		return -1;
	return accept4(l, NULL, NULL, SOCK_NONBLOCK);
}

/* The device name a socket is bound to ("" for none), into buf. */
static const char *bound_dev(int fd, char *buf, socklen_t size)
{
	socklen_t len = size;

	memset(buf, 0, size);
	if (getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, buf, &len))
		snprintf(buf, size, "error %d", errno);
	return buf;
}

/* ---- lookups ------------------------------------------------------------- */

/* A wildcard listener bound to lo refuses a connection that arrives over
 * veth (TCP answers with an RST: ECONNREFUSED), and takes one over lo. */
TEST_F(dev, listener_bound_to_lo_ignores_veth)
{
	char name[IFNAMSIZ + 1];
	int l, c, s;

	l = listener_on("lo", PORT);
	ASSERT_LE(0, l) TH_LOG("listener: %s", strerror(errno));
	c = connect_from(&self->n, self->n.b, NULL, "10.77.0.1", PORT, 10000);
	EXPECT_EQ(-1, c) TH_LOG("a listener bound to lo accepted a connection over veth");
	EXPECT_EQ(ECONNREFUSED, errno) TH_LOG("connect over veth: %s", strerror(errno));
	EXPECT_EQ(-1, accept_within(l, 200)) TH_LOG("the listener queued the veth connection");
	if (c >= 0)
		close(c);

	c = connect_from(&self->n, self->n.a, NULL, "127.0.0.1", PORT, 10000);
	ASSERT_LE(0, c) TH_LOG("connect over lo: %s", strerror(errno));
	s = accept_within(l, 10000);
	ASSERT_LE(0, s) TH_LOG("the lo connection was not accepted");
	EXPECT_STREQ("lo", bound_dev(s, name, sizeof(name))) TH_LOG("the child inherits the device");
	close(s);
	close(c);
	close(l);
}

/* The control: an unbound listener takes connections from both devices. */
TEST_F(dev, unbound_listener_takes_both)
{
	char name[IFNAMSIZ + 1];
	int l, c1, c2, s1, s2;

	l = listener_on(NULL, PORT);
	ASSERT_LE(0, l);
	c1 = connect_from(&self->n, self->n.b, NULL, "10.77.0.1", PORT, 10000);
	ASSERT_LE(0, c1) TH_LOG("connect over veth: %s", strerror(errno));
	s1 = accept_within(l, 10000);
	ASSERT_LE(0, s1);
	c2 = connect_from(&self->n, self->n.a, NULL, "127.0.0.1", PORT, 10000);
	ASSERT_LE(0, c2) TH_LOG("connect over lo: %s", strerror(errno));
	s2 = accept_within(l, 10000);
	ASSERT_LE(0, s2);
	EXPECT_STREQ("", bound_dev(s1, name, sizeof(name)));
	close(s1); close(s2); close(c1); close(c2); close(l);
}

/* Two wildcard listeners on one port, one bound to lo and one to va: each
 * gets its own device's connections only. */
TEST_F(dev, listeners_split_by_device)
{
	char name[IFNAMSIZ + 1];
	int llo, lva, c1, c2, s, other;

	llo = listener_on("lo", PORT);
	ASSERT_LE(0, llo) TH_LOG("listener on lo: %s", strerror(errno));
	lva = listener_on("va", PORT);
	ASSERT_LE(0, lva) TH_LOG("listener on va beside one on lo: %s", strerror(errno));

	c1 = connect_from(&self->n, self->n.b, NULL, "10.77.0.1", PORT, 10000);
	ASSERT_LE(0, c1) TH_LOG("connect over veth: %s", strerror(errno));
	s = accept_within(lva, 10000);
	ASSERT_LE(0, s) TH_LOG("the va listener did not get the veth connection");
	EXPECT_STREQ("va", bound_dev(s, name, sizeof(name)));
	other = accept_within(llo, 200);
	EXPECT_EQ(-1, other) TH_LOG("the lo listener got the veth connection");
	close(s);

	c2 = connect_from(&self->n, self->n.a, NULL, "127.0.0.1", PORT, 10000);
	ASSERT_LE(0, c2) TH_LOG("connect over lo: %s", strerror(errno));
	s = accept_within(llo, 10000);
	ASSERT_LE(0, s) TH_LOG("the lo listener did not get the lo connection");
	EXPECT_STREQ("lo", bound_dev(s, name, sizeof(name)));
	other = accept_within(lva, 200);
	EXPECT_EQ(-1, other) TH_LOG("the va listener got the lo connection");
	close(s);
	close(c1); close(c2); close(llo); close(lva);
}

/* Bind conflicts: sockets bound to different devices may share an
 * address and port; an unbound one overlaps every device. */
TEST_F(dev, bind_conflicts)
{
	int a, b, c, ifindex = if_nametoindex("va");

	ASSERT_LT(0, ifindex);
	a = afc_tsocket();
	ASSERT_LE(0, a);
	ASSERT_EQ(0, bind_dev(a, "lo"));
	ASSERT_EQ(0, afc_bind(a, "0.0.0.0", PORT));

	/* Same device: taken. */
	b = afc_tsocket();
	ASSERT_EQ(0, bind_dev(b, "lo"));
	EXPECT_EQ(-1, afc_bind(b, "0.0.0.0", PORT));
	EXPECT_EQ(EADDRINUSE, errno);
	close(b);
	/* Unbound: overlaps every device. */
	b = afc_tsocket();
	EXPECT_EQ(-1, afc_bind(b, "10.77.0.1", PORT));
	EXPECT_EQ(EADDRINUSE, errno);
	close(b);
	/* Another device (by index): free. */
	b = afc_tsocket();
	ASSERT_EQ(0, afc_setint(b, SOL_SOCKET, SO_BINDTOIFINDEX, ifindex));
	EXPECT_EQ(0, afc_bind(b, "0.0.0.0", PORT)) TH_LOG("bind on va beside lo: %s", strerror(errno));
	EXPECT_EQ(ifindex, afc_getint(b, SOL_SOCKET, SO_BINDTOIFINDEX));
	/* And an unbound socket now conflicts with either. */
	c = afc_tsocket();
	EXPECT_EQ(-1, afc_bind(c, "0.0.0.0", PORT));
	EXPECT_EQ(EADDRINUSE, errno);
	close(c);
	close(b);
	close(a);

	/* The other order: an unbound holder, a device-bound newcomer. */
	a = afc_tsocket();
	ASSERT_EQ(0, afc_bind(a, "0.0.0.0", PORT + 1));
	b = afc_tsocket();
	ASSERT_EQ(0, bind_dev(b, "va"));
	EXPECT_EQ(-1, afc_bind(b, "0.0.0.0", PORT + 1));
	EXPECT_EQ(EADDRINUSE, errno);
	close(b);
	close(a);
}

/* A device set after bind() counts in later conflicts, as TCP reads
 * sk_bound_dev_if when it checks them. */
TEST_F(dev, device_set_after_bind)
{
	int a, b;

	a = afc_tsocket();
	ASSERT_EQ(0, afc_bind(a, "0.0.0.0", PORT));
	ASSERT_EQ(0, bind_dev(a, "lo"));
	b = afc_tsocket();
	ASSERT_EQ(0, bind_dev(b, "va"));
	EXPECT_EQ(0, afc_bind(b, "0.0.0.0", PORT)) TH_LOG("bind on va beside lo: %s", strerror(errno));
	close(b);
	b = afc_tsocket();
	ASSERT_EQ(0, bind_dev(b, "lo"));
	EXPECT_EQ(-1, afc_bind(b, "0.0.0.0", PORT));
	EXPECT_EQ(EADDRINUSE, errno);
	close(b);
	close(a);
}

/* SO_REUSEPORT lets an unbound and a lo-bound listener of one user share
 * a port (in two reuseport groups: a group shares its device); a SYN over
 * lo goes to the device-bound one (it scores higher), one over veth to
 * the unbound one.  (TCP returns the first reuseport group it meets that
 * scores above the ones before: the lo-bound listener is hashed at the
 * head of the bucket because it listens last, as here.) */
TEST_F(dev, bound_listener_preferred)
{
	int lany, llo, c1, c2, s, other, one = 1;

	lany = afc_tsocket_flags(SOCK_NONBLOCK);
	ASSERT_EQ(0, setsockopt(lany, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)));
	ASSERT_EQ(0, afc_bind(lany, "0.0.0.0", PORT));
	ASSERT_EQ(0, listen(lany, 16));
	llo = afc_tsocket_flags(SOCK_NONBLOCK);
	ASSERT_EQ(0, setsockopt(llo, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)));
	ASSERT_EQ(0, bind_dev(llo, "lo"));
	ASSERT_EQ(0, afc_bind(llo, "0.0.0.0", PORT));
	ASSERT_EQ(0, listen(llo, 16));

	for (int i = 0; i < 4; i++) {
		c1 = connect_from(&self->n, self->n.a, NULL, "127.0.0.1", PORT, 10000);
		ASSERT_LE(0, c1) TH_LOG("connect over lo: %s", strerror(errno));
		s = accept_within(llo, 10000);
		EXPECT_LE(0, s) TH_LOG("the lo-bound listener did not get connection %d over lo", i);
		other = accept_within(lany, 100);
		EXPECT_EQ(-1, other) TH_LOG("the unbound listener got connection %d over lo", i);
		if (s >= 0)
			close(s);
		if (other >= 0)
			close(other);
		close(c1);
	}
	c2 = connect_from(&self->n, self->n.b, NULL, "10.77.0.1", PORT, 10000);
	ASSERT_LE(0, c2) TH_LOG("connect over veth: %s", strerror(errno));
	s = accept_within(lany, 10000);
	EXPECT_LE(0, s) TH_LOG("the unbound listener did not get the veth connection");
	if (s >= 0)
		close(s);
	close(c2);
	close(llo);
	close(lany);
}

/* Listeners that share a port with SO_REUSEPORT on different devices form
 * two groups (Linux's reuseport groups require the same sk_bound_dev_if):
 * when the lo-bound listener closes with a connection queued, the
 * connection may move only within its group, never to the va-bound
 * listener (TCP with net.ipv4.tcp_migrate_req=1, as AF_CUSTOM always
 * migrates). */
TEST_F(dev, reuseport_groups_split_by_device)
{
	int llo, lva, c, s;

	if (afc_inet())
		ASSERT_EQ(0, afc_sh("echo 1 > /proc/sys/net/ipv4/tcp_migrate_req"));
	llo = afc_tsocket_flags(SOCK_NONBLOCK);
	ASSERT_EQ(0, afc_setint(llo, SOL_SOCKET, SO_REUSEPORT, 1));
	ASSERT_EQ(0, bind_dev(llo, "lo"));
	ASSERT_EQ(0, afc_bind(llo, "0.0.0.0", PORT));
	ASSERT_EQ(0, listen(llo, 16));
	lva = afc_tsocket_flags(SOCK_NONBLOCK);
	ASSERT_EQ(0, afc_setint(lva, SOL_SOCKET, SO_REUSEPORT, 1));
	ASSERT_EQ(0, bind_dev(lva, "va"));
	ASSERT_EQ(0, afc_bind(lva, "0.0.0.0", PORT)) TH_LOG("bind on va beside lo: %s", strerror(errno));
	ASSERT_EQ(0, listen(lva, 16));

	c = connect_from(&self->n, self->n.a, NULL, "127.0.0.1", PORT, 10000);
	ASSERT_LE(0, c) TH_LOG("connect over lo: %s", strerror(errno));
	{
		struct pollfd p = { .fd = llo, .events = POLLIN };

		ASSERT_EQ(1, poll(&p, 1, 10000)) TH_LOG("the lo connection never reached llo's accept queue");
	}
	close(llo);
	s = accept_within(lva, 500);
	EXPECT_EQ(-1, s) TH_LOG("a connection over lo moved to the listener bound to va");
	if (s >= 0)
		close(s);
	close(c);
	close(lva);
}

/* Two single-listener groups on one address, port and device (the first
 * moved to va after listening): equal scores.  As TCP, every SYN goes to
 * one group, the first best; never spread over both (that would hand one
 * owner's connections to the other's group). */
TEST_F(dev, equal_groups_do_not_share_connections)
{
	int l1, l2, n1 = 0, n2 = 0, s;
	int c[4];

	l1 = afc_tsocket_flags(SOCK_NONBLOCK);
	ASSERT_EQ(0, afc_setint(l1, SOL_SOCKET, SO_REUSEPORT, 1));
	ASSERT_EQ(0, bind_dev(l1, "lo"));
	ASSERT_EQ(0, afc_bind(l1, "0.0.0.0", PORT));
	ASSERT_EQ(0, listen(l1, 16));
	l2 = afc_tsocket_flags(SOCK_NONBLOCK);
	ASSERT_EQ(0, afc_setint(l2, SOL_SOCKET, SO_REUSEPORT, 1));
	ASSERT_EQ(0, bind_dev(l2, "va"));
	ASSERT_EQ(0, afc_bind(l2, "0.0.0.0", PORT));
	ASSERT_EQ(0, listen(l2, 16));
	ASSERT_EQ(0, bind_dev(l1, "va")) TH_LOG("SO_BINDTODEVICE on a listener: %s", strerror(errno));

	for (int i = 0; i < 4; i++) {
		c[i] = connect_from(&self->n, self->n.b, NULL, "10.77.0.1", PORT, 10000);
		ASSERT_LE(0, c[i]) TH_LOG("connect %d over veth: %s", i, strerror(errno));
	}
	for (int i = 0; i < 4; i++) {
		s = accept_within(l1, 200);
		if (s >= 0) {
			n1++;
			close(s);
		}
		s = accept_within(l2, 200);
		if (s >= 0) {
			n2++;
			close(s);
		}
	}
	TH_LOG("first listener %d, second %d", n1, n2);
	EXPECT_EQ(4, n1 + n2);
	EXPECT_TRUE(n1 == 0 || n2 == 0) TH_LOG("two groups shared the connections: %d and %d", n1, n2);
	for (int i = 0; i < 4; i++)
		close(c[i]);
	close(l1);
	close(l2);
}

/* ---- routes ------------------------------------------------------------- */

/* In namespace b the server is reachable over vb only: a client bound to
 * lo sends its SYN out of lo (TCP's route then assumes the destination is
 * on lo's link), so it never reaches the server; an unbound client does. */
TEST_F(dev, connect_goes_out_of_the_bound_device)
{
	int l, c, s;

	l = listener_on(NULL, PORT);
	ASSERT_LE(0, l);
	c = connect_from(&self->n, self->n.b, "lo", "10.77.0.1", PORT, 2000);
	EXPECT_EQ(-1, c) TH_LOG("a client bound to lo reached the server over veth");
	if (c >= 0)
		close(c);
	s = accept_within(l, 500);
	EXPECT_EQ(-1, s) TH_LOG("the server accepted the lo-bound client's connection");
	if (s >= 0)
		close(s);

	c = connect_from(&self->n, self->n.b, "vb", "10.77.0.1", PORT, 10000);
	ASSERT_LE(0, c) TH_LOG("a client bound to vb: %s", strerror(errno));
	s = accept_within(l, 10000);
	ASSERT_LE(0, s);
	close(s);
	close(c);
	close(l);
}

/* ---- socket filters ----------------------------------------------------- */

static int attach_ret(int fd, unsigned int ret)
{
	struct sock_filter code[] = { BPF_STMT(BPF_RET | BPF_K, ret) };
	struct sock_fprog prog = { .len = 1, .filter = code };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
}

static int detach(int fd)
{
	int dummy = 0;

	return setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &dummy, sizeof(dummy));
}

/* Bytes fd has to read (SIOCINQ) once it has n, or after ms. */
static int inq_until(int fd, int n, int ms)
{
	long long end = now_ms() + ms;
	int v = -1;

	for (;;) {
		if (ioctl(fd, SIOCINQ, &v))
			return -1000 - errno;
		if (v >= n || now_ms() >= end)
			return v;
		usleep(5000);
	}
}

/* ---- a peer that becomes a martian ---------------------------------------- */

/*
 * Ingress rules hold for established connections too: once the peer's
 * address is one of this host's own, its frames off lo are martians and
 * dropped (IPv4: fib_validate_source; TCP's early-demux route is dropped
 * with the routing generation), and once it is not any more, the
 * sender's retransmission gets through.  AF_CUSTOM caches the check per
 * connection and routing generation: this is the test of that cache.
 */
TEST_F_TIMEOUT(dev, peer_address_made_local_is_martian, 60)
{
	char buf[8];
	long long mart = -1;
	int l, c, s, n;

	l = listener_on(NULL, PORT);
	ASSERT_LE(0, l);
	c = connect_from(&self->n, self->n.b, NULL, "10.77.0.1", PORT, 10000);
	ASSERT_LE(0, c) TH_LOG("connect over veth: %s", strerror(errno));
	s = accept_within(l, 10000);
	ASSERT_LE(0, s);
	/* One exchange first, so that the check is cached; then let the
	 * server's acknowledgement go out before its peer turns local. */
	ASSERT_EQ(1, send(c, "a", 1, 0));
	ASSERT_EQ(1, inq_until(s, 1, 5000));
	ASSERT_EQ(1, recv(s, buf, sizeof(buf), 0));
	usleep(300000);
	ASSERT_EQ(0, afc_sh("ip addr add 10.77.0.2/32 dev lo"));
	if (!afc_inet())
		mart = afc_stat("InMartians");
	ASSERT_EQ(1, send(c, "b", 1, 0));
	n = inq_until(s, 1, 1000);
	EXPECT_EQ(0, n) TH_LOG("data from a peer whose address is local was taken");
	if (!afc_inet())
		EXPECT_LT(mart, afc_stat("InMartians")) TH_LOG("no martian counted");
	ASSERT_EQ(0, afc_sh("ip addr del 10.77.0.2/32 dev lo"));
	/* The client's retransmission (within its backed-off timeout). */
	n = inq_until(s, 1, 20000);
	EXPECT_EQ(1, n) TH_LOG("the retransmission did not arrive once the address went");
	if (n == 1) {
		EXPECT_EQ(1, recv(s, buf, sizeof(buf), 0));
		EXPECT_EQ('b', buf[0]);
	}
	close(s);
	close(c);
	close(l);
}

/* Over veth (client in b) and over lo (client in a). */
FIXTURE(filter) {
	struct afc_nets n;
};
FIXTURE_VARIANT(filter) {
	int veth;
	const char *srv;
};
FIXTURE_VARIANT_ADD(filter, lo) { .veth = 0, .srv = "127.0.0.1" };
FIXTURE_VARIANT_ADD(filter, veth) { .veth = 1, .srv = "10.77.0.1" };

FIXTURE_SETUP(filter)
{
	NETS_SETUP();
}

FIXTURE_TEARDOWN(filter)
{
	afc_nets_close(&self->n);
}

/* "ret #0" on the receiving socket stops its data; detached, the sender's
 * retransmission brings every byte (waited for up to 30 s: the test's
 * own timeout must leave room for that and the set-up). */
TEST_F_TIMEOUT(filter, drop_all_stops_data, 120)
{
	int ns = variant->veth ? self->n.b : self->n.a;
	char out[1000], in[1000];
	long long drops = 0;
	int l, c, s, got = 0;

	for (int i = 0; i < (int)sizeof(out); i++)
		out[i] = (char)(i * 7 + 1);
	l = listener_on(NULL, PORT);
	ASSERT_LE(0, l);
	c = connect_from(&self->n, ns, NULL, variant->srv, PORT, 10000);
	ASSERT_LE(0, c) TH_LOG("connect: %s", strerror(errno));
	s = accept_within(l, 10000);
	ASSERT_LE(0, s);
	if (!afc_inet())
		drops = afc_stat("FilterDrops");

	ASSERT_EQ(0, attach_ret(s, 0)) TH_LOG("SO_ATTACH_FILTER: %s", strerror(errno));
	ASSERT_EQ((ssize_t)sizeof(out), send(c, out, sizeof(out), MSG_NOSIGNAL));
	EXPECT_EQ(0, inq_until(s, 1, 1500)) TH_LOG("data got through a drop-all filter");
	EXPECT_EQ(-1, recv(s, in, sizeof(in), MSG_DONTWAIT));
	EXPECT_EQ(EAGAIN, errno);
	if (!afc_inet()) {
		EXPECT_LT(drops, afc_stat("FilterDrops")) TH_LOG("filter drops not counted");
	}

	ASSERT_EQ(0, detach(s));
	EXPECT_EQ((int)sizeof(out), inq_until(s, sizeof(out), 30000))
		TH_LOG("the data was not retransmitted after the filter went");
	while (got < (int)sizeof(in)) {
		ssize_t n = recv(s, in + got, sizeof(in) - got, MSG_DONTWAIT);

		if (n <= 0)
			break;
		got += n;
	}
	ASSERT_EQ((int)sizeof(in), got);
	EXPECT_EQ(0, memcmp(in, out, sizeof(in)));
	close(s);
	close(c);
	close(l);
}

/* On a listener the filter drops SYNs: no connection until it goes, then
 * the client's SYN retransmission completes; children inherit it. */
TEST_F(filter, listener_filter)
{
	int ns = variant->veth ? self->n.b : self->n.a;
	struct sock_filter all[1];
	socklen_t len = 0;
	struct pollfd p;
	int l, c, s;

	l = listener_on(NULL, PORT);
	ASSERT_LE(0, l);
	ASSERT_EQ(0, attach_ret(l, 0));
	c = afc_socket_in(&self->n, ns, SOCK_NONBLOCK);
	ASSERT_LE(0, c);
	ASSERT_EQ(-1, afc_connect(c, variant->srv, PORT));
	ASSERT_EQ(EINPROGRESS, errno);
	p = (struct pollfd){ .fd = c, .events = POLLOUT };
	EXPECT_EQ(0, poll(&p, 1, 1500)) TH_LOG("connected through a drop-all filter (revents %x)", p.revents);
	EXPECT_EQ(-1, accept_within(l, 0));

	/* Accept everything from now on: the SYN's retransmission gets in. */
	ASSERT_EQ(0, attach_ret(l, 0xffffffff));
	p = (struct pollfd){ .fd = c, .events = POLLOUT };
	ASSERT_EQ(1, poll(&p, 1, 30000)) TH_LOG("not connected after the filter went");
	EXPECT_EQ(POLLOUT, p.revents);
	s = accept_within(l, 10000);
	ASSERT_LE(0, s);
	/* SO_GET_FILTER with no room gives the filter's length. */
	EXPECT_EQ(0, getsockopt(s, SOL_SOCKET, SO_GET_FILTER, all, &len)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(1, len) TH_LOG("the child did not inherit its listener's filter");
	close(s);
	close(c);
	close(l);
}

/* Rows of the calling thread's namespace's /proc/net/af_custom (or
 * /proc/net/tcp) with local port lport in state st (hex, TCP's numbers). */
static int rows_in_state(unsigned int lport, unsigned int st)
{
	FILE *f = fopen(afc_inet() ? "/proc/thread-self/net/tcp" : "/proc/thread-self/net/af_custom", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned int p, s;

		if (sscanf(line, " %*d: %*X:%X %*X:%*X %X", &p, &s) == 2 && p == lport && s == st)
			n++;
	}
	fclose(f);
	return n;
}

/* TIME_WAIT runs no filter (TCP's timewait socket has none): the server
 * shuts down first; its ACK of the client's FIN is lost (netem on va), so
 * the client, in LAST_ACK, retransmits its FIN; meanwhile the server's
 * socket, in TIME_WAIT, gets a drop-all filter.  The retransmitted FIN
 * must still be answered: the client leaves LAST_ACK. */
#define ST_LAST_ACK 9
TEST_F_TIMEOUT(dev, time_wait_is_not_filtered, 120)
{
	long long drops = 0, end;
	int l, c, s, cport, n;
	char ch;

	l = listener_on(NULL, PORT);
	ASSERT_LE(0, l);
	c = connect_from(&self->n, self->n.b, NULL, "10.77.0.1", PORT, 10000);
	ASSERT_LE(0, c) TH_LOG("connect: %s", strerror(errno));
	cport = afc_port(c, 0);
	s = accept_within(l, 10000);
	ASSERT_LE(0, s);
	ASSERT_EQ(0, fcntl(s, F_SETFL, 0));
	ASSERT_EQ(0, fcntl(c, F_SETFL, 0));
	ASSERT_EQ(0, shutdown(s, SHUT_WR));
	ASSERT_EQ(0, recv(c, &ch, 1, 0)) TH_LOG("the client saw no FIN");
	/* The server's FIN is acknowledged (FIN_WAIT_2) before the loss. */
	usleep(300 * 1000);
	ASSERT_EQ(0, afc_sh("tc qdisc add dev va root netem loss 100%%"));
	ASSERT_EQ(0, shutdown(c, SHUT_WR));
	ASSERT_EQ(0, recv(s, &ch, 1, 0)) TH_LOG("the server saw no FIN");
	/* Now in TIME_WAIT, the ACK lost: a filter that drops everything. */
	ASSERT_EQ(0, attach_ret(s, 0));
	ASSERT_EQ(0, setns(self->n.b, CLONE_NEWNET));
	n = rows_in_state(cport, ST_LAST_ACK);
	ASSERT_EQ(0, setns(self->n.a, CLONE_NEWNET));
	ASSERT_EQ(1, n) TH_LOG("the client is not in LAST_ACK");
	if (!afc_inet())
		drops = afc_stat("FilterDrops");
	ASSERT_EQ(0, afc_sh("tc qdisc del dev va root"));

	/* The client's FIN retransmission (backed off, within seconds). */
	end = now_ms() + 60000;
	ASSERT_EQ(0, setns(self->n.b, CLONE_NEWNET));
	while ((n = rows_in_state(cport, ST_LAST_ACK)) == 1 && now_ms() < end)
		usleep(50 * 1000);
	ASSERT_EQ(0, setns(self->n.a, CLONE_NEWNET));
	TH_LOG("the client left LAST_ACK after %lld ms", now_ms() - (end - 60000));
	EXPECT_EQ(0, n) TH_LOG("the TIME_WAIT end never answered the retransmitted FIN");
	if (!afc_inet()) {
		EXPECT_EQ(drops, afc_stat("FilterDrops")) TH_LOG("TIME_WAIT frames were filtered");
	}
	close(s);
	close(c);
	close(l);
}

TEST_HARNESS_MAIN
