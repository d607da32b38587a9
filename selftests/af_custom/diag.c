// SPDX-License-Identifier: GPL-2.0
/*
 * sock_diag for AF_CUSTOM (issue 17 item 3): SOCK_DIAG_BY_FAMILY dumps on
 * NETLINK_SOCK_DIAG with struct afc_diag_req / afc_diag_msg
 * (uapi/linux/af_custom.h), and the afc-ss tool built on them.
 *
 * - thousands of connections, every socket listed exactly once by a dump
 *   that spans many recvmsg() calls (the kernel's resume cursor);
 * - the state and port filters, applied in the kernel;
 * - namespace-local: another namespace's sockets are not listed;
 * - AFC_DIAG_INFO: a struct tcp_info that agrees with AFC_INFO;
 * - an unprivileged user may dump (as with inet_diag: ss works for any
 *   user), and sees uids;
 * - malformed requests: EINVAL (short), EOPNOTSUPP (no NLM_F_DUMP);
 * - afc-ss's lines for a listener and an established pair.
 *
 * AF_CUSTOM only (the structures are the family's own; TCP's inet_diag is
 * what they copy).  AFC_DIAG_CONNS (default 3000): connections of the
 * thousands test.
 */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include "afc_test.h"
#include "kselftest_harness.h"

/* struct tcp_info as linux/tcp.h lays it out (glibc's netinet/tcp.h is
 * shorter), up to the fields read here. */
struct diag_tcp_info {
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
_Static_assert(offsetof(struct diag_tcp_info, tcpi_segs_out) == 136, "tcp_info layout");
_Static_assert(sizeof(struct afc_diag_req) == 16, "afc_diag_req layout");
_Static_assert(sizeof(struct afc_diag_msg) == 40, "afc_diag_msg layout");

struct drow {
	struct afc_diag_msg m;
	int has_info;
	struct diag_tcp_info info;
};

struct dump {
	struct drow *rows;
	int n, cap;
	int recvs;	/* recvmsg() calls that returned messages */
};

static unsigned long ino_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : st.st_ino;
}

/* Sends one request (len bytes of req, flags) on a new NETLINK_SOCK_DIAG
 * socket and reads the answer into d.  Returns 0, or -errno (the
 * NLMSG_ERROR's, or a syscall's). */
static int diag_request(const void *req, size_t len, int flags, struct dump *d)
{
	struct {
		struct nlmsghdr nlh;
		char body[64];
	} msg;
	static char buf[64 * 1024];
	int fd, rc = 0;

	memset(d, 0, sizeof(*d));
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	memset(&msg, 0, sizeof(msg));
	msg.nlh.nlmsg_len = NLMSG_LENGTH(len);
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = flags;
	msg.nlh.nlmsg_seq = 1;
	memcpy(msg.body, req, len);
	if (send(fd, &msg, msg.nlh.nlmsg_len, 0) < 0) {
		rc = -errno;
		goto out;
	}
	for (;;) {
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(fd, &mh, 0);
		struct nlmsghdr *h;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (mh.msg_flags & MSG_TRUNC) {
			rc = -EMSGSIZE;
			goto out;
		}
		d->recvs++;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			struct drow *r;
			struct rtattr *a;
			int alen;

			if (h->nlmsg_type == NLMSG_DONE)
				goto out;
			if (h->nlmsg_type == NLMSG_ERROR) {
				rc = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
				goto out;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(r->m))) {
				rc = -EBADMSG;
				goto out;
			}
			if (d->n == d->cap) {
				d->cap = d->cap ? 2 * d->cap : 256;
				d->rows = realloc(d->rows, d->cap * sizeof(*d->rows));
				if (!d->rows) {
					rc = -ENOMEM;
					goto out;
				}
			}
			r = &d->rows[d->n++];
			memset(r, 0, sizeof(*r));
			memcpy(&r->m, NLMSG_DATA(h), sizeof(r->m));
			alen = h->nlmsg_len - NLMSG_LENGTH(sizeof(r->m));
			for (a = (struct rtattr *)((char *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(r->m)));
			     RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
				size_t l = RTA_PAYLOAD(a);

				if (a->rta_type != AFC_DIAG_INFO)
					continue;
				r->has_info = 1;
				memcpy(&r->info, RTA_DATA(a), l < sizeof(r->info) ? l : sizeof(r->info));
			}
		}
	}
out:
	close(fd);
	return rc;
}

/* A dump of the current namespace's sockets (ports in host order, 0: any). */
static int diag_dump(uint32_t states, int sport, int dport, int info, struct dump *d)
{
	struct afc_diag_req req = {
		.sdiag_family = afc_family(),
		.adiag_states = states,
		.adiag_sport = htons(sport),
		.adiag_dport = htons(dport),
		.adiag_ext = info ? 1 << (AFC_DIAG_INFO - 1) : 0,
	};

	return diag_request(&req, sizeof(req), NLM_F_REQUEST | NLM_F_DUMP, d);
}

static struct drow *find_ino(struct dump *d, unsigned long ino)
{
	for (int i = 0; i < d->n; i++)
		if (d->rows[i].m.adiag_inode == ino)
			return &d->rows[i];
	return NULL;
}

FIXTURE(diag) {
	struct afc_nets nets;
	int lfd, port;
};

FIXTURE_SETUP(diag)
{
	struct rlimit rl = { 20000, 20000 };

	self->nets.a = self->nets.b = -1;
	if (afc_family() < 0)
		SKIP(return, "af_custom.ko not loaded");
	setrlimit(RLIMIT_NOFILE, &rl);
	ASSERT_EQ(0, afc_lo_setup(&self->nets));
	self->lfd = socket(afc_family(), SOCK_STREAM, 0);
	ASSERT_LE(0, self->lfd);
	ASSERT_EQ(0, afc_bind(self->lfd, "127.0.0.1", 0));
	ASSERT_EQ(0, listen(self->lfd, 4096));
	self->port = afc_port(self->lfd, 0);
	ASSERT_LT(0, self->port);
}

FIXTURE_TEARDOWN(diag)
{
	afc_nets_close(&self->nets);
}

/* One connected pair to the fixture's listener: *c the client, *s the
 * accepted end. */
static void pair(struct __test_metadata *_metadata, FIXTURE_DATA(diag) *self, int *c, int *s)
{
	*c = socket(afc_family(), SOCK_STREAM, 0);
	ASSERT_LE(0, *c);
	ASSERT_EQ(0, afc_connect(*c, "127.0.0.1", self->port)) TH_LOG("connect: %s", strerror(errno));
	*s = accept(self->lfd, NULL, NULL);
	ASSERT_LE(0, *s) TH_LOG("accept: %s", strerror(errno));
}

/* Thousands of connections: each of the 2N+1 sockets exactly once, over a
 * dump that needs many recvmsg() calls (so the kernel resumed it). */
TEST_F_TIMEOUT(diag, thousands_listed_once, 900)
{
	int n = afc_env_long("AFC_DIAG_CONNS", 3000);
	int *c = calloc(n, sizeof(int)), *s = calloc(n, sizeof(int));
	char *seen;
	struct dump d;
	int i, rc;

	ASSERT_TRUE(c && s);
	for (i = 0; i < n; i++) {
		pair(_metadata, self, &c[i], &s[i]);
		if (_metadata->exit_code)	/* pair() failed an assertion */
			return;
	}
	for (int round = 0; round < 2; round++) {
		/* Round 1 asks for AFC_DIAG_INFO too: bigger messages. */
		rc = diag_dump(AFC_DIAG_ALL_STATES, 0, 0, round, &d);
		ASSERT_EQ(0, rc) TH_LOG("dump: %s", strerror(-rc));
		TH_LOG("round %d: %d rows in %d recvmsg calls", round, d.n, d.recvs);
		EXPECT_EQ(2 * n + 1, d.n);
		EXPECT_LE(2, d.recvs);
		/* Exactly once each: mark the inodes (one per open fd). */
		seen = calloc(d.n, 1);
		ASSERT_NE(NULL, seen);
		for (i = 0; i < 2 * n + 1; i++) {
			int fd = i == 2 * n ? self->lfd : i < n ? c[i] : s[i - n];
			unsigned long ino = ino_of(fd);
			int hits = 0;

			for (int k = 0; k < d.n; k++) {
				if (d.rows[k].m.adiag_inode != ino)
					continue;
				hits++;
				seen[k]++;
			}
			if (hits != 1) {
				EXPECT_EQ(1, hits) TH_LOG("fd %d inode %lu listed %d times", fd, ino, hits);
				break;
			}
		}
		for (int k = 0; k < d.n; k++)
			EXPECT_EQ(1, seen[k]);
		for (int k = 0; k < d.n; k++) {
			EXPECT_EQ(afc_family(), d.rows[k].m.adiag_family);
			EXPECT_EQ(round, d.rows[k].has_info);
			if (d.rows[k].m.adiag_state != 10)
				EXPECT_EQ(1, d.rows[k].m.adiag_state);
		}
		free(seen);
		free(d.rows);
	}
	/* The port filters, in the kernel: the accepted ends have the
	 * listener's port as local port, the clients as peer port. */
	ASSERT_EQ(0, diag_dump(1 << 1, self->port, 0, 0, &d));
	EXPECT_EQ(n, d.n);
	for (i = 0; i < d.n; i++)
		EXPECT_EQ(self->port, ntohs(d.rows[i].m.adiag_sport));
	free(d.rows);
	ASSERT_EQ(0, diag_dump(AFC_DIAG_ALL_STATES, 0, self->port, 0, &d));
	EXPECT_EQ(n, d.n);
	free(d.rows);
	ASSERT_EQ(0, diag_dump(AFC_DIAG_ALL_STATES, self->port, afc_port(c[n / 2], 0), 0, &d));
	ASSERT_EQ(1, d.n);
	EXPECT_EQ(ino_of(s[n / 2]), d.rows[0].m.adiag_inode);
	free(d.rows);
	for (i = 0; i < n; i++) {
		close(c[i]);
		close(s[i]);
	}
	free(c);
	free(s);
}

/* State filter: the listener alone under 1 << TCP_LISTEN, never under the
 * established bit; rows say what the socket is. */
TEST_F(diag, state_filter_and_row)
{
	struct dump d;
	struct drow *r;
	int c, s;

	pair(_metadata, self, &c, &s);
	ASSERT_EQ(0, diag_dump(1 << 10, 0, 0, 0, &d));
	ASSERT_EQ(1, d.n);
	r = &d.rows[0];
	EXPECT_EQ(10, r->m.adiag_state);
	EXPECT_EQ(ino_of(self->lfd), r->m.adiag_inode);
	EXPECT_EQ(self->port, ntohs(r->m.adiag_sport));
	EXPECT_EQ(htonl(INADDR_LOOPBACK), r->m.adiag_src);
	EXPECT_EQ(0, r->m.adiag_dport);
	EXPECT_EQ(0, r->m.adiag_rqueue);	/* accept queue: empty */
	EXPECT_EQ(getuid(), r->m.adiag_uid);
	free(d.rows);
	ASSERT_EQ(0, diag_dump(1 << 1, 0, 0, 0, &d));
	EXPECT_EQ(2, d.n);
	EXPECT_EQ(NULL, find_ino(&d, ino_of(self->lfd)));
	r = find_ino(&d, ino_of(c));
	ASSERT_NE(NULL, r);
	EXPECT_EQ(afc_port(c, 0), ntohs(r->m.adiag_sport));
	EXPECT_EQ(self->port, ntohs(r->m.adiag_dport));
	EXPECT_EQ(htonl(INADDR_LOOPBACK), r->m.adiag_dst);
	/* Unread bytes show as the receiving end's rqueue. */
	ASSERT_EQ(100, send(c, "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789", 100, 0));
	free(d.rows);
	for (int tries = 0; tries < 100; tries++) {
		ASSERT_EQ(0, diag_dump(1 << 1, self->port, 0, 0, &d));
		ASSERT_EQ(1, d.n);
		if (d.rows[0].m.adiag_rqueue == 100)
			break;
		free(d.rows);
		d.rows = NULL;
		usleep(50 * 1000);
	}
	EXPECT_EQ(100, d.rows[0].m.adiag_rqueue);
	free(d.rows);
	/* No state bit: nothing. */
	ASSERT_EQ(0, diag_dump(0, 0, 0, 0, &d));
	EXPECT_EQ(0, d.n);
	free(d.rows);
	close(c);
	close(s);
}

/* AFC_DIAG_INFO agrees with AFC_INFO on an established connection that
 * carried data. */
TEST_F(diag, info_sane)
{
	static char buf[256 * 1024];
	struct diag_tcp_info ti;
	socklen_t tl = sizeof(ti);
	struct dump d;
	struct drow *r;
	ssize_t got = 0;
	int c, s;

	pair(_metadata, self, &c, &s);
	ASSERT_EQ(sizeof(buf), send_all(c, buf, sizeof(buf)));
	while (got < (ssize_t)sizeof(buf)) {
		ssize_t k = recv(s, buf, sizeof(buf), 0);

		ASSERT_LT(0, k);
		got += k;
	}
	ASSERT_EQ(0, diag_dump(1 << 1, 0, self->port, 1, &d));
	ASSERT_EQ(1, d.n);
	r = &d.rows[0];
	ASSERT_TRUE(r->has_info);
	EXPECT_EQ(ino_of(c), r->m.adiag_inode);
	TH_LOG("rtt %u/%u rto %u cwnd %u ssthresh %u mss %u/%u segs %u/%u", r->info.tcpi_rtt,
	       r->info.tcpi_rttvar, r->info.tcpi_rto, r->info.tcpi_snd_cwnd, r->info.tcpi_snd_ssthresh,
	       r->info.tcpi_snd_mss, r->info.tcpi_rcv_mss, r->info.tcpi_segs_out, r->info.tcpi_segs_in);
	EXPECT_EQ(1, r->info.tcpi_state);
	EXPECT_LT(0, r->info.tcpi_rtt);
	EXPECT_LT(0, r->info.tcpi_rto);
	EXPECT_LE(r->info.tcpi_rtt, r->info.tcpi_rto);
	EXPECT_LT(0, r->info.tcpi_snd_cwnd);
	EXPECT_LT(0, r->info.tcpi_snd_ssthresh);
	EXPECT_LE(88, r->info.tcpi_snd_mss);
	EXPECT_LE(88, r->info.tcpi_rcv_mss);
	/* 256 KiB went out in at least 256 KiB / MSS segments. */
	EXPECT_LE(sizeof(buf) / r->info.tcpi_snd_mss, r->info.tcpi_segs_out);
	EXPECT_LT(0, r->info.tcpi_segs_in);
	/* The same numbers as AFC_INFO, read just after (the counters only
	 * grow; nothing moves on an idle connection). */
	ASSERT_EQ(0, getsockopt(c, SOL_AF_CUSTOM, AFC_INFO, &ti, &tl));
	EXPECT_EQ(ti.tcpi_snd_mss, r->info.tcpi_snd_mss);
	EXPECT_LE(r->info.tcpi_segs_out, ti.tcpi_segs_out);
	EXPECT_EQ(ti.tcpi_snd_cwnd, r->info.tcpi_snd_cwnd);
	free(d.rows);
	close(c);
	close(s);
}

/* Namespace-local: a listener in another namespace is not listed here,
 * and a dump from there lists it alone. */
TEST_F(diag, namespace_local)
{
	struct dump d;
	int other, ofd, oport, i;

	ASSERT_EQ(0, unshare(CLONE_NEWNET));
	other = open("/proc/thread-self/ns/net", O_RDONLY);
	ASSERT_LE(0, other);
	ASSERT_EQ(0, afc_lo_up());
	ofd = socket(afc_family(), SOCK_STREAM, 0);
	ASSERT_LE(0, ofd);
	ASSERT_EQ(0, afc_bind(ofd, "127.0.0.1", self->port + 1 > 65535 ? 1024 : self->port + 1));
	ASSERT_EQ(0, listen(ofd, 16));
	oport = afc_port(ofd, 0);
	ASSERT_EQ(0, diag_dump(AFC_DIAG_ALL_STATES, 0, 0, 0, &d));
	ASSERT_EQ(1, d.n);
	EXPECT_EQ(ino_of(ofd), d.rows[0].m.adiag_inode);
	free(d.rows);
	ASSERT_EQ(0, setns(self->nets.a, CLONE_NEWNET));
	ASSERT_EQ(0, diag_dump(AFC_DIAG_ALL_STATES, 0, 0, 0, &d));
	ASSERT_EQ(1, d.n);
	EXPECT_EQ(ino_of(self->lfd), d.rows[0].m.adiag_inode);
	for (i = 0; i < d.n; i++)
		EXPECT_NE(oport, ntohs(d.rows[i].m.adiag_sport));
	free(d.rows);
	close(ofd);
	close(other);
}

/* As inet_diag: any user may dump the namespace's sockets, and sees their
 * owners; a socket an unprivileged user opened shows its uid. */
TEST_F(diag, unprivileged_dump)
{
	int c, s, status;
	pid_t pid;

	pair(_metadata, self, &c, &s);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct dump d;
		struct drow *r;
		int fd, ok = 1;

		if (setgid(65534) || setuid(65534))
			_exit(10);
		fd = socket(afc_family(), SOCK_STREAM, 0);
		if (fd < 0 || afc_bind(fd, "127.0.0.1", 0) || listen(fd, 4))
			_exit(11);
		if (diag_dump(AFC_DIAG_ALL_STATES, 0, 0, 1, &d))
			_exit(12);
		if (d.n != 4)
			ok = 0;
		r = find_ino(&d, ino_of(fd));
		if (!r || r->m.adiag_uid != 65534)
			ok = 0;
		r = find_ino(&d, ino_of(self->lfd));
		if (!r || r->m.adiag_uid != 0)
			ok = 0;
		r = find_ino(&d, ino_of(c));
		if (!r || !r->has_info || r->info.tcpi_state != 1)
			ok = 0;
		fprintf(stderr, "# unprivileged: %d rows\n", d.n);
		_exit(ok ? 0 : 13);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(c);
	close(s);
}

/* A request shorter than struct afc_diag_req: EINVAL; one without
 * NLM_F_DUMP: EOPNOTSUPP (as vsock's). */
TEST_F(diag, bad_requests)
{
	struct afc_diag_req req = { .sdiag_family = afc_family(), .adiag_states = ~0U };
	struct dump d;

	EXPECT_EQ(-EINVAL, diag_request(&req, 8, NLM_F_REQUEST | NLM_F_DUMP, &d));
	free(d.rows);
	EXPECT_EQ(-EOPNOTSUPP, diag_request(&req, sizeof(req), NLM_F_REQUEST, &d));
	free(d.rows);
}

/* Runs afc-ss (next to this program) with args; its output into out. */
static int afc_ss(const char *args, char *out, size_t len)
{
	char exe[PATH_MAX], cmd[PATH_MAX + 256];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t got = 0;
	FILE *p;

	if (n < 0)
		return -1;
	exe[n] = 0;
	snprintf(cmd, sizeof(cmd), "%s/afc-ss %s", dirname(exe), args);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (got + 1 < len) {
		size_t k = fread(out + got, 1, len - 1 - got, p);

		if (!k)
			break;
		got += k;
	}
	out[got] = 0;
	fprintf(stderr, "# $ afc-ss %s\n", args);
	for (char *line = strtok(strdup(out), "\n"); line; line = strtok(NULL, "\n"))
		fprintf(stderr, "#   %s\n", line);
	return pclose(p);
}

/* Counts the lines of out that contain every one of the strings given. */
static int lines_with(const char *out, const char *a, const char *b, const char *c)
{
	int n = 0;

	for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		char line[512];

		if (len >= sizeof(line))
			continue;
		memcpy(line, l, len);
		line[len] = 0;
		if (strstr(line, a) && (!b || strstr(line, b)) && (!c || strstr(line, c)))
			n++;
	}
	return n;
}

TEST_F(diag, afc_ss_output)
{
	char out[16384], local[64], peer[64], ino[64], args[128];
	int c, s;

	pair(_metadata, self, &c, &s);
	/* -l: the listener, its address and inode, and nothing else. */
	ASSERT_EQ(0, afc_ss("-l -H", out, sizeof(out)));
	snprintf(local, sizeof(local), "127.0.0.1:%d", self->port);
	snprintf(ino, sizeof(ino), "ino:%lu", ino_of(self->lfd));
	EXPECT_EQ(1, lines_with(out, "LISTEN", local, ino));
	EXPECT_EQ(1, lines_with(out, "*:*", NULL, NULL));
	EXPECT_EQ(0, lines_with(out, "ESTAB", NULL, NULL));
	/* -t: both ends of the pair. */
	ASSERT_EQ(0, afc_ss("-t -H", out, sizeof(out)));
	snprintf(peer, sizeof(peer), "127.0.0.1:%d", afc_port(c, 0));
	snprintf(ino, sizeof(ino), "ino:%lu", ino_of(c));
	EXPECT_EQ(1, lines_with(out, "ESTAB", peer, ino));
	snprintf(ino, sizeof(ino), "ino:%lu", ino_of(s));
	EXPECT_EQ(1, lines_with(out, "ESTAB", local, ino));
	EXPECT_EQ(0, lines_with(out, "LISTEN", NULL, NULL));
	/* -s and --dport: the client end alone; -i: its numbers. */
	ASSERT_EQ(0, afc_ss("-s established -i --dport 0 --sport 0 -H", out, sizeof(out)));
	EXPECT_EQ(2, lines_with(out, "cwnd:", "rtt:", "mss:"));
	snprintf(args, sizeof(args), "-i -H --dport %d", self->port);
	ASSERT_EQ(0, afc_ss(args, out, sizeof(out)));
	EXPECT_EQ(1, lines_with(out, "ESTAB", peer, NULL));
	EXPECT_EQ(1, lines_with(out, "cwnd:", "ssthresh:", "segs_out:"));
	/* The header by default. */
	ASSERT_EQ(0, afc_ss("-a", out, sizeof(out)));
	EXPECT_EQ(1, lines_with(out, "State", "Recv-Q", "Local Address:Port"));
	EXPECT_EQ(3, lines_with(out, "127.0.0.1:", NULL, NULL));
	close(c);
	close(s);
}

TEST_HARNESS_MAIN
