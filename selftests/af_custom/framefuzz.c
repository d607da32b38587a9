// SPDX-License-Identifier: GPL-2.0
/*
 * The frame fuzzer of issue 12: hostile frames through AF_PACKET against
 * live connections, over lo (one namespace) and over veth between two
 * namespaces.
 *
 * In each fixture NCONN connections stream a position-dependent byte
 * pattern both ways for the whole run (a pump thread, nonblocking, checks
 * every byte it reads), two listeners keep accepting (an accept thread;
 * a connector thread opens a connection to one of them every 0.5 s), and
 * the main thread sends AFC_FUZZ_FRAMES / 2 frames (default 500,000 each:
 * 1,000,000 in all) in chunks by sendmmsg:
 *   - random bytes of random lengths (0 .. 9000 on veth, 65536 on lo);
 *   - valid headers with fields mutated alone and together (version,
 *     every flag combination, windows 0 and max, ports 0, payload length
 *     shorter or longer than the frame or above the maximum, checksum
 *     wrong or zero, martian and non-unicast addresses, sequence and
 *     acknowledgement numbers at the wrap, window scale and MSS odd
 *     values, the reserved byte, runts, padding);
 *   - frames aimed at the live connections' 4-tuples (RST, SYN, SYN-ACK,
 *     ACK, data, FIN) with random sequence numbers kept out of the range
 *     where the receiver's next sequence number can be (module the write
 *     and read counts of the pump and the handshake's ISN, sniffed at
 *     connect time), and, while the pump holds its writes ("quiet"
 *     chunks), just left of the window, just right of the largest window
 *     the receiver can announce (65535 << its window scale), and RSTs and
 *     SYNs inside the window but after the next sequence number (they
 *     must draw challenge ACKs, RFC 5961, not resets);
 *   - spoofed SYNs at the listeners (lo: random 127/8 and 198.18/15
 *     sources; veth: 10.77.0.100-163, neighbours toward a MAC nobody has,
 *     as synflood.c);
 *   each to the receiver's MAC address, or (some) to the broadcast, a
 *   multicast address, or another host's MAC (PACKET_OTHERHOST: dropped,
 *   counted as InOtherHost).
 * Each frame is classified as the module must (docs/PROTOCOL.md 1.2, 1.3,
 * 1.5; rust/rx.rs): not for this host (InOtherHost), InErrs (fails header
 * validation), InCsumErrors (bad or missing checksum, off lo only),
 * InMartians (off lo only), or InSegs.  The main thread is pinned to one
 * CPU, so its frames are processed in order; each chunk ends with a
 * marker frame (bad version) for each receiving namespace, and before the
 * next chunk the counters InErrs, InCsumErrors and InMartians must equal
 * the fuzzer's expectation exactly (a misclassified frame is named by its
 * chunk); at the end InSegs must have grown by at least the frames that
 * are valid, and InOtherHost by at least the frames sent to another MAC
 * (over veth the module's answers to spoofed sources add to it).  Live
 * traffic never adds to the other rejection counters.  Past validation,
 * the frames of quiet chunks aimed at a live tuple wholly outside any
 * window it can have must each be refused by the sequence test and
 * counted in SeqRejected (or dropped from a full backlog: BacklogDrops).
 * Afterwards every live connection must have carried exactly the pattern,
 * full length, both ways, and none may have been reset.  Frames aimed at
 * a live tuple are logged; should a connection be reset or corrupted,
 * those that could have hit its window are printed (seed, frame index).
 *
 * AFC_FUZZ_SEED replays a run's generator decisions (the sequence numbers
 * aimed at live connections are relative to their ISNs, which differ per
 * run); AFC_FUZZ_FRAMES sets the total frame count; AFC_FUZZ_STREAM_RATE
 * the bytes/s each direction of each connection streams (default 1 MiB/s,
 * 64 KiB/s on the debug kernel: the streams need to be live, not fast,
 * and leave the CPU to the frames; 0: no limit).  AFC_FUZZ_PLANT=1
 * tests the test: halfway, one RST at exactly the next sequence number
 * of a connection; the run must then fail and name that frame.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include "afc_test.h"
#include "afc_frame.h"
#include "kselftest_harness.h"

#define NCONN		4
#define SRV_PORT	7000	/* L0: the live connections' listener, server side */
#define CLI_PORT	7001	/* L1: a listener on the client side */
#define CHUNK		256	/* frames between two counter checks */
#define QUIET_EVERY	16	/* every QUIET_EVERY-th chunk is a quiet one */
#define ARENA_SZ	(8 << 20)
#define WCHUNK		16384
#define RCHUNK		65536
#define NOBODY_MAC	{ 0x02, 0x77, 0, 0, 0, 0x99 }
#define SPOOF_BASE	0x0a4d0064u	/* 10.77.0.100 .. +63, as synflood.c */
#define SPOOF_N		64
#define FAR_MARGIN	(64u << 20)	/* the most a stream moves during a chunk */

#define LOAD(x)		__atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define STORE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)

/* ---- random numbers: splitmix64 ---- */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct rng { uint64_t s; };

static uint64_t r64(struct rng *r) { return mix64(r->s += 0x9e3779b97f4a7c15ULL); }
static uint32_t r32(struct rng *r) { return r64(r) >> 32; }
static uint32_t below(struct rng *r, uint32_t n) { return ((uint64_t)r32(r) * n) >> 32; }
static int pct(struct rng *r, unsigned p) { return below(r, 100) < p; }

static void rbytes(struct rng *r, uint8_t *b, size_t len)
{
	while (len >= 8) {
		uint64_t v = r64(r);

		memcpy(b, &v, 8);
		b += 8;
		len -= 8;
	}
	if (len) {
		uint64_t v = r64(r);

		memcpy(b, &v, len);
	}
}

/*
 * A length in 0..max, mostly short: most frames are small, some large,
 * a few (0.2 %) up to max (64 KiB on lo).  Those few are kept few: on the
 * debug kernel, lo with 1 % of them took 122-170 s, capped at 9000 bytes
 * 58 s (on a shared host: a hint that they cost up to 0.3 s each there,
 * not a clean measurement).
 */
static size_t rlen(struct rng *r, size_t max)
{
	unsigned p = below(r, 1000);
	size_t cap = p < 700 ? 128 : p < 950 ? 1600 : p < 998 ? 9000 : max;

	if (cap > max)
		cap = max;
	return below(r, cap + 1);
}

/* ---- the stream pattern: byte `off` of stream `id` ---- */

static void pattern(uint64_t id, uint64_t off, uint8_t *b, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint64_t o = off + i, v = mix64(id * 0x100000001b3ULL ^ (o >> 3));

		for (unsigned sh = o & 7; sh < 8 && i < len; sh++, i++)
			b[i] = v >> (sh * 8);
	}
}

/* ---- state shared by the threads ---- */

struct end {
	int fd, ns;		/* ns: index 0 (a) or 1 (b) */
	uint32_t addr;		/* host order */
	uint16_t port;
	int err;		/* errno of a failed recv/send (ECONNRESET...) */
	int shut, dead;
};

struct conn {
	struct end e[2];	/* 0 client, 1 server */
	uint32_t isn[2];	/* ISN of end d: direction d's sequence space */
	uint8_t ws[2];		/* window scale end d announced */
	uint64_t written[2];	/* direction d: bytes end d has written */
	uint64_t rd[2];		/* direction d: bytes end 1-d has read */
	int eof[2];		/* direction d: end 1-d read its end */
	long long bad[2];	/* direction d: first offset that differed, or -1 */
};

/* A frame aimed at a live tuple, logged to be named if it did harm. */
struct tlog {
	uint32_t idx;		/* frame index in this fixture */
	uint8_t conn, dir, flags, mode;
	uint8_t host;		/* sent to the receiver's own MAC address */
	uint32_t seq, lo, hi;	/* lo..hi: where rcv_nxt could be when it was made */
	uint16_t plen;
};

enum { M_RANDOM_SEQ, M_INWIN, M_LEFT, M_RIGHT, M_OTHER, M_PLANT };
static const char *const mode_name[] = { "random-seq", "in-window", "left-of-window",
					 "right-of-window", "mutated", "planted" };

/* What the module must do with a frame. */
enum cls { C_OTHERHOST, C_ERR, C_CSUM, C_MART, C_SEG, C_N };
static const char *const cls_name[] = { "InOtherHost", "InErrs", "InCsumErrors", "InMartians", "InSegs" };

/* Where frames are sent: a packet socket, and what receives them. */
struct target {
	int sock, ifindex;
	uint8_t mac[ETH_ALEN];	/* the receiving device's */
	int rns;		/* the receiving namespace */
	uint32_t own, peer;	/* receiver's address, its peer's */
	int lo;
	size_t maxlen;		/* payload after the Ethernet header */
	uint16_t lport;		/* the listener in rns the floods aim at */
};

struct ff {
	struct afc_nets n;
	int veth;
	struct conn c[NCONN];
	int lfd[2];		/* L0 (server side), L1 (client side) */
	uint32_t srv_addr, cli_addr;
	int srv_ns, cli_ns;
	struct target t[2];
	int nt;
	int statfd[2];
	uint64_t seed;
	/* pump */
	int stop, quiet;
	unsigned long iter;
	long long drain_ms;
	long long rate;		/* bytes/s each direction may stream; 0: no limit */
	long long t_start;	/* ms, when the pump started */
	long long t_setup;	/* ms, when the fixture's set-up started */
	int drain_timeout;
	/* accept and connect threads */
	int stop_aux;
	long accepted, conn_ok, conn_fail;
	/* log */
	struct tlog *log;
	size_t nlog, caplog;
};

static uint64_t stream_id(struct ff *f, int c, int d)
{
	return f->seed * 31 + c * 2 + d + 1;
}

/* ---- the pump: streams both ways on every connection ---- */

static void *pump_main(void *arg)
{
	struct ff *f = arg;
	uint8_t *wb = malloc(WCHUNK), *rb = malloc(RCHUNK), *eb = malloc(RCHUNK);
	long long stop_at = 0;

	afc_pin_cpu(1);
	for (;;) {
		struct pollfd p[2 * NCONN];
		int stopping = LOAD(f->stop), quiet = LOAD(f->quiet), open = 0;

		long long budget = f->rate ? f->rate * (now_ms() - f->t_start) / 1000 : -1;

		for (int i = 0; i < 2 * NCONN; i++) {
			struct end *e = &f->c[i / 2].e[i % 2];
			int may = budget < 0 || (long long)f->c[i / 2].written[i % 2] < budget;

			p[i].fd = e->dead ? -1 : e->fd;
			p[i].events = POLLIN | (!stopping && !quiet && may ? POLLOUT : 0);
			p[i].revents = 0;
			open += !e->dead;
		}
		if (stopping && !stop_at)
			stop_at = now_ms();
		if (!open)
			break;
		if (stopping && now_ms() - stop_at > f->drain_ms) {
			f->drain_timeout = 1;
			break;
		}
		poll(p, 2 * NCONN, 20);
		for (int i = 0; i < 2 * NCONN; i++) {
			struct conn *c = &f->c[i / 2];
			int me = i % 2, in = 1 - me;	/* direction read here: in */
			struct end *e = &c->e[me];
			ssize_t n;

			if (e->dead)
				continue;
			if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				n = recv(e->fd, rb, RCHUNK, MSG_DONTWAIT);
				if (n > 0) {
					pattern(stream_id(f, i / 2, in), c->rd[in], eb, n);
					if (c->bad[in] < 0 && memcmp(rb, eb, n)) {
						size_t k = 0;

						while (rb[k] == eb[k])
							k++;
						c->bad[in] = c->rd[in] + k;
					}
					STORE(c->rd[in], c->rd[in] + n);
				} else if (n == 0) {
					c->eof[in] = 1;
				} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
					e->err = errno;
					e->dead = 1;
					continue;
				}
			}
			if ((p[i].revents & POLLOUT) && (p[i].events & POLLOUT) && !stopping && !LOAD(f->quiet)) {
				pattern(stream_id(f, i / 2, me), c->written[me], wb, WCHUNK);
				n = send(e->fd, wb, WCHUNK, MSG_DONTWAIT | MSG_NOSIGNAL);
				if (n > 0) {
					STORE(c->written[me], c->written[me] + n);
				} else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
					e->err = errno;
					e->dead = 1;
					continue;
				}
			}
			if (stopping && !e->shut) {
				shutdown(e->fd, SHUT_WR);
				e->shut = 1;
			}
			if (e->shut && c->eof[in])
				e->dead = 1;	/* done: both ways finished here */
		}
		__atomic_add_fetch(&f->iter, 1, __ATOMIC_SEQ_CST);
	}
	free(wb);
	free(rb);
	free(eb);
	return NULL;
}

/* Holds (1) or releases (0) the pump's writes; returns once it holds. */
static int pump_quiet(struct ff *f, int q)
{
	unsigned long i0;
	long long t0 = now_ms();

	STORE(f->quiet, q);
	if (!q)
		return 0;
	i0 = LOAD(f->iter);
	while (LOAD(f->iter) < i0 + 2) {
		if (now_ms() - t0 > 30000)
			return -1;
		usleep(200);
	}
	return 0;
}

/* ---- listeners that keep accepting, and a client that keeps connecting ---- */

static void *accept_main(void *arg)
{
	struct ff *f = arg;

	afc_pin_cpu(1);
	while (!LOAD(f->stop_aux)) {
		struct pollfd p[2] = { { f->lfd[0], POLLIN, 0 }, { f->lfd[1], POLLIN, 0 } };

		if (poll(p, 2, 20) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			int fd = (p[i].revents & POLLIN) ? accept(f->lfd[i], NULL, NULL) : -1;

			if (fd >= 0) {
				__atomic_add_fetch(&f->accepted, 1, __ATOMIC_SEQ_CST);
				close(fd);
			}
		}
	}
	return NULL;
}

static void *connect_main(void *arg)
{
	struct ff *f = arg;
	char ip[2][INET_ADDRSTRLEN];
	struct in_addr a;

	a.s_addr = htonl(f->srv_addr);
	inet_ntop(AF_INET, &a, ip[0], sizeof(ip[0]));
	a.s_addr = htonl(f->cli_addr);
	inet_ntop(AF_INET, &a, ip[1], sizeof(ip[1]));
	afc_pin_cpu(1);
	for (int k = 0; !LOAD(f->stop_aux); k++) {
		int to_l1 = k & 1;
		int fd = afc_socket_in(&f->n, to_l1 ? (f->srv_ns ? f->n.b : f->n.a) :
					       (f->cli_ns ? f->n.b : f->n.a), SOCK_NONBLOCK);
		struct pollfd p;
		int ok = 0;

		if (fd < 0)
			break;
		if (afc_connect(fd, ip[to_l1], to_l1 ? CLI_PORT : SRV_PORT) == 0 || errno == EINPROGRESS) {
			p.fd = fd;
			p.events = POLLOUT;
			if (poll(&p, 1, 5000) == 1 && afc_getint(fd, SOL_SOCKET, SO_ERROR) == 0)
				ok = 1;
		}
		__atomic_add_fetch(ok ? &f->conn_ok : &f->conn_fail, 1, __ATOMIC_SEQ_CST);
		close(fd);
		usleep(500000);
	}
	return NULL;
}

/* ---- counters ---- */

struct counts { long long v[C_N]; };

/* Reads InOtherHost, InErrs, InCsumErrors, InMartians, InSegs from an open stat file. */
static int read_counts(int fd, struct counts *c)
{
	static const char *const names[C_N] = { "InOtherHost", "InErrs", "InCsumErrors", "InMartians", "InSegs" };
	char buf[8192];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return -1;
	buf[n] = 0;
	memset(c, 0, sizeof(*c));
	for (int k = 0; k < C_N; k++) {
		char key[64], *p;

		snprintf(key, sizeof(key), "\n%s:", names[k]);
		p = strstr(buf, key);
		if (!p && !strncmp(buf, key + 1, strlen(key + 1)))
			p = buf - 1;
		if (!p)
			return -1;
		c->v[k] = atoll(p + strlen(key));
	}
	return 0;
}

/* Drops on the receive path of device dev in the namespace of /proc/thread-self. */
static long long dev_drops(const char *dev)
{
	FILE *fp = fopen("/proc/thread-self/net/dev", "r");
	char line[512];
	long long v = -1;

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp)) {
		char name[64];
		long long rxb, rxp, rxe, rxd;

		if (sscanf(line, " %63[^:]: %lld %lld %lld %lld", name, &rxb, &rxp, &rxe, &rxd) == 5 &&
		    !strcmp(name, dev))
			v = rxd;
	}
	fclose(fp);
	return v;
}

/* ---- classification: what the module must do with a frame ---- */

static int addr_in_veth_net(uint32_t a) { return (a >> 8) == 0x0a4d00; }

/* A source the receiving namespace's routing tables call not unicast. */
static int src_not_unicast(const struct ff *f, const struct target *t, uint32_t a)
{
	if (a >> 24 == 127)
		return 1;
	if (!f->veth)
		return 0;
	return a == t->own || a == 0x0a4d00ffu;
}

/* Whether the receiver checks the checksum of the frames sent to t: off
 * loopback (PROTOCOL.md 1.3; frames from AF_PACKET arrive on veth with
 * no checksum state, so veth checks them). */
static int csum_checked(const struct target *t)
{
	return !t->lo;
}

/* Whether the receiver applies the ingress (martian) rules: off loopback. */
static int martians_checked(const struct target *t)
{
	return !t->lo;
}

/* Class of a frame (after the Ethernet header) sent to t with dest MAC kind. */
static enum cls classify(const struct ff *f, const struct target *t, int otherhost,
			 const uint8_t *b, size_t len)
{
	uint32_t src, dst;

	if (otherhost)
		return C_OTHERHOST;
	if (afc_hdr_valid(b, len))
		return C_ERR;
	if (csum_checked(t) && !afc_csum_verify(b, AFC_HDR_LEN + afc_get16(b + 8)))
		return C_CSUM;
	if (!martians_checked(t))
		return C_SEG;
	src = afc_get32(b + 12);
	dst = afc_get32(b + 16);
	if (src >> 24 == 0 || src >> 24 == 127 || src >> 28 == 0xe || src == 0xffffffffu ||
	    dst >> 24 == 0 || dst >> 24 == 127 || dst >> 28 == 0xe || dst == 0xffffffffu ||
	    src_not_unicast(f, t, src))
		return C_MART;
	return C_SEG;
}

/* ---- frame generation ---- */

struct gen {
	struct ff *f;
	struct rng r;
	uint32_t idx;		/* frame index in this fixture */
	long kinds[8];
};

/* An address for a header field: mostly sensible, some hostile. */
static uint32_t pick_addr(struct gen *g, const struct target *t, int dst)
{
	static const uint32_t odd[] = {
		0x00000000, 0x00010203, 0x7f000001, 0x7f010203, 0x7fffffff, 0xe0000001,
		0xefffffff, 0xf0000001, 0xfffffffe, 0xffffffff, 0x0a4d00ff, 0x01020304,
	};
	uint32_t a;

	switch (below(&g->r, 10)) {
	case 0: case 1: case 2: case 3: case 4:
		return dst ? t->own : t->peer;
	case 5:
		return dst ? t->peer : t->own;
	case 6:
		return odd[below(&g->r, sizeof(odd) / sizeof(odd[0]))];
	case 7:
		return t->lo ? 0x7f000000u | below(&g->r, 1 << 24) : SPOOF_BASE + below(&g->r, SPOOF_N);
	default:
		do
			a = r32(&g->r);
		while (addr_in_veth_net(a));
		return a;
	}
}

static uint16_t pick_port(struct gen *g)
{
	struct ff *f = g->f;

	switch (below(&g->r, 8)) {
	case 0: return 0;
	case 1: return SRV_PORT;
	case 2: return CLI_PORT;
	case 3: return f->c[below(&g->r, NCONN)].e[0].port;
	default: return 1 + below(&g->r, 65535);
	}
}

static uint32_t pick_seq(struct gen *g)
{
	static const uint32_t odd[] = { 0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffff0 };

	return pct(&g->r, 20) ? odd[below(&g->r, 6)] - below(&g->r, 3) : r32(&g->r);
}

/* The live tuple a frame (valid header) hits at t: conn index, sets *dir; or -1. */
static int live_tuple(const struct ff *f, const struct target *t, const uint8_t *b, int *dir)
{
	uint32_t src = afc_get32(b + 12), dst = afc_get32(b + 16);
	uint16_t sp = afc_get16(b + 4), dp = afc_get16(b + 6);

	for (int c = 0; c < NCONN; c++)
		for (int d = 0; d < 2; d++) {
			const struct end *s = &f->c[c].e[d], *r = &f->c[c].e[1 - d];

			if (r->ns == t->rns && dst == r->addr && dp == r->port &&
			    src == s->addr && sp == s->port) {
				*dir = d;
				return c;
			}
		}
	return -1;
}

/* Where the receiver of direction d can have its next sequence number now:
 * isn + 1 + [bytes read, bytes written]. */
static void rcv_range(struct ff *f, int c, int d, uint32_t *lo, uint32_t *hi)
{
	struct conn *k = &f->c[c];

	*lo = k->isn[d] + 1 + (uint32_t)LOAD(k->rd[d]);
	*hi = k->isn[d] + 1 + (uint32_t)LOAD(k->written[d]);
}

/* A sequence number no segment of plen can be accepted at, even while
 * the stream moves on by FAR_MARGIN: outside [lo - plen - 64K, hi + max window + FAR_MARGIN]. */
static uint32_t far_seq(struct gen *g, int c, int d, uint16_t plen)
{
	struct ff *f = g->f;
	uint32_t lo, hi, start, span, s;

	rcv_range(f, c, d, &lo, &hi);
	start = lo - plen - 65536;
	span = (hi - start) + (65535u << f->c[c].ws[1 - d]) + FAR_MARGIN;
	do
		s = pick_seq(g);
	while (s - start <= span);
	return s;
}

static void log_tuple(struct gen *g, int c, int d, const uint8_t *b, int mode, int host)
{
	struct ff *f = g->f;
	struct tlog *l;

	if (f->nlog == f->caplog) {
		f->caplog = f->caplog ? 2 * f->caplog : 65536;
		f->log = realloc(f->log, f->caplog * sizeof(*f->log));
	}
	l = &f->log[f->nlog++];
	l->idx = g->idx;
	l->conn = c;
	l->dir = d;
	l->flags = b[1];
	l->mode = mode;
	l->host = host;
	l->seq = afc_get32(b + 20);
	l->plen = afc_get16(b + 8);
	rcv_range(f, c, d, &l->lo, &l->hi);
}

/* Writes a header into b. */
static void put_hdr(uint8_t *b, uint8_t flags, uint16_t win, uint16_t sp, uint16_t dp,
		    uint16_t plen, uint32_t src, uint32_t dst, uint32_t seq, uint32_t ack,
		    uint8_t ws, uint16_t mss)
{
	struct afc_hdr_fields h = { .version = 1, .flags = flags, .window = win, .sport = sp,
				    .dport = dp, .payload_len = 0, .saddr = src, .daddr = dst,
				    .seq = seq, .ack = ack, .wscale = ws, .mss = mss };

	afc_build(b, &h, "", 0);
	afc_put16(b + 8, plen);
}

static const uint8_t valid_flags[] = {
	AFC_F_SYN, AFC_F_SYN | AFC_F_ACK, AFC_F_ACK, AFC_F_ACK | AFC_F_FIN, AFC_F_RST,
	AFC_F_RST | AFC_F_ACK, AFC_F_ACK | AFC_F_FIN | AFC_F_RST, AFC_F_RST | AFC_F_FIN,
	AFC_F_ACK | AFC_F_URG, AFC_F_ACK | AFC_F_URG | AFC_F_FIN,
};

static uint16_t pick_window(struct gen *g)
{
	unsigned k = below(&g->r, 4);

	return k == 0 ? 0 : k == 1 ? 0xffff : r32(&g->r);
}

/* A valid header of random flags, with payload; returns the frame length. */
static size_t gen_valid(struct gen *g, const struct target *t, uint8_t *b, size_t room)
{
	uint8_t fl = valid_flags[below(&g->r, sizeof(valid_flags))];
	size_t plen = 0;
	int syn = fl & AFC_F_SYN;

	if (!(fl & (AFC_F_SYN | AFC_F_RST))) {
		plen = rlen(&g->r, room - AFC_HDR_LEN);
		if (plen > 65535 - AFC_HDR_LEN)
			plen = 65535 - AFC_HDR_LEN;
	}
	put_hdr(b, fl, pick_window(g), pick_port(g) ?: 1, pick_port(g) ?: 1, plen,
		pick_addr(g, t, 0), pick_addr(g, t, 1), pick_seq(g),
		(fl & AFC_F_ACK) ? pick_seq(g) : 0, syn ? below(&g->r, 15) : 0,
		syn ? 64 + below(&g->r, 65536 - 64) : 0);
	if (fl & AFC_F_URG)	/* the urgent pointer: after the sequence number */
		afc_put32(b + 28, afc_get32(b + 20) + 1 + below(&g->r, 1 << 20));
	rbytes(&g->r, b + AFC_HDR_LEN, plen);
	afc_csum_set(b, AFC_HDR_LEN + plen);
	return AFC_HDR_LEN + plen;
}

/* Mutates fields of the frame b (len bytes) alone or together; returns the new length. */
static size_t mutate(struct gen *g, const struct target *t, uint8_t *b, size_t len, size_t room)
{
	static const uint16_t mss_odd[] = { 0, 1, 63, 64, 65, 1468, 65503, 65535 };
	int n = 1 + below(&g->r, 4), csum = 1 + below(&g->r, 6); /* 1: wrong, 2: zero, else right */
	size_t plen;

	for (int i = 0; i < n; i++) {
		switch (below(&g->r, 20)) {
		case 0: b[0] = pct(&g->r, 50) ? r32(&g->r) : (uint8_t[]){ 0, 2, 255 }[below(&g->r, 3)]; break;
		case 1: case 2: b[1] = below(&g->r, 256); break;
		case 3: afc_put16(b + 2, pct(&g->r, 50) ? 0 : 0xffff); break;
		case 4: afc_put16(b + 4, 0); break;
		case 5: afc_put16(b + 6, 0); break;
		case 6: afc_put16(b + 8, afc_get16(b + 8) + 1 + below(&g->r, 100)); break; /* longer than the frame */
		case 7: /* the frame longer than the length says: padding */
			plen = len + 1 + below(&g->r, 200);
			if (plen <= room) {
				rbytes(&g->r, b + len, plen - len);
				len = plen;
			}
			break;
		case 8: afc_put16(b + 8, 65504 + below(&g->r, 32)); break;
		case 9: afc_put32(b + 12, pick_addr(g, t, 0)); break;
		case 10: afc_put32(b + 16, pick_addr(g, t, 1)); break;
		case 11: afc_put32(b + 20, pick_seq(g)); break;
		case 12: afc_put32(b + 24, pick_seq(g) | 1); break;
		case 13: b[28] = pct(&g->r, 50) ? 14 + below(&g->r, 3) : r32(&g->r); break;
		case 14: afc_put16(b + 30, mss_odd[below(&g->r, 8)]); break;
		case 15: b[29] = 1 + below(&g->r, 255); break;
		case 19: afc_put32(b + 28, afc_get32(b + 20) + r32(&g->r)); break; /* an urgent pointer, valid or not */
		case 16: len = below(&g->r, AFC_HDR_LEN); break;	/* runt */
		case 17: /* truncated payload */
			if (len > AFC_HDR_LEN)
				len = AFC_HDR_LEN + below(&g->r, len - AFC_HDR_LEN);
			break;
		default: /* payload on any flags */
			plen = 1 + below(&g->r, 64);
			if (AFC_HDR_LEN + plen <= room) {
				afc_put16(b + 8, plen);
				rbytes(&g->r, b + AFC_HDR_LEN, plen);
				len = AFC_HDR_LEN + plen;
			}
			break;
		}
	}
	if (len >= AFC_HDR_LEN) {
		plen = afc_get16(b + 8);
		if (AFC_HDR_LEN + plen <= len) {
			if (csum == 1) {
				afc_csum_set(b, AFC_HDR_LEN + plen);
				b[10 + below(&g->r, 2)] ^= 1 + below(&g->r, 255);
			} else if (csum == 2) {
				afc_put16(b + 10, 0);
			} else {
				afc_csum_set(b, AFC_HDR_LEN + plen);
			}
		}
	}
	return len;
}

/* A frame aimed at live connection c, direction d (toward end 1-d),
 * mode M_RANDOM_SEQ (any time), or in a quiet chunk M_INWIN, M_LEFT, M_RIGHT. */
static size_t gen_tuple(struct gen *g, const struct target *t, int c, int d, int mode,
			uint8_t *b, size_t room)
{
	static const uint8_t tflags[] = {
		AFC_F_RST, AFC_F_RST | AFC_F_ACK, AFC_F_SYN, AFC_F_SYN | AFC_F_ACK, AFC_F_ACK,
		AFC_F_ACK, AFC_F_ACK | AFC_F_FIN, AFC_F_ACK | AFC_F_FIN | AFC_F_RST,
	};
	struct ff *f = g->f;
	struct conn *k = &f->c[c];
	uint8_t fl = mode == M_INWIN ? tflags[below(&g->r, 4)] : tflags[below(&g->r, sizeof(tflags))];
	uint16_t plen = 0;
	uint32_t lo, hi, seq, ack;
	int syn = fl & AFC_F_SYN;

	if (!(fl & (AFC_F_SYN | AFC_F_RST)) && pct(&g->r, 60)) {
		size_t max = room - AFC_HDR_LEN;

		plen = 1 + below(&g->r, max < 1460 ? max : 1460);
	}
	rcv_range(f, c, d, &lo, &hi);
	switch (mode) {
	case M_INWIN:	/* after every byte written: never the next sequence number */
		seq = hi + 1 + (pct(&g->r, 80) ? below(&g->r, 2048) : below(&g->r, 1 << 20));
		break;
	case M_LEFT:	/* all of it before what was read */
		seq = lo - plen - 1 - below(&g->r, 4096);
		break;
	case M_RIGHT:	/* after the largest window the receiver can announce */
		seq = hi + (65535u << k->ws[1 - d]) + 1 + below(&g->r, 4096);
		break;
	default:
		seq = far_seq(g, c, d, plen);
		break;
	}
	/* The acknowledgement: of the other direction, near its window or anywhere. */
	ack = 0;
	if (fl & AFC_F_ACK) {
		uint32_t olo, ohi;

		rcv_range(f, c, 1 - d, &olo, &ohi);
		switch (below(&g->r, 4)) {
		case 0: ack = olo; break;
		case 1: ack = ohi + 1 + below(&g->r, 100000); break;
		case 2: ack = olo - 1 - below(&g->r, 1 << 30); break;
		default: ack = pick_seq(g); break;
		}
	}
	put_hdr(b, fl, pick_window(g), k->e[d].port, k->e[1 - d].port, plen, k->e[d].addr,
		k->e[1 - d].addr, seq, ack, syn ? below(&g->r, 15) : 0,
		syn ? 64 + below(&g->r, 65536 - 64) : 0);
	rbytes(&g->r, b + AFC_HDR_LEN, plen);
	afc_csum_set(b, AFC_HDR_LEN + plen);
	return AFC_HDR_LEN + plen;
}

/* A spoofed SYN at the listener of t. */
static size_t gen_syn(struct gen *g, const struct target *t, uint8_t *b)
{
	uint32_t src;

	if (t->lo)
		src = pct(&g->r, 50) ? 0x7f000002u + below(&g->r, (1 << 24) - 3) :
				       0xc6120000u + below(&g->r, 1 << 17);
	else
		src = SPOOF_BASE + below(&g->r, SPOOF_N);
	put_hdr(b, AFC_F_SYN, r32(&g->r), 1 + below(&g->r, 65535), t->lport, 0, src, t->own,
		r32(&g->r), 0, below(&g->r, 15), 64 + below(&g->r, 65536 - 64));
	afc_csum_set(b, AFC_HDR_LEN);
	return AFC_HDR_LEN;
}

/* ---- fixture ---- */

FIXTURE(fuzz) { struct ff f; };
FIXTURE_VARIANT(fuzz) { int veth; };
FIXTURE_VARIANT_ADD(fuzz, lo) { .veth = 0 };
FIXTURE_VARIANT_ADD(fuzz, veth) { .veth = 1 };

/* A packet socket for injection on ifname, in the calling thread's namespace. */
static int packet_socket(const char *ifname, int *ifindex)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = 0 };	/* sends only */
	int fd = socket(AF_PACKET, SOCK_RAW, 0), one = 1;

	*ifindex = if_nametoindex(ifname);
	if (fd < 0 || !*ifindex)
		return -1;
	sll.sll_ifindex = *ifindex;
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	if (bind(fd, (void *)&sll, sizeof(sll)))
		return -1;
	return fd;
}

/* A packet socket that sees every frame on ifname, both ways (a socket
 * for one protocol does not see outgoing frames). */
static int sniff_socket(const char *ifname)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));

	sll.sll_ifindex = if_nametoindex(ifname);
	if (fd < 0 || !sll.sll_ifindex || bind(fd, (void *)&sll, sizeof(sll)))
		return -1;
	return fd;
}

/* Runs stmt in namespace ns (then back to a). */
#define IN_NS(f, ns, stmt) do { \
	if ((ns) != (f)->n.a) { if (setns((ns), CLONE_NEWNET)) abort(); } \
	stmt; \
	if ((ns) != (f)->n.a) { if (setns((f)->n.a, CLONE_NEWNET)) abort(); } \
} while (0)

static int nsfd(struct ff *f, int idx) { return idx ? f->n.b : f->n.a; }

/* The device that receives the frames of target i. */
static const char *devname(struct ff *f, int i)
{
	return !f->veth ? "lo" : f->t[i].rns ? "vb" : "va";
}

/* Reads the handshake of the connection from `port` on sniffer fd: ISNs, scales. */
static int sniff_handshake(int fd, struct conn *k)
{
	uint8_t buf[256];
	int got = 0;
	long long t0 = now_ms();

	while (got != 3 && now_ms() - t0 < 5000) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;
		const uint8_t *h = buf + ETH_HLEN;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < ETH_HLEN + AFC_HDR_LEN || afc_get16(buf + 12) != ETH_P_AF_CUSTOM)
			continue;
		for (int d = 0; d < 2; d++) {
			uint8_t want = d ? (AFC_F_SYN | AFC_F_ACK) : AFC_F_SYN;

			if (h[1] == want && afc_get16(h + 4) == k->e[d].port &&
			    afc_get16(h + 6) == k->e[1 - d].port && afc_get32(h + 12) == k->e[d].addr) {
				k->isn[d] = afc_get32(h + 20);
				k->ws[d] = h[28];
				got |= 1 << d;
			}
		}
	}
	return got == 3 ? 0 : -1;
}

FIXTURE_SETUP(fuzz)
{
	struct ff *f = &self->f;
	const char *srv, *cli;

	memset(f, 0, sizeof(*f));
	if (afc_inet())
		SKIP(return, "the frames are AF_CUSTOM's: no TCP mode");
	f->t_setup = now_ms();
	f->veth = variant->veth;
	f->seed = afc_env_long("AFC_FUZZ_SEED", 0);
	if (!f->seed) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		f->seed = mix64(ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ getpid()) >> 16;
	}
	if (f->veth) {
		ASSERT_EQ(0, afc_veth_setup(&f->n));
		ASSERT_EQ(0, afc_sh("ip link set va mtu 9000"));
		ASSERT_EQ(0, afc_sh_in(f->n.b, f->n.a, "ip link set vb mtu 9000"));
		/* Spoofed sources: neighbours at a MAC nobody has, in both
		 * namespaces (one ip process each: forks are slow in the VM). */
		for (int side = 0; side < 2; side++) {
			char path[64], cmd[128];
			FILE *fp;

			snprintf(path, sizeof(path), "/tmp/framefuzz-neigh.%d", getpid());
			fp = fopen(path, "w");
			ASSERT_NE(NULL, fp);
			for (int i = 0; i < SPOOF_N; i++)
				fprintf(fp, "neigh replace 10.77.0.%d lladdr 02:77:00:00:00:99 dev %s nud permanent\n",
					100 + i, side ? "vb" : "va");
			fclose(fp);
			snprintf(cmd, sizeof(cmd), "ip -batch %s", path);
			ASSERT_EQ(0, side ? afc_sh_in(f->n.b, f->n.a, cmd) : afc_sh("%s", cmd));
			unlink(path);
		}
		srv = "10.77.0.2";
		cli = "10.77.0.1";
		f->srv_addr = 0x0a4d0002;
		f->cli_addr = 0x0a4d0001;
		f->srv_ns = 1;
		f->cli_ns = 0;
	} else {
		ASSERT_EQ(0, afc_lo_setup(&f->n));
		srv = cli = "127.0.0.1";
		f->srv_addr = f->cli_addr = 0x7f000001;
	}
	/* Listeners: L0 on the server side, L1 on the client side. */
	f->lfd[0] = afc_socket_in(&f->n, nsfd(f, f->srv_ns), SOCK_NONBLOCK);
	f->lfd[1] = afc_socket_in(&f->n, nsfd(f, f->cli_ns), SOCK_NONBLOCK);
	ASSERT_LE(0, f->lfd[0]);
	ASSERT_LE(0, f->lfd[1]);
	afc_setint(f->lfd[0], SOL_SOCKET, SO_REUSEADDR, 1);
	afc_setint(f->lfd[1], SOL_SOCKET, SO_REUSEADDR, 1);
	ASSERT_EQ(0, afc_bind(f->lfd[0], srv, SRV_PORT));
	ASSERT_EQ(0, afc_bind(f->lfd[1], cli, CLI_PORT));
	ASSERT_EQ(0, listen(f->lfd[0], 128));
	ASSERT_EQ(0, listen(f->lfd[1], 128));
	/* The live connections, their handshakes sniffed on the client's device. */
	for (int c = 0; c < NCONN; c++) {
		struct conn *k = &f->c[c];
		int sn, fl;
		struct pollfd p;

		IN_NS(f, nsfd(f, f->cli_ns), sn = sniff_socket(f->veth ? "va" : "lo"));
		ASSERT_LE(0, sn);
		k->e[0].fd = afc_socket_in(&f->n, nsfd(f, f->cli_ns), 0);
		ASSERT_LE(0, k->e[0].fd);
		ASSERT_EQ(0, afc_connect(k->e[0].fd, srv, SRV_PORT));
		p.fd = f->lfd[0];
		p.events = POLLIN;
		ASSERT_EQ(1, poll(&p, 1, 10000));
		k->e[1].fd = accept(f->lfd[0], NULL, NULL);
		ASSERT_LE(0, k->e[1].fd);
		k->e[0].ns = f->cli_ns;
		k->e[1].ns = f->srv_ns;
		k->e[0].addr = f->cli_addr;
		k->e[1].addr = f->srv_addr;
		k->e[0].port = afc_port(k->e[0].fd, 0);
		k->e[1].port = SRV_PORT;
		ASSERT_EQ(0, sniff_handshake(sn, k));
		close(sn);
		for (int e = 0; e < 2; e++) {
			fl = fcntl(k->e[e].fd, F_GETFL);
			fcntl(k->e[e].fd, F_SETFL, fl | O_NONBLOCK);
		}
		k->bad[0] = k->bad[1] = -1;
	}
	/* Where the frames go. */
	if (f->veth) {
		const uint8_t va[ETH_ALEN] = { 2, 0x77, 0, 0, 0, 1 }, vb[ETH_ALEN] = { 2, 0x77, 0, 0, 0, 2 };

		f->nt = 2;
		/* t[0]: sent on va (namespace a), received by vb in b */
		f->t[0] = (struct target){ .rns = 1, .own = 0x0a4d0002, .peer = 0x0a4d0001,
					   .maxlen = 9000, .lport = SRV_PORT };
		memcpy(f->t[0].mac, vb, ETH_ALEN);
		f->t[0].sock = packet_socket("va", &f->t[0].ifindex);
		/* t[1]: sent on vb, received by va in a */
		f->t[1] = (struct target){ .rns = 0, .own = 0x0a4d0001, .peer = 0x0a4d0002,
					   .maxlen = 9000, .lport = CLI_PORT };
		memcpy(f->t[1].mac, va, ETH_ALEN);
		IN_NS(f, f->n.b, f->t[1].sock = packet_socket("vb", &f->t[1].ifindex));
		ASSERT_LE(0, f->t[1].sock);
	} else {
		f->nt = 1;
		f->t[0] = (struct target){ .rns = 0, .own = 0x7f000001, .peer = 0x7f000001, .lo = 1,
					   .maxlen = 65536, .lport = SRV_PORT };
		f->t[0].sock = packet_socket("lo", &f->t[0].ifindex);
	}
	ASSERT_LE(0, f->t[0].sock);
	f->statfd[0] = open("/proc/thread-self/net/af_custom_stat", O_RDONLY);
	ASSERT_LE(0, f->statfd[0]);
	if (f->veth) {
		IN_NS(f, f->n.b, f->statfd[1] = open("/proc/thread-self/net/af_custom_stat", O_RDONLY));
		ASSERT_LE(0, f->statfd[1]);
	}
}

FIXTURE_TEARDOWN(fuzz)
{
	struct ff *f = &self->f;

	for (int c = 0; c < NCONN; c++)
		for (int e = 0; e < 2; e++)
			if (f->c[c].e[e].fd > 0)
				close(f->c[c].e[e].fd);
	for (int i = 0; i < 2; i++) {
		if (f->lfd[i] > 0)
			close(f->lfd[i]);
		if (f->t[i].sock > 0)
			close(f->t[i].sock);
	}
	free(f->log);
	afc_nets_close(&f->n);
}

/*
 * Prints the logged frames that could have harmed direction d of
 * connection c: first those whose sequence number lay where the
 * receiver's next sequence number could be when they were made (an RST
 * there may have been exactly it), then a count of those that were
 * inside the window after it (RSTs and SYNs of quiet chunks: challenge
 * ACKs, never resets).
 */
static void name_suspects(struct ff *f, int c, int d)
{
	size_t near = 0, inwin = 0;
	uint32_t wnd = 65535u << f->c[c].ws[1 - d];

	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < f->nlog; i++) {
			struct tlog *l = &f->log[i];
			int at_next = (uint32_t)(l->seq + l->plen - l->lo) <= (l->hi - l->lo) + l->plen;
			int in_wnd = (uint32_t)(l->seq - l->lo) <= (l->hi - l->lo) + wnd;

			if (l->conn != c || l->dir != d || (pass ? at_next || !in_wnd : !at_next))
				continue;
			if (pass ? inwin++ < 5 : near++ < 20)
				fprintf(stderr, "#   frame %u (seed %#llx): flags %#x seq %u len %u (%s), rcv_nxt was in [%u, %u]%s\n",
					l->idx, (unsigned long long)f->seed, l->flags, l->seq, l->plen,
					mode_name[l->mode], l->lo, l->hi,
					pass ? "" : ": could have been at the next sequence number");
		}
	fprintf(stderr, "# connection %d direction %d: %zu frames aimed at it could have been at its next sequence number, %zu more inside its window\n",
		c, d, near, inwin);
}

TEST_F_TIMEOUT(fuzz, live_connections_survive, 1200)
{
	struct ff *f = &self->f;
	long long frames = afc_env_long("AFC_FUZZ_FRAMES", 1000000) / 2;
	long long t0 = now_ms(), debug = !access("/sys/kernel/debug/kmemleak", F_OK);
	long nclass[C_N] = { 0 }, nkind[6] = { 0 };
	struct counts base[2], exp[2], now[2];
	pthread_t pump, acc, con;
	uint8_t *arena = malloc(ARENA_SZ);
	struct mmsghdr *mm = calloc(CHUNK + 2, sizeof(*mm));
	struct iovec *iov = calloc(CHUNK + 2, sizeof(*iov));
	int *fr_t = calloc(CHUNK + 2, sizeof(int)), *fr_c = calloc(CHUNK + 2, sizeof(int));
	struct gen g = { .f = f };
	long long sent = 0, drops0[2], challenges0 = 0, challenges1 = 0, refused0 = 0, refused1 = 0;
	int chunk = 0, plant = !!getenv("AFC_FUZZ_PLANT");

	ASSERT_NE(NULL, arena);
	g.r.s = f->seed ^ (f->veth ? 0x7665746800000000ULL : 0);
	fprintf(stderr, "# seed %#llx (replay: AFC_FUZZ_SEED=%#llx), %lld frames over %s (set-up took %lld ms)\n",
		(unsigned long long)f->seed, (unsigned long long)f->seed, frames, f->veth ? "veth" : "lo",
		t0 - f->t_setup);
	f->drain_ms = debug ? 180000 : 60000;
	/* The streams need not be fast, only live: on the debug kernel they
	 * would take the CPU the frames need. */
	f->rate = afc_env_long("AFC_FUZZ_STREAM_RATE", debug ? 65536 : 1 << 20);
	f->t_start = now_ms();
	afc_pin_cpu(0);
	for (int i = 0; i < f->nt; i++) {
		ASSERT_EQ(0, read_counts(f->statfd[f->t[i].rns], &base[f->t[i].rns]));
		exp[f->t[i].rns] = base[f->t[i].rns];
	}
	for (int i = 0; i < f->nt; i++)
		IN_NS(f, nsfd(f, f->t[i].rns), drops0[i] = dev_drops(devname(f, i)));
	for (int i = 0; i < f->nt; i++)
		IN_NS(f, nsfd(f, f->t[i].rns), challenges0 += afc_stat("ChallengeAcks");
		      refused0 += afc_stat("SeqRejected") + afc_stat("BacklogDrops"));
	ASSERT_EQ(0, pthread_create(&pump, NULL, pump_main, f));
	ASSERT_EQ(0, pthread_create(&acc, NULL, accept_main, f));
	ASSERT_EQ(0, pthread_create(&con, NULL, connect_main, f));
	usleep(100000);

	while (sent < frames) {
		int quiet = chunk % QUIET_EVERY == QUIET_EVERY - 1, n = 0, bad = 0;
		size_t used = 0;

		if (quiet)
			ASSERT_EQ(0, pump_quiet(f, 1));
		if (quiet && plant && sent >= frames / 2) {
			/* The test of the test: an RST at exactly the next
			 * sequence number must reset the connection, and the
			 * test must fail and name the frame. */
			struct target *t = &f->t[0];
			int d = f->c[0].e[1].ns == t->rns ? 0 : 1;
			uint8_t *fr = arena;
			long long tw = now_ms();

			while (LOAD(f->c[0].rd[d]) != LOAD(f->c[0].written[d]) && now_ms() - tw < 10000)
				usleep(1000);
			memset(fr, 0, ETH_HLEN);
			memcpy(fr, t->mac, ETH_ALEN);
			fr[12] = ETH_P_AF_CUSTOM >> 8;
			fr[13] = ETH_P_AF_CUSTOM & 0xff;
			put_hdr(fr + ETH_HLEN, AFC_F_RST, 0, f->c[0].e[d].port, f->c[0].e[1 - d].port, 0,
				f->c[0].e[d].addr, f->c[0].e[1 - d].addr,
				f->c[0].isn[d] + 1 + (uint32_t)f->c[0].written[d], 0, 0, 0);
			afc_csum_set(fr + ETH_HLEN, AFC_HDR_LEN);
			g.idx = sent;
			log_tuple(&g, 0, d, fr + ETH_HLEN, M_PLANT, 1);
			fprintf(stderr, "# AFC_FUZZ_PLANT: frame %lld is an RST at the next sequence number of connection 0 direction %d\n",
				sent, d);
			fr_t[0] = 0;
			fr_c[0] = C_SEG;
			iov[0].iov_base = fr;
			iov[0].iov_len = ETH_HLEN + AFC_HDR_LEN;
			used = 64;
			n = 1;
			plant = 0;
		}
		for (; n < CHUNK && sent + n < frames; n++) {
			int ti = below(&g.r, f->nt), other = 0, mode = M_OTHER, c = -1, d = 0, kind;
			struct target *t = &f->t[ti];
			uint8_t *fr = arena + used, *b = fr + ETH_HLEN;
			size_t room = t->maxlen, len;
			unsigned macp = below(&g.r, 100), kp;

			if (used + ETH_HLEN + room + 256 > ARENA_SZ)
				break;
			g.idx = sent + n;
			/* the destination MAC address */
			memset(fr, 0, ETH_HLEN);
			if (macp < 85) {
				memcpy(fr, t->mac, ETH_ALEN);
			} else if (macp < 90) {
				memset(fr, 0xff, ETH_ALEN);
			} else if (macp < 93) {
				memcpy(fr, (uint8_t[]){ 0x01, 0x00, 0x5e, 0, 0, 1 }, ETH_ALEN);
			} else {
				memcpy(fr, (uint8_t[])NOBODY_MAC, ETH_ALEN);
				other = 1;
			}
			fr[12] = ETH_P_AF_CUSTOM >> 8;
			fr[13] = ETH_P_AF_CUSTOM & 0xff;
			kp = below(&g.r, 100);
			kind = quiet ? 2 : kp < 15 ? 0 : kp < 55 ? 1 : kp < 80 ? 2 : 3;
			switch (kind) {
			case 0:	/* random bytes, a version 1 now and then */
				len = rlen(&g.r, room);
				rbytes(&g.r, b, len);
				if (len && pct(&g.r, 50))
					b[0] = 1;
				break;
			case 1:	/* a valid header, mutated or not */
				len = gen_valid(&g, t, b, room);
				if (pct(&g.r, 85))
					len = mutate(&g, t, b, len, room);
				break;
			case 2: { /* aimed at a live connection */
				int cands[2 * NCONN], nc = 0;

				for (int k = 0; k < NCONN; k++)
					for (int dd = 0; dd < 2; dd++)
						if (f->c[k].e[1 - dd].ns == t->rns)
							cands[nc++] = k * 2 + dd;
				kp = cands[below(&g.r, nc)];
				c = kp / 2;
				d = kp % 2;
				mode = quiet ? M_INWIN + below(&g.r, 3) : M_RANDOM_SEQ;
				len = gen_tuple(&g, t, c, d, mode, b, room);
				if (!quiet && pct(&g.r, 10)) {
					len = mutate(&g, t, b, len, room);
					mode = M_OTHER;
				}
				break;
			}
			default: /* spoofed SYN at a listener */
				len = gen_syn(&g, t, b);
				break;
			}
			nkind[kind]++;
			fr_c[n] = classify(f, t, other, b, len);
			/* A valid frame that hits a live tuple by chance (or by a
			 * mutation) gets a sequence number out of its window. */
			if (fr_c[n] == C_SEG) {
				int dd, cc = live_tuple(f, t, b, &dd);

				if (cc >= 0 && (kind != 2 || mode == M_OTHER)) {
					int ok = afc_csum_verify(b, AFC_HDR_LEN + afc_get16(b + 8));

					afc_put32(b + 20, far_seq(&g, cc, dd, afc_get16(b + 8)));
					if (ok)
						afc_csum_set(b, AFC_HDR_LEN + afc_get16(b + 8));
					mode = M_RANDOM_SEQ;
					fr_c[n] = classify(f, t, other, b, len);
				}
				if (cc >= 0)
					log_tuple(&g, cc, dd, b, mode, macp < 85);
			}
			fr_t[n] = ti;
			iov[n].iov_base = fr;
			iov[n].iov_len = ETH_HLEN + len;
			used += (ETH_HLEN + len + 7) & ~7UL;
		}
		/* Markers: a frame with a bad version to each namespace, last. */
		for (int i = 0; i < f->nt; i++) {
			uint8_t *fr = arena + used, *b = fr + ETH_HLEN;

			memset(fr, 0, ETH_HLEN + AFC_HDR_LEN);
			memcpy(fr, f->t[i].mac, ETH_ALEN);
			fr[12] = ETH_P_AF_CUSTOM >> 8;
			fr[13] = ETH_P_AF_CUSTOM & 0xff;
			b[0] = 0x7f;
			fr_t[n] = i;
			fr_c[n] = C_ERR;
			iov[n].iov_base = fr;
			iov[n].iov_len = ETH_HLEN + AFC_HDR_LEN;
			used += ETH_HLEN + AFC_HDR_LEN + 2;
			n++;
		}
		/* Send, target by target, in order. */
		for (int i = 0; i < f->nt; i++) {
			int m = 0;

			for (int j = 0; j < n; j++) {
				if (fr_t[j] != i)
					continue;
				mm[m].msg_hdr = (struct msghdr){ .msg_iov = &iov[j], .msg_iovlen = 1 };
				m++;
				exp[f->t[i].rns].v[fr_c[j]]++;
				nclass[fr_c[j]]++;
			}
			for (int done = 0; done < m;) {
				int r = sendmmsg(f->t[i].sock, mm + done, m - done, 0);

				if (r <= 0) {
					fprintf(stderr, "# sendmmsg: %s (frame of %zu bytes)\n", strerror(errno),
						mm[done].msg_hdr.msg_iov->iov_len);
					bad = 1;
					break;
				}
				done += r;
			}
		}
		ASSERT_EQ(0, bad);
		/* Wait until the module has judged them all: the counters must
		 * reach the expectation exactly, never pass it. */
		for (int i = 0; i < f->nt; i++) {
			int ns = f->t[i].rns;
			long long tw = now_ms();

			for (;;) {
				int eq = 1, over = 0;

				ASSERT_EQ(0, read_counts(f->statfd[ns], &now[ns]));
				for (int k = C_ERR; k <= C_MART; k++) {
					eq &= now[ns].v[k] == exp[ns].v[k];
					over |= now[ns].v[k] > exp[ns].v[k];
				}
				if (eq)
					break;
				if (over || now_ms() - tw > (debug ? 60000 : 20000)) {
					long long drops;

					IN_NS(f, nsfd(f, ns), drops = dev_drops(devname(f, i)) - drops0[i]);
					fprintf(stderr, "# chunk %d (frames %lld..%lld, seed %#llx), namespace %d: %s\n",
						chunk, sent, sent + n - f->nt - 1, (unsigned long long)f->seed, ns,
						over ? "a counter passed the expectation" : "counters stuck");
					for (int k = C_OTHERHOST; k <= C_MART; k++)
						fprintf(stderr, "#   %s: %lld expected %lld\n", cls_name[k],
							now[ns].v[k] - base[ns].v[k], exp[ns].v[k] - base[ns].v[k]);
					fprintf(stderr, "#   receive drops on the device: %lld\n", drops);
					ASSERT_TRUE(0);
				}
				usleep(100);
			}
		}
		if (quiet)
			pump_quiet(f, 0);
		sent += n - f->nt;
		chunk++;
	}
	long long tf = now_ms(), td;

	/* The end: stop writing, read everything, check. */
	STORE(f->stop, 1);
	pthread_join(pump, NULL);
	td = now_ms();
	STORE(f->stop_aux, 1);
	pthread_join(acc, NULL);
	pthread_join(con, NULL);
	for (int i = 0; i < f->nt; i++) {
		int ns = f->t[i].rns;

		ASSERT_EQ(0, read_counts(f->statfd[ns], &now[ns]));
	}
	fprintf(stderr, "# %lld frames in %lld ms (%lld chunks), %zu aimed at live tuples; kinds: random %ld, mutated %ld, tuple %ld, syn flood %ld\n",
		sent, tf - t0, (long long)chunk, f->nlog, nkind[0], nkind[1], nkind[2], nkind[3]);
	fprintf(stderr, "# classes (with %d markers a chunk): otherhost %ld, InErrs %ld, InCsumErrors %ld, InMartians %ld, InSegs %ld\n",
		f->nt, nclass[C_OTHERHOST], nclass[C_ERR], nclass[C_CSUM], nclass[C_MART], nclass[C_SEG]);
	for (int i = 0; i < f->nt; i++) {
		int ns = f->t[i].rns;

		fprintf(stderr, "# namespace %d: InOtherHost +%lld (expected +%lld), InErrs +%lld (+%lld), InCsumErrors +%lld (+%lld), InMartians +%lld (+%lld), InSegs +%lld (at least +%lld)\n",
			ns, now[ns].v[C_OTHERHOST] - base[ns].v[C_OTHERHOST], exp[ns].v[C_OTHERHOST] - base[ns].v[C_OTHERHOST],
			now[ns].v[C_ERR] - base[ns].v[C_ERR], exp[ns].v[C_ERR] - base[ns].v[C_ERR],
			now[ns].v[C_CSUM] - base[ns].v[C_CSUM], exp[ns].v[C_CSUM] - base[ns].v[C_CSUM],
			now[ns].v[C_MART] - base[ns].v[C_MART], exp[ns].v[C_MART] - base[ns].v[C_MART],
			now[ns].v[C_SEG] - base[ns].v[C_SEG], exp[ns].v[C_SEG] - base[ns].v[C_SEG]);
	}
	for (int i = 0; i < f->nt; i++)
		IN_NS(f, nsfd(f, f->t[i].rns), challenges1 += afc_stat("ChallengeAcks");
		      refused1 += afc_stat("SeqRejected") + afc_stat("BacklogDrops"));
	/* In-window RSTs and SYNs draw challenge ACKs (rate-limited, so not
	 * one each): how many, for the record. */
	fprintf(stderr, "# challenge ACKs sent: %lld\n", challenges1 - challenges0);
	/* Frames of quiet chunks aimed at a live tuple, to this host, wholly
	 * before where rcv_nxt could be or after the largest window it can
	 * have: each is refused by the sequence test and counted in
	 * SeqRejected (or dropped earlier, from a full socket backlog, and
	 * counted in BacklogDrops).  The live streams add their own
	 * duplicates, hence "at least". */
	long long outside = 0;

	for (size_t i = 0; i < f->nlog; i++) {
		const struct tlog *l = &f->log[i];
		uint32_t end = l->seq + l->plen + !!(l->flags & AFC_F_SYN) + !!(l->flags & AFC_F_FIN);
		uint32_t wnd = 65535u << f->c[l->conn].ws[1 - l->dir];

		if (l->host && ((l->mode == M_LEFT && (int32_t)(end - l->lo) < 0) ||
				(l->mode == M_RIGHT && (int32_t)(l->seq - (l->hi + wnd)) > 0)))
			outside++;
	}
	fprintf(stderr, "# refused by the sequence test or the backlog: %lld (at least %lld: frames surely outside a window)\n",
		refused1 - refused0, outside);
	EXPECT_LE(outside, refused1 - refused0);
	EXPECT_LT(0, outside);
	fprintf(stderr, "# listeners accepted %ld; connects ok %ld, failed %ld\n",
		f->accepted, f->conn_ok, f->conn_fail);
	/* Frames the device's backlog dropped never reached the module:
	 * none may have, or the counts above would not mean what they say. */
	for (int i = 0; i < f->nt; i++) {
		long long dr;

		IN_NS(f, nsfd(f, f->t[i].rns), dr = dev_drops(devname(f, i)));
		fprintf(stderr, "# receive drops on %s: %lld\n", devname(f, i), dr - drops0[i]);
		EXPECT_LE(0, drops0[i]);
		EXPECT_EQ(drops0[i], dr);
	}
	for (int c = 0; c < NCONN; c++)
		fprintf(stderr, "# connection %d: %llu bytes client->server, %llu back; errors %d/%d\n", c,
			(unsigned long long)f->c[c].written[0], (unsigned long long)f->c[c].written[1],
			f->c[c].e[0].err, f->c[c].e[1].err);
	/* Counters. */
	for (int i = 0; i < f->nt; i++) {
		int ns = f->t[i].rns;

		/* From below only: over veth the module's own answers to spoofed
		 * sources (SYN-ACKs, RSTs toward a MAC nobody has) reach the
		 * other namespace as frames for another host too. */
		EXPECT_LE(exp[ns].v[C_OTHERHOST], now[ns].v[C_OTHERHOST]);
		EXPECT_EQ(exp[ns].v[C_ERR], now[ns].v[C_ERR]);
		EXPECT_EQ(exp[ns].v[C_CSUM], now[ns].v[C_CSUM]);
		EXPECT_EQ(exp[ns].v[C_MART], now[ns].v[C_MART]);
		EXPECT_LE(exp[ns].v[C_SEG], now[ns].v[C_SEG]);
	}
	/* The live connections. */
	EXPECT_EQ(0, f->drain_timeout);
	for (int c = 0; c < NCONN; c++) {
		struct conn *k = &f->c[c];
		int harmed = 0;

		for (int d = 0; d < 2; d++) {
			EXPECT_EQ(0, k->e[d].err);
			EXPECT_EQ(-1, k->bad[d]);
			EXPECT_EQ(1, k->eof[d]);
			EXPECT_EQ(k->written[d], k->rd[d]);
			EXPECT_LT(0, k->written[d]);
			if (k->bad[d] >= 0)
				fprintf(stderr, "# connection %d direction %d: byte %lld differs\n", c, d, k->bad[d]);
			if (k->e[d].err || k->e[1 - d].err || k->bad[d] >= 0 || k->rd[d] != k->written[d]) {
				name_suspects(f, c, d);
				harmed = 1;
			}
		}
		(void)harmed;
	}
	EXPECT_LT(0, f->conn_ok);
	fprintf(stderr, "# fixture took %lld ms: frames %lld, drain %lld, the rest %lld\n", now_ms() - t0,
		tf - t0, td - tf, now_ms() - td);
	free(arena);
	free(mm);
	free(iov);
	free(fr_t);
	free(fr_c);
}

TEST_HARNESS_MAIN
