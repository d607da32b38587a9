// SPDX-License-Identifier: GPL-2.0
/*
 * SYN cookies (net.af_custom.syncookies, TCP's net.ipv4.tcp_syncookies).
 *
 * Over veth between two namespaces (listener in a on 10.77.0.1, everything
 * else in b), a forked flooder sends spoofed SYNs through AF_PACKET on vb:
 * random source addresses among 10.77.0.100-163 (namespace a has permanent
 * neighbour entries for them toward a MAC nobody has, so the SYN-ACKs leave
 * and vanish, as toward a spoofed host), random ports and sequence
 * numbers, at a listener with a small backlog, as fast as the VM can send.
 * Meanwhile a forked client makes N connects, one at a time, each with a
 * nonblocking connect and a bounded wait, then a one-byte round trip
 * through the server.  A connect that completes within 1 s, the initial
 * SYN retransmission timeout, completed on its first SYN; at least 90%
 * must (the issue measured 57% before SYN cookies).
 *
 * The other tests: the sysctl (default 1, range 0..2, per namespace);
 * syncookies=2 sends a cookie for every SYN and the connection works
 * (counters SyncookiesSent/SyncookiesRecv); a forged ACK with no valid
 * cookie counts SyncookiesFailed and makes no connection; in a reuseport
 * group every shard checks the group's cookies.
 *
 * AFC_TEST_FAMILY=inet runs the same bodies over TCP: the flood and the
 * forged ACK are then IPv4/TCP frames, the counters come from
 * /proc/net/netstat (TcpExt) and the sysctl is net.ipv4.tcp_syncookies.
 * Sizes: AFC_SYNFLOOD_SECONDS (default 15), AFC_SYNFLOOD_CONNECTS
 * (default 150) and AFC_SYNFLOOD_FLOODERS (processes, default 1); the VM
 * script makes the first two smaller on the debug kernel.
 *
 * The client is 50 ms away: vb delays what it sends by 50 ms (netem), and
 * the flooder bypasses that qdisc (PACKET_QDISC_BYPASS).  Without SYN
 * cookies a flood at rate R leaves a half-open connection syn_backlog / R
 * seconds (256 / R here) before newer SYNs evict it: any R above about
 * 5,000 SYNs/s then beats a 50 ms client, as any rate beats a client far
 * enough away.  A veth with no delay needed more than the VM could send
 * (14,000 SYNs/s left 92% of connects completing first time).
 */
#include <netinet/ip.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "afc_test.h"
#include "afc_frame.h"
#include "kselftest_harness.h"

#define SRV_IP		"10.77.0.1"
#define SRV_ADDR	0x0a4d0001u
#define SPOOF_BASE	100	/* spoofed sources 10.77.0.100 .. +SPOOF_N-1 */
#define SPOOF_N		64
#define NOBODY_MAC	"02:77:00:00:00:99"

static long env_long(const char *name, long def)
{
	const char *e = getenv(name);

	return e && *e ? strtol(e, NULL, 0) : def;
}

/*
 * A counter: AF_CUSTOM's /proc/net/af_custom_stat, or for TCP the TcpExt
 * line of /proc/net/netstat (names and values on two lines), -1 if none.
 */
static long long stat_of(const char *name)
{
	char names[8192], vals[8192], *sn, *sv, *n, *v;
	long long found = -1;
	FILE *f;

	if (!afc_inet())
		return afc_stat(name);
	f = fopen("/proc/net/netstat", "r");
	if (!f)
		return -1;
	while (fgets(names, sizeof(names), f) && fgets(vals, sizeof(vals), f)) {
		if (strncmp(names, "TcpExt:", 7))
			continue;
		n = strtok_r(names + 7, " \n", &sn);
		v = strtok_r(vals + 7, " \n", &sv);
		for (; n && v; n = strtok_r(NULL, " \n", &sn), v = strtok_r(NULL, " \n", &sv))
			if (!strcmp(n, name))
				found = atoll(v);
	}
	fclose(f);
	return found;
}

static const char *sysctl_path(void)
{
	return afc_inet() ? "/proc/sys/net/ipv4/tcp_syncookies" : "/proc/sys/net/af_custom/syncookies";
}

static int read_syncookies(void)
{
	FILE *f = fopen(sysctl_path(), "r");
	int v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* Writes v to the sysctl; 0 or -errno. */
static int write_syncookies(const char *v)
{
	int fd = open(sysctl_path(), O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, v, strlen(v)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static uint64_t rng_state;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state >> 16;
}

/* RFC 1071 sum of b (host order words), to be folded. */
static uint32_t sum16(const uint8_t *b, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (b[i] << 8) | b[i + 1];
	if (len & 1)
		sum += b[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

/*
 * A frame (Ethernet header included) from saddr:sport to SRV_ADDR:dport,
 * of the family under test: AF_CUSTOM's header, or IPv4 + TCP with the
 * MSS and window scale options.  flags: AFC_F_*.  Returns its length.
 */
static size_t mk_frame(uint8_t *f, uint32_t saddr, uint16_t sport, uint16_t dport,
		       uint32_t seq, uint32_t ack, int flags)
{
	static const uint8_t dmac[6] = { 2, 0x77, 0, 0, 0, 1 }, smac[6] = { 2, 0x77, 0, 0, 0, 0x99 };
	struct ether_header *eh = (void *)f;
	uint8_t *p = f + ETH_HLEN;

	memcpy(eh->ether_dhost, dmac, 6);
	memcpy(eh->ether_shost, smac, 6);
	if (!afc_inet()) {
		struct afc_hdr_fields h = {
			.version = 1, .window = 65535, .sport = sport, .dport = dport,
			.saddr = saddr, .daddr = SRV_ADDR, .seq = seq, .ack = ack,
		};

		h.flags = (flags & AFC_F_SYN ? AFC_F_SYN : 0) | (flags & AFC_F_ACK ? AFC_F_ACK : 0);
		if (flags & AFC_F_SYN) {
			h.wscale = 7;
			h.mss = 1460;
		}
		eh->ether_type = htons(ETH_P_AF_CUSTOM);
		return ETH_HLEN + afc_build(p, &h, "", 1);
	}
	/* IPv4 */
	size_t optlen = flags & AFC_F_SYN ? 8 : 0, tcplen = 20 + optlen;
	uint8_t *t = p + 20;
	uint32_t sum;

	eh->ether_type = htons(ETH_P_IP);
	memset(p, 0, 20 + tcplen);
	p[0] = 0x45;
	afc_put16(p + 2, 20 + tcplen);
	p[8] = 64;
	p[9] = IPPROTO_TCP;
	afc_put32(p + 12, saddr);
	afc_put32(p + 16, SRV_ADDR);
	afc_put16(p + 10, fold(sum16(p, 20, 0)));
	afc_put16(t, sport);
	afc_put16(t + 2, dport);
	afc_put32(t + 4, seq);
	afc_put32(t + 8, ack);
	t[12] = (tcplen / 4) << 4;
	t[13] = (flags & AFC_F_SYN ? 0x02 : 0) | (flags & AFC_F_ACK ? 0x10 : 0);
	afc_put16(t + 14, 65535);
	if (optlen) {
		uint8_t opts[8] = { 2, 4, 1460 >> 8, 1460 & 0xff, 1, 3, 3, 7 };

		memcpy(t + 20, opts, 8);
	}
	sum = sum16(p + 12, 8, 0) + IPPROTO_TCP + tcplen;
	afc_put16(t + 16, fold(sum16(t, tcplen, sum)));
	return ETH_HLEN + 20 + tcplen;
}

/* A packet socket bound to vb (call in namespace b). */
static int vb_packet_socket(void)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = 0 };
	int fd = socket(AF_PACKET, SOCK_RAW, 0);

	sll.sll_ifindex = if_nametoindex("vb");
	if (fd < 0 || !sll.sll_ifindex || bind(fd, (void *)&sll, sizeof(sll)))
		return -1;
	return fd;
}

/* Shared with the forked flooder and client. */
struct shared {
	volatile int stop;
	long long flood_frames, flood_ms;
	int attempts, first_try, late, failed, echo_failed;
	long long worst_ms;
};

/* The flooder (namespace b): spoofed SYNs in batches until told to stop or `secs` pass. */
static void flooder(struct shared *sh, int port, int secs)
{
	enum { BATCH = 32 };
	static uint8_t frames[BATCH][128];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	int fd = vb_packet_socket(), one = 1;
	long long t0 = now_ms(), end = t0 + secs * 1000LL, sent = 0;

	if (fd < 0 || setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)))
		_exit(2);
	rng_state = 0x9e3779b97f4a7c15ull ^ getpid();
	memset(msgs, 0, sizeof(msgs));
	while (!sh->stop && now_ms() < end) {
		for (int i = 0; i < BATCH; i++) {
			uint32_t src = (SRV_ADDR & ~0xffu) | (SPOOF_BASE + rnd() % SPOOF_N);

			iov[i].iov_base = frames[i];
			iov[i].iov_len = mk_frame(frames[i], src, 1024 + rnd() % 64000, port, rnd(), 0, AFC_F_SYN);
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		int n = sendmmsg(fd, msgs, BATCH, 0);

		if (n > 0)
			sent += n;
		else
			usleep(100);	/* queue full: let the receiver catch up */
	}
	__atomic_fetch_add(&sh->flood_frames, sent, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&sh->flood_ms, now_ms() - t0, __ATOMIC_SEQ_CST);
	close(fd);
	_exit(0);
}

/* The legitimate client (namespace b): n connects, `gap_ms` apart. */
static void client(struct shared *sh, int port, int n, int gap_ms)
{
	for (int i = 0; i < n; i++) {
		int fd = afc_tsocket_flags(SOCK_NONBLOCK), err = 0;
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		socklen_t len = sizeof(err);
		long long t0 = now_ms(), dt;
		char c = 'x';

		if (fd < 0)
			_exit(2);
		sh->attempts++;
		if (afc_connect(fd, SRV_IP, port) && errno != EINPROGRESS) {
			sh->failed++;
			close(fd);
			continue;
		}
		/* Generous: SYN retransmissions at 1 s, 3 s, 7 s, ... */
		if (poll(&pfd, 1, 10000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			sh->failed++;
			close(fd);
			continue;
		}
		dt = now_ms() - t0;
		if (dt > sh->worst_ms)
			sh->worst_ms = dt;
		/* The server must really have it: one byte there and back. */
		pfd.events = POLLIN;
		if (send(fd, &c, 1, MSG_NOSIGNAL) != 1 || poll(&pfd, 1, 10000) != 1 ||
		    recv(fd, &c, 1, 0) != 1) {
			sh->echo_failed++;
		} else if (dt < 1000) {
			sh->first_try++;
		} else {
			sh->late++;
		}
		close(fd);
		usleep(gap_ms * 1000);
	}
	_exit(0);
}

FIXTURE(flood) {
	struct afc_nets n;
	int saved;	/* the sysctl's value before the test */
};

FIXTURE_SETUP(flood)
{
	int rc = afc_veth_setup(&self->n);

	self->saved = -1;
	if (rc && afc_inet())
		SKIP(return, "veth unavailable on this host (AFC_TEST_FAMILY=inet)");
	ASSERT_EQ(0, rc) TH_LOG("veth setup failed");
	if (!afc_inet()) {
		ASSERT_LT(0, afc_family()) TH_LOG("af_custom is not loaded");
	}
	/* The spoofed sources: their SYN-ACKs go to a MAC nobody has.  One
	 * `ip -batch` (a process per entry took most of the debug kernel's
	 * default 30 s test timeout). */
	{
		char path[] = "/tmp/synflood-neigh-XXXXXX";
		int fd = mkstemp(path);
		FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

		ASSERT_NE(NULL, f);
		for (int i = SPOOF_BASE; i < SPOOF_BASE + SPOOF_N; i++)
			fprintf(f, "neigh replace 10.77.0.%d lladdr " NOBODY_MAC " dev va nud permanent\n", i);
		fclose(f);
		rc = afc_sh("ip -batch %s", path);
		unlink(path);
		ASSERT_EQ(0, rc);
	}
	/* Namespace a's sysctl (per namespace for both families). */
	self->saved = read_syncookies();
}

FIXTURE_TEARDOWN(flood)
{
	afc_nets_close(&self->n);
}

static int mk_listener(struct __test_metadata *_metadata, int backlog)
{
	int fd = afc_tsocket();

	ASSERT_LE(0, fd) TH_LOG("socket: %s", strerror(errno));
	ASSERT_EQ(0, afc_bind(fd, SRV_IP, 0)) TH_LOG("bind: %s", strerror(errno));
	ASSERT_EQ(0, listen(fd, backlog)) TH_LOG("listen: %s", strerror(errno));
	return fd;
}

static pid_t fork_in_b(FIXTURE_DATA(flood) *self)
{
	pid_t pid = fork();

	if (pid == 0 && setns(self->n.b, CLONE_NEWNET))
		_exit(3);
	return pid;
}

TEST_F(flood, sysctl_default_and_range)
{
	ASSERT_EQ(1, self->saved) TH_LOG("%s is %d in a new namespace, not 1", sysctl_path(), self->saved);
	ASSERT_EQ(0, write_syncookies("2"));
	ASSERT_EQ(2, read_syncookies());
	ASSERT_EQ(0, write_syncookies("0"));
	ASSERT_EQ(0, read_syncookies());
	/* TCP takes any u8 (3 acts as 1); AF_CUSTOM only 0..2. */
	if (!afc_inet()) {
		ASSERT_EQ(-EINVAL, write_syncookies("3"));
		ASSERT_EQ(-EINVAL, write_syncookies("-1"));
		ASSERT_EQ(0, read_syncookies());
	}
	/* Per namespace: b's is still the default. */
	ASSERT_EQ(0, setns(self->n.b, CLONE_NEWNET));
	ASSERT_EQ(1, read_syncookies());
	ASSERT_EQ(0, setns(self->n.a, CLONE_NEWNET));
}

/*
 * syncookies=2: every SYN is answered with a cookie and no state; the
 * final ACK builds the connection, which then carries data both ways.
 * A forged ACK afterwards fails the cookie check and makes nothing.
 */
TEST_F_TIMEOUT(flood, always_cookies_connection_works_forged_ack_fails, 120)
{
	long long sent0, recv0, failed0;
	int l, c, s, port, fd;
	char buf[6] = { 0 };
	uint8_t frame[128];
	size_t len;

	ASSERT_EQ(0, write_syncookies("2"));
	l = mk_listener(_metadata, 16);
	port = afc_port(l, 0);
	sent0 = stat_of("SyncookiesSent");
	recv0 = stat_of("SyncookiesRecv");
	failed0 = stat_of("SyncookiesFailed");
	ASSERT_LE(0, sent0) TH_LOG("no SyncookiesSent counter");
	ASSERT_LE(0, recv0);
	ASSERT_LE(0, failed0);

	c = afc_socket_in(&self->n, self->n.b, 0);
	ASSERT_LE(0, c);
	ASSERT_EQ(0, afc_connect(c, SRV_IP, port)) TH_LOG("connect: %s", strerror(errno));
	s = accept(l, NULL, NULL);
	ASSERT_LE(0, s) TH_LOG("accept: %s", strerror(errno));
	ASSERT_EQ(5, send(c, "hello", 5, 0));
	ASSERT_EQ(5, recv(s, buf, 5, MSG_WAITALL));
	ASSERT_STREQ("hello", buf);
	ASSERT_EQ(3, send(s, "abc", 3, 0));
	ASSERT_EQ(3, recv(c, buf, 3, MSG_WAITALL));
	ASSERT_EQ(0, memcmp(buf, "abc", 3));
	EXPECT_EQ(sent0 + 1, stat_of("SyncookiesSent"));
	EXPECT_EQ(recv0 + 1, stat_of("SyncookiesRecv"));
	EXPECT_EQ(failed0, stat_of("SyncookiesFailed"));
	close(c);
	close(s);

	/* A forged final ACK from a spoofed source: no cookie of ours. */
	ASSERT_EQ(0, setns(self->n.b, CLONE_NEWNET));
	fd = vb_packet_socket();
	ASSERT_EQ(0, setns(self->n.a, CLONE_NEWNET));
	ASSERT_LE(0, fd);
	len = mk_frame(frame, (SRV_ADDR & ~0xffu) | SPOOF_BASE, 40000, port, 1000, 0x12345678, AFC_F_ACK);
	ASSERT_EQ((ssize_t)len, send(fd, frame, len, 0));
	close(fd);
	for (int i = 0; i < 100 && stat_of("SyncookiesFailed") == failed0; i++)
		usleep(10000);
	EXPECT_EQ(failed0 + 1, stat_of("SyncookiesFailed"));
	EXPECT_EQ(recv0 + 1, stat_of("SyncookiesRecv"));
	ASSERT_EQ(0, fcntl(l, F_SETFL, O_NONBLOCK));
	EXPECT_EQ(-1, accept(l, NULL, NULL));
	EXPECT_EQ(EAGAIN, errno);
	close(l);
}

/*
 * A reuseport group under cookies: the final ACK may reach another shard
 * than its SYN did (AF_CUSTOM picks the shard with the shortest accept
 * queue, which the other connects' ACKs change meanwhile), and that shard
 * must check the cookie too (Linux keeps the "cookie sent recently" time
 * per group, reuse->synq_overflow_ts).  syncookies=2 answers every SYN
 * with a cookie; the client is 50 ms away (netem on vb), and makes
 * RP_CONNECTS nonblocking connects at once, so that all their SYNs reach
 * empty queues and all their ACKs reach filling ones; fewer connects than
 * shards, so that most ACKs reach a shard that got no SYN.  Every connect
 * must reach an accept queue, none draw an RST (before the group kept its
 * cookie time: 5 of 8 accepted, the other 3 ACKs were never checked).
 */
#define RP_SHARDS	16
#define RP_CONNECTS	8

TEST_F_TIMEOUT(flood, reuseport_group_cookies_complete_every_connect, 120)
{
	int l[RP_SHARDS], port = 0, accepted = 0, st;
	long long failed0, sent0, t0;
	pid_t cli;

	ASSERT_EQ(0, write_syncookies("2"));
	for (int i = 0; i < RP_SHARDS; i++) {
		l[i] = afc_tsocket();
		ASSERT_LE(0, l[i]);
		ASSERT_EQ(0, afc_setint(l[i], SOL_SOCKET, SO_REUSEPORT, 1));
		ASSERT_EQ(0, afc_bind(l[i], SRV_IP, port)) TH_LOG("bind: %s", strerror(errno));
		port = afc_port(l[i], 0);
		ASSERT_EQ(0, listen(l[i], 64));
		ASSERT_EQ(0, fcntl(l[i], F_SETFL, O_NONBLOCK));
	}
	failed0 = stat_of("SyncookiesFailed");
	sent0 = stat_of("SyncookiesSent");
	ASSERT_EQ(0, afc_sh_in(self->n.b, self->n.a, "tc qdisc add dev vb root netem delay 50ms limit 10000"));
	cli = fork_in_b(self);
	ASSERT_LE(0, cli);
	if (cli == 0) {
		int fd[RP_CONNECTS];

		for (int i = 0; i < RP_CONNECTS; i++) {
			fd[i] = afc_tsocket_flags(SOCK_NONBLOCK);
			if (fd[i] < 0 || (afc_connect(fd[i], SRV_IP, port) && errno != EINPROGRESS))
				_exit(2);
		}
		for (int i = 0; i < RP_CONNECTS; i++) {
			struct pollfd pfd = { .fd = fd[i], .events = POLLOUT };
			socklen_t len = sizeof(int);
			int err = 0;

			/* Connected or not, the server's count is what is tested. */
			if (poll(&pfd, 1, 10000) == 1)
				getsockopt(fd[i], SOL_SOCKET, SO_ERROR, &err, &len);
		}
		/* Hold the connections until the server has counted them. */
		sleep(30);
		_exit(0);
	}
	t0 = now_ms();
	while (accepted < RP_CONNECTS && now_ms() - t0 < 10000) {
		struct pollfd pfd[RP_SHARDS];

		for (int i = 0; i < RP_SHARDS; i++)
			pfd[i] = (struct pollfd){ .fd = l[i], .events = POLLIN };
		if (poll(pfd, RP_SHARDS, 100) <= 0)
			continue;
		for (int i = 0; i < RP_SHARDS; i++) {
			int s;

			while ((s = accept(l[i], NULL, NULL)) >= 0) {
				accepted++;
				close(s);
			}
		}
	}
	TH_LOG("%d of %d connects accepted; SyncookiesSent +%lld, SyncookiesFailed +%lld", accepted,
	       RP_CONNECTS, stat_of("SyncookiesSent") - sent0, stat_of("SyncookiesFailed") - failed0);
	EXPECT_EQ(RP_CONNECTS, accepted);
	EXPECT_EQ(failed0, stat_of("SyncookiesFailed"));
	EXPECT_LE(sent0 + RP_CONNECTS, stat_of("SyncookiesSent"));
	kill(cli, SIGKILL);
	ASSERT_EQ(cli, waitpid(cli, &st, 0));
	for (int i = 0; i < RP_SHARDS; i++)
		close(l[i]);
}

TEST_F_TIMEOUT(flood, legit_connects_survive_spoofed_syn_flood, 300)
{
	int secs = env_long("AFC_SYNFLOOD_SECONDS", 15), n = env_long("AFC_SYNFLOOD_CONNECTS", 150);
	int nflood = env_long("AFC_SYNFLOOD_FLOODERS", 1), gap, rc;
	const char *counters[] = { "SyncookiesSent", "SyncookiesRecv", "SyncookiesFailed",
				   "ListenOverflows", "ListenDrops",
				   afc_inet() ? "TCPReqQFullDrop" : "SynQueueDrops" };
	long long before[6], after[6];
	struct shared *sh;
	pid_t flood[8], cli;
	int l, port, served, st;

	TH_LOG("%s = %d", sysctl_path(), read_syncookies());
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);
	memset(sh, 0, sizeof(*sh));
	l = mk_listener(_metadata, 16);
	port = afc_port(l, 0);
	for (int i = 0; i < 6; i++)
		before[i] = stat_of(counters[i]);
	/* Host runs against TCP may lack netem: then the client is near. */
	rc = afc_sh_in(self->n.b, self->n.a, "tc qdisc add dev vb root netem delay 50ms limit 10000");
	if (rc && afc_inet())
		TH_LOG("no netem here: the client is not delayed");
	else
		ASSERT_EQ(0, rc);
	gap = secs * 1000 / n - 120;
	if (gap < 10)
		gap = 10;

	ASSERT_TRUE(nflood >= 1 && nflood <= 8);
	for (int i = 0; i < nflood; i++) {
		flood[i] = fork_in_b(self);
		ASSERT_LE(0, flood[i]);
		if (flood[i] == 0)
			flooder(sh, port, secs + 10);
	}
	usleep(500 * 1000);	/* let the SYN queue fill */
	cli = fork_in_b(self);
	ASSERT_LE(0, cli);
	if (cli == 0)
		client(sh, port, n, gap);
	/* sh->stop is set once the client ends: serve until then. */
	{
		pid_t w;

		served = 0;
		while ((w = waitpid(cli, &st, WNOHANG)) == 0) {
			struct pollfd pfd = { .fd = l, .events = POLLIN };
			int s;
			char c;

			if (poll(&pfd, 1, 100) != 1)
				continue;
			s = accept(l, NULL, NULL);
			if (s < 0)
				continue;
			pfd.fd = s;
			if (poll(&pfd, 1, 10000) == 1 && recv(s, &c, 1, 0) == 1 &&
			    send(s, &c, 1, MSG_NOSIGNAL) == 1)
				served++;
			close(s);
		}
		ASSERT_EQ(cli, w);
	}
	sh->stop = 1;
	for (int i = 0; i < nflood; i++) {
		ASSERT_EQ(flood[i], waitpid(flood[i], &st, 0));
		EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) TH_LOG("flooder status %#x", st);
	}
	sh->flood_ms /= nflood;	/* the mean flooder's duration */
	for (int i = 0; i < 6; i++)
		after[i] = stat_of(counters[i]);
	close(l);

	TH_LOG("flood: %d flooders, %lld SYNs in %lld ms (%lld SYNs/s)", nflood, sh->flood_frames, sh->flood_ms,
	       sh->flood_ms ? sh->flood_frames * 1000 / sh->flood_ms : 0);
	TH_LOG("legitimate: %d attempts, %d on the first SYN (%d%%), %d later, %d failed, "
	       "%d without the echo; slowest connect %lld ms; served %d",
	       sh->attempts, sh->first_try, sh->attempts ? sh->first_try * 100 / sh->attempts : 0,
	       sh->late, sh->failed, sh->echo_failed, sh->worst_ms, served);
	for (int i = 0; i < 6; i++)
		TH_LOG("%s +%lld", counters[i], after[i] - before[i]);
	ASSERT_EQ(n, sh->attempts);
	/* The flood really overflowed the SYN queue. */
	ASSERT_LE(1000, sh->flood_frames);
	EXPECT_LT(0, after[0] - before[0] + after[5] - before[5]);
	EXPECT_LE(n * 90, sh->first_try * 100)
		TH_LOG("only %d of %d connects completed on the first SYN", sh->first_try, n);
	munmap(sh, sizeof(*sh));
}

TEST_HARNESS_MAIN
