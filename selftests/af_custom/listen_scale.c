// SPDX-License-Identifier: GPL-2.0
/*
 * Listeners at scale (issue 6): the accept queue bound by the backlog, a
 * SYN flood from a raw AF_PACKET injector, SO_REUSEPORT shards (balance,
 * shortest accept queue, migration when a shard closes, same-uid rule),
 * privileged ports, namespace isolation, specific-over-wildcard, and every
 * row of /proc/net/af_custom.
 *
 * Family as in afc_test.h: AFC_TEST_FAMILY=inet runs the same tests over
 * TCP (how the expectations were checked against Linux).  Where our core
 * deliberately differs from TCP (the accept queue holds exactly `backlog`,
 * TCP backlog + 1; shortest-queue shard choice) the difference is spelled
 * out next to the assertion.  What only AF_CUSTOM has (/proc/net/af_custom,
 * its counters, AF_CUSTOM frames) is skipped under inet only.
 *
 * AFC_REUSEPORT_CONNS (default 10000): connections of the reuseport tests.
 * AFC_FLOOD_CLIENTS (default 50): legitimate clients during the SYN flood.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <linux/capability.h>
#include <linux/sockios.h>
#include "afc_test.h"
#include "afc_frame.h"
#include "kselftest_harness.h"

/* ---- helpers ------------------------------------------------------------ */


static unsigned long ino_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : st.st_ino;
}

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a.s_addr;	/* as /proc prints it: the network-order u32 */
}

static int env_int(const char *name, int def)
{
	const char *e = getenv(name);
	int v = e ? atoi(e) : 0;

	return v > 0 ? v : def;
}

/* Connected state of a nonblocking connect: 0 connected, 1 still
 * pending after ms, -errno failed. */
static int conn_wait(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int err = 0;
	socklen_t len = sizeof(err);
	int r = poll(&p, 1, ms);

	if (r < 0)
		return -errno;
	if (r == 0)
		return 1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		return -errno;
	return err ? -err : 0;
}

/* A nonblocking client socket (namespace ns of n) whose connect is started. */
static int start_connect(const struct afc_nets *n, int ns, const char *ip, int port)
{
	int fd = afc_socket_in(n, ns, SOCK_NONBLOCK);

	if (fd < 0)
		return -1;
	if (afc_connect(fd, ip, port) && errno != EINPROGRESS) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int set_reuse(int fd, int opt)
{
	return afc_setint(fd, SOL_SOCKET, opt, 1);
}

static int accept_nb(int l)
{
	struct pollfd p = { .fd = l, .events = POLLIN };

	if (poll(&p, 1, 0) != 1)
		return -1;
	return accept4(l, NULL, NULL, SOCK_NONBLOCK);
}

static int accept_wait(int l, int ms)
{
	struct pollfd p = { .fd = l, .events = POLLIN };

	if (poll(&p, 1, ms) != 1) {
		errno = ETIMEDOUT;
		return -1;
	}
	return accept(l, NULL, NULL);
}

/*
 * Rows of /proc/net/af_custom (or, under inet, /proc/net/tcp, whose
 * columns it has) of the calling thread's namespace.
 */
#define PROC_TCP_HEADER "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"

struct prow {
	uint32_t laddr, raddr;
	unsigned lport, rport, state, txq, rxq, uid;
	unsigned timer, when, retrans;
	int probes;
	unsigned long inode;
	int cols;		/* conversions matched: 19, /proc/net/tcp's columns */
	int used;		/* matched by a check */
};

enum { ST_EST = 1, ST_SYN_SENT = 2, ST_SYN_RECV = 3, ST_FIN_WAIT1 = 4, ST_FIN_WAIT2 = 5,
       ST_TIME_WAIT = 6, ST_CLOSE = 7, ST_CLOSE_WAIT = 8, ST_LAST_ACK = 9, ST_LISTEN = 10 };

struct rows {
	struct prow *r;
	int n;
	char header[256];
};

static void rows_free(struct rows *t)
{
	free(t->r);
	t->r = NULL;
	t->n = 0;
}

static int rows_read(struct rows *t)
{
	const char *path = afc_inet() ? "/proc/thread-self/net/tcp" : "/proc/thread-self/net/af_custom";
	FILE *f = fopen(path, "r");
	char line[512];
	int cap = 0;

	t->n = 0;
	t->header[0] = 0;
	if (!f)
		return -1;
	if (!fgets(t->header, sizeof(t->header), f)) {
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		struct prow p = { 0 };
		/* The columns past the inode, as ss reads them; the sock's
		 * address (%pK) is "(____ptrval____)" until the kernel's
		 * random pool is ready (for TCP's too), so it is skipped. */
		int refcnt, qack, ssthresh;
		unsigned long rto, ato;
		unsigned cwnd;

		p.cols = sscanf(line, " %*d: %X:%X %X:%X %X %X:%X %X:%X %X %u %d %lu %d %*s %lu %lu %d %u %d",
				&p.laddr, &p.lport, &p.raddr, &p.rport, &p.state, &p.txq, &p.rxq,
				&p.timer, &p.when, &p.retrans, &p.uid, &p.probes, &p.inode,
				&refcnt, &rto, &ato, &qack, &cwnd, &ssthresh);
		if (t->n == cap) {
			cap = cap ? cap * 2 : 64;
			t->r = realloc(t->r, cap * sizeof(*t->r));
		}
		t->r[t->n++] = p;
	}
	fclose(f);
	return t->n;
}

static struct prow *row_by_inode(struct rows *t, unsigned long ino)
{
	for (int i = 0; i < t->n; i++)
		if (t->r[i].inode == ino)
			return &t->r[i];
	return NULL;
}

/* The row of a connection by its 4-tuple (ports; addresses as /proc prints). */
static struct prow *row_by_tuple(struct rows *t, uint32_t la, unsigned lp, uint32_t ra, unsigned rp)
{
	for (int i = 0; i < t->n; i++)
		if (t->r[i].laddr == la && t->r[i].lport == lp && t->r[i].raddr == ra && t->r[i].rport == rp)
			return &t->r[i];
	return NULL;
}

static int rows_count(struct rows *t, unsigned lport, unsigned state)
{
	int c = 0;

	for (int i = 0; i < t->n; i++)
		c += t->r[i].lport == lport && t->r[i].state == state;
	return c;
}

/* Listener's accept queue length (rx_queue of its row), polled until want. */
static int acceptq_of(int l, int want, int ms)
{
	long long end = now_ms() + ms;
	unsigned long ino = ino_of(l);

	for (;;) {
		struct rows t = { 0 };
		struct prow *p;
		int q = -1;

		rows_read(&t);
		p = row_by_inode(&t, ino);
		if (p)
			q = p->rxq;
		rows_free(&t);
		if (q == want || now_ms() >= end)
			return q;
		usleep(20000);
	}
}

static long long stat_delta(const char *name, long long before)
{
	return afc_stat(name) - before;
}

#define SKIP_INET(what) do { if (afc_inet()) SKIP(return, "AF_CUSTOM only: " what); } while (0)

/* The expected accept queue bound: ours is exactly backlog (listen(fd, 0)
 * allows one, docs/PROTOCOL.md section 10); Linux TCP allows backlog + 1. */
static int queue_bound(int backlog)
{
	if (afc_inet())
		return backlog + 1;
	return backlog ? backlog : 1;
}

static int mk_listener_at(struct __test_metadata *_metadata, const char *ip, int port,
			  int backlog, int reuseport)
{
	int fd = afc_tsocket();

	ASSERT_LE(0, fd) TH_LOG("socket: %s", strerror(errno));
	if (reuseport) {
		ASSERT_EQ(0, set_reuse(fd, SO_REUSEPORT)) TH_LOG("SO_REUSEPORT: %s", strerror(errno));
	}
	ASSERT_EQ(0, afc_bind(fd, ip, port)) TH_LOG("bind %s:%d: %s", ip, port, strerror(errno));
	ASSERT_EQ(0, listen(fd, backlog)) TH_LOG("listen: %s", strerror(errno));
	return fd;
}

/* ---- fixtures ------------------------------------------------------------ */

FIXTURE(lo) { struct afc_nets n; };
FIXTURE_SETUP(lo)
{
	ASSERT_EQ(0, afc_lo_setup(&self->n)) TH_LOG("namespace setup failed");
	if (!afc_inet()) {
		ASSERT_LT(0, afc_family()) TH_LOG("af_custom is not loaded");
		ASSERT_EQ(0, afc_stat("ListenOverflows")) TH_LOG("fresh namespace, counters not zero");
	}
}
FIXTURE_TEARDOWN(lo) { afc_nets_close(&self->n); }

FIXTURE(veth) { struct afc_nets n; };
FIXTURE_SETUP(veth)
{
	int rc = afc_veth_setup(&self->n);

	if (rc && afc_inet())
		SKIP(return, "veth unavailable on this host (AFC_TEST_FAMILY=inet)");
	ASSERT_EQ(0, rc) TH_LOG("veth namespace setup failed");
	if (!afc_inet()) {
		ASSERT_LT(0, afc_family()) TH_LOG("af_custom is not loaded");
	}
}
FIXTURE_TEARDOWN(veth) { afc_nets_close(&self->n); }

/* ---- backlog ----------------------------------------------------------------
 * With backlog N and nobody calling accept(), exactly queue_bound(N)
 * connections complete; the next ones stay in SYN_SENT (their SYNs are
 * dropped and counted, the client retransmits) and complete once accept()
 * makes room, one per free slot.
 */
FIXTURE(backlog) { struct afc_nets n; };
FIXTURE_VARIANT(backlog) { int backlog; };
FIXTURE_VARIANT_ADD(backlog, b0) { .backlog = 0 };
FIXTURE_VARIANT_ADD(backlog, b1) { .backlog = 1 };
FIXTURE_VARIANT_ADD(backlog, b5) { .backlog = 5 };
FIXTURE_SETUP(backlog)
{
	ASSERT_EQ(0, afc_lo_setup(&self->n)) TH_LOG("namespace setup failed");
	if (!afc_inet()) {
		ASSERT_LT(0, afc_family()) TH_LOG("af_custom is not loaded");
	}
}
FIXTURE_TEARDOWN(backlog) { afc_nets_close(&self->n); }

TEST_F_TIMEOUT(backlog, exactly_backlog_complete_then_the_rest_once_accepted, 300)
{
	int N = variant->backlog, E = queue_bound(N), W = 2, total = E + W;
	int l = mk_listener_at(_metadata, "127.0.0.1", 0, N, 0), port = afc_port(l, 0);
	long long ovf0 = afc_stat("ListenOverflows"), drops0 = afc_stat("ListenDrops");
	int c[16], accepted = 0, seen[16] = { 0 };
	struct rows t = { 0 };
	struct prow *p;

	ASSERT_GE(16, total);
	for (int i = 0; i < total; i++) {
		c[i] = start_connect(&self->n, self->n.a, "127.0.0.1", port);
		ASSERT_LE(0, c[i]) TH_LOG("client %d: %s", i, strerror(errno));
		if (i < E) {
			ASSERT_EQ(0, conn_wait(c[i], 10000))
				TH_LOG("client %d of %d (backlog %d) did not complete", i, E, N);
		} else {
			ASSERT_EQ(1, conn_wait(c[i], 1500))
				TH_LOG("client %d completed although %d are queued (backlog %d)", i, E, N);
		}
	}
	/* What /proc says: the listener holds E, the clients' states. */
	ASSERT_EQ(E, acceptq_of(l, E, 2000)) TH_LOG("listener accept queue (rx_queue)");
	ASSERT_LE(0, rows_read(&t));
	p = row_by_inode(&t, ino_of(l));
	ASSERT_NE(NULL, p);
	ASSERT_EQ(ST_LISTEN, p->state);
	ASSERT_EQ(port, p->lport);
	if (!afc_inet()) {
		EXPECT_EQ(N, p->txq) TH_LOG("listener tx_queue must be the backlog (ss -lt: 0 for listen(fd, 0))");
	}
	for (int i = 0; i < total; i++) {
		p = row_by_inode(&t, ino_of(c[i]));
		ASSERT_NE(NULL, p) TH_LOG("no row for client %d", i);
		ASSERT_EQ(i < E ? ST_EST : ST_SYN_SENT, p->state) TH_LOG("client %d", i);
		ASSERT_EQ(port, p->rport);
		ASSERT_EQ(afc_port(c[i], 0), p->lport);
	}
	/* Server side: E established children, not accepted (inode 0), no half-open. */
	ASSERT_EQ(E, rows_count(&t, port, ST_EST));
	ASSERT_EQ(0, rows_count(&t, port, ST_SYN_RECV)) TH_LOG("dropped SYNs left half-open entries");
	for (int i = 0; i < t.n; i++)
		if (t.r[i].lport == port && t.r[i].state == ST_EST) {
			ASSERT_EQ(0, t.r[i].inode) TH_LOG("unaccepted child with an inode");
		}
	rows_free(&t);
	if (!afc_inet()) {
		ASSERT_LE(W, stat_delta("ListenOverflows", ovf0)) TH_LOG("dropped SYNs not counted");
		ASSERT_LE(W, stat_delta("ListenDrops", drops0));
	}
	/* Still waiting after retransmissions (1 s, 3 s): the queue is full. */
	usleep(2500 * 1000);
	for (int i = E; i < total; i++) {
		ASSERT_EQ(1, conn_wait(c[i], 0)) TH_LOG("client %d completed with a full queue", i);
	}
	if (!afc_inet()) {
		ASSERT_LE(2 * W, stat_delta("ListenOverflows", ovf0)) TH_LOG("retransmitted SYNs not counted");
	}
	/* One accept makes room for one: exactly one waiting client completes. */
	int s = accept_nb(l);

	ASSERT_LE(0, s) TH_LOG("accept: %s", strerror(errno));
	for (int i = 0; i < total; i++)
		if (afc_port(c[i], 0) == afc_port(s, 1))
			seen[i]++;
	close(s);
	accepted++;
	{
		long long end = now_ms() + 20000;
		int done = 0;

		while (!done && now_ms() < end) {
			for (int i = E; i < total; i++)
				done += conn_wait(c[i], 0) == 0;
			usleep(20000);
		}
		ASSERT_EQ(1, done) TH_LOG("after one accept, %d waiting clients completed", done);
	}
	ASSERT_EQ(E, acceptq_of(l, E, 2000)) TH_LOG("the freed slot was refilled");
	/* Accept the rest: every client completes and is accepted once. */
	while (accepted < total) {
		struct sockaddr_custom a;
		socklen_t len = sizeof(a);
		int k;

		k = accept_wait(l, 20000);
		ASSERT_LE(0, k) TH_LOG("only %d of %d accepted: %s", accepted, total, strerror(errno));
		ASSERT_EQ(0, getpeername(k, (struct sockaddr *)&a, &len));
		for (int i = 0; i < total; i++)
			if (afc_port(c[i], 0) == ntohs(a.scu_port))
				seen[i]++;
		close(k);
		accepted++;
	}
	for (int i = 0; i < total; i++) {
		ASSERT_EQ(0, conn_wait(c[i], 10000)) TH_LOG("client %d never completed", i);
		ASSERT_EQ(1, seen[i]) TH_LOG("client %d accepted %d times", i, seen[i]);
		close(c[i]);
	}
	ASSERT_EQ(0, acceptq_of(l, 0, 2000));
	close(l);
}

/* A second listen() changes the backlog; somaxconn caps it. */
TEST_F_TIMEOUT(lo, relisten_changes_backlog, 120)
{
	int l = mk_listener_at(_metadata, "127.0.0.1", 0, 2, 0), port = afc_port(l, 0);
	int E = queue_bound(6), c[10], n = 0, somax = 0;
	struct rows t = { 0 };
	FILE *f;

	ASSERT_EQ(0, listen(l, 6)) TH_LOG("second listen: %s", strerror(errno));
	for (n = 0; n < E + 1; n++) {
		c[n] = start_connect(&self->n, self->n.a, "127.0.0.1", port);
		ASSERT_LE(0, c[n]);
		ASSERT_EQ(n < E ? 0 : 1, conn_wait(c[n], n < E ? 10000 : 1500))
			TH_LOG("client %d with backlog raised to 6", n);
	}
	ASSERT_EQ(E, acceptq_of(l, E, 2000));
	if (!afc_inet()) {
		rows_read(&t);
		ASSERT_EQ(6, row_by_inode(&t, ino_of(l))->txq);
		rows_free(&t);
		f = fopen("/proc/sys/net/core/somaxconn", "r");
		ASSERT_NE(NULL, f);
		ASSERT_EQ(1, fscanf(f, "%d", &somax));
		fclose(f);
		ASSERT_EQ(0, listen(l, 1000000));
		rows_read(&t);
		ASSERT_EQ(somax, row_by_inode(&t, ino_of(l))->txq) TH_LOG("backlog not capped at somaxconn");
		rows_free(&t);
		ASSERT_EQ(0, listen(l, 1));
		rows_read(&t);
		ASSERT_EQ(1, row_by_inode(&t, ino_of(l))->txq) TH_LOG("backlog lowered by a third listen");
		rows_free(&t);
	}
	for (int i = 0; i < n; i++)
		close(c[i]);
	close(l);
}

/* A listener without siblings that closes resets what it had queued. */
TEST_F_TIMEOUT(lo, closed_listener_resets_queued, 60)
{
	int l = mk_listener_at(_metadata, "127.0.0.1", 0, 4, 0), port = afc_port(l, 0), c[2];
	char b;

	for (int i = 0; i < 2; i++) {
		c[i] = afc_tsocket();
		ASSERT_EQ(0, afc_connect(c[i], "127.0.0.1", port));
	}
	ASSERT_EQ(2, acceptq_of(l, 2, 2000));
	close(l);
	for (int i = 0; i < 2; i++) {
		struct timeval tv = { .tv_sec = 10 };

		setsockopt(c[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		ASSERT_EQ(-1, recv(c[i], &b, 1, 0));
		ASSERT_EQ(ECONNRESET, errno) TH_LOG("client %d: %s", i, strerror(errno));
		close(c[i]);
	}
}

/* ---- SYN flood ------------------------------------------------------------------
 * A child floods the listener with SYNs from random addresses and ports
 * (AF_PACKET, addressed to the device's MAC) while legitimate clients
 * connect; at least 90% of them must complete within a bounded time.
 */
FIXTURE(flood) { struct afc_nets n; };
FIXTURE_VARIANT(flood) { int veth; const char *srv, *ifname, *dmac; };
FIXTURE_VARIANT_ADD(flood, lo) { .veth = 0, .srv = "127.0.0.1", .ifname = "lo",
	.dmac = "00:00:00:00:00:00" };
FIXTURE_VARIANT_ADD(flood, veth) { .veth = 1, .srv = "10.77.0.1", .ifname = "vb",
	.dmac = AFC_VA_MAC };
FIXTURE_SETUP(flood)
{
	int rc = variant->veth ? afc_veth_setup(&self->n) : afc_lo_setup(&self->n);

	if (afc_inet())
		SKIP(return, "AF_CUSTOM only: the injector sends AF_CUSTOM frames");
	ASSERT_EQ(0, rc) TH_LOG("namespace setup failed");
	ASSERT_LT(0, afc_family()) TH_LOG("af_custom is not loaded");
	/* The SYN queue's own behaviour under a flood: without SYN cookies
	 * (synflood.c tests them). */
	ASSERT_EQ(0, afc_sh("echo 0 > /proc/sys/net/af_custom/syncookies"));
}
FIXTURE_TEARDOWN(flood) { afc_nets_close(&self->n); }

struct flood_shared {
	volatile long sent, errors;
	volatile int stop;
};

static uint64_t xs(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* The injector (a child process): SYNs until told to stop. */
static void injector(const struct afc_nets *n, int ns, const char *ifname, const char *dmac,
		     int veth, uint32_t daddr, int dport, struct flood_shared *sh)
{
	uint8_t frame[ETH_HLEN + AFC_HDR_LEN];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_AF_CUSTOM),
				   .sll_halen = ETH_ALEN };
	uint64_t s = 0x9e3779b97f4a7c15ULL ^ getpid();
	unsigned int mac[6];
	int fd;

	if (setns(ns, CLONE_NEWNET))
		_exit(2);
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	sll.sll_ifindex = if_nametoindex(ifname);
	if (fd < 0 || !sll.sll_ifindex)
		_exit(3);
	sscanf(dmac, "%x:%x:%x:%x:%x:%x", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]);
	memset(frame, 0, ETH_HLEN);
	for (int i = 0; i < 6; i++)
		frame[i] = sll.sll_addr[i] = mac[i];
	frame[6] = 0x02; frame[7] = 0x66;	/* a made-up source MAC */
	frame[12] = ETH_P_AF_CUSTOM >> 8;
	frame[13] = ETH_P_AF_CUSTOM & 0xff;
	while (!sh->stop) {
		uint64_t r = xs(&s);
		struct afc_hdr_fields h = {
			.version = 1, .flags = AFC_F_SYN, .window = 65535,
			.sport = 1024 + r % 64000, .dport = dport,
			.daddr = ntohl(daddr), .seq = r >> 32, .wscale = 7, .mss = 1460,
		};

		/* veth: 10.77.0.3-254, nobody answers ARP for them, so the
		 * half-open entries linger; lo: 127.x.y.z but not 127.0.0.1. */
		if (veth)
			h.saddr = (10u << 24) | (77u << 16) | (3 + (r >> 20) % 252);
		else
			h.saddr = (127u << 24) | (((r >> 20) & 0xffff) << 8) | (2 + (r >> 40) % 250);
		afc_build(frame + ETH_HLEN, &h, frame, 1);	/* no payload */
		if (sendto(fd, frame, sizeof(frame), 0, (void *)&sll, sizeof(sll)) != sizeof(frame)) {
			sh->errors++;
			usleep(100);
			continue;
		}
		sh->sent++;
		if (!(sh->sent % 64))
			sched_yield();
	}
	close(fd);
	_exit(0);
}

struct acceptor {
	pthread_t th;
	int l, delay_us;
	volatile int stop;
	volatile int count;
};

static void *acceptor_fn(void *p)
{
	struct acceptor *a = p;

	for (;;) {
		struct pollfd pf = { .fd = a->l, .events = POLLIN };
		int k;

		if (poll(&pf, 1, 20) != 1) {
			if (a->stop)
				break;
			continue;
		}
		k = accept4(a->l, NULL, NULL, SOCK_NONBLOCK);
		if (k < 0)
			continue;
		close(k);
		a->count++;
		if (a->delay_us)
			usleep(a->delay_us);
	}
	return NULL;
}

struct legit {
	pthread_t th;
	const struct afc_nets *n;
	const char *srv;
	int port, count, ok, bound_ms;
	long long worst_ms;
};

static void *legit_fn(void *p)
{
	struct legit *g = p;

	for (int i = 0; i < g->count; i++) {
		long long t0 = now_ms();
		int fd = start_connect(g->n, g->n->b, g->srv, g->port);

		if (fd < 0)
			continue;
		if (conn_wait(fd, g->bound_ms) == 0) {
			g->ok++;
			if (now_ms() - t0 > g->worst_ms)
				g->worst_ms = now_ms() - t0;
		}
		close(fd);
	}
	return NULL;
}

static int inject_syns(const struct afc_nets *n, uint32_t daddr, int dport, int first, int count);

TEST_F_TIMEOUT(flood, legit_clients_get_through, 600)
{
	enum { THREADS = 5 };
	int clients = env_int("AFC_FLOOD_CLIENTS", 50), ok = 0, st;
	int l = mk_listener_at(_metadata, variant->srv, 0, 128, 0), port = afc_port(l, 0);
	struct flood_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct acceptor acc = { .l = l };
	struct legit g[THREADS];
	long long in0 = afc_stat("InSegs"), sqd0 = afc_stat("SynQueueDrops"), t0, worst = 0;
	pid_t pid;
	struct rows t = { 0 };

	ASSERT_NE(MAP_FAILED, sh);
	pthread_create(&acc.th, NULL, acceptor_fn, &acc);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		injector(&self->n, self->n.b, variant->ifname, variant->dmac, variant->veth,
			 ip4(variant->srv), port, sh);
	/* Let the flood fill the SYN queue first (the debug kernel on a
	 * busy host has sent only 2,435 in 30 s: the wait costs nothing
	 * when the flood is fast). */
	t0 = now_ms();
	while (sh->sent < 3000 && now_ms() - t0 < 120000)
		usleep(10000);
	if (sh->sent < 3000) {
		/* The injector must not outlive the test (it would keep the
		 * module busy for every later program). */
		sh->stop = 1;
		waitpid(pid, &st, 0);
	}
	ASSERT_LE(3000, sh->sent) TH_LOG("injector sent %ld frames (%ld errors)", sh->sent, sh->errors);
	t0 = now_ms();
	for (int i = 0; i < THREADS; i++) {
		g[i] = (struct legit){ .n = &self->n, .srv = variant->srv, .port = port,
				       .count = clients / THREADS + (i < clients % THREADS),
				       .bound_ms = 8000 };
		pthread_create(&g[i].th, NULL, legit_fn, &g[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(g[i].th, NULL);
		ok += g[i].ok;
		if (g[i].worst_ms > worst)
			worst = g[i].worst_ms;
	}
	sh->stop = 1;
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_EQ(0, st) TH_LOG("injector failed: status %d", st);
	acc.stop = 1;
	pthread_join(acc.th, NULL);
	TH_LOG("%d of %d legitimate clients connected during a flood of %ld SYNs in %lld ms "
	       "(slowest %lld ms); InSegs +%lld, SynQueueDrops +%lld, accepted %d",
	       ok, clients, sh->sent, now_ms() - t0, worst, stat_delta("InSegs", in0),
	       stat_delta("SynQueueDrops", sqd0), acc.count);
	ASSERT_LE(clients * 9, ok * 10) TH_LOG("fewer than 90%% of the legitimate clients connected");
	ASSERT_LE(ok, acc.count);
	ASSERT_LE(sh->sent / 2, stat_delta("InSegs", in0)) TH_LOG("the flood did not arrive");
	if (variant->veth) {
		/* Nobody answers for the spoofed sources: the SYN queue fills
		 * (at least max(backlog, 256) entries) and the oldest give way.
		 * The last legitimate handshake to complete frees a slot, and
		 * the flood may stop before refilling it (CI saw 255 once): a
		 * burst of 20 SYNs after the flood tops the queue up. */
		ASSERT_LT(0, stat_delta("SynQueueDrops", sqd0));
		usleep(500 * 1000);	/* frames still in flight settle */
		rows_read(&t);
		TH_LOG("half-open entries after the flood: %d", rows_count(&t, port, ST_SYN_RECV));
		rows_free(&t);
		ASSERT_EQ(20, inject_syns(&self->n, ip4(variant->srv), port, 60000, 20));
		usleep(500 * 1000);
		rows_read(&t);
		TH_LOG("after 20 more SYNs: %d", rows_count(&t, port, ST_SYN_RECV));
		ASSERT_EQ(256, rows_count(&t, port, ST_SYN_RECV));
		rows_free(&t);
	}
	close(l);
	munmap(sh, sizeof(*sh));
}

/*
 * The SYN queue holds max(backlog, 256) half-open entries; beyond that,
 * with net.af_custom.syncookies=0, the oldest gives way to each new SYN
 * (SynQueueDrops).  veth only: nobody
 * answers the SYN-ACKs, so the entries stay (5 SYN-ACK retries, 63 s).
 * SYN i comes from 10.77.0.(3 + i % 250), port 2000 + i.
 */
static int inject_syns(const struct afc_nets *n, uint32_t daddr, int dport, int first, int count)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_AF_CUSTOM),
				   .sll_halen = ETH_ALEN };
	uint8_t frame[ETH_HLEN + AFC_HDR_LEN] = { 0x02, 0x77, 0, 0, 0, 0x01, 0x02, 0x66 };
	int fd, sent = 0;

	if (setns(n->b, CLONE_NEWNET))
		return -1;
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	sll.sll_ifindex = if_nametoindex("vb");
	if (setns(n->a, CLONE_NEWNET) || fd < 0 || !sll.sll_ifindex)
		return -1;
	memcpy(sll.sll_addr, frame, ETH_ALEN);
	frame[12] = ETH_P_AF_CUSTOM >> 8;
	frame[13] = ETH_P_AF_CUSTOM & 0xff;
	for (int i = first; i < first + count; i++) {
		struct afc_hdr_fields h = {
			.version = 1, .flags = AFC_F_SYN, .window = 65535,
			.sport = 2000 + i, .dport = dport,
			.saddr = (10u << 24) | (77u << 16) | (3 + i % 250),
			.daddr = ntohl(daddr), .seq = 0x1000 * i, .wscale = 7, .mss = 1460,
		};

		afc_build(frame + ETH_HLEN, &h, frame, 1);
		if (sendto(fd, frame, sizeof(frame), 0, (void *)&sll, sizeof(sll)) == sizeof(frame))
			sent++;
		if (i % 20 == 19)
			usleep(5000);	/* do not overrun the receive backlog */
	}
	close(fd);
	return sent;
}

static int half_open_from(struct rows *t, int port, int i)
{
	return row_by_tuple(t, ip4("10.77.0.1"), port,
			    htonl((10u << 24) | (77u << 16) | (3 + i % 250)), 2000 + i) != NULL;
}

FIXTURE(synq) { struct afc_nets n; };
FIXTURE_VARIANT(synq) { int backlog; };
FIXTURE_VARIANT_ADD(synq, b10) { .backlog = 10 };
FIXTURE_VARIANT_ADD(synq, b300) { .backlog = 300 };
FIXTURE_SETUP(synq)
{
	if (afc_inet())
		SKIP(return, "AF_CUSTOM only: AF_CUSTOM frames");
	ASSERT_EQ(0, afc_veth_setup(&self->n)) TH_LOG("veth namespace setup failed");
	ASSERT_LT(0, afc_family()) TH_LOG("af_custom is not loaded");
	/* Eviction is what a full SYN queue does without SYN cookies. */
	ASSERT_EQ(0, afc_sh("echo 0 > /proc/sys/net/af_custom/syncookies"));
}
FIXTURE_TEARDOWN(synq) { afc_nets_close(&self->n); }

TEST_F_TIMEOUT(synq, oldest_half_open_gives_way, 120)
{
	int cap = variant->backlog > 256 ? variant->backlog : 256, extra = 40, total = cap + extra;
	int l, port, rows_n;
	long long sqd0 = afc_stat("SynQueueDrops"), in0 = afc_stat("InSegs");
	struct rows t = { 0 };

	l = mk_listener_at(_metadata, "10.77.0.1", 0, variant->backlog, 0);
	port = afc_port(l, 0);
	ASSERT_EQ(cap, inject_syns(&self->n, ip4("10.77.0.1"), port, 0, cap));
	usleep(500 * 1000);
	rows_read(&t);
	rows_n = rows_count(&t, port, ST_SYN_RECV);
	rows_free(&t);
	TH_LOG("backlog %d: %d SYNs -> %d half-open, InSegs +%lld, SynQueueDrops +%lld",
	       variant->backlog, cap, rows_n, stat_delta("InSegs", in0), stat_delta("SynQueueDrops", sqd0));
	ASSERT_EQ(cap, stat_delta("InSegs", in0)) TH_LOG("not every SYN arrived");
	ASSERT_EQ(cap, rows_n) TH_LOG("the SYN queue holds fewer than max(backlog, 256)");
	ASSERT_EQ(0, stat_delta("SynQueueDrops", sqd0));
	ASSERT_EQ(extra, inject_syns(&self->n, ip4("10.77.0.1"), port, cap, extra));
	usleep(500 * 1000);
	rows_read(&t);
	rows_n = rows_count(&t, port, ST_SYN_RECV);
	TH_LOG("then %d more -> %d half-open, SynQueueDrops +%lld", extra, rows_n,
	       stat_delta("SynQueueDrops", sqd0));
	ASSERT_EQ(cap, rows_n);
	ASSERT_EQ(extra, stat_delta("SynQueueDrops", sqd0));
	/* The oldest went, the newest stay. */
	for (int i = 0; i < total; i++) {
		ASSERT_EQ(i >= extra, half_open_from(&t, port, i)) TH_LOG("SYN %d", i);
	}
	rows_free(&t);
	/* Three real clients get through the full queue: the first evicts
	 * one entry, each later one takes the slot its predecessor freed
	 * by completing; then one slot is free: 40 more SYNs fill it and
	 * evict 39. */
	for (int i = 0; i < 3; i++) {
		int c = afc_socket_in(&self->n, self->n.b, 0), k;

		ASSERT_EQ(0, afc_connect(c, "10.77.0.1", port)) TH_LOG("client %d: %s", i, strerror(errno));
		k = accept_wait(l, 5000);
		ASSERT_LE(0, k);
		close(k);
		close(c);
	}
	ASSERT_EQ(extra + 1, stat_delta("SynQueueDrops", sqd0));
	ASSERT_EQ(extra, inject_syns(&self->n, ip4("10.77.0.1"), port, total, extra));
	usleep(500 * 1000);
	rows_read(&t);
	rows_n = rows_count(&t, port, ST_SYN_RECV);
	TH_LOG("3 clients, %d more SYNs -> %d half-open, SynQueueDrops +%lld", extra, rows_n,
	       stat_delta("SynQueueDrops", sqd0));
	ASSERT_EQ(cap, rows_n) TH_LOG("SYN queue capacity lost to completed handshakes");
	ASSERT_EQ(extra + 1 + extra - 1, stat_delta("SynQueueDrops", sqd0));
	rows_free(&t);
	close(l);
}

/* ---- SO_REUSEPORT ------------------------------------------------------------- */

struct connector {
	pthread_t th;
	int port, count, failed;
};

static void *connector_fn(void *p)
{
	struct connector *c = p;

	for (int i = 0; i < c->count; i++) {
		int fd = afc_tsocket();

		if (fd < 0 || afc_connect(fd, "127.0.0.1", c->port))
			c->failed++;
		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

/* Four shards on one port, `conns` connections from 4 threads; delays[i]:
 * shard i's pause after each accept.  Returns the elapsed ms. */
static long long run_shards(struct __test_metadata *_metadata, int conns, const int *delays,
			    struct acceptor *sh)
{
	enum { SHARDS = 4, CONNECTORS = 4 };
	struct connector cn[CONNECTORS];
	long long t0, elapsed, end;
	int port = 0, total, failed = 0;
	struct rlimit rl = { 4096, 4096 };

	setrlimit(RLIMIT_NOFILE, &rl);
	for (int i = 0; i < SHARDS; i++) {
		sh[i] = (struct acceptor){ .delay_us = delays[i] };
		sh[i].l = mk_listener_at(_metadata, "127.0.0.1", port, 128, 1);
		port = afc_port(sh[i].l, 0);
	}
	for (int i = 0; i < SHARDS; i++)
		pthread_create(&sh[i].th, NULL, acceptor_fn, &sh[i]);
	t0 = now_ms();
	for (int i = 0; i < CONNECTORS; i++) {
		cn[i] = (struct connector){ .port = port,
					    .count = conns / CONNECTORS + (i < conns % CONNECTORS) };
		pthread_create(&cn[i].th, NULL, connector_fn, &cn[i]);
	}
	for (int i = 0; i < CONNECTORS; i++) {
		pthread_join(cn[i].th, NULL);
		failed += cn[i].failed;
	}
	elapsed = now_ms() - t0;
	end = now_ms() + 120000;
	do {
		total = 0;
		for (int i = 0; i < SHARDS; i++)
			total += sh[i].count;
		if (total >= conns)
			break;
		usleep(10000);
	} while (now_ms() < end);
	for (int i = 0; i < SHARDS; i++) {
		sh[i].stop = 1;
		pthread_join(sh[i].th, NULL);
		close(sh[i].l);
	}
	TH_LOG("%d connections in %lld ms: shards %d %d %d %d (delays %d %d %d %d us)",
	       conns, elapsed, sh[0].count, sh[1].count, sh[2].count, sh[3].count,
	       delays[0], delays[1], delays[2], delays[3]);
	EXPECT_EQ(0, failed) TH_LOG("%d connects failed", failed);
	EXPECT_EQ(conns, total) TH_LOG("accepted %d of %d", total, conns);
	return elapsed;
}

/*
 * Equal accept paces, made exact: clients connect in batches while no shard
 * accepts, then every shard drains its queue; so all shards accept at the
 * same moments.  (Accept threads running flat out on a shared vCPU do not
 * have equal paces: whichever the scheduler starves falls behind, and the
 * balancer rightly gives it less -- the slow-shard test below measures
 * that.)  Each batch must spread evenly by the shortest-queue rule.
 */
TEST_F_TIMEOUT(lo, reuseport_equal_paces_balance, 600)
{
	enum { SHARDS = 4, BATCH = 100 };
	int conns = env_int("AFC_REUSEPORT_CONNS", 10000), count[SHARDS] = { 0 }, l[SHARDS];
	int port = 0, mx = 0, mn = 1 << 30, cl[BATCH];
	struct rlimit rl = { 4096, 4096 };
	long long t0 = now_ms();

	setrlimit(RLIMIT_NOFILE, &rl);
	for (int i = 0; i < SHARDS; i++) {
		l[i] = mk_listener_at(_metadata, "127.0.0.1", port, 128, 1);
		port = afc_port(l[i], 0);
		ASSERT_EQ(0, fcntl(l[i], F_SETFL, O_NONBLOCK));
	}
	for (int done = 0; done < conns;) {
		int n = conns - done < BATCH ? conns - done : BATCH, got = 0;

		for (int j = 0; j < n; j++) {
			cl[j] = afc_tsocket();
			ASSERT_LE(0, cl[j]);
			ASSERT_EQ(0, afc_connect(cl[j], "127.0.0.1", port)) TH_LOG("connect: %s", strerror(errno));
		}
		/* Every handshake is complete (connect returned): drain. */
		for (int i = 0; i < SHARDS; i++) {
			int k;

			while ((k = accept(l[i], NULL, NULL)) >= 0) {
				close(k);
				count[i]++;
				got++;
			}
			ASSERT_EQ(EAGAIN, errno);
		}
		ASSERT_EQ(n, got) TH_LOG("batch of %d, accepted %d", n, got);
		for (int j = 0; j < n; j++)
			close(cl[j]);
		done += n;
	}
	for (int i = 0; i < SHARDS; i++) {
		close(l[i]);
		if (count[i] > mx)
			mx = count[i];
		if (count[i] < mn)
			mn = count[i];
	}
	TH_LOG("%d connections in %lld ms: shards %d %d %d %d", conns, now_ms() - t0,
	       count[0], count[1], count[2], count[3]);
	ASSERT_LT(0, mn) TH_LOG("a shard got nothing");
	if (afc_inet()) {
		/* TCP spreads by the 4-tuple's hash: binomial, about 43 of 2,500
		 * either way (1.107 seen in CI); 1.25 is beyond five of those. */
		ASSERT_LE(mx * 100, mn * 125) TH_LOG("max %d / min %d > 1.25", mx, mn);
	} else {
		ASSERT_LE(mx * 10, mn * 11) TH_LOG("max %d / min %d > 1.1", mx, mn);
	}
}

TEST_F_TIMEOUT(lo, reuseport_slow_shard_gets_its_pace, 600)
{
	int conns = env_int("AFC_REUSEPORT_CONNS", 10000), delays[4] = { 20000, 0, 0, 0 };
	long long ovf0 = afc_stat("ListenOverflows"), elapsed;
	struct acceptor sh[4];
	int mx = 0, mn = 1 << 30;

	/* TCP picks a shard by hash only: a slow shard's queue overflows. */
	SKIP_INET("TCP spreads by hash, not by accept queue length");
	elapsed = run_shards(_metadata, conns, delays, sh);
	for (int i = 1; i < 4; i++) {
		if (sh[i].count > mx)
			mx = sh[i].count;
		if (sh[i].count < mn)
			mn = sh[i].count;
	}
	/* The slow shard accepts at most one per 20 ms (plus what its queue
	 * held at the end): it must not be handed more than that. */
	ASSERT_GE(elapsed / 20 + 128 + 8, sh[0].count)
		TH_LOG("slow shard got %d in %lld ms: more than its pace", sh[0].count, elapsed);
	ASSERT_GT(mn, sh[0].count) TH_LOG("slow shard got more than a fast one");
	/* The three fast shards run flat out on shared vCPUs, so their paces
	 * are only as equal as the scheduler makes them (the exact equal-pace
	 * check is reuseport_equal_paces_balance): a loose bound here (1.43
	 * measured with the host at load 5), looser for the debug kernel's
	 * smaller run (fewer connections, noisier). */
	if (conns >= 4000) {
		ASSERT_LE(mx * 10, mn * 16) TH_LOG("fast shards: max %d / min %d > 1.6", mx, mn);
	} else {
		ASSERT_LE(mx, mn * 2) TH_LOG("fast shards: max %d / min %d > 2", mx, mn);
	}
	/* Hardly any SYN found every shard full: none on a quiet host; a few
	 * when other VMs starve the acceptor threads (5 of 10,000 seen at
	 * host load 5).  A balancer that gave the slow shard its quarter
	 * would overflow thousands. */
	ASSERT_GE(conns / 200, stat_delta("ListenOverflows", ovf0));
}

/* A shard that closes with a full queue hands its connections to siblings. */
TEST_F_TIMEOUT(lo, reuseport_closed_shard_loses_nothing, 120)
{
	/* TCP spreads by hash: with 16 connections its shard 0 would be
	 * left empty once in 100 runs ((3/4)^16); 48 make that 1 in 10^6. */
	enum { SHARDS = 4, MAXCONNS = 48 };
	const int CONNS = afc_inet() ? MAXCONNS : 16;
	int l[SHARDS], port = 0, c[MAXCONNS], seen[MAXCONNS] = { 0 }, got = 0, q0;
	long long mig0 = afc_stat("AcceptQueueMigrations");

	if (afc_inet()) {
		/* Linux migrates only with this sysctl (default 0: reset). */
		ASSERT_EQ(0, afc_sh("echo 1 > /proc/sys/net/ipv4/tcp_migrate_req"));
	}
	for (int i = 0; i < SHARDS; i++) {
		/* shard 0 is full at 4 when the load is even (ours); TCP hashes. */
		l[i] = mk_listener_at(_metadata, "127.0.0.1", port, i == 0 && !afc_inet() ? 4 : 32, 1);
		port = afc_port(l[i], 0);
	}
	for (int i = 0; i < CONNS; i++) {
		c[i] = afc_tsocket();
		ASSERT_EQ(0, afc_connect(c[i], "127.0.0.1", port)) TH_LOG("client %d: %s", i, strerror(errno));
		ASSERT_EQ(sizeof(i), send(c[i], &i, sizeof(i), 0));
	}
	q0 = acceptq_of(l[0], 4, 2000);
	if (!afc_inet()) {
		/* Shortest queue first: 4 each, shard 0 full. */
		for (int i = 0; i < SHARDS; i++) {
			ASSERT_EQ(4, acceptq_of(l[i], 4, 2000)) TH_LOG("shard %d", i);
		}
	}
	ASSERT_LT(0, q0) TH_LOG("nothing queued on the shard to close");
	close(l[0]);
	if (!afc_inet()) {
		ASSERT_EQ(q0, stat_delta("AcceptQueueMigrations", mig0));
	}
	while (got < CONNS) {
		struct pollfd p[SHARDS - 1];
		int id = -1, k;

		for (int i = 1; i < SHARDS; i++)
			p[i - 1] = (struct pollfd){ .fd = l[i], .events = POLLIN };
		ASSERT_LT(0, poll(p, SHARDS - 1, 10000)) TH_LOG("only %d of %d connections left", got, CONNS);
		for (int i = 0; i < SHARDS - 1; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			k = accept(l[i + 1], NULL, NULL);
			ASSERT_LE(0, k);
			ASSERT_EQ(sizeof(id), recv(k, &id, sizeof(id), MSG_WAITALL));
			ASSERT_LE(0, id);
			ASSERT_GT(CONNS, id);
			ASSERT_EQ(0, seen[id]++) TH_LOG("connection %d twice", id);
			ASSERT_EQ(sizeof(id), send(k, &id, sizeof(id), 0));
			close(k);
			got++;
		}
	}
	for (int i = 0; i < CONNS; i++) {
		int back = -1;
		struct timeval tv = { .tv_sec = 10 };

		setsockopt(c[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		ASSERT_EQ(sizeof(back), recv(c[i], &back, sizeof(back), MSG_WAITALL))
			TH_LOG("client %d: %s", i, strerror(errno));
		ASSERT_EQ(i, back);
		close(c[i]);
	}
	for (int i = 1; i < SHARDS; i++)
		close(l[i]);
}

/* Only sockets of the same uid with SO_REUSEPORT join a group. */
TEST_F_TIMEOUT(lo, reuseport_other_uid_cannot_join, 60)
{
	int l = mk_listener_at(_metadata, "127.0.0.1", 0, 8, 1), port = afc_port(l, 0), st, fd;
	pid_t pid;

	/* Same uid without SO_REUSEPORT. */
	fd = afc_tsocket();
	ASSERT_EQ(-1, afc_bind(fd, "127.0.0.1", port));
	ASSERT_EQ(EADDRINUSE, errno);
	close(fd);
	fd = afc_tsocket();
	ASSERT_EQ(-1, afc_bind(fd, "0.0.0.0", port)) TH_LOG("wildcard over a specific listener");
	ASSERT_EQ(EADDRINUSE, errno);
	close(fd);
	/* Another uid with SO_REUSEPORT. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(10);
		fd = afc_tsocket();
		if (fd < 0 || set_reuse(fd, SO_REUSEPORT))
			_exit(11);
		if (afc_bind(fd, "127.0.0.1", port) == 0)
			_exit(12);
		_exit(errno == EADDRINUSE ? 0 : 13);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st)) TH_LOG("the child was killed by signal %d", WTERMSIG(st));
	ASSERT_EQ(0, WEXITSTATUS(st)) TH_LOG("other uid: status %d (12: joined; 13: wrong errno)",
					      WEXITSTATUS(st));
	/* The same uid joins. */
	fd = mk_listener_at(_metadata, "127.0.0.1", port, 8, 1);
	close(fd);
	close(l);
}

/* ---- rules: privileged ports, namespaces, specific over wildcard ------------ */

static int drop_bind_service(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[0].effective &= ~(1u << CAP_NET_BIND_SERVICE);
	d[0].permitted &= ~(1u << CAP_NET_BIND_SERVICE);
	d[0].inheritable &= ~(1u << CAP_NET_BIND_SERVICE);
	return syscall(SYS_capset, &h, d);
}

/* bind(ip, port) on a fresh socket: 0 or errno. */
static int try_bind(const char *ip, int port)
{
	int fd = afc_tsocket(), r;

	if (fd < 0)
		return 1000 + errno;
	r = afc_bind(fd, ip, port) ? errno : 0;
	close(fd);
	return r;
}

TEST_F_TIMEOUT(lo, privileged_ports, 60)
{
	pid_t pid;
	int st;

	ASSERT_EQ(0, try_bind("127.0.0.1", 80)) TH_LOG("root could not bind port 80");
	ASSERT_EQ(0, try_bind("127.0.0.1", 1023));
	/* Without CAP_NET_BIND_SERVICE (still uid 0). */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (drop_bind_service())
			_exit(10);
		if (try_bind("127.0.0.1", 80) != EACCES)
			_exit(11);
		if (try_bind("0.0.0.0", 1023) != EACCES)
			_exit(12);
		if (try_bind("127.0.0.1", 1024) != 0)
			_exit(13);
		if (try_bind("127.0.0.1", 0) != 0)
			_exit(14);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st)) TH_LOG("the child was killed by signal %d", WTERMSIG(st));
	ASSERT_EQ(0, WEXITSTATUS(st)) TH_LOG("without the capability: step %d failed", WEXITSTATUS(st));
	/* In a user namespace: capable there, but not in the socket's netns
	 * (owned by the initial user namespace); capable in a netns it owns. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (unshare(CLONE_NEWUSER))
			_exit(20);
		if (try_bind("127.0.0.1", 80) != EACCES)
			_exit(21);
		if (unshare(CLONE_NEWNET))
			_exit(22);
		if (try_bind("0.0.0.0", 80) != 0)
			_exit(23);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st)) TH_LOG("the child was killed by signal %d", WTERMSIG(st));
	ASSERT_EQ(0, WEXITSTATUS(st)) TH_LOG("user namespace: step %d failed", WEXITSTATUS(st));
}

TEST_F_TIMEOUT(lo, namespaces_are_isolated, 60)
{
	int a = self->n.a, b, l, lb, c, k, port;
	long long pa;
	struct afc_nets nb;
	struct rows t = { 0 };

	/* A second namespace b with lo up; back to a. */
	ASSERT_EQ(0, unshare(CLONE_NEWNET));
	b = open("/proc/thread-self/ns/net", O_RDONLY);
	ASSERT_LE(0, b);
	ASSERT_EQ(0, afc_lo_up());
	ASSERT_EQ(0, setns(a, CLONE_NEWNET));
	nb.a = a;
	nb.b = b;
	l = mk_listener_at(_metadata, "127.0.0.1", 0, 8, 0);
	port = afc_port(l, 0);
	pa = afc_stat("PassiveOpens");
	/* b does not see a's listener. */
	c = afc_socket_in(&nb, b, 0);
	ASSERT_LE(0, c);
	ASSERT_EQ(-1, afc_connect(c, "127.0.0.1", port));
	ASSERT_EQ(ECONNREFUSED, errno);
	close(c);
	/* b binds and listens on the same port without conflict. */
	lb = afc_socket_in(&nb, b, 0);
	ASSERT_LE(0, lb);
	ASSERT_EQ(0, afc_bind(lb, "127.0.0.1", port)) TH_LOG("bind in b: %s", strerror(errno));
	ASSERT_EQ(0, listen(lb, 8));
	c = afc_socket_in(&nb, b, 0);
	ASSERT_EQ(0, afc_connect(c, "127.0.0.1", port));
	k = accept_wait(lb, 5000);
	ASSERT_LE(0, k) TH_LOG("b's connection did not reach b's listener");
	ASSERT_EQ(-1, accept_nb(l)) TH_LOG("b's connection reached a's listener");
	if (!afc_inet()) {
		ASSERT_EQ(pa, afc_stat("PassiveOpens")) TH_LOG("a counted b's connection");
		/* a's /proc rows: only its listener; b's: listener and the pair. */
		rows_read(&t);
		ASSERT_EQ(1, t.n);
		ASSERT_EQ(ino_of(l), t.r[0].inode);
		rows_free(&t);
		ASSERT_EQ(0, setns(b, CLONE_NEWNET));
		rows_read(&t);
		ASSERT_EQ(3, t.n);
		ASSERT_EQ(NULL, row_by_inode(&t, ino_of(l)));
		ASSERT_NE(NULL, row_by_inode(&t, ino_of(lb)));
		ASSERT_NE(NULL, row_by_inode(&t, ino_of(k)));
		ASSERT_NE(NULL, row_by_inode(&t, ino_of(c)));
		ASSERT_EQ(1, afc_stat("PassiveOpens"));
		rows_free(&t);
		ASSERT_EQ(0, setns(a, CLONE_NEWNET));
	}
	close(k);
	close(c);
	close(lb);
	close(l);
	close(b);
}

/*
 * Specific address and 0.0.0.0 on one port, Linux TCP's rules (checked on
 * the host): without options the second bind fails; with SO_REUSEADDR on
 * both both bind but only one may listen; with SO_REUSEPORT on both (same
 * uid) both listen, and the specific listener wins for its address.
 */
static int mk_sock_opt(int opt)
{
	int fd = afc_tsocket();

	if (fd >= 0 && opt)
		set_reuse(fd, opt);
	return fd;
}

/* Two sockets with `opt` bound to `first` and `second` on one port (the
 * second bind must succeed), the first listening; returns the port. */
static int bind_both_listen_first(struct __test_metadata *_metadata, int opt, const char *first,
				  const char *second, int *x, int *y)
{
	int port;

	*x = mk_sock_opt(opt);
	*y = mk_sock_opt(opt);
	ASSERT_EQ(0, afc_bind(*x, first, 0));
	port = afc_port(*x, 0);
	ASSERT_EQ(0, afc_bind(*y, second, port)) TH_LOG("%s then %s, option %d: bind: %s",
							 first, second, opt, strerror(errno));
	ASSERT_EQ(0, listen(*x, 8));
	return port;
}

TEST_F_TIMEOUT(veth, specific_over_wildcard, 60)
{
	for (int order = 0; order < 2; order++) {
		const char *first = order ? "10.77.0.1" : "0.0.0.0";
		const char *second = order ? "0.0.0.0" : "10.77.0.1";
		int x, y, port, spec, wild, c, k;

		x = mk_sock_opt(0);
		y = mk_sock_opt(0);
		ASSERT_EQ(0, afc_bind(x, first, 0));
		port = afc_port(x, 0);
		ASSERT_EQ(-1, afc_bind(y, second, port)) TH_LOG("order %d: no options", order);
		ASSERT_EQ(EADDRINUSE, errno);
		close(x);
		close(y);

		bind_both_listen_first(_metadata, SO_REUSEADDR, first, second, &x, &y);
		ASSERT_EQ(-1, listen(y, 8)) TH_LOG("order %d: SO_REUSEADDR: both listen", order);
		ASSERT_EQ(EADDRINUSE, errno);
		close(x);
		close(y);

		port = bind_both_listen_first(_metadata, SO_REUSEPORT, first, second, &x, &y);
		ASSERT_EQ(0, listen(y, 8)) TH_LOG("order %d: SO_REUSEPORT listen: %s", order, strerror(errno));
		spec = order ? x : y;
		wild = order ? y : x;
		/* From b to 10.77.0.1, from a to 10.77.0.1 (lo): the specific one. */
		for (int from = 0; from < 2; from++) {
			c = afc_socket_in(&self->n, from ? self->n.b : self->n.a, 0);
			ASSERT_EQ(0, afc_connect(c, "10.77.0.1", port)) TH_LOG("connect: %s", strerror(errno));
			k = accept_wait(spec, 5000);
			ASSERT_LE(0, k) TH_LOG("order %d from %d: the specific listener got nothing", order, from);
			ASSERT_EQ(-1, accept_nb(wild)) TH_LOG("order %d: the wildcard listener got it", order);
			close(k);
			close(c);
		}
		/* To 127.0.0.1: only the wildcard listener covers it. */
		c = afc_tsocket();
		ASSERT_EQ(0, afc_connect(c, "127.0.0.1", port));
		k = accept_wait(wild, 5000);
		ASSERT_LE(0, k) TH_LOG("order %d: the wildcard listener got nothing", order);
		ASSERT_EQ(-1, accept_nb(spec));
		close(k);
		close(c);
		close(x);
		close(y);
	}
}

/* ---- /proc/net/af_custom: every row against the sockets made here ---------- */

struct expect {
	unsigned long ino;	/* 0: match by tuple */
	uint32_t la, ra;
	unsigned lp, rp, state, uid;
	int txq, rxq;		/* -1: not checked */
	const char *what;
};

static void check_rows(struct __test_metadata *_metadata, struct expect *e, int ne)
{
	struct rows t = { 0 };

	ASSERT_LE(0, rows_read(&t));
	ASSERT_EQ(0, strncmp(t.header, PROC_TCP_HEADER, strlen(PROC_TCP_HEADER))) TH_LOG("header: %s", t.header);
	for (int i = 0; i < ne; i++) {
		struct prow *p = e[i].ino ? row_by_inode(&t, e[i].ino)
					  : row_by_tuple(&t, e[i].la, e[i].lp, e[i].ra, e[i].rp);

		ASSERT_NE(NULL, p) TH_LOG("no row for %s", e[i].what);
		ASSERT_EQ(0, p->used) TH_LOG("%s matched a row twice", e[i].what);
		p->used = 1;
		ASSERT_EQ(19, p->cols) TH_LOG("%s: %d columns parsed", e[i].what, p->cols);
		ASSERT_EQ(e[i].state, p->state) TH_LOG("%s", e[i].what);
		ASSERT_EQ(e[i].la, p->laddr) TH_LOG("%s", e[i].what);
		ASSERT_EQ(e[i].lp, p->lport) TH_LOG("%s", e[i].what);
		ASSERT_EQ(e[i].ra, p->raddr) TH_LOG("%s", e[i].what);
		ASSERT_EQ(e[i].rp, p->rport) TH_LOG("%s", e[i].what);
		ASSERT_EQ(e[i].uid, p->uid) TH_LOG("%s", e[i].what);
		ASSERT_EQ(e[i].ino, p->inode) TH_LOG("%s", e[i].what);
		if (e[i].txq >= 0) {
			ASSERT_EQ(e[i].txq, p->txq) TH_LOG("%s: tx_queue", e[i].what);
		}
		if (e[i].rxq >= 0) {
			ASSERT_EQ(e[i].rxq, p->rxq) TH_LOG("%s: rx_queue", e[i].what);
		}
	}
	for (int i = 0; i < t.n; i++) {
		struct prow *p = &t.r[i];

		ASSERT_EQ(1, p->used) TH_LOG("unexpected row %08X:%04X %08X:%04X st %02X ino %lu",
					     p->laddr, p->lport, p->raddr, p->rport, p->state, p->inode);
	}
	ASSERT_EQ(ne, t.n);
	rows_free(&t);
}

TEST_F_TIMEOUT(lo, proc_rows_match_sockets, 120)
{
	uint32_t lo = ip4("127.0.0.1");
	int u, b, l, c1, c2, s1, port, bport, p1, p2, tw = 0, other_port = 0, st;
	int to_child[2], from_child[2];
	unsigned long other_ino = 0;
	pid_t pid;

	SKIP_INET("/proc/net/af_custom");
	u = afc_tsocket();
	b = afc_tsocket();
	ASSERT_EQ(0, afc_bind(b, "127.0.0.1", 0));
	bport = afc_port(b, 0);
	l = mk_listener_at(_metadata, "127.0.0.1", 0, 7, 0);
	port = afc_port(l, 0);
	c1 = afc_tsocket();
	c2 = afc_tsocket();
	ASSERT_EQ(0, afc_connect(c1, "127.0.0.1", port));
	ASSERT_EQ(0, afc_connect(c2, "127.0.0.1", port));
	p1 = afc_port(c1, 0);
	p2 = afc_port(c2, 0);
	s1 = accept(l, NULL, NULL);
	ASSERT_LE(0, s1);
	ASSERT_EQ(p1, afc_port(s1, 1)) TH_LOG("the first connection was not accepted first");
	ASSERT_EQ(5, send(c1, "hello", 5, 0));
	do {
		long long end = now_ms() + 5000;
		int v = 0;

		while (now_ms() < end && (ioctl(s1, SIOCINQ, &v) || v < 5))
			usleep(10000);
		ASSERT_EQ(5, v);
		do {
			ioctl(c1, SIOCOUTQ, &v);
		} while (v && now_ms() < end && !usleep(10000));
	} while (0);
	/* A listener of another uid. */
	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(from_child));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd;
		unsigned long ino;
		char x;

		close(to_child[1]);	/* a parent that dies ends the child */
		close(from_child[0]);
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(10);
		fd = afc_tsocket();
		if (fd < 0 || afc_bind(fd, "127.0.0.1", 0) || listen(fd, 3))
			_exit(11);
		ino = ino_of(fd);
		st = afc_port(fd, 0);
		if (write(from_child[1], &ino, sizeof(ino)) != sizeof(ino) ||
		    write(from_child[1], &st, sizeof(st)) != sizeof(st))
			_exit(12);
		if (read(to_child[0], &x, 1) != 1)
			_exit(13);
		_exit(0);
	}
	ASSERT_EQ(sizeof(other_ino), read(from_child[0], &other_ino, sizeof(other_ino)));
	ASSERT_EQ(sizeof(other_port), read(from_child[0], &other_port, sizeof(other_port)));
	do {
		struct expect e[] = {
			{ ino_of(u), 0, 0, 0, 0, ST_CLOSE, 0, 0, 0, "unbound socket" },
			{ ino_of(b), lo, 0, bport, 0, ST_CLOSE, 0, 0, 0, "bound socket" },
			{ ino_of(l), lo, 0, port, 0, ST_LISTEN, 0, 7, 1, "listener (backlog 7, 1 queued)" },
			{ ino_of(c1), lo, lo, p1, port, ST_EST, 0, 0, 0, "client 1 (all acked, nothing to read)" },
			{ ino_of(s1), lo, lo, port, p1, ST_EST, 0, 0, 5, "accepted (5 unread)" },
			{ ino_of(c2), lo, lo, p2, port, ST_EST, 0, 0, 0, "client 2" },
			{ 0, lo, lo, port, p2, ST_EST, 0, 0, 0, "queued child (inode 0)" },
			{ other_ino, lo, 0, other_port, 0, ST_LISTEN, 65534, 3, 0, "uid 65534 listener" },
		};

		check_rows(_metadata, e, sizeof(e) / sizeof(e[0]));
	} while (0);
	ASSERT_EQ(1, write(to_child[1], "x", 1));
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st)) TH_LOG("the child was killed by signal %d", WTERMSIG(st));
	ASSERT_EQ(0, WEXITSTATUS(st)) TH_LOG("child step %d", WEXITSTATUS(st));
	/* s1 reads, closes first (ends in TIME_WAIT, no inode), c1 answers. */
	{
		char x[5];

		ASSERT_EQ(5, recv(s1, x, 5, 0));
		close(s1);

		ASSERT_EQ(0, recv(c1, x, 1, 0));
	}
	close(c1);
	for (int i = 0; i < 100 && tw != ST_TIME_WAIT; i++) {
		struct rows t = { 0 };
		struct prow *p;

		rows_read(&t);
		p = row_by_tuple(&t, lo, port, lo, p1);
		tw = p ? (int)p->state : -1;
		rows_free(&t);
		if (tw != ST_TIME_WAIT)
			usleep(20000);
	}
	ASSERT_EQ(ST_TIME_WAIT, tw) TH_LOG("active closer not in TIME_WAIT");
	{
		/* The timer columns: TIME_WAIT's (tr 3) with its time left
		 * (2 s at most, in 1/100 s); an idle connection shows none. */
		struct rows t = { 0 };
		struct prow *p;

		ASSERT_LT(0, rows_read(&t));
		p = row_by_tuple(&t, lo, port, lo, p1);
		ASSERT_NE(NULL, p);
		EXPECT_EQ(3, p->timer);
		EXPECT_GE(200, p->when);
		EXPECT_EQ(0, p->retrans);
		p = row_by_tuple(&t, lo, p2, lo, port);
		ASSERT_NE(NULL, p);
		EXPECT_EQ(0, p->timer);
		EXPECT_EQ(0, p->when);
		rows_free(&t);
	}
	{
		struct expect e[] = {
			{ ino_of(u), 0, 0, 0, 0, ST_CLOSE, 0, 0, 0, "unbound socket" },
			{ ino_of(b), lo, 0, bport, 0, ST_CLOSE, 0, 0, 0, "bound socket" },
			{ ino_of(l), lo, 0, port, 0, ST_LISTEN, 0, 7, 1, "listener" },
			{ 0, lo, lo, port, p1, ST_TIME_WAIT, 0, -1, 0, "TIME_WAIT" },
			{ ino_of(c2), lo, lo, p2, port, ST_EST, 0, 0, 0, "client 2" },
			{ 0, lo, lo, port, p2, ST_EST, 0, 0, 0, "queued child" },
		};

		check_rows(_metadata, e, sizeof(e) / sizeof(e[0]));
	}
	close(u);
	close(b);
	close(c2);
	close(l);
}

/* ---- ss(8) reads those rows ------------------------------------------------ */

/* One socket as `ss -tanpe` prints it. */
struct ss_row {
	char state[16], local[64], peer[64], comm[32];
	int pid, fd, used;
	unsigned uid;
	unsigned long ino;
};

/* Runs cmd and parses ss's lines into r (at most max); the count or -1. */
static int ss_rows(const char *cmd, struct ss_row *r, int max)
{
	FILE *f = popen(cmd, "r");
	char line[1024];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		struct ss_row x = { 0 };
		const char *p;

		fprintf(stderr, "# %s", line);
		if (sscanf(line, "%15s %*u %*u %63s %63s", x.state, x.local, x.peer) != 3 ||
		    !strcmp(x.state, "State"))
			continue;
		p = strstr(line, "users:((\"");
		if (p)
			sscanf(p, "users:((\"%31[^\"]\",pid=%d,fd=%d))", x.comm, &x.pid, &x.fd);
		p = strstr(line, " uid:");
		if (p)
			sscanf(p, " uid:%u", &x.uid);
		p = strstr(line, " ino:");
		if (p)
			sscanf(p, " ino:%lu", &x.ino);
		if (n < max)
			r[n] = x;
		n++;
	}
	return pclose(f) ? -1 : n;
}

/*
 * `PROC_NET_TCP=/proc/net/af_custom ss -4tanpe` (ss reads /proc/net/tcp's
 * format for a family it does not know) lists a listener and both ends of
 * a connection with their ports, states, owner's uid, inode and process,
 * exactly as it lists TCP's from /proc/net/tcp (the inet run).
 */
TEST_F_TIMEOUT(lo, ss_lists_uid_inode_and_process, 120)
{
	struct {
		int port, cport, fd[3];
		unsigned long ino[3];
	} c = { 0 };
	int to_child[2], from_child[2], st, n;
	struct ss_row r[8];
	char cmd[256], want[3][64], wpeer[3][64];
	const char *wstate[3] = { "LISTEN", "ESTAB", "ESTAB" };
	pid_t pid;

	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(from_child));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char x;

		close(to_child[1]);	/* a parent that dies ends the child */
		close(from_child[0]);
		if (prctl(PR_SET_NAME, "afc_ss_owner") || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(10);
		c.fd[0] = afc_tsocket();
		if (c.fd[0] < 0 || afc_bind(c.fd[0], "127.0.0.1", 0) || listen(c.fd[0], 5))
			_exit(11);
		c.port = afc_port(c.fd[0], 0);
		c.fd[1] = afc_tsocket();
		if (c.fd[1] < 0 || afc_connect(c.fd[1], "127.0.0.1", c.port))
			_exit(12);
		c.fd[2] = accept(c.fd[0], NULL, NULL);
		if (c.fd[2] < 0)
			_exit(13);
		c.cport = afc_port(c.fd[1], 0);
		for (int i = 0; i < 3; i++)
			c.ino[i] = ino_of(c.fd[i]);
		if (write(from_child[1], &c, sizeof(c)) != sizeof(c))
			_exit(14);
		if (read(to_child[0], &x, 1) != 1)
			_exit(15);
		_exit(0);
	}
	close(to_child[0]);
	close(from_child[1]);
	n = read(from_child[0], &c, sizeof(c));
	if (n != sizeof(c)) {
		waitpid(pid, &st, 0);
		ASSERT_EQ(sizeof(c), n) TH_LOG("child wait status %#x", st);
	}
	snprintf(cmd, sizeof(cmd), "PROC_NET_TCP=%s ss -4tanpe",
		 afc_inet() ? "/proc/net/tcp" : "/proc/net/af_custom");
	n = ss_rows(cmd, r, 8);
	ASSERT_EQ(1, write(to_child[1], "x", 1));
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_EQ(0, st);
	ASSERT_EQ(3, n) TH_LOG("%s: want a listener and two connected ends (is ss in the image?)", cmd);
	snprintf(want[0], 64, "127.0.0.1:%d", c.port);
	snprintf(wpeer[0], 64, "0.0.0.0:*");
	snprintf(want[1], 64, "127.0.0.1:%d", c.cport);
	snprintf(wpeer[1], 64, "127.0.0.1:%d", c.port);
	snprintf(want[2], 64, "127.0.0.1:%d", c.port);
	snprintf(wpeer[2], 64, "127.0.0.1:%d", c.cport);
	for (int i = 0; i < 3; i++) {
		struct ss_row *x = NULL;

		for (int j = 0; j < n; j++)
			if (!strcmp(r[j].local, want[i]) && !strcmp(r[j].peer, wpeer[i]))
				x = &r[j];
		ASSERT_NE(NULL, x) TH_LOG("no line %s %s", want[i], wpeer[i]);
		ASSERT_EQ(0, x->used);
		x->used = 1;
		EXPECT_STREQ(wstate[i], x->state);
		EXPECT_EQ(65534, x->uid) TH_LOG("%s", want[i]);
		EXPECT_EQ(c.ino[i], x->ino) TH_LOG("%s", want[i]);
		EXPECT_STREQ("afc_ss_owner", x->comm) TH_LOG("%s", want[i]);
		EXPECT_EQ(pid, x->pid) TH_LOG("%s", want[i]);
		EXPECT_EQ(c.fd[i], x->fd) TH_LOG("%s", want[i]);
	}
}

TEST_HARNESS_MAIN
