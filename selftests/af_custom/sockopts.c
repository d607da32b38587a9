// SPDX-License-Identifier: GPL-2.0
/*
 * The protocol options at SOL_AF_CUSTOM (numbered as their TCP twins) and
 * the smaller TCP behaviours of issue 16: every body runs unchanged
 * against AF_INET/TCP with AFC_TEST_FAMILY=inet (afc_test.h), which is
 * how each expectation here was pinned to what TCP does.
 *
 * Variants: "lo" (both ends on 127.0.0.1 in one fresh namespace) and
 * "veth" (server in namespace a on va 10.77.0.1, client in namespace b
 * on vb 10.77.0.2).
 */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <net/if.h>
#include "afc_test.h"
#include "kselftest_harness.h"

_Static_assert(AFC_MAXSEG == TCP_MAXSEG && AFC_CORK == TCP_CORK &&
	       AFC_DEFER_ACCEPT == TCP_DEFER_ACCEPT && AFC_INFO == TCP_INFO &&
	       AFC_QUICKACK == TCP_QUICKACK && AFC_CONGESTION == TCP_CONGESTION &&
	       AFC_USER_TIMEOUT == TCP_USER_TIMEOUT && AFC_NOTSENT_LOWAT == TCP_NOTSENT_LOWAT,
	       "AFC_* options are numbered like TCP_*");

#define EXPECT_ERRNO(want, call) do { \
	errno = 0; \
	long __r = (long)(call); \
	ASSERT_EQ(-1, __r) TH_LOG("%s: expected -1 %s, got %ld", #call, strerror(want), __r); \
	ASSERT_EQ(want, errno) TH_LOG("%s: expected %s, got %s", #call, strerror(want), strerror(errno)); \
} while (0)

#define OPT afc_optlevel()

struct conn {
	int l, c, s, port;
};

FIXTURE(sockopts) {
	struct afc_nets n;
};
FIXTURE_VARIANT(sockopts) {
	int veth;
	const char *srv;	/* server address (namespace a) */
};
FIXTURE_VARIANT_ADD(sockopts, lo) { .veth = 0, .srv = "127.0.0.1" };
FIXTURE_VARIANT_ADD(sockopts, veth) { .veth = 1, .srv = "10.77.0.1" };

FIXTURE_SETUP(sockopts)
{
	int rc = variant->veth ? afc_veth_setup(&self->n) : afc_lo_setup(&self->n);

	if (rc && variant->veth && afc_inet())
		SKIP(return, "veth unavailable on this host (AFC_TEST_FAMILY=inet)");
	ASSERT_EQ(0, rc) TH_LOG("namespace setup failed");
	if (!afc_inet()) {
		ASSERT_LT(0, afc_family()) TH_LOG("af_custom is not loaded");
	}
}

FIXTURE_TEARDOWN(sockopts)
{
	afc_nets_close(&self->n);
}

#define CLI_SOCKET(flags) afc_socket_in(&self->n, self->n.b, (flags))

static int mk_listener(struct __test_metadata *_metadata, const char *ip, int *port)
{
	int fd = afc_tsocket();

	ASSERT_LE(0, fd) TH_LOG("socket: %s", strerror(errno));
	ASSERT_EQ(0, afc_bind(fd, ip, *port)) TH_LOG("bind: %s", strerror(errno));
	ASSERT_EQ(0, listen(fd, 16)) TH_LOG("listen: %s", strerror(errno));
	*port = afc_port(fd, 0);
	ASSERT_LT(0, *port);
	return fd;
}

static void close_conn(struct conn *k)
{
	if (k->c >= 0)
		close(k->c);
	if (k->s >= 0)
		close(k->s);
	if (k->l >= 0)
		close(k->l);
	k->c = k->s = k->l = -1;
}

/* Reads exactly len bytes (blocking), failing the test otherwise. */
static void read_exact(struct __test_metadata *_metadata, int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, 0);

		ASSERT_LT(0, n) TH_LOG("recv: %zd %s after %zu of %zu", n, strerror(errno), got, len);
		got += n;
	}
}

/* struct tcp_info as linux/tcp.h lays it out (glibc's netinet/tcp.h
 * stops before tcpi_segs_out), up to the fields this test reads. */
struct afc_tcp_info {
	uint8_t tcpi_state, tcpi_ca_state, tcpi_retransmits, tcpi_probes, tcpi_backoff,
		tcpi_options, tcpi_wscale, tcpi_flags;
	uint32_t tcpi_rto, tcpi_ato, tcpi_snd_mss, tcpi_rcv_mss;
	uint32_t tcpi_unacked, tcpi_sacked, tcpi_lost, tcpi_retrans, tcpi_fackets;
	uint32_t tcpi_last_data_sent, tcpi_last_ack_sent, tcpi_last_data_recv, tcpi_last_ack_recv;
	uint32_t tcpi_pmtu, tcpi_rcv_ssthresh, tcpi_rtt, tcpi_rttvar, tcpi_snd_ssthresh,
		 tcpi_snd_cwnd, tcpi_advmss, tcpi_reordering;
	uint32_t tcpi_rcv_rtt, tcpi_rcv_space, tcpi_total_retrans;
	uint64_t tcpi_pacing_rate, tcpi_max_pacing_rate, tcpi_bytes_acked, tcpi_bytes_received;
	uint32_t tcpi_segs_out, tcpi_segs_in, tcpi_notsent_bytes;
};
_Static_assert(offsetof(struct afc_tcp_info, tcpi_segs_out) == 136, "tcp_info layout");

/* TCP_INFO, at least up to tcpi_notsent_bytes. */
static struct afc_tcp_info get_info(struct __test_metadata *_metadata, int fd)
{
	struct afc_tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0xa5, sizeof(ti));
	ASSERT_EQ(0, getsockopt(fd, OPT, AFC_INFO, &ti, &len)) TH_LOG("AFC_INFO: %s", strerror(errno));
	ASSERT_EQ(sizeof(ti), len);
	return ti;
}

static unsigned int segs_out(struct __test_metadata *_metadata, int fd)
{
	return get_info(_metadata, fd).tcpi_segs_out;
}

/* Connects a client (namespace b) to a listener (namespace a); opts run on
 * the client before connect. */
static void mk_conn_opts(struct __test_metadata *_metadata, FIXTURE_DATA(sockopts) *self,
			 const FIXTURE_VARIANT(sockopts) *variant, struct conn *k, int maxseg)
{
	k->port = 0;
	k->l = mk_listener(_metadata, variant->srv, &k->port);
	k->c = CLI_SOCKET(0);
	ASSERT_LE(0, k->c);
	if (maxseg)
		ASSERT_EQ(0, afc_setint(k->c, OPT, AFC_MAXSEG, maxseg));
	ASSERT_EQ(0, afc_connect(k->c, variant->srv, k->port)) TH_LOG("connect: %s", strerror(errno));
	k->s = accept(k->l, NULL, NULL);
	ASSERT_LE(0, k->s) TH_LOG("accept: %s", strerror(errno));
}

#define mk_conn(k) mk_conn_opts(_metadata, self, variant, (k), 0)

/* ---- values, ranges and errnos ---------------------------------------------
 * TCP: an unknown option is ENOPROTOOPT both ways; an int option with a
 * short optlen EINVAL; TCP_INFO cannot be set (ENOPROTOOPT); TCP_MAXSEG
 * reads 536 unconnected, takes 0 or 88..32767; TCP_USER_TIMEOUT refuses a
 * negative value; TCP_DEFER_ACCEPT rounds up to the SYN-ACK schedule
 * (5 -> 7 s) and reads a negative value as 0; TCP_QUICKACK reads 1 on a
 * new socket, 0 after setting 0, 1 after an even value with no ACK owed.
 */
TEST_F(sockopts, values_and_errnos)
{
	int fd = afc_tsocket();
	short tiny = 1;
	int v = 0;
	socklen_t len;

	ASSERT_LE(0, fd);
	EXPECT_ERRNO(ENOPROTOOPT, afc_setint(fd, OPT, 99, 1));
	len = sizeof(v);
	EXPECT_ERRNO(ENOPROTOOPT, getsockopt(fd, OPT, 99, &v, &len));
	EXPECT_ERRNO(EINVAL, setsockopt(fd, OPT, AFC_CORK, &tiny, sizeof(tiny)));
	EXPECT_ERRNO(EINVAL, setsockopt(fd, OPT, AFC_USER_TIMEOUT, &tiny, sizeof(tiny)));
	EXPECT_ERRNO(ENOPROTOOPT, afc_setint(fd, OPT, AFC_INFO, 1));

	ASSERT_EQ(536, afc_getint(fd, OPT, AFC_MAXSEG));
	EXPECT_ERRNO(EINVAL, afc_setint(fd, OPT, AFC_MAXSEG, 87));
	EXPECT_ERRNO(EINVAL, afc_setint(fd, OPT, AFC_MAXSEG, 32768));
	EXPECT_ERRNO(EINVAL, afc_setint(fd, OPT, AFC_MAXSEG, -1));
	ASSERT_EQ(0, afc_setint(fd, OPT, AFC_MAXSEG, 1000));
	ASSERT_EQ(1000, afc_getint(fd, OPT, AFC_MAXSEG));
	ASSERT_EQ(0, afc_setint(fd, OPT, AFC_MAXSEG, 0));
	ASSERT_EQ(536, afc_getint(fd, OPT, AFC_MAXSEG));

	ASSERT_EQ(0, afc_getint(fd, OPT, AFC_USER_TIMEOUT));
	EXPECT_ERRNO(EINVAL, afc_setint(fd, OPT, AFC_USER_TIMEOUT, -1));
	ASSERT_EQ(0, afc_setint(fd, OPT, AFC_USER_TIMEOUT, 1234));
	ASSERT_EQ(1234, afc_getint(fd, OPT, AFC_USER_TIMEOUT));

	ASSERT_EQ(0, afc_getint(fd, OPT, AFC_DEFER_ACCEPT));
	ASSERT_EQ(0, afc_setint(fd, OPT, AFC_DEFER_ACCEPT, 5));
	ASSERT_EQ(7, afc_getint(fd, OPT, AFC_DEFER_ACCEPT));
	ASSERT_EQ(0, afc_setint(fd, OPT, AFC_DEFER_ACCEPT, 1));
	ASSERT_EQ(1, afc_getint(fd, OPT, AFC_DEFER_ACCEPT));
	ASSERT_EQ(0, afc_setint(fd, OPT, AFC_DEFER_ACCEPT, -3));
	ASSERT_EQ(0, afc_getint(fd, OPT, AFC_DEFER_ACCEPT));

	ASSERT_EQ(0, afc_getint(fd, OPT, AFC_CORK));
	ASSERT_EQ(0, afc_setint(fd, OPT, AFC_CORK, 5));
	ASSERT_EQ(1, afc_getint(fd, OPT, AFC_CORK));
	ASSERT_EQ(0, afc_setint(fd, OPT, AFC_CORK, 0));
	ASSERT_EQ(0, afc_getint(fd, OPT, AFC_CORK));

	ASSERT_EQ(1, afc_getint(fd, OPT, AFC_QUICKACK));
	ASSERT_EQ(0, afc_setint(fd, OPT, AFC_QUICKACK, 0));
	ASSERT_EQ(0, afc_getint(fd, OPT, AFC_QUICKACK));
	ASSERT_EQ(0, afc_setint(fd, OPT, AFC_QUICKACK, 1));
	ASSERT_EQ(1, afc_getint(fd, OPT, AFC_QUICKACK));
	/* An even value re-enters delayed ACKs only if an ACK was owed. */
	ASSERT_EQ(0, afc_setint(fd, OPT, AFC_QUICKACK, 0));
	ASSERT_EQ(0, afc_setint(fd, OPT, AFC_QUICKACK, 2));
	ASSERT_EQ(1, afc_getint(fd, OPT, AFC_QUICKACK));

	ASSERT_EQ(0, afc_getint(fd, OPT, AFC_NOTSENT_LOWAT));
	ASSERT_EQ(0, afc_setint(fd, OPT, AFC_NOTSENT_LOWAT, 12345));
	ASSERT_EQ(12345, afc_getint(fd, OPT, AFC_NOTSENT_LOWAT));
	ASSERT_EQ(0, close(fd));
}

/* TCP: TCP_CONGESTION reads the algorithm's name (NUL-padded, truncated
 * to optlen); setting that name again works, an unknown one is ENOENT, an
 * empty optlen EINVAL.  AF_CUSTOM's one algorithm is "reno". */
TEST_F(sockopts, congestion)
{
	int fd = afc_tsocket();
	char name[16], name2[16];
	socklen_t len = sizeof(name);

	ASSERT_LE(0, fd);
	memset(name, 'x', sizeof(name));
	ASSERT_EQ(0, getsockopt(fd, OPT, AFC_CONGESTION, name, &len));
	ASSERT_EQ(16, len);
	ASSERT_LT(0, strnlen(name, sizeof(name)));
	ASSERT_GT(16, strnlen(name, sizeof(name)));
	if (!afc_inet())
		ASSERT_STREQ("reno", name);
	TH_LOG("congestion control: %s", name);
	ASSERT_EQ(0, setsockopt(fd, OPT, AFC_CONGESTION, name, strlen(name)));
	EXPECT_ERRNO(ENOENT, setsockopt(fd, OPT, AFC_CONGESTION, "afc_no_such_cc", 14));
	EXPECT_ERRNO(EINVAL, setsockopt(fd, OPT, AFC_CONGESTION, "reno", 0));
	len = 2;
	memset(name2, 0, sizeof(name2));
	ASSERT_EQ(0, getsockopt(fd, OPT, AFC_CONGESTION, name2, &len));
	ASSERT_EQ(2, len);
	ASSERT_EQ(0, memcmp(name, name2, 2));
	ASSERT_EQ(0, name2[2]);
	ASSERT_EQ(0, close(fd));
}

/* TCP_INFO: state CLOSE (7) unconnected, ESTABLISHED (1) connected, with
 * the MSS, a congestion window and no segment left unacknowledged once the
 * peer has read everything; a short optlen truncates. */
TEST_F(sockopts, info)
{
	struct conn k;
	struct afc_tcp_info ti;
	char buf[5000];
	socklen_t len = 4;
	int fd = afc_tsocket();
	unsigned char head[4];

	ASSERT_LE(0, fd);
	ti = get_info(_metadata, fd);
	ASSERT_EQ(7, ti.tcpi_state);
	ASSERT_EQ(0, getsockopt(fd, OPT, AFC_INFO, head, &len));
	ASSERT_EQ(4, len);
	ASSERT_EQ(7, head[0]);
	close(fd);

	mk_conn(&k);
	ASSERT_EQ(1, get_info(_metadata, k.c).tcpi_state);
	memset(buf, 'i', sizeof(buf));
	ASSERT_EQ(sizeof(buf), send_all(k.c, buf, sizeof(buf)));
	read_exact(_metadata, k.s, buf, sizeof(buf));
	for (int i = 0; i < 100; i++) {
		ti = get_info(_metadata, k.c);
		if (ti.tcpi_unacked == 0)
			break;
		usleep(20000);
	}
	ASSERT_EQ(0, ti.tcpi_unacked);
	ASSERT_EQ(1, ti.tcpi_state);
	ASSERT_LT(0, ti.tcpi_snd_mss);
	ASSERT_LT(0, ti.tcpi_snd_cwnd);
	ASSERT_LT(0, ti.tcpi_rto);
	ASSERT_LE(1, ti.tcpi_segs_out);
	TH_LOG("snd_mss %u cwnd %u rto %u us rtt %u us segs_out %u", ti.tcpi_snd_mss, ti.tcpi_snd_cwnd,
	       ti.tcpi_rto, ti.tcpi_rtt, ti.tcpi_segs_out);
	close_conn(&k);
}

/* The longer of the two ends' RTOs, in microseconds. */
static unsigned int max_rto(struct __test_metadata *_metadata, struct conn *k)
{
	unsigned int a = get_info(_metadata, k->c).tcpi_rto, b = get_info(_metadata, k->s).tcpi_rto;

	return a > b ? a : b;
}

/* Data after a silence longer than the RTO is acknowledged at once, before
 * anyone reads it (TCP's quick ACKs, tcp_event_data_recv): on one host the
 * receive runs on the writer's way out of send(), so the writer has
 * nothing unacknowledged when it returns.  A delayed ACK would take 5 ms
 * here (40 ms on TCP). */
TEST_F(sockopts, quick_ack_after_silence)
{
	struct conn k;
	char b = 'q';

	mk_conn(&k);
	ASSERT_EQ(0, afc_setint(k.c, OPT, AFC_NODELAY, 1));
	for (int round = 0; round < 2; round++) {
		usleep(2 * max_rto(_metadata, &k) + 100000);
		ASSERT_EQ(1, send(k.c, &b, 1, 0));
		ASSERT_EQ(0, get_info(_metadata, k.c).tcpi_unacked) TH_LOG("round %d: not acknowledged at once", round);
		read_exact(_metadata, k.s, &b, 1);
	}
	close_conn(&k);
}

/* An interactive connection (one that answers within the delayed-ACK time
 * of what it receives: TCP's ping-pong mode) leaves the acknowledgement of
 * data after a silence to its answer, one frame rather than two; it reads
 * back TCP_QUICKACK 0 meanwhile. */
TEST_F(sockopts, interactive_ack_waits_for_answer)
{
	struct conn k;
	char b = 'q';

	mk_conn(&k);
	ASSERT_EQ(0, afc_setint(k.c, OPT, AFC_NODELAY, 1));
	ASSERT_EQ(0, afc_setint(k.s, OPT, AFC_NODELAY, 1));
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(1, send(k.c, &b, 1, 0));
		read_exact(_metadata, k.s, &b, 1);
		ASSERT_EQ(1, send(k.s, &b, 1, 0));
		read_exact(_metadata, k.c, &b, 1);
	}
	ASSERT_EQ(0, afc_getint(k.s, OPT, AFC_QUICKACK)) TH_LOG("the server is interactive");
	usleep(2 * max_rto(_metadata, &k) + 100000);
	ASSERT_EQ(1, send(k.c, &b, 1, 0));
	ASSERT_EQ(1, get_info(_metadata, k.c).tcpi_unacked) TH_LOG("the ACK waits for the answer");
	read_exact(_metadata, k.s, &b, 1);
	ASSERT_EQ(1, send(k.s, &b, 1, 0));
	read_exact(_metadata, k.c, &b, 1);
	ASSERT_EQ(0, get_info(_metadata, k.c).tcpi_unacked);
	close_conn(&k);
}

/* TCP_MAXSEG set before connect clamps the MSS both ends use (TCP takes
 * its option bytes off: 988 for 1000 on TCP), and the data still flows. */
TEST_F(sockopts, maxseg_clamps)
{
	struct conn k;
	static char buf[100000], got[100000];
	int c, s;

	mk_conn_opts(_metadata, self, variant, &k, 1000);
	c = afc_getint(k.c, OPT, AFC_MAXSEG);
	s = afc_getint(k.s, OPT, AFC_MAXSEG);
	TH_LOG("MSS client %d server %d", c, s);
	ASSERT_LT(900, c);
	ASSERT_GE(1000, c);
	ASSERT_LT(900, s);
	ASSERT_GE(1000, s);
	ASSERT_EQ(c, get_info(_metadata, k.c).tcpi_snd_mss);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = i * 7;
	/* Written and read in turns (neither end blocks on the other). */
	size_t sent = 0, rcvd = 0;
	long long t0 = now_ms();

	while (rcvd < sizeof(got)) {
		ssize_t n;

		if (sent < sizeof(buf)) {
			n = send(k.s, buf + sent, sizeof(buf) - sent, MSG_DONTWAIT);
			ASSERT_TRUE(n > 0 || errno == EAGAIN) TH_LOG("send: %s", strerror(errno));
			if (n > 0)
				sent += n;
		}
		n = recv(k.c, got + rcvd, sizeof(got) - rcvd, MSG_DONTWAIT);
		ASSERT_TRUE(n > 0 || errno == EAGAIN) TH_LOG("recv: %zd %s", n, strerror(errno));
		if (n > 0)
			rcvd += n;
		else
			usleep(1000);
		ASSERT_GT(30000, now_ms() - t0) TH_LOG("stalled: sent %zu, received %zu", sent, rcvd);
	}
	ASSERT_EQ(0, memcmp(buf, got, sizeof(buf)));
	close_conn(&k);
}

/* ---- cork and MSG_MORE -----------------------------------------------------
 * TCP: ten 100-byte writes under TCP_CORK (even with TCP_NODELAY) leave as
 * one segment when the cork comes off; without the cork, TCP_NODELAY sends
 * each write at once (ten segments); MSG_MORE holds a write until one
 * without it.  Counted by the sender's tcpi_segs_out (it sends nothing
 * else meanwhile) and, for AF_CUSTOM, by the namespace's OutSegs frame
 * counter.  Corked data is held at most 200 ms (tcp(7)): the writes take
 * far less.
 */
TEST_F(sockopts, cork_coalesces_writes)
{
	struct conn k;
	char buf[1000];
	unsigned int before, after;
	long long frames = 0;
	struct pollfd p;

	if (variant->veth)
		SKIP(return, "counted on lo");
	mk_conn(&k);
	memset(buf, 'c', sizeof(buf));
	ASSERT_EQ(0, afc_setint(k.c, OPT, AFC_NODELAY, 1));

	/* No cork: each write is a segment. */
	before = segs_out(_metadata, k.c);
	for (int i = 0; i < 10; i++)
		ASSERT_EQ(100, send(k.c, buf, 100, 0));
	read_exact(_metadata, k.s, buf, 1000);
	after = segs_out(_metadata, k.c);
	TH_LOG("nodelay: %u segments for 10 writes", after - before);
	ASSERT_EQ(10, after - before);

	/* Corked: one segment, sent when the cork comes off. */
	ASSERT_EQ(0, afc_setint(k.c, OPT, AFC_CORK, 1));
	before = segs_out(_metadata, k.c);
	if (!afc_inet())
		frames = afc_stat("OutSegs");
	for (int i = 0; i < 10; i++)
		ASSERT_EQ(100, send(k.c, buf, 100, 0));
	p = (struct pollfd){ .fd = k.s, .events = POLLIN };
	ASSERT_EQ(0, poll(&p, 1, 0)) TH_LOG("corked data arrived");
	ASSERT_EQ(before, segs_out(_metadata, k.c));
	ASSERT_EQ(0, afc_setint(k.c, OPT, AFC_CORK, 0));
	read_exact(_metadata, k.s, buf, 1000);
	after = segs_out(_metadata, k.c);
	TH_LOG("cork: %u segments for 10 writes", after - before);
	ASSERT_EQ(1, after - before);
	if (!afc_inet()) {
		/* The data frame, and at most the reader's ACK of it. */
		frames = afc_stat("OutSegs") - frames;
		TH_LOG("cork: %lld frames in the namespace", frames);
		ASSERT_LE(1, frames);
		ASSERT_GE(2, frames);
	}

	/* MSG_MORE: held until a send without it. */
	before = segs_out(_metadata, k.c);
	for (int i = 0; i < 5; i++)
		ASSERT_EQ(100, send(k.c, buf, 100, MSG_MORE));
	ASSERT_EQ(0, poll(&p, 1, 0)) TH_LOG("MSG_MORE data arrived");
	ASSERT_EQ(100, send(k.c, buf, 100, 0));
	read_exact(_metadata, k.s, buf, 600);
	after = segs_out(_metadata, k.c);
	TH_LOG("MSG_MORE: %u segments for 6 writes", after - before);
	ASSERT_EQ(1, after - before);
	close_conn(&k);
}

/* TCP: corked data still goes after the 200 ms ceiling, without uncorking. */
TEST_F(sockopts, cork_ceiling)
{
	struct conn k;
	char buf[100];
	long long t0;

	mk_conn(&k);
	ASSERT_EQ(0, afc_setint(k.c, OPT, AFC_CORK, 1));
	memset(buf, 'z', sizeof(buf));
	t0 = now_ms();
	ASSERT_EQ(100, send(k.c, buf, 100, 0));
	read_exact(_metadata, k.s, buf, 100);
	TH_LOG("corked write arrived after %lld ms", now_ms() - t0);
	ASSERT_LE(150, now_ms() - t0);
	ASSERT_GT(10000, now_ms() - t0);
	close_conn(&k);
}

/* ---- user timeout ------------------------------------------------------------
 * TCP: with TCP_USER_TIMEOUT 1500 ms and the peer gone silent (netem loss
 * 100% on its device), data sent stays unacknowledged and the connection
 * fails with ETIMEDOUT about 1.5 s after the first send, long before the
 * retry count would end it (minutes).
 */
TEST_F_TIMEOUT(sockopts, user_timeout_aborts, 60)
{
	struct conn k;
	char buf[100];
	long long t0, took;

	if (!variant->veth)
		SKIP(return, "needs a link to silence");
	mk_conn(&k);
	ASSERT_EQ(0, afc_setint(k.c, OPT, AFC_USER_TIMEOUT, 1500));
	ASSERT_EQ(0, afc_sh_in(self->n.a, self->n.a, "tc qdisc add dev va root netem loss 100%"));
	memset(buf, 'u', sizeof(buf));
	t0 = now_ms();
	ASSERT_EQ(100, send(k.c, buf, sizeof(buf), 0));
	EXPECT_ERRNO(ETIMEDOUT, recv(k.c, buf, sizeof(buf), 0));
	took = now_ms() - t0;
	TH_LOG("aborted after %lld ms", took);
	ASSERT_LE(1400, took);
	ASSERT_GT(15000, took);
	EXPECT_ERRNO(EPIPE, send(k.c, buf, 1, MSG_NOSIGNAL));
	close_conn(&k);
}

/* TCP: the user timeout bounds connect() too: with every SYN lost and
 * TCP_SYNCNT at 6 (two minutes of retries), connect fails with ETIMEDOUT
 * about 1.5 s after it started. */
TEST_F_TIMEOUT(sockopts, user_timeout_bounds_connect, 60)
{
	int fd;
	long long t0, took;

	if (!variant->veth)
		SKIP(return, "needs a link to silence");
	ASSERT_EQ(0, afc_sh_in(self->n.a, self->n.a, "tc qdisc add dev va root netem loss 100%"));
	fd = afc_tsocket();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, afc_setint(fd, OPT, AFC_SYNCNT, 6));
	ASSERT_EQ(0, afc_setint(fd, OPT, AFC_USER_TIMEOUT, 1500));
	t0 = now_ms();
	EXPECT_ERRNO(ETIMEDOUT, afc_connect(fd, "10.77.0.2", 9000));
	took = now_ms() - t0;
	TH_LOG("connect gave up after %lld ms", took);
	ASSERT_LE(1400, took);
	ASSERT_GT(15000, took);
	close(fd);
}

/* ---- deferred accept -----------------------------------------------------------
 * TCP: with TCP_DEFER_ACCEPT on the listener, a connection whose client
 * has sent nothing is not offered to accept (poll shows no POLLIN); the
 * first data makes it acceptable, with the data there to read.
 */
TEST_F(sockopts, defer_accept_waits_for_data)
{
	struct conn k = { .l = -1, .c = -1, .s = -1 };
	struct pollfd p;
	char buf[8];

	k.l = mk_listener(_metadata, variant->srv, &k.port);
	ASSERT_EQ(0, afc_setint(k.l, OPT, AFC_DEFER_ACCEPT, 30));
	k.c = CLI_SOCKET(0);
	ASSERT_EQ(0, afc_connect(k.c, variant->srv, k.port));
	p = (struct pollfd){ .fd = k.l, .events = POLLIN };
	ASSERT_EQ(0, poll(&p, 1, 500)) TH_LOG("a connection without data was offered");
	ASSERT_EQ(5, send(k.c, "hello", 5, 0));
	ASSERT_EQ(1, poll(&p, 1, 10000));
	k.s = accept(k.l, NULL, NULL);
	ASSERT_LE(0, k.s);
	ASSERT_EQ(5, recv(k.s, buf, sizeof(buf), MSG_DONTWAIT));
	ASSERT_EQ(0, memcmp(buf, "hello", 5));
	close_conn(&k);
}

/* TCP: once the deferral (1 s here) has passed, the connection is offered
 * to accept without data (TCP: after one SYN-ACK retransmission). */
TEST_F(sockopts, defer_accept_times_out)
{
	struct conn k = { .l = -1, .c = -1, .s = -1 };
	struct pollfd p;
	long long t0;
	char buf[4];

	k.l = mk_listener(_metadata, variant->srv, &k.port);
	ASSERT_EQ(0, afc_setint(k.l, OPT, AFC_DEFER_ACCEPT, 1));
	k.c = CLI_SOCKET(0);
	t0 = now_ms();
	ASSERT_EQ(0, afc_connect(k.c, variant->srv, k.port));
	p = (struct pollfd){ .fd = k.l, .events = POLLIN };
	ASSERT_EQ(1, poll(&p, 1, 15000));
	TH_LOG("offered after %lld ms", now_ms() - t0);
	ASSERT_LE(800, now_ms() - t0);
	k.s = accept(k.l, NULL, NULL);
	ASSERT_LE(0, k.s);
	EXPECT_ERRNO(EAGAIN, recv(k.s, buf, sizeof(buf), MSG_DONTWAIT));
	ASSERT_EQ(2, send(k.c, "hi", 2, 0));
	read_exact(_metadata, k.s, buf, 2);
	close_conn(&k);
}

/* ---- not-sent low-water mark ------------------------------------------------------
 * TCP: with TCP_NOTSENT_LOWAT 4096 and a peer that does not read (small
 * receive buffer), nonblocking writes stop with EAGAIN once 4096 bytes
 * wait unsent, far before the send buffer is full, and POLLOUT is off;
 * once the peer reads everything POLLOUT comes back, with fewer than half
 * the mark unsent.
 */
TEST_F_TIMEOUT(sockopts, notsent_lowat_poll, 60)
{
	struct conn k = { .l = -1, .c = -1, .s = -1 };
	static char buf[1000], sink[65536];
	struct pollfd p;
	long long total = 0, drained = 0, t0;
	int unsent, fl;

	k.l = afc_tsocket();
	ASSERT_LE(0, k.l);
	ASSERT_EQ(0, afc_setint(k.l, SOL_SOCKET, SO_RCVBUF, 8192));
	ASSERT_EQ(0, afc_bind(k.l, variant->srv, 0));
	ASSERT_EQ(0, listen(k.l, 4));
	k.port = afc_port(k.l, 0);
	k.c = CLI_SOCKET(0);
	ASSERT_EQ(0, afc_setint(k.c, SOL_SOCKET, SO_SNDBUF, 1 << 20));
	ASSERT_EQ(0, afc_setint(k.c, OPT, AFC_NOTSENT_LOWAT, 4096));
	ASSERT_EQ(0, afc_connect(k.c, variant->srv, k.port));
	k.s = accept(k.l, NULL, NULL);
	ASSERT_LE(0, k.s);
	fl = fcntl(k.c, F_GETFL);
	ASSERT_EQ(0, fcntl(k.c, F_SETFL, fl | O_NONBLOCK));
	memset(buf, 'n', sizeof(buf));
	t0 = now_ms();
	for (;;) {
		ssize_t n = send(k.c, buf, sizeof(buf), 0);

		if (n < 0) {
			ASSERT_EQ(EAGAIN, errno);
			/* A window update may still send some: settle. */
			usleep(200000);
			n = send(k.c, buf, sizeof(buf), 0);
			if (n < 0) {
				ASSERT_EQ(EAGAIN, errno);
				break;
			}
		}
		total += n;
		ASSERT_GT(20000, now_ms() - t0) TH_LOG("never blocked: %lld bytes", total);
	}
	ASSERT_EQ(0, ioctl(k.c, SIOCOUTQNSD, &unsent));
	TH_LOG("blocked after %lld bytes, %d unsent", total, unsent);
	ASSERT_LE(4096, unsent);
	ASSERT_GT(4096 + 2 * (int)sizeof(buf), unsent);
	/* Far from the 1 MiB send buffer. */
	ASSERT_GT(512 * 1024, total);
	p = (struct pollfd){ .fd = k.c, .events = POLLOUT };
	ASSERT_EQ(0, poll(&p, 1, 0));
	/* The peer reads everything: POLLOUT comes back. */
	while (drained < total) {
		ssize_t n = recv(k.s, sink, sizeof(sink), 0);

		ASSERT_LT(0, n);
		drained += n;
	}
	ASSERT_EQ(1, poll(&p, 1, 10000));
	ASSERT_TRUE(p.revents & POLLOUT);
	ASSERT_EQ(0, ioctl(k.c, SIOCOUTQNSD, &unsent));
	ASSERT_GT(2048, unsent);
	close_conn(&k);
}

/* ---- connect(AF_UNSPEC) ------------------------------------------------------------
 * TCP (tcp_disconnect): connect() with an AF_UNSPEC address returns 0,
 * resets the peer (its read gets ECONNRESET), leaves ECONNRESET in
 * SO_ERROR, and the socket is unconnected (getpeername ENOTCONN) and can
 * connect again.  A listener stops listening (accept EINVAL) and can
 * listen again (on a new port when the user bound port 0).  An address
 * shorter than the family field is EINVAL.
 */
TEST_F(sockopts, unspec_disconnects)
{
	struct conn k;
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	struct sockaddr_custom peer;
	socklen_t plen = sizeof(peer);
	char buf[8];
	int s2, fl;

	mk_conn(&k);
	ASSERT_EQ(3, send(k.s, "old", 3, 0));
	usleep(100000);
	EXPECT_ERRNO(EINVAL, connect(k.c, &unspec, 1));
	ASSERT_EQ(0, connect(k.c, &unspec, sizeof(unspec)));
	ASSERT_EQ(ECONNRESET, afc_getint(k.c, SOL_SOCKET, SO_ERROR));
	EXPECT_ERRNO(ENOTCONN, getpeername(k.c, (struct sockaddr *)&peer, &plen));
	EXPECT_ERRNO(ECONNRESET, recv(k.s, buf, sizeof(buf), 0));
	close(k.s);
	/* Again, to the same listener: a new connection, the old data gone. */
	ASSERT_EQ(0, afc_connect(k.c, variant->srv, k.port)) TH_LOG("reconnect: %s", strerror(errno));
	k.s = accept(k.l, NULL, NULL);
	ASSERT_LE(0, k.s);
	ASSERT_EQ(3, send(k.c, "new", 3, 0));
	read_exact(_metadata, k.s, buf, 3);
	ASSERT_EQ(0, memcmp(buf, "new", 3));
	ASSERT_EQ(2, send(k.s, "ok", 2, 0));
	read_exact(_metadata, k.c, buf, 2);
	ASSERT_EQ(0, memcmp(buf, "ok", 2));
	/* An unconnected socket: nothing to do, still 0. */
	s2 = afc_tsocket();
	ASSERT_EQ(0, connect(s2, &unspec, sizeof(unspec)));
	ASSERT_EQ(0, afc_getint(s2, SOL_SOCKET, SO_ERROR));
	close(s2);
	/* A listener stops listening, then listens again. */
	ASSERT_EQ(0, connect(k.l, &unspec, sizeof(unspec)));
	fl = fcntl(k.l, F_GETFL);
	ASSERT_EQ(0, fcntl(k.l, F_SETFL, fl | O_NONBLOCK));
	EXPECT_ERRNO(EINVAL, accept(k.l, NULL, NULL));
	ASSERT_EQ(0, listen(k.l, 4));
	EXPECT_ERRNO(EAGAIN, accept(k.l, NULL, NULL));
	/* Bound to port 0: the port was not the user's, a new one is taken. */
	ASSERT_LT(0, afc_port(k.l, 0));
	close_conn(&k);
}

/* ---- SO_PEEK_OFF and MSG_PEEK|MSG_WAITALL -------------------------------------------
 * TCP: with SO_PEEK_OFF set, each MSG_PEEK read continues where the last
 * one stopped, and a read that consumes moves the offset back by what it
 * took; -1 turns it off (peeks start at the front again).
 */
TEST_F(sockopts, peek_off)
{
	struct conn k;
	char buf[16];

	mk_conn(&k);
	ASSERT_EQ(-1, afc_getint(k.s, SOL_SOCKET, SO_PEEK_OFF));
	ASSERT_EQ(0, afc_setint(k.s, SOL_SOCKET, SO_PEEK_OFF, 0));
	ASSERT_EQ(10, send(k.c, "0123456789", 10, 0));
	ASSERT_EQ(3, recv(k.s, buf, 3, MSG_PEEK | MSG_WAITALL));
	ASSERT_EQ(0, memcmp(buf, "012", 3));
	ASSERT_EQ(3, recv(k.s, buf, 3, MSG_PEEK));
	ASSERT_EQ(0, memcmp(buf, "345", 3));
	ASSERT_EQ(6, afc_getint(k.s, SOL_SOCKET, SO_PEEK_OFF));
	ASSERT_EQ(2, recv(k.s, buf, 2, 0));
	ASSERT_EQ(0, memcmp(buf, "01", 2));
	ASSERT_EQ(4, afc_getint(k.s, SOL_SOCKET, SO_PEEK_OFF));
	ASSERT_EQ(3, recv(k.s, buf, 3, MSG_PEEK));
	ASSERT_EQ(0, memcmp(buf, "678", 3));
	ASSERT_EQ(0, afc_setint(k.s, SOL_SOCKET, SO_PEEK_OFF, -1));
	ASSERT_EQ(3, recv(k.s, buf, 3, MSG_PEEK));
	ASSERT_EQ(0, memcmp(buf, "234", 3));
	ASSERT_EQ(8, recv(k.s, buf, sizeof(buf), 0));
	ASSERT_EQ(0, memcmp(buf, "23456789", 8));
	close_conn(&k);
}

struct later_send {
	pthread_t th;
	int fd, ms;
	const char *data;
};

static void *later_send_fn(void *p)
{
	struct later_send *l = p;

	usleep(l->ms * 1000);
	send(l->fd, l->data, strlen(l->data), 0);
	return NULL;
}

/* TCP: recv(MSG_PEEK | MSG_WAITALL) waits for the whole count, as a read
 * with MSG_WAITALL does, and leaves it all queued. */
TEST_F(sockopts, peek_waitall_waits)
{
	struct conn k;
	struct later_send l;
	char buf[16];
	long long t0;

	mk_conn(&k);
	ASSERT_EQ(3, send(k.c, "abc", 3, 0));
	l = (struct later_send){ .fd = k.c, .ms = 300, .data = "def" };
	ASSERT_EQ(0, pthread_create(&l.th, NULL, later_send_fn, &l));
	t0 = now_ms();
	ASSERT_EQ(6, recv(k.s, buf, 6, MSG_PEEK | MSG_WAITALL));
	ASSERT_LE(250, now_ms() - t0);
	ASSERT_EQ(0, memcmp(buf, "abcdef", 6));
	pthread_join(l.th, NULL);
	ASSERT_EQ(6, recv(k.s, buf, sizeof(buf), MSG_DONTWAIT));
	ASSERT_EQ(0, memcmp(buf, "abcdef", 6));
	close_conn(&k);
}

/* ---- what an accepted socket takes from its listener ---------------------------------
 * TCP (sk_clone_lock): an accepted socket starts with its listener's
 * SOL_SOCKET settings.  Each setting AF_CUSTOM's child inherits
 * (`inherit_from_listener`, rust/socket/listen.rs) that getsockopt shows
 * is set on the listener to a value a new socket does not have, and the
 * accepted socket must report the listener's value: SO_RCVBUF, SO_SNDBUF,
 * SO_RCVLOWAT, SO_KEEPALIVE, SO_OOBINLINE, SO_MARK, SO_REUSEADDR,
 * SO_REUSEPORT, SO_RCVTIMEO, SO_SNDTIMEO, SO_LINGER and SO_BINDTODEVICE.
 * (The owner's uid and the buffer locks are not visible this way; the
 * filter is devbind.c's.)
 */
TEST_F(sockopts, accepted_socket_inherits)
{
	static const struct { int opt; const char *name; int val; } ints[] = {
		/* SO_RCVBUF first: it bounds SO_RCVLOWAT. */
		{ SO_RCVBUF, "SO_RCVBUF", 9000 },
		{ SO_SNDBUF, "SO_SNDBUF", 70000 },
		{ SO_RCVLOWAT, "SO_RCVLOWAT", 100 },
		{ SO_KEEPALIVE, "SO_KEEPALIVE", 1 },
		{ SO_OOBINLINE, "SO_OOBINLINE", 1 },
		{ SO_MARK, "SO_MARK", 0x5a5 },
		{ SO_REUSEADDR, "SO_REUSEADDR", 1 },
		{ SO_REUSEPORT, "SO_REUSEPORT", 1 },
	};
	static const struct { int opt; const char *name; struct timeval tv; } times[] = {
		{ SO_RCVTIMEO, "SO_RCVTIMEO", { .tv_sec = 3, .tv_usec = 250000 } },
		{ SO_SNDTIMEO, "SO_SNDTIMEO", { .tv_sec = 7, .tv_usec = 500000 } },
	};
	const char *dev = variant->veth ? "va" : "lo";
	struct conn k = { .l = -1, .c = -1, .s = -1 };
	struct linger lg = { .l_onoff = 1, .l_linger = 9 }, lgl, lgs, off = { 0 };
	char ldev[IFNAMSIZ + 1], sdev[IFNAMSIZ + 1];
	struct timeval tvl, tvs, tv0;
	socklen_t len;
	size_t i;
	int fresh;

	fresh = afc_tsocket();
	ASSERT_LE(0, fresh);
	k.l = afc_tsocket();
	ASSERT_LE(0, k.l);
	for (i = 0; i < ARRAY_SIZE(ints); i++) {
		const char *name = ints[i].name;

		ASSERT_EQ(0, afc_setint(k.l, SOL_SOCKET, ints[i].opt, ints[i].val))
			TH_LOG("set %s: %s", name, strerror(errno));
		ASSERT_NE(afc_getint(fresh, SOL_SOCKET, ints[i].opt), afc_getint(k.l, SOL_SOCKET, ints[i].opt))
			TH_LOG("%s: the listener's value is a new socket's", name);
	}
	for (i = 0; i < ARRAY_SIZE(times); i++) {
		const char *name = times[i].name;

		ASSERT_EQ(0, setsockopt(k.l, SOL_SOCKET, times[i].opt, &times[i].tv, sizeof(times[i].tv)))
			TH_LOG("set %s: %s", name, strerror(errno));
	}
	ASSERT_EQ(0, setsockopt(k.l, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	ASSERT_EQ(0, setsockopt(k.l, SOL_SOCKET, SO_BINDTODEVICE, dev, strlen(dev) + 1))
		TH_LOG("SO_BINDTODEVICE %s: %s", dev, strerror(errno));
	ASSERT_EQ(0, afc_bind(k.l, variant->srv, 0));
	ASSERT_EQ(0, listen(k.l, 4));
	k.port = afc_port(k.l, 0);
	k.c = CLI_SOCKET(0);
	ASSERT_LE(0, k.c);
	ASSERT_EQ(0, afc_connect(k.c, variant->srv, k.port)) TH_LOG("connect: %s", strerror(errno));
	k.s = accept(k.l, NULL, NULL);
	ASSERT_LE(0, k.s) TH_LOG("accept: %s", strerror(errno));

	for (i = 0; i < ARRAY_SIZE(ints); i++) {
		const char *name = ints[i].name;

		EXPECT_EQ(afc_getint(k.l, SOL_SOCKET, ints[i].opt), afc_getint(k.s, SOL_SOCKET, ints[i].opt))
			TH_LOG("%s: the accepted socket's differs from its listener's", name);
	}
	for (i = 0; i < ARRAY_SIZE(times); i++) {
		const char *name = times[i].name;

		len = sizeof(tv0);
		ASSERT_EQ(0, getsockopt(fresh, SOL_SOCKET, times[i].opt, &tv0, &len));
		len = sizeof(tvl);
		ASSERT_EQ(0, getsockopt(k.l, SOL_SOCKET, times[i].opt, &tvl, &len));
		len = sizeof(tvs);
		ASSERT_EQ(0, getsockopt(k.s, SOL_SOCKET, times[i].opt, &tvs, &len));
		ASSERT_FALSE(tv0.tv_sec == tvl.tv_sec && tv0.tv_usec == tvl.tv_usec)
			TH_LOG("%s: the listener's value is a new socket's", name);
		EXPECT_TRUE(tvl.tv_sec == tvs.tv_sec && tvl.tv_usec == tvs.tv_usec)
			TH_LOG("%s: listener %ld.%06ld, accepted %ld.%06ld", name,
			       (long)tvl.tv_sec, (long)tvl.tv_usec, (long)tvs.tv_sec, (long)tvs.tv_usec);
	}
	len = sizeof(lgl);
	ASSERT_EQ(0, getsockopt(k.l, SOL_SOCKET, SO_LINGER, &lgl, &len));
	len = sizeof(lgs);
	ASSERT_EQ(0, getsockopt(k.s, SOL_SOCKET, SO_LINGER, &lgs, &len));
	ASSERT_EQ(1, lgl.l_onoff);
	ASSERT_EQ(9, lgl.l_linger);
	EXPECT_EQ(lgl.l_onoff, lgs.l_onoff) TH_LOG("SO_LINGER's onoff not inherited");
	EXPECT_EQ(lgl.l_linger, lgs.l_linger) TH_LOG("SO_LINGER's time not inherited");
	len = sizeof(ldev);
	memset(ldev, 0, sizeof(ldev));
	ASSERT_EQ(0, getsockopt(k.l, SOL_SOCKET, SO_BINDTODEVICE, ldev, &len));
	ASSERT_STREQ(dev, ldev);
	len = sizeof(sdev);
	memset(sdev, 0, sizeof(sdev));
	ASSERT_EQ(0, getsockopt(k.s, SOL_SOCKET, SO_BINDTODEVICE, sdev, &len));
	EXPECT_STREQ(ldev, sdev) TH_LOG("SO_BINDTODEVICE not inherited");

	/* Close without lingering. */
	ASSERT_EQ(0, setsockopt(k.s, SOL_SOCKET, SO_LINGER, &off, sizeof(off)));
	ASSERT_EQ(0, setsockopt(k.l, SOL_SOCKET, SO_LINGER, &off, sizeof(off)));
	close(fresh);
	close_conn(&k);
}

TEST_HARNESS_MAIN
