// SPDX-License-Identifier: GPL-2.0
/*
 * Urgent data as TCP has it (issue 16 item 1, tcp(7)): send(MSG_OOB)
 * marks the last byte urgent; the receiver reads it with recv(MSG_OOB)
 * (EINVAL when there is none, it was read, or SO_OOBINLINE is on) or
 * inline; SIOCATMARK says whether the read position is at the mark; a
 * read stops at the mark; POLLPRI and SIGURG (to the F_SETOWN owner)
 * announce it; a later urgent byte supersedes an unread one.  Every body
 * runs unchanged against AF_INET/TCP with AFC_TEST_FAMILY=inet
 * (afc_test.h), so each assertion is TCP's behaviour.
 *
 * Variants: "lo" (both ends on 127.0.0.1 in one fresh namespace) and
 * "veth" (server in namespace a on va 10.77.0.1, client in namespace b
 * on vb 10.77.0.2).
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include "afc_test.h"
#include "kselftest_harness.h"

/*
 * Bound of every wait for the peer's bytes (a slow TCG VM).  A test has
 * up to three such waits, and the veth fixture alone took over 20 s on
 * the debug kernel of a loaded host: each test may take 90 s (the
 * harness's default is 30).
 */
#define WAIT_MS 10000

FIXTURE(urgent) {
	struct afc_nets n;
	int l, c, s, port;
};
FIXTURE_VARIANT(urgent) {
	int veth;
	const char *srv;	/* server address (namespace a) */
};
FIXTURE_VARIANT_ADD(urgent, lo) { .veth = 0, .srv = "127.0.0.1" };
FIXTURE_VARIANT_ADD(urgent, veth) { .veth = 1, .srv = "10.77.0.1" };

FIXTURE_SETUP(urgent)
{
	int rc = variant->veth ? afc_veth_setup(&self->n) : afc_lo_setup(&self->n);

	self->l = self->c = self->s = -1;
	if (rc && variant->veth && afc_inet())
		SKIP(return, "veth unavailable on this host (AFC_TEST_FAMILY=inet)");
	ASSERT_EQ(0, rc) TH_LOG("namespace setup failed");
	if (!afc_inet()) {
		ASSERT_LT(0, afc_family()) TH_LOG("af_custom is not loaded");
	}
	self->l = afc_tsocket();
	ASSERT_LE(0, self->l);
	ASSERT_EQ(0, afc_bind(self->l, variant->srv, 0)) TH_LOG("bind: %s", strerror(errno));
	ASSERT_EQ(0, listen(self->l, 4));
	self->port = afc_port(self->l, 0);
	self->c = afc_socket_in(&self->n, self->n.b, 0);
	ASSERT_LE(0, self->c);
	/* Every send leaves at once, as its own segment, on both families. */
	ASSERT_EQ(0, afc_setint(self->c, afc_optlevel(), AFC_NODELAY, 1));
	ASSERT_EQ(0, afc_connect(self->c, variant->srv, self->port)) TH_LOG("connect: %s", strerror(errno));
	self->s = accept(self->l, NULL, NULL);
	ASSERT_LE(0, self->s) TH_LOG("accept: %s", strerror(errno));
}

FIXTURE_TEARDOWN(urgent)
{
	if (self->c >= 0)
		close(self->c);
	if (self->s >= 0)
		close(self->s);
	if (self->l >= 0)
		close(self->l);
	afc_nets_close(&self->n);
}

static int inq(int fd)
{
	int n = -1;

	return ioctl(fd, SIOCINQ, &n) ? -1 : n;
}

static int atmark(int fd)
{
	int n = -1;

	return ioctl(fd, SIOCATMARK, &n) ? -1 : n;
}

/* Waits until fd has n unread bytes (SIOCINQ); returns what it has then. */
static int wait_inq(int fd, int n)
{
	long long end = now_ms() + WAIT_MS;
	int have;

	while ((have = inq(fd)) != n && now_ms() < end)
		usleep(2000);
	return have;
}

/*
 * Waits until everything fd sent is acknowledged (SIOCOUTQ 0): the peer
 * holds it all.  Returns what is still unacknowledged then.
 */
static int wait_sent(int fd)
{
	long long end = now_ms() + WAIT_MS;
	int n = -1;

	while ((ioctl(fd, SIOCOUTQ, &n) || n) && now_ms() < end)
		usleep(2000);
	return n;
}

/* poll() for POLLPRI, up to WAIT_MS; the revents. */
static int wait_pri(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLPRI };
	long long end = now_ms() + WAIT_MS;

	do {
		p.revents = 0;
		if (poll(&p, 1, 100) < 0)
			return -1;
	} while (!(p.revents & POLLPRI) && now_ms() < end);
	return p.revents;
}

/* The poll() events of fd now, of POLLIN and POLLPRI. */
static int events_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLPRI };

	if (poll(&p, 1, 0) < 0)
		return -1;
	return p.revents & (POLLIN | POLLPRI);
}

/* recv(MSG_OOB | more) of one byte: the byte, or -errno. */
static int oob(int fd, int more)
{
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_OOB | more);

	if (n < 0)
		return -errno;
	return n == 1 ? (unsigned char)b : -1000 - (int)n;
}

/*
 * The urgent byte out of band: the read before it stops at the mark,
 * recv(MSG_OOB) returns it once, and the stream goes on without it.
 */
TEST_F_TIMEOUT(urgent, out_of_band, 90)
{
	char buf[100];

	ASSERT_EQ(5, send(self->c, "hello", 5, 0));
	ASSERT_EQ(1, send(self->c, "!", 1, MSG_OOB));
	ASSERT_EQ(0, wait_sent(self->c));
	ASSERT_EQ(POLLIN | POLLPRI, wait_pri(self->s) & (POLLIN | POLLPRI));
	/* SIOCINQ counts the bytes before the out-of-band byte (tcp_inq). */
	EXPECT_EQ(5, inq(self->s));
	EXPECT_EQ(0, atmark(self->s));
	/* The read stops at the mark. */
	ASSERT_EQ(5, recv(self->s, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(0, memcmp(buf, "hello", 5));
	EXPECT_EQ(1, atmark(self->s));
	EXPECT_EQ(0, inq(self->s));
	/* The urgent byte alone is no data to poll: POLLPRI, no POLLIN. */
	EXPECT_EQ(POLLPRI, events_now(self->s));
	/* MSG_PEEK leaves it; the read takes it; then there is none. */
	EXPECT_EQ('!', oob(self->s, MSG_PEEK));
	EXPECT_EQ('!', oob(self->s, 0));
	EXPECT_EQ(-EINVAL, oob(self->s, 0));
	EXPECT_EQ(0, events_now(self->s));
	EXPECT_EQ(1, atmark(self->s));
	/* Nothing else to read: the urgent byte is not data. */
	EXPECT_EQ(-1, recv(self->s, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(EAGAIN, errno);
	/* The stream goes on after it. */
	ASSERT_EQ(5, send(self->c, "world", 5, 0));
	ASSERT_EQ(5, recv(self->s, buf, 5, MSG_WAITALL));
	EXPECT_EQ(0, memcmp(buf, "world", 5));
	EXPECT_EQ(0, atmark(self->s));
	EXPECT_EQ(0, inq(self->s));
	EXPECT_EQ(-EINVAL, oob(self->s, 0));
}

/* With SO_OOBINLINE the urgent byte is data; the read still stops at the mark. */
TEST_F_TIMEOUT(urgent, inline_mark, 90)
{
	int one = 1;
	char buf[100];

	ASSERT_EQ(0, setsockopt(self->s, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one)));
	ASSERT_EQ(5, send(self->c, "hello", 5, 0));
	ASSERT_EQ(1, send(self->c, "!", 1, MSG_OOB));
	ASSERT_EQ(5, send(self->c, "world", 5, 0));
	ASSERT_EQ(11, wait_inq(self->s, 11));
	EXPECT_EQ(POLLIN | POLLPRI, events_now(self->s));
	EXPECT_EQ(-EINVAL, oob(self->s, 0));
	EXPECT_EQ(0, atmark(self->s));
	ASSERT_EQ(5, recv(self->s, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(0, memcmp(buf, "hello", 5));
	EXPECT_EQ(1, atmark(self->s));
	ASSERT_EQ(6, recv(self->s, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(0, memcmp(buf, "!world", 6));
	EXPECT_EQ(0, atmark(self->s));
	EXPECT_EQ(-EINVAL, oob(self->s, 0));
	EXPECT_EQ(0, events_now(self->s));
}

/*
 * A peek stops at the mark and steps over an out-of-band byte, as a read
 * does; a read past the mark loses an urgent byte not read out of band.
 */
TEST_F_TIMEOUT(urgent, peek_at_the_mark, 90)
{
	char buf[100];

	ASSERT_EQ(3, send(self->c, "abc", 3, 0));
	ASSERT_EQ(1, send(self->c, "!", 1, MSG_OOB));
	ASSERT_EQ(3, send(self->c, "def", 3, 0));
	ASSERT_EQ(0, wait_sent(self->c));
	EXPECT_EQ(3, inq(self->s));
	ASSERT_EQ(3, recv(self->s, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT));
	EXPECT_EQ(0, memcmp(buf, "abc", 3));
	ASSERT_EQ(3, recv(self->s, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(1, atmark(self->s));
	EXPECT_EQ('!', oob(self->s, MSG_PEEK));
	ASSERT_EQ(3, recv(self->s, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT));
	EXPECT_EQ(0, memcmp(buf, "def", 3));
	EXPECT_EQ(1, atmark(self->s));
	ASSERT_EQ(3, recv(self->s, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(0, memcmp(buf, "def", 3));
	EXPECT_EQ(0, inq(self->s));
	EXPECT_EQ(0, atmark(self->s));
	EXPECT_EQ(-EINVAL, oob(self->s, 0));
}

/*
 * A later urgent byte supersedes an unread one: the first becomes data
 * (the mark moved on), only the last is read out of band.
 */
TEST_F_TIMEOUT(urgent, superseded, 90)
{
	char buf[100];

	ASSERT_EQ(1, send(self->c, "a", 1, 0));
	ASSERT_EQ(1, send(self->c, "X", 1, MSG_OOB));
	ASSERT_EQ(1, send(self->c, "b", 1, 0));
	ASSERT_EQ(1, send(self->c, "Y", 1, MSG_OOB));
	ASSERT_EQ(0, wait_sent(self->c));
	EXPECT_EQ(3, inq(self->s));
	EXPECT_EQ('Y', oob(self->s, MSG_PEEK));
	ASSERT_EQ(3, recv(self->s, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(0, memcmp(buf, "aXb", 3));
	EXPECT_EQ(1, atmark(self->s));
	EXPECT_EQ('Y', oob(self->s, 0));
	EXPECT_EQ(-1, recv(self->s, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(EAGAIN, errno);
}

/*
 * A new mark while the read position is at an unread out-of-band byte:
 * that byte leaves the stream (it is never read as data).
 */
TEST_F_TIMEOUT(urgent, superseded_at_the_mark, 90)
{
	char buf[100];

	ASSERT_EQ(1, send(self->c, "a", 1, 0));
	ASSERT_EQ(1, send(self->c, "X", 1, MSG_OOB));
	ASSERT_EQ(0, wait_sent(self->c));
	EXPECT_EQ(1, inq(self->s));
	ASSERT_EQ(POLLIN | POLLPRI, wait_pri(self->s) & (POLLIN | POLLPRI));
	ASSERT_EQ(1, recv(self->s, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ('a', buf[0]);
	EXPECT_EQ(1, atmark(self->s));
	ASSERT_EQ(1, send(self->c, "b", 1, 0));
	ASSERT_EQ(1, send(self->c, "Y", 1, MSG_OOB));
	ASSERT_EQ(0, wait_sent(self->c));
	EXPECT_EQ('Y', oob(self->s, MSG_PEEK));
	EXPECT_EQ(1, inq(self->s));
	ASSERT_EQ(1, recv(self->s, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ('b', buf[0]);
	EXPECT_EQ(1, atmark(self->s));
	EXPECT_EQ('Y', oob(self->s, 0));
}

/* recv(MSG_OOB)'s errnos: none yet, a listener, an unconnected socket. */
TEST_F_TIMEOUT(urgent, errnos, 90)
{
	int fresh = afc_tsocket();
	char buf[8];

	ASSERT_LE(0, fresh);
	EXPECT_EQ(-EINVAL, oob(self->s, 0));
	EXPECT_EQ(-EINVAL, oob(self->s, MSG_DONTWAIT));
	EXPECT_EQ(-EINVAL, oob(self->c, 0));
	EXPECT_EQ(-ENOTCONN, oob(self->l, 0));
	EXPECT_EQ(-EINVAL, oob(fresh, 0));
	EXPECT_EQ(0, atmark(self->s));
	EXPECT_EQ(0, atmark(self->l));
	EXPECT_EQ(0, atmark(fresh));
	/* Data without urgency changes nothing. */
	ASSERT_EQ(3, send(self->c, "abc", 3, 0));
	ASSERT_EQ(3, wait_inq(self->s, 3));
	EXPECT_EQ(-EINVAL, oob(self->s, 0));
	EXPECT_EQ(POLLIN, events_now(self->s));
	EXPECT_EQ(0, atmark(self->s));
	ASSERT_EQ(3, recv(self->s, buf, sizeof(buf), 0));
	close(fresh);
}

static volatile sig_atomic_t sigurgs;

static void on_sigurg(int sig)
{
	(void)sig;
	sigurgs++;
}

/*
 * The mark before its byte: the receiver's window is shut, so the urgent
 * byte waits at the sender, but the pointer reaches the receiver on the
 * window probe at snd_una (tcp_write_wakeup).  recv(MSG_OOB) is then
 * EAGAIN (not EINVAL) and SIGURG has gone; once the reader makes room the
 * byte follows.
 */
TEST_F_TIMEOUT(urgent, mark_before_its_byte_is_eagain, 90)
{
	struct sigaction sa = { .sa_handler = on_sigurg };
	int small = 2048, big = 1 << 20, got = 0, r = -EINVAL;
	struct timeval tv = { .tv_sec = 10 };
	static char data[40000];
	long long end;

	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(0, sigaction(SIGURG, &sa, NULL));
	sigurgs = 0;
	ASSERT_EQ(0, fcntl(self->s, F_SETOWN, getpid()));
	ASSERT_EQ(0, setsockopt(self->s, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)));
	ASSERT_EQ(0, setsockopt(self->s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	ASSERT_EQ(0, setsockopt(self->c, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big)));
	memset(data, 'd', sizeof(data));
	ASSERT_EQ(sizeof(data), send(self->c, data, sizeof(data), MSG_DONTWAIT));
	/* The window shuts with most of it still at the sender. */
	usleep(300 * 1000);
	ASSERT_EQ(1, send(self->c, "!", 1, MSG_OOB | MSG_DONTWAIT));
	end = now_ms() + WAIT_MS;
	while ((r = oob(self->s, 0)) == -EINVAL && now_ms() < end)
		usleep(5000);
	EXPECT_EQ(-EAGAIN, r);
	EXPECT_EQ(-EAGAIN, oob(self->s, MSG_PEEK));
	EXPECT_EQ(1, sigurgs);
	EXPECT_EQ(0, atmark(self->s));
	EXPECT_EQ(0, events_now(self->s) & POLLPRI);
	/* Read everything before the mark: the byte follows. */
	while (got < (int)sizeof(data)) {
		ssize_t n = recv(self->s, data, sizeof(data) - got, 0);

		ASSERT_LT(0, n) TH_LOG("after %d bytes: %s", got, strerror(errno));
		got += n;
	}
	EXPECT_EQ(1, atmark(self->s));
	/*
	 * POLLIN may come too: with a buffer this small TCP calls a window
	 * below one segment readable whatever SO_RCVLOWAT (tcp_epollin_ready).
	 */
	ASSERT_EQ(POLLPRI, wait_pri(self->s) & POLLPRI);
	EXPECT_EQ('!', oob(self->s, 0));
	EXPECT_EQ(1, sigurgs);
	signal(SIGURG, SIG_DFL);
}

/* An accepted socket inherits its listener's SO_OOBINLINE (sk_clone_lock). */
TEST_F_TIMEOUT(urgent, accepted_socket_inherits_oobinline, 90)
{
	int one = 1, v = 0, c2, s2;
	socklen_t len = sizeof(v);
	char buf[8];

	ASSERT_EQ(0, setsockopt(self->l, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one)));
	c2 = afc_socket_in(&self->n, self->n.b, 0);
	ASSERT_LE(0, c2);
	ASSERT_EQ(0, afc_connect(c2, variant->srv, self->port)) TH_LOG("connect: %s", strerror(errno));
	s2 = accept(self->l, NULL, NULL);
	ASSERT_LE(0, s2);
	ASSERT_EQ(0, getsockopt(s2, SOL_SOCKET, SO_OOBINLINE, &v, &len));
	EXPECT_EQ(1, v);
	ASSERT_EQ(2, send(c2, "a!", 2, MSG_OOB));
	ASSERT_EQ(0, wait_sent(c2));
	EXPECT_EQ(2, inq(s2));
	EXPECT_EQ(-EINVAL, oob(s2, 0));
	ASSERT_EQ(1, recv(s2, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(1, atmark(s2));
	ASSERT_EQ(1, recv(s2, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ('!', buf[0]);
	close(c2);
	close(s2);
}

/* SIGURG goes to the F_SETOWN owner, once per urgent byte. */
TEST_F_TIMEOUT(urgent, sigurg_to_owner, 90)
{
	struct sigaction sa = { .sa_handler = on_sigurg };
	long long end;
	char buf[8];

	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(0, sigaction(SIGURG, &sa, NULL));
	sigurgs = 0;
	/* No owner: no signal. */
	ASSERT_EQ(1, send(self->c, "!", 1, MSG_OOB));
	ASSERT_EQ(POLLPRI, wait_pri(self->s) & (POLLIN | POLLPRI));
	EXPECT_EQ(0, sigurgs);
	EXPECT_EQ('!', oob(self->s, 0));
	/* With this process as owner: one signal per urgent byte. */
	ASSERT_EQ(0, fcntl(self->s, F_SETOWN, getpid()));
	ASSERT_EQ(3, send(self->c, "abc", 3, MSG_OOB));
	end = now_ms() + WAIT_MS;
	while (!sigurgs && now_ms() < end)
		usleep(2000);
	ASSERT_EQ(POLLIN | POLLPRI, wait_pri(self->s) & (POLLIN | POLLPRI));
	usleep(200 * 1000);
	EXPECT_EQ(1, sigurgs);
	EXPECT_EQ('c', oob(self->s, 0));
	ASSERT_EQ(2, recv(self->s, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(0, memcmp(buf, "ab", 2));
	signal(SIGURG, SIG_DFL);
}

TEST_HARNESS_MAIN
