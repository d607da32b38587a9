// SPDX-License-Identifier: GPL-2.0
/*
 * Between hosts (issue 14): two or three guests of qemu/run-hosts.sh,
 * each with a virtio-net NIC on segment 10.99.0.0/24 and an e1000 NIC on
 * segment 10.98.0.0/24 (selftests/vm/hosts.sh sets the addresses).  Host
 * 1 serves, host 2 drives; a host 3 (AFC_HOSTS=3) is a second client of
 * reuseport_shards only.  They keep in step over TCP control connections
 * to host 1 on the virtio segment (control_*), which need no AF_CUSTOM.
 *
 *   no_afc_peer          host 1 has not loaded the module yet: a connect
 *                        to it is never answered and fails with
 *                        ETIMEDOUT after its SYN retransmissions
 *   first_frame_arp      no neighbour entry for the peer on the e1000
 *                        segment (which carries nothing else): the first
 *                        frame waits for ARP and goes, the connection forms
 *   transfer_NIC         AFC_HOSTS_MB (default 64) MiB each way at once,
 *                        byte-exact, then an orderly close on both sides;
 *                        AF_CUSTOM: receive offload (GRO) merged the
 *                        frames, more than two per handler call
 *   jumbo_frames         MTU 9000 on both virtio NICs: AFC_HOSTS_JUMBO_MB
 *                        (default 16) MiB each way, byte-exact, in frames
 *                        of over 3000 bytes on average (the NIC's counts;
 *                        AF_CUSTOM: over 4500 bytes of payload per data
 *                        frame, its own counters); then MTU 1500 again
 *   lossy_link           netem on both hosts' e1000 (loss 10%, reordering
 *                        25%, duplication 5%, corruption 1%):
 *                        AFC_HOSTS_LOSSY_MB (default 4) MiB each way
 *   reuseport_shards     a listener of two SO_REUSEPORT shards on host 1;
 *                        every client host opens 8 connections at once,
 *                        each AFC_HOSTS_SHARD_KB (default 256) KiB each
 *                        way, byte-exact: all accepted, both shards used
 *   peer_rebooted        host 2 holds an idle connection; host 1 reboots
 *                        (AFC-REBOOT: qemu/run-hosts.sh boots it again
 *                        with afc.boot=2), loads the module, listens on
 *                        nothing; host 2 sends on the old connection and
 *                        gets ECONNRESET within 10 s
 *                        (rebooted_host_sends_rst: host 1 counted an RST)
 *   peer_powered_off     host 1 pulls its own plug mid-transfer; host 2's
 *                        connection fails with ETIMEDOUT within its
 *                        user timeout (5 s) plus one backed-off RTO
 *
 * AFC_TEST_FAMILY=inet runs the same bodies over TCP (no_afc_peer is
 * AF_CUSTOM only; peer_rebooted and peer_powered_off run once, in the
 * AF_CUSTOM pass, AFC_HOSTS_POWEROFF=1).  Each host prints TAP and a
 * "# Totals:" line; the guest script adds them up.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "afc_test.h"

#define CTL_PORT 5000
#define AFC_PORT 7000

/* This host (1..hosts) and its boot (2 after peer_rebooted). */
static int host, hosts = 2, boot = 1;
/* Control connections: host 1 <-> host 2 (on host 3: to host 1), and on
 * host 1 the one from host 3. */
static int ctl = -1, ctl3 = -1;
static int pass, fail, skip, tno;
/* Passed, failed, skipped of this host's earlier runs (AFC_HOSTS_PRIOR). */
static int prior[3];
static const char *virtio_ip[4] = { "", "10.99.0.1", "10.99.0.2", "10.99.0.3" };
static const char *e1000_ip[4] = { "", "10.98.0.1", "10.98.0.2", "10.98.0.3" };

static void result(int ok, const char *name, const char *why)
{
	tno++;
	if (ok < 0) {
		skip++;
		printf("ok %d hosts.%s # SKIP %s\n", tno, name, why);
	} else if (ok) {
		pass++;
		printf("ok %d hosts.%s\n", tno, name);
	} else {
		fail++;
		printf("# %s: %s\nnot ok %d hosts.%s\n", name, why, tno, name);
	}
	fflush(stdout);
}

#define CHECK(cond, ...) do {							\
	if (!(cond)) {								\
		snprintf(why, sizeof(why), __VA_ARGS__);			\
		return 0;							\
	}									\
} while (0)

/* As CHECK, with the reason already in why. */
#define CHECK_WHY(cond) do { if (!(cond)) return 0; } while (0)

static char why[512];

/* ---- the control connection (TCP, virtio segment) ----------------------- */

static int timeouts(int fd, int secs)
{
	struct timeval tv = { .tv_sec = secs };

	return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	       setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Host 1: accepts `clients` control connections, each naming its host
 * in its first byte, within wait_s seconds. */
static int control_accept(struct sockaddr_in *a, int clients, int wait_s)
{
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (void *)a, sizeof(*a)) || listen(l, 4) || timeouts(l, wait_s)) {
		close(l);
		return -1;
	}
	for (int i = 0; i < clients; i++) {
		int fd = accept(l, NULL, NULL);
		char who = 0;

		if (fd < 0 || timeouts(fd, 300) || recv(fd, &who, 1, MSG_WAITALL) != 1) {
			close(fd);
			close(l);
			return -1;
		}
		*(who == 3 ? &ctl3 : &ctl) = fd;
	}
	close(l);
	return ctl >= 0 ? 0 : -1;
}

/* Host 1 accepts a control connection from each of `clients` other
 * hosts; another host connects to host 1 (which may still be booting:
 * it tries for wait_s seconds) and names itself. */
static int control_open(int clients, int wait_s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(CTL_PORT) };
	long long end = now_ms() + wait_s * 1000LL;
	char me = host;

	inet_pton(AF_INET, virtio_ip[1], &a.sin_addr);
	if (host == 1)
		return control_accept(&a, clients, wait_s);
	while (now_ms() < end) {
		ctl = socket(AF_INET, SOCK_STREAM, 0);
		if (!connect(ctl, (void *)&a, sizeof(a)))
			break;
		close(ctl);
		ctl = -1;
		usleep(200000);
	}
	/* Host 3 waits at its one step while hosts 1 and 2 run the rest. */
	if (ctl < 0 || timeouts(ctl, host == 3 ? 900 : 300) || send(ctl, &me, 1, MSG_NOSIGNAL) != 1)
		return -1;
	return 0;
}

/* Hosts 1 and 2 reach step `tag` (one byte each way); 0, or -1 if the
 * other host sent something else or went away. */
static int control_step(char tag)
{
	char got = 0;

	if (send(ctl, &tag, 1, MSG_NOSIGNAL) != 1 || recv(ctl, &got, 1, MSG_WAITALL) != 1)
		return -1;
	return got == tag ? 0 : -1;
}

/* Every host reaches step `tag`: host 1 waits for each other host's tag,
 * then answers each. */
static int control_all(char tag)
{
	int fds[2] = { ctl, ctl3 };
	char got;

	if (host != 1)
		return control_step(tag);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0 && (recv(fds[i], &got, 1, MSG_WAITALL) != 1 || got != tag))
			return -1;
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0 && send(fds[i], &tag, 1, MSG_NOSIGNAL) != 1)
			return -1;
	return 0;
}

/* ---- helpers --------------------------------------------------------------- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* The NIC on segment `net` (10.99 or 10.98), found by its address. */
static const char *nic_of(const char *ip)
{
	return !strncmp(ip, "10.99.", 6) ? getenv("AFC_VIRTIO_DEV") : getenv("AFC_E1000_DEV");
}

static uint8_t pattern(uint64_t off, int dir)
{
	return (uint8_t)((off * 131 + (off >> 12) * 7 + dir * 101) % 251);
}

struct sender {
	pthread_t th;
	int fd, dir, err;
	uint64_t len, sent;
};

static void *send_fn(void *p)
{
	struct sender *s = p;
	static __thread uint8_t buf[65536];

	while (s->sent < s->len) {
		size_t n = s->len - s->sent < sizeof(buf) ? s->len - s->sent : sizeof(buf);
		ssize_t w;

		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(s->sent + i, s->dir);
		w = send(s->fd, buf, n, MSG_NOSIGNAL);
		if (w <= 0) {
			s->err = w < 0 ? errno : EPIPE;
			return NULL;
		}
		s->sent += w;
	}
	if (shutdown(s->fd, SHUT_WR))
		s->err = errno;
	return NULL;
}

/*
 * Sends len bytes (direction dir) while receiving the peer's (direction
 * !dir) until its end of file; 0 if both are whole and byte-exact.
 */
static int exchange(int fd, uint64_t len, int dir, double *mbps)
{
	struct sender s = { .fd = fd, .dir = dir, .len = len };
	static uint8_t buf[65536];
	uint64_t got = 0;
	long long t0 = now_ms(), ms;
	int bad = 0;

	if (pthread_create(&s.th, NULL, send_fn, &s))
		return -1;
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);

		if (r < 0) {
			snprintf(why, sizeof(why), "recv after %llu bytes: %s", (unsigned long long)got,
				 strerror(errno));
			bad = 1;
			break;
		}
		if (r == 0)
			break;
		for (ssize_t i = 0; i < r && !bad; i++)
			if (buf[i] != pattern(got + i, !dir)) {
				snprintf(why, sizeof(why), "byte %llu is %u, want %u",
					 (unsigned long long)(got + i), buf[i], pattern(got + i, !dir));
				bad = 1;
			}
		if (bad)
			break;
		got += r;
	}
	pthread_join(s.th, NULL);
	ms = now_ms() - t0;
	if (mbps)
		*mbps = ms ? (double)(got + s.sent) / 1048576.0 / (ms / 1000.0) : 0;
	if (bad)
		return -1;
	if (s.err) {
		snprintf(why, sizeof(why), "send after %llu bytes: %s", (unsigned long long)s.sent,
			 strerror(s.err));
		return -1;
	}
	if (got != len) {
		snprintf(why, sizeof(why), "received %llu bytes, want %llu", (unsigned long long)got,
			 (unsigned long long)len);
		return -1;
	}
	return 0;
}

/* A connection between the hosts on ip (host 1's address): host 1
 * accepts, host 2 connects; -1 with `why` set on failure. */
static int connection(const char *ip, int port, int syncnt)
{
	int fd;

	if (host == 1) {
		int l = afc_tsocket(), one = 1;

		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (l < 0 || afc_bind(l, ip, port) || listen(l, 4) || timeouts(l, 60)) {
			snprintf(why, sizeof(why), "listen on %s:%d: %s", ip, port, strerror(errno));
			close(l);
			control_step('L');
			return -1;
		}
		if (control_step('L'))
			return -1;
		fd = accept(l, NULL, NULL);
		if (fd < 0)
			snprintf(why, sizeof(why), "accept: %s", strerror(errno));
		close(l);
	} else {
		if (control_step('L'))
			return -1;
		fd = afc_tsocket();
		if (syncnt)
			afc_setint(fd, afc_optlevel(), AFC_SYNCNT, syncnt);
		if (fd >= 0 && afc_connect(fd, ip, port)) {
			snprintf(why, sizeof(why), "connect to %s:%d: %s", ip, port, strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0 && timeouts(fd, 60)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Whether the neighbour table holds a usable entry for ip. */
static int neighbour_known(const char *ip)
{
	char cmd[128], line[256] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ip neigh show to %s", ip);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (!fgets(line, sizeof(line), p))
		line[0] = 0;
	pclose(p);
	return strstr(line, "lladdr") != NULL;
}

/* Statistic `name` (tx_packets, tx_bytes...) of device dev, or -1. */
static long long nic_stat(const char *dev, const char *name)
{
	char path[128];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", dev, name);
	f = fopen(path, "r");
	if (f && fscanf(f, "%lld", &v) != 1)
		v = -1;
	if (f)
		fclose(f);
	return v;
}

/* Sends len bytes of pattern(dir); 0, or -1 with msg set. */
static int send_pattern(int fd, uint64_t len, int dir, char *msg, size_t size)
{
	uint8_t buf[16384];

	for (uint64_t off = 0; off < len;) {
		size_t n = len - off < sizeof(buf) ? len - off : sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(off + i, dir);
		if (send_all(fd, buf, n) != (ssize_t)n) {
			snprintf(msg, size, "send after %llu bytes: %s", (unsigned long long)off, strerror(errno));
			return -1;
		}
		off += n;
	}
	return 0;
}

/* Receives exactly len bytes of pattern(dir) (and, if eof, then the end
 * of the stream); 0, or -1 with msg set. */
static int recv_pattern(int fd, uint64_t len, int dir, int eof, char *msg, size_t size)
{
	uint8_t buf[16384];
	uint64_t got = 0;

	while (got < len || eof) {
		size_t want = got < len && len - got < sizeof(buf) ? len - got : sizeof(buf);
		ssize_t r = recv(fd, buf, want, 0);

		if (r < 0) {
			snprintf(msg, size, "recv after %llu bytes: %s", (unsigned long long)got, strerror(errno));
			return -1;
		}
		if (r == 0 || got + r > len) {
			if (r == 0 && got == len)
				return 0;
			snprintf(msg, size, "%llu bytes, want %llu", (unsigned long long)(got + r),
				 (unsigned long long)len);
			return -1;
		}
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pattern(got + i, dir)) {
				snprintf(msg, size, "byte %llu is %u, want %u", (unsigned long long)(got + i),
					 buf[i], pattern(got + i, dir));
				return -1;
			}
		got += r;
	}
	return 0;
}

/*
 * Ends this boot of host 1 from inside a test: prints its totals and its
 * summary (with the earlier passes', AFC_HOSTS_PRIOR) and `marker`
 * (AFC-POWEROFF, AFC-REBOOT: qemu/run-hosts.sh then expects no AFC-EXIT,
 * and boots it again after AFC-REBOOT), tells host 2 (`tag` on the
 * control connection) and restarts the machine: with -no-reboot QEMU
 * exits, the guest is gone without a frame sent.
 */
static void leave(const char *marker, char tag)
{
	printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0\n", pass, fail, skip);
	printf("AFC-SUMMARY passed=%d failed=%d skipped=%d\n%s\n", pass + prior[0], fail + prior[1],
	       skip + prior[2], marker);
	fflush(stdout);
	send(ctl, &tag, 1, MSG_NOSIGNAL);
	usleep(100000);
	sync();
	reboot(RB_AUTOBOOT);
	_exit(1);
}

/* ---- the tests ------------------------------------------------------------- */

/* Host 1 has no AF_CUSTOM yet: host 2's SYNs go unanswered. */
static int no_afc_peer(void)
{
	long long t0, ms;
	int fd, rc, err;

	if (host == 1)
		return control_step('N') == 0;
	fd = afc_tsocket();
	CHECK(fd >= 0, "socket: %s", strerror(errno));
	afc_setint(fd, afc_optlevel(), AFC_SYNCNT, 1);
	t0 = now_ms();
	rc = afc_connect(fd, e1000_ip[1], AFC_PORT);
	err = errno;
	ms = now_ms() - t0;
	close(fd);
	CHECK(control_step('N') == 0, "control connection lost");
	CHECK(rc == -1 && err == ETIMEDOUT, "connect: %d %s, want ETIMEDOUT", rc, strerror(err));
	/* One retransmission: the initial RTO (1 s) and its double. */
	CHECK(ms >= 2500 && ms <= 10000, "ETIMEDOUT after %lld ms, want about 3000", ms);
	printf("# no_afc_peer: ETIMEDOUT after %lld ms (AFC_SYNCNT 1)\n", ms);
	return 1;
}

static int first_frame_arp(void)
{
	const char *ip = e1000_ip[1], *peer = e1000_ip[3 - host];
	int fd, known;
	char b = 0;

	CHECK(control_step('A') == 0, "control connection lost");
	sh("ip neigh flush to %s >/dev/null 2>&1", peer);
	known = neighbour_known(peer);
	CHECK(known == 0, "a neighbour entry for %s before the test", peer);
	fd = connection(ip, AFC_PORT + 1, 3);
	if (fd < 0)
		return 0;	/* why says */
	/* One byte each way proves the connection. */
	if (host == 2) {
		CHECK(send(fd, "a", 1, 0) == 1 && recv(fd, &b, 1, MSG_WAITALL) == 1 && b == 'b',
		      "exchange: %s", strerror(errno));
	} else {
		CHECK(recv(fd, &b, 1, MSG_WAITALL) == 1 && b == 'a' && send(fd, "b", 1, 0) == 1,
		      "exchange: %s", strerror(errno));
	}
	close(fd);
	known = neighbour_known(peer);
	CHECK(known == 1, "no neighbour entry for %s after the connection", peer);
	return control_step('a') == 0;
}

/* A transfer of len bytes each way; with want_gro (AF_CUSTOM), receive
 * offload must have merged the frames: more than two per handler call. */
static int transfer(const char *ip, uint64_t len, int port, int want_gro)
{
	const char *dev = nic_of(ip);
	long long f0 = nic_stat(dev, "tx_packets"), s0 = afc_stat("OutSegs"), r0 = afc_stat("RetransSegs");
	long long i0 = afc_stat("InSegs"), g0 = afc_stat("InGroMerged"), in, merged;
	double mbps = 0;
	int fd = connection(ip, port, 3), rc;

	if (fd < 0)
		return 0;	/* why says */
	rc = exchange(fd, len, host - 1, &mbps);
	close(fd);
	CHECK(control_step('T') == 0, "control connection lost");
	CHECK_WHY(rc == 0);
	printf("# %llu MiB each way over %s (%s): %.1f MiB/s both ways together; %lld frames out of the NIC",
	       (unsigned long long)(len >> 20), ip, dev, mbps, nic_stat(dev, "tx_packets") - f0);
	if (afc_inet()) {
		printf("\n");
		return 1;
	}
	in = afc_stat("InSegs") - i0;
	merged = afc_stat("InGroMerged") - g0;
	printf(", %lld segments sent (%lld retransmitted); %lld frames in, %lld handler calls (GRO)\n",
	       afc_stat("OutSegs") - s0, afc_stat("RetransSegs") - r0, in + merged, in);
	CHECK(!want_gro || merged > in, "%lld frames in but %lld handler calls: GRO merged too few",
	      in + merged, in);
	return 1;
}

static int lossy_link(uint64_t len)
{
	const char *dev = getenv("AFC_E1000_DEV");
	int rc;

	CHECK(!sh("tc qdisc replace dev %s root netem loss 10%% delay 2ms reorder 75%% duplicate 5%% corrupt 1%%",
		  dev), "tc netem on %s", dev);
	rc = transfer(e1000_ip[1], len, AFC_PORT + 3, 0);
	sh("tc qdisc del dev %s root >/dev/null 2>&1", dev);
	return rc;
}

/* Both virtio NICs at MTU 9000 for one transfer: the frames must be
 * jumbo (more than twice 1500 bytes on average out of the NIC, pure
 * acknowledgements included; AF_CUSTOM: its data frames carry over 4500
 * bytes of payload on average). */
static int jumbo_frames(uint64_t len)
{
	const char *dev = getenv("AFC_VIRTIO_DEV");
	long long p0, b0, s0, a0, frames, bytes, data;
	int mtu_ok = !sh("ip link set dev %s mtu 9000", dev), rc;

	CHECK(control_step('J') == 0, "control connection lost");
	CHECK(mtu_ok, "ip link set dev %s mtu 9000 failed", dev);
	p0 = nic_stat(dev, "tx_packets");
	b0 = nic_stat(dev, "tx_bytes");
	s0 = afc_stat("OutSegs");
	a0 = afc_stat("OutPureAcks");
	rc = transfer(virtio_ip[1], len, AFC_PORT + 6, 0);
	frames = nic_stat(dev, "tx_packets") - p0;
	bytes = nic_stat(dev, "tx_bytes") - b0;
	data = (afc_stat("OutSegs") - s0) - (afc_stat("OutPureAcks") - a0);
	sh("ip link set dev %s mtu 1500", dev);
	CHECK(control_step('j') == 0, "control connection lost");
	CHECK_WHY(rc);
	CHECK(frames > 0, "no frames counted on %s", dev);
	printf("# jumbo_frames: %lld frames out of %s, %lld bytes each on average\n", frames, dev,
	       bytes / frames);
	CHECK(bytes / frames > 3000, "%lld bytes per frame on average, want jumbo frames", bytes / frames);
	if (afc_inet())
		return 1;
	CHECK(data > 0, "no data frames counted");
	printf("# jumbo_frames: %lld data frames, %llu bytes of payload each on average\n", data,
	       (unsigned long long)(len / data));
	CHECK(len / data > 4500, "%llu bytes of payload per data frame, want jumbo frames",
	      (unsigned long long)(len / data));
	return 1;
}

#define SHARD_CONNS 8	/* connections from each client host */
#define SHARD_PORT (AFC_PORT + 7)

/* One connection of reuseport_shards: the client sends its id (one byte)
 * and len bytes of pattern(id), then its end; the server answers with
 * len bytes of pattern(id + 100) and closes. */
struct shard_conn {
	pthread_t th;
	int fd, shard, id, ok;
	uint64_t len;
	char why[160];
};

static void *serve_shard_conn(void *p)
{
	struct shard_conn *c = p;
	uint8_t id;

	if (recv(c->fd, &id, 1, MSG_WAITALL) != 1) {
		snprintf(c->why, sizeof(c->why), "no id: %s", strerror(errno));
		return NULL;
	}
	c->id = id;
	c->ok = !recv_pattern(c->fd, c->len, id, 1, c->why, sizeof(c->why)) &&
		!send_pattern(c->fd, c->len, id + 100, c->why, sizeof(c->why));
	return NULL;
}

static void *shard_client_conn(void *p)
{
	struct shard_conn *c = p;
	uint8_t id = c->id;

	c->ok = send(c->fd, &id, 1, MSG_NOSIGNAL) == 1 &&
		!send_pattern(c->fd, c->len, id, c->why, sizeof(c->why)) && !shutdown(c->fd, SHUT_WR) &&
		!recv_pattern(c->fd, c->len, id + 100, 1, c->why, sizeof(c->why));
	return NULL;
}

/* Host 1: two SO_REUSEPORT shards on one port; -1 with why set. */
static int shard_listen(int l[2])
{
	int one = 1;

	for (int i = 0; i < 2; i++) {
		l[i] = afc_tsocket();
		if (l[i] < 0 || setsockopt(l[i], SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
		    afc_bind(l[i], virtio_ip[1], SHARD_PORT) || listen(l[i], 2 * SHARD_CONNS)) {
			snprintf(why, sizeof(why), "shard %d: %s", i, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Host 1: accepts want connections on either shard (each served by its
 * own thread) within 120 s; how many. */
static int shard_accept(int l[2], struct shard_conn *c, int want, uint64_t len)
{
	long long end = now_ms() + 120000;
	int n = 0;

	while (n < want && now_ms() < end) {
		struct pollfd p[2] = { { .fd = l[0], .events = POLLIN }, { .fd = l[1], .events = POLLIN } };

		poll(p, 2, 1000);
		for (int i = 0; i < 2 && n < want; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			c[n] = (struct shard_conn){ .shard = i, .len = len, .id = -1 };
			c[n].fd = accept(l[i], NULL, NULL);
			if (c[n].fd < 0)
				continue;
			timeouts(c[n].fd, 120);
			if (pthread_create(&c[n].th, NULL, serve_shard_conn, &c[n])) {
				close(c[n].fd);
				continue;
			}
			n++;
		}
	}
	return n;
}

/* Host 1: serves every client host's connections on two shards; all
 * accepted, both shards used, every id once, every byte right. */
static int shard_server(uint64_t len)
{
	int l[2] = { -1, -1 }, want = (hosts - 1) * SHARD_CONNS, n = 0, used[2] = { 0, 0 }, ok;
	struct shard_conn c[2 * SHARD_CONNS];
	int seen[4][SHARD_CONNS] = { { 0 } };

	ok = !shard_listen(l);
	if (control_all('S') && ok) {
		snprintf(why, sizeof(why), "control connection lost");
		ok = 0;
	}
	if (ok)
		n = shard_accept(l, c, want, len);
	for (int i = 0; i < n; i++) {
		pthread_join(c[i].th, NULL);
		close(c[i].fd);
	}
	close(l[0]);
	close(l[1]);
	CHECK(control_all('s') == 0, "control connection lost");
	CHECK_WHY(ok);
	CHECK(n == want, "accepted %d connections, want %d", n, want);
	for (int i = 0; i < n; i++) {
		int h = c[i].id / 16, j = c[i].id % 16;

		CHECK(c[i].ok, "connection %d (id %d, shard %d): %s", i, c[i].id, c[i].shard, c[i].why);
		CHECK(h >= 2 && h <= hosts && j < SHARD_CONNS && !seen[h][j]++, "id %d twice or unknown",
		      c[i].id);
		used[c[i].shard]++;
	}
	printf("# reuseport_shards: %d connections from %d hosts, %d on shard 0, %d on shard 1\n", n,
	       hosts - 1, used[0], used[1]);
	CHECK(used[0] && used[1], "one shard took every connection (%d, %d)", used[0], used[1]);
	return 1;
}

/* Host 2 or 3: opens all its connections, then runs them together. */
static int shard_client(uint64_t len)
{
	struct shard_conn c[SHARD_CONNS];
	int n = 0, ok = 1;

	CHECK(control_all('S') == 0, "control connection lost");
	for (; n < SHARD_CONNS; n++) {
		c[n] = (struct shard_conn){ .id = host * 16 + n, .len = len };
		c[n].fd = afc_tsocket();
		if (c[n].fd < 0 || afc_connect(c[n].fd, virtio_ip[1], SHARD_PORT) || timeouts(c[n].fd, 120)) {
			snprintf(why, sizeof(why), "connection %d: %s", n, strerror(errno));
			close(c[n].fd);
			ok = 0;
			break;
		}
	}
	for (int i = 0; i < n; i++)
		if (pthread_create(&c[i].th, NULL, shard_client_conn, &c[i]))
			c[i].th = 0;
	for (int i = 0; i < n; i++) {
		if (c[i].th)
			pthread_join(c[i].th, NULL);
		close(c[i].fd);
		if (ok && !c[i].ok) {
			snprintf(why, sizeof(why), "connection %d: %s", i, c[i].why);
			ok = 0;
		}
	}
	CHECK(control_all('s') == 0, "control connection lost");
	return ok;
}

/* A listener of two SO_REUSEPORT shards on host 1, clients on every
 * other host at once. */
static int reuseport_shards(uint64_t len)
{
	return host == 1 ? shard_server(len) : shard_client(len);
}

/* Host 2: the old connection, idle while host 1 rebooted, is answered
 * with RST: the next send is followed by ECONNRESET within 10 s. */
static int old_connection_reset(int fd)
{
	long long t0, ms;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t r;
	int err;
	char b;

	CHECK(control_step('b') == 0, "control connection lost");
	t0 = now_ms();
	CHECK(send(fd, "x", 1, MSG_NOSIGNAL) == 1, "send on the old connection: %s", strerror(errno));
	poll(&p, 1, 30000);
	r = recv(fd, &b, 1, MSG_DONTWAIT);
	err = errno;
	ms = now_ms() - t0;
	CHECK(control_step('c') == 0, "control connection lost");
	CHECK(r == -1 && err == ECONNRESET, "recv: %zd %s, want ECONNRESET", r, r < 0 ? strerror(err) : "");
	printf("# peer_rebooted: ECONNRESET %lld ms after the send\n", ms);
	CHECK(ms <= 10000, "ECONNRESET %lld ms after the send, want within 10 s", ms);
	return 1;
}

/* Host 2: host 1 says it reboots, and comes back (a new control
 * connection) within 600 s. */
static int wait_for_reboot(void)
{
	long long t_gone;
	char b = 0;

	CHECK(recv(ctl, &b, 1, MSG_WAITALL) == 1 && b == 'R', "host 1 never said it was rebooting");
	close(ctl);
	ctl = -1;
	t_gone = now_ms();
	CHECK(control_open(1, 600) == 0, "host 1 did not come back within 600 s");
	printf("# peer_rebooted: host 1 back after %lld ms\n", now_ms() - t_gone);
	return 1;
}

/* Host 1 reboots while host 2 holds an established, idle connection to
 * it; host 2 waits for it to come back (afc.boot=2: the module loaded,
 * nothing listening), then sends on the old connection. */
static int peer_rebooted(void)
{
	int fd = connection(virtio_ip[1], AFC_PORT + 8, 3), rc;
	char b = 0;

	if (fd < 0)
		return 0;	/* why says */
	if (host == 1) {
		CHECK(recv(fd, &b, 1, MSG_WAITALL) == 1 && b == 'a' && send(fd, "b", 1, 0) == 1,
		      "exchange: %s", strerror(errno));
		printf("ok %d hosts.peer_rebooted # host 1 reboots now\n", ++tno);
		pass++;
		leave("AFC-REBOOT", 'R');
	}
	rc = send(fd, "a", 1, 0) == 1 && recv(fd, &b, 1, MSG_WAITALL) == 1 && b == 'b';
	if (!rc)
		snprintf(why, sizeof(why), "exchange: %s", strerror(errno));
	rc = rc && wait_for_reboot() && old_connection_reset(fd);
	close(fd);
	return rc;
}

/* Host 1, second boot: host 2's frame on the connection of the first
 * boot was answered with an RST (counted since the module was loaded). */
static int rebooted_host_sends_rst(long long rsts_before)
{
	long long rsts;

	CHECK(control_step('b') == 0, "control connection lost");
	CHECK(control_step('c') == 0, "control connection lost");
	rsts = afc_stat("OutRsts") - rsts_before;
	printf("# rebooted_host_sends_rst: %lld RSTs sent\n", rsts);
	CHECK(rsts >= 1, "no RST sent to the old connection");
	return 1;
}

/* Host 1 sends the go-ahead on the control connection, then pulls its
 * own plug; host 2 is sending and must see ETIMEDOUT within 5 s of
 * silence plus one backed-off retransmission timeout. */
static int peer_powered_off(void)
{
	int fd = connection(virtio_ip[1], AFC_PORT + 4, 3);
	static char buf[65536];
	long long t_off, ms;
	int err = 0;
	char go;

	if (fd < 0)
		return 0;	/* why says */
	if (host == 1) {
		/* Take some data, then go. */
		for (int got = 0; got < (1 << 20);) {
			ssize_t r = recv(fd, buf, sizeof(buf), 0);

			if (r <= 0)
				break;
			got += r;
		}
		printf("ok %d hosts.peer_powered_off # host 1 powers off now\n", ++tno);
		pass++;
		leave("AFC-POWEROFF", 'P');
	}
	afc_setint(fd, afc_optlevel(), AFC_USER_TIMEOUT, 5000);
	/* Keep sending until the plug is pulled, then until the error. */
	fcntl(fd, F_SETFL, O_NONBLOCK);
	t_off = 0;
	for (long long end = now_ms() + 120000; now_ms() < end;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLOUT }, { .fd = ctl, .events = POLLIN } };
		ssize_t w;

		poll(p, t_off ? 1 : 2, 200);
		if (!t_off && (p[1].revents & POLLIN) && recv(ctl, &go, 1, 0) == 1)
			t_off = now_ms();
		w = send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN) {
			err = errno;
			break;
		}
	}
	ms = now_ms() - t_off;
	close(fd);
	CHECK(t_off, "host 1 never said it was going");
	CHECK(err == ETIMEDOUT, "send: %s, want ETIMEDOUT", err ? strerror(err) : "no error in 120 s");
	printf("# peer_powered_off: ETIMEDOUT %lld ms after host 1 went (AFC_USER_TIMEOUT 5000)\n", ms);
	CHECK(ms >= 4000 && ms <= 20000, "ETIMEDOUT %lld ms after the peer went, want 5 s + one RTO", ms);
	return 1;
}

static void totals(void)
{
	printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0\n", pass, fail, skip);
}

static void insmod(const char *module)
{
	if (module && sh("insmod %s", module))
		printf("# insmod %s failed\n", module);
}

/* Host 3: a second client of reuseport_shards. */
static int third_host(uint64_t shard_len)
{
	result(reuseport_shards(shard_len), "reuseport_shards", why);
	totals();
	return fail ? 1 : 0;
}

/* Host 1's second boot (after peer_rebooted): the module loaded before
 * host 2 may talk; the rest of the AF_CUSTOM pass. */
static int second_boot(const char *module)
{
	long long rsts;

	insmod(module);
	rsts = afc_stat("OutRsts");
	if (control_open(1, 600)) {
		printf("# control connection: %s\n", strerror(errno));
		fail++;
		totals();
		return 1;
	}
	result(rebooted_host_sends_rst(rsts), "rebooted_host_sends_rst", why);
	result(peer_powered_off(), "peer_powered_off", why);
	totals();
	return fail ? 1 : 0;
}

int main(int argc, char **argv)
{
	uint64_t mb = afc_env_long("AFC_HOSTS_MB", 64), lossy = afc_env_long("AFC_HOSTS_LOSSY_MB", 4);
	uint64_t jumbo = afc_env_long("AFC_HOSTS_JUMBO_MB", 16), shard = afc_env_long("AFC_HOSTS_SHARD_KB", 256);
	const char *module = getenv("AFC_MODULE");
	int poweroff = afc_env_long("AFC_HOSTS_POWEROFF", 0);

	host = afc_env_long("AFC_HOST", 0);
	hosts = afc_env_long("AFC_HOSTS", 2);
	boot = afc_env_long("AFC_HOSTS_BOOT", 1);
	if (getenv("AFC_HOSTS_PRIOR"))
		sscanf(getenv("AFC_HOSTS_PRIOR"), "%d %d %d", &prior[0], &prior[1], &prior[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	printf("TAP version 13\n");
	if (hosts < 2 || hosts > 3 || host < 1 || host > hosts) {
		printf("1..0 # SKIP AFC_HOST must be 1..AFC_HOSTS (2 or 3)\n");
		fail++;
		totals();
		return 1;
	}
	if (host == 1 && boot == 2)
		return second_boot(module);
	if (host == 3 && !afc_inet())
		insmod(module);
	if (control_open(hosts - 1, 120)) {
		printf("# control connection: %s\n", strerror(errno));
		fail++;
		totals();
		return 1;
	}
	if (host == 3)
		return third_host(shard << 10);
	if (afc_inet()) {
		result(-1, "no_afc_peer", "AF_CUSTOM only");
	} else {
		if (host == 2)
			insmod(module);
		result(no_afc_peer(), "no_afc_peer", why);
		if (host == 1)
			insmod(module);
		if (control_step('M'))
			return 1;
	}
	result(first_frame_arp(), "first_frame_arp", why);
	result(transfer(virtio_ip[1], mb << 20, AFC_PORT + 2, 1), "transfer_virtio", why);
	result(transfer(e1000_ip[1], mb << 20, AFC_PORT + 5, 1), "transfer_e1000", why);
	result(jumbo_frames(jumbo << 20), "jumbo_frames", why);
	result(lossy_link(lossy << 20), "lossy_link", why);
	result(reuseport_shards(shard << 10), "reuseport_shards", why);
	if (poweroff) {
		result(peer_rebooted(), "peer_rebooted", why);
		result(peer_powered_off(), "peer_powered_off", why);
	} else if (control_step('E')) {
		fail++;
	}
	totals();
	return fail ? 1 : 0;
}
