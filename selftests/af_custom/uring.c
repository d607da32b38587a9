// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring, sendfile(2) and splice(2) on AF_CUSTOM stream sockets: the
 * paths programs take that never call send/recv themselves.  io_uring
 * reaches the family through proto_ops (accept, connect, sendmsg,
 * recvmsg, poll for the parked requests) and, for its socket commands
 * (SIOCINQ/SIOCOUTQ), through struct proto's ioctl; sendfile and splice
 * through sendmsg with MSG_SPLICE_PAGES and recvmsg into a pipe.
 *
 * Family-agnostic (afc_test.h): `uring@inet` runs the same bodies
 * against TCP.  Linked statically with liburing (Debian's liburing-dev).
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <linux/sockios.h>
#include <liburing.h>
#include "afc_test.h"
#include "kselftest_harness.h"

/* io_uring's socket commands (<linux/io_uring.h> of 6.7 and later). */
#ifndef SOCKET_URING_OP_SIOCINQ
#define SOCKET_URING_OP_SIOCINQ 0
#define SOCKET_URING_OP_SIOCOUTQ 1
#endif

#define MIB (1 << 20)
/* Generous bounds for a slow TCG guest. */
#define WAIT_S 30

/* The next completion within WAIT_S seconds: its result, its flags in
 * *flags (if given), its user_data in *ud (if given); -ETIME if none. */
static int cqe_wait(struct io_uring *r, unsigned *flags, __u64 *ud)
{
	struct __kernel_timespec ts = { .tv_sec = WAIT_S };
	struct io_uring_cqe *cqe;
	int ret = io_uring_wait_cqe_timeout(r, &cqe, &ts);

	if (ret)
		return ret;
	ret = cqe->res;
	if (flags)
		*flags = cqe->flags;
	if (ud)
		*ud = cqe->user_data;
	io_uring_cqe_seen(r, cqe);
	return ret;
}

static struct io_uring_sqe *sqe_get(struct io_uring *r, __u64 ud)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);

	if (sqe)
		io_uring_sqe_set_data64(sqe, ud);
	return sqe;
}

/* A listener on 127.0.0.1 (ephemeral port). */
static int listener(int backlog)
{
	int l = afc_tsocket();

	if (l < 0 || afc_bind(l, "127.0.0.1", 0) || listen(l, backlog))
		return -1;
	return l;
}

/* A connected pair over 127.0.0.1: *c the client, *s the accepted end. */
static int pair(int *c, int *s)
{
	int l = listener(4);

	if (l < 0)
		return -1;
	*c = afc_tsocket();
	if (*c < 0 || afc_connect(*c, "127.0.0.1", afc_port(l, 0)))
		return -1;
	*s = accept(l, NULL, NULL);
	close(l);
	return *s < 0 ? -1 : 0;
}

/* A pattern that shows where a byte came from. */
static void fill(unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)((i * 131 + seed) ^ (i >> 9));
}

/* Reads exactly len bytes (blocking); len or -1. */
static ssize_t recv_all(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = recv(fd, (char *)buf + done, len - done, 0);

		if (n <= 0)
			return -1;
		done += n;
	}
	return done;
}

FIXTURE(lo)
{
	struct afc_nets n;
	struct io_uring ring;
};
FIXTURE_SETUP(lo)
{
	ASSERT_EQ(0, afc_lo_setup(&self->n)) TH_LOG("namespace setup failed");
	if (!afc_inet()) {
		ASSERT_LT(0, afc_family()) TH_LOG("af_custom is not loaded");
	}
	ASSERT_EQ(0, io_uring_queue_init(16, &self->ring, 0)) TH_LOG("io_uring: CONFIG_IO_URING?");
}
FIXTURE_TEARDOWN(lo)
{
	io_uring_queue_exit(&self->ring);
	afc_nets_close(&self->n);
}

/* IORING_OP_ACCEPT parked on an empty queue, completed by a connect. */
TEST_F(lo, accept)
{
	struct sockaddr_custom peer;
	socklen_t plen = sizeof(peer);
	int l = listener(4), c, s;

	ASSERT_LE(0, l);
	io_uring_prep_accept(sqe_get(&self->ring, 1), l, (struct sockaddr *)&peer, &plen, 0);
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	c = afc_tsocket();
	ASSERT_EQ(0, afc_connect(c, "127.0.0.1", afc_port(l, 0)));
	s = cqe_wait(&self->ring, NULL, NULL);
	ASSERT_LE(0, s) TH_LOG("uring accept: %s", strerror(-s));
	EXPECT_EQ(afc_tfamily(), peer.scu_family);
	EXPECT_EQ(afc_port(c, 0), ntohs(peer.scu_port));
	EXPECT_EQ(afc_port(c, 0), afc_port(s, 1));
	ASSERT_EQ(2, send(c, "hi", 2, 0));
	{
		char b[2];

		ASSERT_EQ(2, recv_all(s, b, 2));
		ASSERT_EQ(0, memcmp(b, "hi", 2));
	}
	close(s);
	close(c);
	close(l);
}

/* One multishot accept completes once per connection, each with F_MORE. */
TEST_F(lo, multishot_accept)
{
	int l = listener(8), c[3], s[3];
	unsigned flags;

	ASSERT_LE(0, l);
	io_uring_prep_multishot_accept(sqe_get(&self->ring, 7), l, NULL, NULL, 0);
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	for (int i = 0; i < 3; i++) {
		c[i] = afc_tsocket();
		ASSERT_EQ(0, afc_connect(c[i], "127.0.0.1", afc_port(l, 0)));
	}
	for (int i = 0; i < 3; i++) {
		__u64 ud = 0;

		s[i] = cqe_wait(&self->ring, &flags, &ud);
		ASSERT_LE(0, s[i]) TH_LOG("accept %d: %s", i, strerror(-s[i]));
		EXPECT_EQ(7, ud);
		EXPECT_TRUE(flags & IORING_CQE_F_MORE) TH_LOG("accept %d ended the multishot", i);
	}
	/* Each accepted socket is the server end of one of the clients. */
	for (int i = 0; i < 3; i++) {
		int found = 0;

		for (int j = 0; j < 3; j++)
			found += afc_port(s[i], 1) == afc_port(c[j], 0);
		EXPECT_EQ(1, found);
	}
	/* Cancelling ends the multishot request (its last completion without F_MORE). */
	io_uring_prep_cancel64(sqe_get(&self->ring, 8), 7, 0);
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	for (int i = 0; i < 2; i++) {
		__u64 ud = 0;
		int r = cqe_wait(&self->ring, &flags, &ud);

		if (ud == 7) {
			EXPECT_EQ(-ECANCELED, r);
			EXPECT_FALSE(flags & IORING_CQE_F_MORE);
		} else {
			EXPECT_EQ(8, ud);
			EXPECT_EQ(0, r);
		}
	}
	for (int i = 0; i < 3; i++) {
		close(s[i]);
		close(c[i]);
	}
	close(l);
}

/* IORING_OP_CONNECT to a listener, and to a port nobody listens on. */
TEST_F(lo, connect_and_refused)
{
	struct sockaddr_custom a;
	int l = listener(4), c, s, r, port;

	ASSERT_LE(0, l);
	a = afc_addr("127.0.0.1", afc_port(l, 0));
	c = afc_tsocket();
	io_uring_prep_connect(sqe_get(&self->ring, 1), c, (struct sockaddr *)&a, sizeof(a));
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	r = cqe_wait(&self->ring, NULL, NULL);
	ASSERT_EQ(0, r) TH_LOG("uring connect: %s", strerror(-r));
	s = accept(l, NULL, NULL);
	ASSERT_LE(0, s);
	EXPECT_EQ(afc_port(c, 0), afc_port(s, 1));
	close(s);
	close(c);
	/* The listener's port once it is closed: refused. */
	port = afc_port(l, 0);
	close(l);
	a = afc_addr("127.0.0.1", port);
	c = afc_tsocket();
	io_uring_prep_connect(sqe_get(&self->ring, 2), c, (struct sockaddr *)&a, sizeof(a));
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	r = cqe_wait(&self->ring, NULL, NULL);
	EXPECT_EQ(-ECONNREFUSED, r) TH_LOG("got %d (%s)", r, strerror(-r));
	close(c);
}

/* IORING_OP_SEND and IORING_OP_RECV move 1 MiB byte-exact, the sends
 * and receives in flight together (each a request of up to 64 KiB). */
TEST_F(lo, send_recv_1mib)
{
	unsigned char *out = malloc(MIB), *in = malloc(MIB);
	size_t sent = 0, got = 0;
	int c, s, send_busy = 0, recv_busy = 0;

	ASSERT_NE(NULL, out);
	ASSERT_NE(NULL, in);
	fill(out, MIB, 3);
	ASSERT_EQ(0, pair(&c, &s));
	while (got < MIB) {
		__u64 ud = 0;
		int r;

		if (!send_busy && sent < MIB) {
			size_t n = MIB - sent < 65536 ? MIB - sent : 65536;

			io_uring_prep_send(sqe_get(&self->ring, 1), c, out + sent, n, MSG_NOSIGNAL);
			send_busy = 1;
		}
		if (!recv_busy) {
			io_uring_prep_recv(sqe_get(&self->ring, 2), s, in + got, MIB - got, 0);
			recv_busy = 1;
		}
		ASSERT_LE(0, io_uring_submit(&self->ring));
		r = cqe_wait(&self->ring, NULL, &ud);
		ASSERT_LT(0, r) TH_LOG("%s: %s (sent %zu, got %zu)", ud == 1 ? "send" : "recv",
				       strerror(-r), sent, got);
		if (ud == 1) {
			sent += r;
			send_busy = 0;
		} else {
			got += r;
			recv_busy = 0;
		}
	}
	ASSERT_EQ(MIB, sent);
	ASSERT_EQ(0, memcmp(out, in, MIB)) TH_LOG("the bytes differ");
	free(out);
	free(in);
	close(c);
	close(s);
}

/* A recv parked on an empty socket stays parked, and data wakes it. */
TEST_F(lo, parked_recv_woken_by_data)
{
	struct io_uring_cqe *cqe;
	char buf[64] = { 0 };
	int c, s, r;

	ASSERT_EQ(0, pair(&c, &s));
	io_uring_prep_recv(sqe_get(&self->ring, 5), s, buf, sizeof(buf), 0);
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	usleep(200000);
	ASSERT_EQ(-EAGAIN, io_uring_peek_cqe(&self->ring, &cqe)) TH_LOG("recv completed with no data");
	ASSERT_EQ(11, send(c, "wake me up!", 11, 0));
	r = cqe_wait(&self->ring, NULL, NULL);
	ASSERT_EQ(11, r) TH_LOG("%s", r < 0 ? strerror(-r) : "short");
	ASSERT_EQ(0, memcmp(buf, "wake me up!", 11));
	/* And a parked recv sees the end of the stream. */
	io_uring_prep_recv(sqe_get(&self->ring, 6), s, buf, sizeof(buf), 0);
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	usleep(100000);
	ASSERT_EQ(0, shutdown(c, SHUT_WR));
	ASSERT_EQ(0, cqe_wait(&self->ring, NULL, NULL));
	close(c);
	close(s);
}

/* io_uring's socket commands SIOCINQ and SIOCOUTQ (struct proto's ioctl)
 * agree with ioctl(2). */
TEST_F(lo, uring_cmd_siocinq_siocoutq)
{
	struct io_uring_sqe *sqe;
	int c, s, r, v = -1;

	ASSERT_EQ(0, pair(&c, &s));
	ASSERT_EQ(7, send(c, "1234567", 7, 0));
	for (long long end = now_ms() + WAIT_S * 1000; now_ms() < end;) {
		if (!ioctl(s, SIOCINQ, &v) && v == 7)
			break;
		usleep(10000);
	}
	ASSERT_EQ(7, v);
	sqe = sqe_get(&self->ring, 1);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, s, NULL, 0, 0);
	sqe->cmd_op = SOCKET_URING_OP_SIOCINQ;
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	r = cqe_wait(&self->ring, NULL, NULL);
	EXPECT_EQ(7, r) TH_LOG("uring SIOCINQ: %d (%s)", r, r < 0 ? strerror(-r) : "");
	/* All acknowledged by now: nothing in the client's send queue. */
	for (long long end = now_ms() + WAIT_S * 1000; now_ms() < end;) {
		if (!ioctl(c, SIOCOUTQ, &v) && v == 0)
			break;
		usleep(10000);
	}
	ASSERT_EQ(0, v);
	sqe = sqe_get(&self->ring, 2);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, c, NULL, 0, 0);
	sqe->cmd_op = SOCKET_URING_OP_SIOCOUTQ;
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	r = cqe_wait(&self->ring, NULL, NULL);
	EXPECT_EQ(0, r) TH_LOG("uring SIOCOUTQ: %d (%s)", r, r < 0 ? strerror(-r) : "");
	close(c);
	close(s);
}

/*
 * IORING_OP_SEND_ZC needs SOCK_SUPPORT_ZC on the socket (io_uring/net.c),
 * which only TCP, UDP and a few others set: AF_CUSTOM's sendmsg does not
 * take the caller's pages (msg_ubuf), so the request fails with
 * EOPNOTSUPP and nothing is sent.  TCP sends.
 */
TEST_F(lo, send_zc)
{
	char buf[16];
	unsigned flags = 0;
	int c, s, r;

	ASSERT_EQ(0, pair(&c, &s));
	io_uring_prep_send_zc(sqe_get(&self->ring, 1), c, "zero-copy", 9, 0, 0);
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	r = cqe_wait(&self->ring, &flags, NULL);
	/* A notification follows when F_MORE is set (also after a failure). */
	if (flags & IORING_CQE_F_MORE) {
		unsigned nflags = 0;

		cqe_wait(&self->ring, &nflags, NULL);
		EXPECT_TRUE(nflags & IORING_CQE_F_NOTIF);
	}
	if (afc_inet()) {
		ASSERT_EQ(9, r) TH_LOG("%s", r < 0 ? strerror(-r) : "short");
		ASSERT_EQ(9, recv_all(s, buf, 9));
		ASSERT_EQ(0, memcmp(buf, "zero-copy", 9));
	} else {
		ASSERT_EQ(-EOPNOTSUPP, r) TH_LOG("got %d (%s)", r, r < 0 ? strerror(-r) : "");
		ASSERT_EQ(-1, recv(s, buf, sizeof(buf), MSG_DONTWAIT));
		ASSERT_EQ(EAGAIN, errno);
	}
	close(c);
	close(s);
}

/* ---- sendfile and splice ---------------------------------------------- */

struct mover {
	int fd;
	unsigned char *buf;
	size_t len;
	ssize_t done;
};

static void *recv_thread(void *p)
{
	struct mover *m = p;

	m->done = recv_all(m->fd, m->buf, m->len);
	return NULL;
}

static void *send_thread(void *p)
{
	struct mover *m = p;

	m->done = send_all(m->fd, m->buf, m->len);
	return NULL;
}

/* A 1 MiB file of the pattern under /tmp (tmpfs), opened for reading. */
static int pattern_file(unsigned char *buf, unsigned seed)
{
	char path[] = "/tmp/afc_uring_XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	unlink(path);
	fill(buf, MIB, seed);
	if (write(fd, buf, MIB) != MIB || lseek(fd, 0, SEEK_SET))
		return -1;
	return fd;
}

TEST_F(lo, sendfile_1mib)
{
	unsigned char *want = malloc(MIB), *got = malloc(MIB);
	struct mover m = { .buf = got, .len = MIB };
	pthread_t th;
	off_t off = 0;
	int f, c, s;

	ASSERT_NE(NULL, want);
	ASSERT_NE(NULL, got);
	f = pattern_file(want, 5);
	ASSERT_LE(0, f);
	ASSERT_EQ(0, pair(&c, &s));
	m.fd = s;
	ASSERT_EQ(0, pthread_create(&th, NULL, recv_thread, &m));
	while (off < MIB) {
		ssize_t n = sendfile(c, f, &off, MIB - off);

		ASSERT_LT(0, n) TH_LOG("sendfile at %lld: %s", (long long)off, strerror(errno));
	}
	pthread_join(th, NULL);
	ASSERT_EQ(MIB, m.done);
	ASSERT_EQ(0, memcmp(want, got, MIB)) TH_LOG("the bytes differ");
	free(want);
	free(got);
	close(f);
	close(c);
	close(s);
}

/* file -> pipe -> socket (splice into a socket: sendmsg with
 * MSG_SPLICE_PAGES), read back with recv. */
TEST_F(lo, splice_into_socket_1mib)
{
	unsigned char *want = malloc(MIB), *got = malloc(MIB);
	struct mover m = { .buf = got, .len = MIB };
	size_t moved = 0;
	pthread_t th;
	int f, c, s, p[2];

	ASSERT_NE(NULL, want);
	ASSERT_NE(NULL, got);
	f = pattern_file(want, 7);
	ASSERT_LE(0, f);
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, pair(&c, &s));
	m.fd = s;
	ASSERT_EQ(0, pthread_create(&th, NULL, recv_thread, &m));
	while (moved < MIB) {
		ssize_t in = splice(f, NULL, p[1], NULL, MIB - moved, SPLICE_F_MOVE);

		ASSERT_LT(0, in) TH_LOG("splice file->pipe: %s", strerror(errno));
		while (in > 0) {
			ssize_t out = splice(p[0], NULL, c, NULL, in, SPLICE_F_MOVE);

			ASSERT_LT(0, out) TH_LOG("splice pipe->socket at %zu: %s", moved, strerror(errno));
			in -= out;
			moved += out;
		}
	}
	pthread_join(th, NULL);
	ASSERT_EQ(MIB, m.done);
	ASSERT_EQ(0, memcmp(want, got, MIB)) TH_LOG("the bytes differ");
	free(want);
	free(got);
	close(p[0]);
	close(p[1]);
	close(f);
	close(c);
	close(s);
}

/* send -> socket -> pipe -> file (splice out of a socket), compared with
 * what was sent. */
TEST_F(lo, splice_out_of_socket_1mib)
{
	unsigned char *want = malloc(MIB), *got = malloc(MIB);
	struct mover m = { .buf = want, .len = MIB };
	char path[] = "/tmp/afc_uring_XXXXXX";
	size_t moved = 0;
	pthread_t th;
	int f, c, s, p[2];

	ASSERT_NE(NULL, want);
	ASSERT_NE(NULL, got);
	fill(want, MIB, 11);
	f = mkstemp(path);
	ASSERT_LE(0, f);
	unlink(path);
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, pair(&c, &s));
	m.fd = c;
	ASSERT_EQ(0, pthread_create(&th, NULL, send_thread, &m));
	while (moved < MIB) {
		ssize_t in = splice(s, NULL, p[1], NULL, MIB - moved, SPLICE_F_MOVE);

		ASSERT_LT(0, in) TH_LOG("splice socket->pipe at %zu: %s", moved, strerror(errno));
		while (in > 0) {
			ssize_t out = splice(p[0], NULL, f, NULL, in, SPLICE_F_MOVE);

			ASSERT_LT(0, out) TH_LOG("splice pipe->file: %s", strerror(errno));
			in -= out;
			moved += out;
		}
	}
	pthread_join(th, NULL);
	ASSERT_EQ(MIB, m.done);
	ASSERT_EQ(MIB, pread(f, got, MIB, 0));
	ASSERT_EQ(0, memcmp(want, got, MIB)) TH_LOG("the bytes differ");
	/* Nothing more than was sent. */
	close(c);
	ASSERT_EQ(0, splice(s, NULL, p[1], NULL, 4096, 0));
	free(want);
	free(got);
	close(p[0]);
	close(p[1]);
	close(f);
	close(s);
}

TEST_HARNESS_MAIN
