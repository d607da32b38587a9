// SPDX-License-Identifier: GPL-2.0
/*
 * Stream connections under load: bulk transfers both ways at once (on lo,
 * veth, and a lossy, reordering, duplicating, corrupting veth), a thousand
 * concurrent connections, a poll() event loop, two processes accepting from
 * one listener, a writer blocked by a slow reader, and a peer namespace
 * that disappears mid-transfer.  Family as in afc_test.h (AFC_TEST_FAMILY=inet
 * runs everything over TCP).  AFC_STRESS_MB (default 64) sets the bulk size.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <linux/sockios.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include "afc_test.h"
#include "kselftest_harness.h"

/* ---- helpers ------------------------------------------------------------ */


/* xorshift64*: the payload generator; FNV-1a 64: the payload hash. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static void rnd_fill(uint64_t *s, unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rnd(s);

		memcpy(b + i, &v, n - i < 8 ? n - i : 8);
	}
}

#define FNV_INIT 0xcbf29ce484222325ULL
static uint64_t fnv(uint64_t h, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static size_t stress_bytes(void)
{
	const char *e = getenv("AFC_STRESS_MB");
	long mb = e ? atol(e) : 64;

	return (size_t)(mb > 0 ? mb : 64) << 20;
}


/* One direction of a transfer: a writer of `total` random bytes, then
 * SHUT_WR; a reader until end of stream.  Each hashes what it saw. */
struct flow {
	pthread_t th;
	int fd;
	uint64_t seed;
	size_t total;		/* writer: bytes to send */
	const size_t *sizes;	/* writer: write sizes in turn (random if NULL) */
	size_t nsizes;
	size_t bytes;		/* bytes sent / received */
	uint64_t hash;
	int err;		/* errno of a failed call, 0 if none */
	volatile size_t progress;
	long long t_end;
};

static void *writer_fn(void *p)
{
	struct flow *f = p;
	unsigned char *buf = malloc(1 << 17);
	uint64_t s = f->seed, sz = f->seed ^ 0x5555;
	size_t i = 0;

	f->hash = FNV_INIT;
	while (buf && f->bytes < f->total) {
		size_t n = f->sizes ? f->sizes[i++ % f->nsizes] : 1 + rnd(&sz) % (1 << 17);

		if (n > f->total - f->bytes)
			n = f->total - f->bytes;
		rnd_fill(&s, buf, n);
		f->hash = fnv(f->hash, buf, n);
		if (send_all(f->fd, buf, n) < 0) {
			f->err = errno;
			break;
		}
		f->bytes += n;
		f->progress = f->bytes;
	}
	if (!f->err && shutdown(f->fd, SHUT_WR))
		f->err = errno;
	f->t_end = now_ms();
	free(buf);
	return NULL;
}

static void *reader_fn(void *p)
{
	struct flow *f = p;
	unsigned char *buf = malloc(1 << 17);
	uint64_t sz = f->seed ^ 0xaaaa;

	f->hash = FNV_INIT;
	while (buf) {
		ssize_t n = recv(f->fd, buf, 1 + rnd(&sz) % (1 << 17), 0);

		if (n < 0) {
			f->err = errno;
			break;
		}
		if (n == 0)
			break;
		f->hash = fnv(f->hash, buf, n);
		f->bytes += n;
		f->progress = f->bytes;
	}
	f->t_end = now_ms();
	free(buf);
	return NULL;
}

/* Namespaces: a (server) and b (client), as in stream.c. */
struct nets_variant {
	int veth;
	const char *srv, *cli;
	const char *netem;	/* netem arguments for both veth ends, or NULL */
};

static int nets_setup(struct __test_metadata *_metadata, struct afc_nets *n,
		      const struct nets_variant *v)
{
	int rc = v->veth ? afc_veth_setup(n) : afc_lo_setup(n);
	char cmd[256];

	if (rc && v->veth && afc_inet()) {
		SKIP(return -1, "veth unavailable on this host (AFC_TEST_FAMILY=inet)");
	}
	ASSERT_EQ(0, rc) TH_LOG("namespace setup failed");
	if (v->netem) {
		snprintf(cmd, sizeof(cmd), "tc qdisc add dev vb root netem %s", v->netem);
		rc = afc_sh("tc qdisc add dev va root netem %s", v->netem) ||
		     afc_sh_in(n->b, n->a, cmd);
		if (rc && afc_inet())
			SKIP(return -1, "netem unavailable on this host (AFC_TEST_FAMILY=inet)");
		ASSERT_EQ(0, rc) TH_LOG("tc netem failed");
	}
	if (!afc_inet()) {
		ASSERT_LT(0, afc_family()) TH_LOG("af_custom is not loaded");
	}
	return 0;
}

static int mk_listener(struct __test_metadata *_metadata, const char *ip, int backlog, int *port)
{
	int fd = afc_tsocket();

	ASSERT_LE(0, fd) TH_LOG("socket: %s", strerror(errno));
	ASSERT_EQ(0, afc_bind(fd, ip, 0)) TH_LOG("bind: %s", strerror(errno));
	ASSERT_EQ(0, listen(fd, backlog)) TH_LOG("listen: %s", strerror(errno));
	*port = afc_port(fd, 0);
	return fd;
}

/* A connected pair: client c in namespace b, accepted s; the listener is closed. */
static void mk_pair(struct __test_metadata *_metadata, struct afc_nets *n,
		    const struct nets_variant *v, int *c, int *s)
{
	int port, l = mk_listener(_metadata, v->srv, 4, &port);

	*c = afc_socket_in(n, n->b, 0);
	ASSERT_LE(0, *c) TH_LOG("socket: %s", strerror(errno));
	ASSERT_EQ(0, afc_connect(*c, v->srv, port)) TH_LOG("connect: %s", strerror(errno));
	*s = accept(l, NULL, NULL);
	ASSERT_LE(0, *s) TH_LOG("accept: %s", strerror(errno));
	close(l);
}

static void check_flow(struct __test_metadata *_metadata, const char *what,
		       struct flow *w, struct flow *r)
{
	ASSERT_EQ(0, w->err) TH_LOG("%s writer: %s after %zu bytes", what, strerror(w->err), w->bytes);
	ASSERT_EQ(0, r->err) TH_LOG("%s reader: %s after %zu bytes", what, strerror(r->err), r->bytes);
	ASSERT_EQ(w->total, w->bytes);
	ASSERT_EQ(w->bytes, r->bytes) TH_LOG("%s: sent %zu, received %zu", what, w->bytes, r->bytes);
	ASSERT_EQ(w->hash, r->hash) TH_LOG("%s: payload hash differs", what);
}

/* `total` bytes each way at once between c and s: flows cw (c's writer)
 * to sr (s's reader) and sw to cr, each a thread; returns when all end. */
static void both_ways(int c, int s, size_t total, struct flow *cw, struct flow *cr,
		      struct flow *sw, struct flow *sr)
{
	cw->fd = c; cr->fd = c; sw->fd = s; sr->fd = s;
	cw->total = sw->total = total;
	pthread_create(&sr->th, NULL, reader_fn, sr);
	pthread_create(&cr->th, NULL, reader_fn, cr);
	pthread_create(&cw->th, NULL, writer_fn, cw);
	pthread_create(&sw->th, NULL, writer_fn, sw);
	pthread_join(cw->th, NULL);
	pthread_join(sw->th, NULL);
	pthread_join(sr->th, NULL);
	pthread_join(cr->th, NULL);
}

/* ---- bulk transfer --------------------------------------------------------
 * TCP delivers every byte once, in order, whatever the link does: loss,
 * reordering, duplication and corruption are repaired.  Both directions
 * run at once, with random write and read sizes.
 */
FIXTURE(bulk) { struct afc_nets n; };
FIXTURE_VARIANT(bulk) { struct nets_variant v; };
FIXTURE_VARIANT_ADD(bulk, lo) { .v = { 0, "127.0.0.1", "127.0.0.1", NULL } };
FIXTURE_VARIANT_ADD(bulk, veth) { .v = { 1, "10.77.0.1", "10.77.0.2", NULL } };
FIXTURE_VARIANT_ADD(bulk, veth_lossy) { .v = { 1, "10.77.0.1", "10.77.0.2",
	"loss 10% reorder 25% duplicate 5% corrupt 1% delay 1ms" } };
FIXTURE_SETUP(bulk) { nets_setup(_metadata, &self->n, &variant->v); }
FIXTURE_TEARDOWN(bulk) { afc_nets_close(&self->n); }

TEST_F_TIMEOUT(bulk, both_directions_at_once, 500)
{
	struct flow cw = { .seed = 0x1234567 }, sr = { .seed = 0x1234567 };
	struct flow sw = { .seed = 0x89abcdef }, cr = { .seed = 0x89abcdef };
	size_t total = stress_bytes();
	long long t0 = now_ms();
	int c, s;

	mk_pair(_metadata, &self->n, &variant->v, &c, &s);
	both_ways(c, s, total, &cw, &cr, &sw, &sr);
	TH_LOG("%zu MiB each way in %lld ms", total >> 20, now_ms() - t0);
	check_flow(_metadata, "client->server", &cw, &sr);
	check_flow(_metadata, "server->client", &sw, &cr);
	ASSERT_EQ(0, close(c));
	ASSERT_EQ(0, close(s));
}

/*
 * The same with the smallest buffers (SO_RCVBUF, SO_SNDBUF at their
 * floor): frames left on the backlog for a reader asleep soon fill what
 * the backlog may hold (the two buffers), and are then run by the frame
 * handler, in order, rather than dropped.  An eighth of the bulk size (a
 * 64th over the lossy link, where a window of a segment or two repairs
 * each loss by timer).
 */
TEST_F_TIMEOUT(bulk, smallest_buffers_both_ways, 300)
{
	struct flow cw = { .seed = 0x7654321 }, sr = { .seed = 0x7654321 };
	struct flow sw = { .seed = 0xfedcba98 }, cr = { .seed = 0xfedcba98 };
	size_t total = stress_bytes() / (variant->v.netem ? 64 : 8);
	long long t0 = now_ms(), b0 = afc_stat("InBacklog"), p0 = afc_stat("OfoPruned");
	int c, s, one = 1;

	mk_pair(_metadata, &self->n, &variant->v, &c, &s);
	for (int i = 0; i < 2; i++) {
		int fd = i ? s : c;

		ASSERT_EQ(0, setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one)));
		ASSERT_EQ(0, setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &one, sizeof(one)));
	}
	both_ways(c, s, total, &cw, &cr, &sw, &sr);
	TH_LOG("%zu KiB each way in %lld ms (here InBacklog +%lld, OfoPruned +%lld)", total >> 10,
	       now_ms() - t0, afc_stat("InBacklog") - b0, afc_stat("OfoPruned") - p0);
	check_flow(_metadata, "client->server", &cw, &sr);
	check_flow(_metadata, "server->client", &sw, &cr);
	ASSERT_EQ(0, close(c));
	ASSERT_EQ(0, close(s));
}

/*
 * Writes of every size class, small ones (held linear, copied into frames)
 * between large ones (held in pages, sent by page reference), so that
 * segments straddle both kinds of send buffer; the reader peeks before
 * each read (MSG_PEEK must show exactly the bytes the read then takes,
 * across partly consumed paged buffers) and reads in odd sizes.
 */
TEST_F_TIMEOUT(bulk, mixed_write_sizes_and_peeks, 300)
{
	static const size_t sizes[] = { 1, 100, 2047, 2048, 3000, 1, 65536, 70000, 7, 64480, 64481,
					 131072, 1500, 4096, 33, 100000 };
	struct flow w = { .seed = 0xfeed, .total = 4 << 20, .sizes = sizes,
			  .nsizes = sizeof(sizes) / sizeof(sizes[0]) };
	unsigned char *pb = malloc(1 << 17), *rb = malloc(1 << 17);
	uint64_t rs = 0xbeef, rh = FNV_INIT;
	long long t0 = now_ms();
	size_t got = 0;
	int c, s, peeks = 0;

	ASSERT_TRUE(pb && rb);
	mk_pair(_metadata, &self->n, &variant->v, &c, &s);
	w.fd = c;
	pthread_create(&w.th, NULL, writer_fn, &w);
	for (;;) {
		size_t want = 1 + rnd(&rs) % 90000;
		ssize_t p = recv(s, pb, want, MSG_PEEK), n;

		ASSERT_LE(0, p) TH_LOG("peek: %s after %zu bytes", strerror(errno), got);
		if (p == 0)
			break;
		peeks++;
		n = recv(s, rb, p, MSG_DONTWAIT);
		ASSERT_LE(p, n) TH_LOG("read %zd after peeking %zd", n, p);
		ASSERT_EQ(0, memcmp(pb, rb, p)) TH_LOG("peeked bytes differ from read bytes at %zu", got);
		rh = fnv(rh, rb, n);
		got += n;
	}
	pthread_join(w.th, NULL);
	ASSERT_EQ(0, w.err) TH_LOG("writer: %s after %zu bytes", strerror(w.err), w.bytes);
	TH_LOG("%zu bytes in mixed writes, %d peeks, %lld ms", got, peeks, now_ms() - t0);
	ASSERT_EQ(w.total, got);
	ASSERT_EQ(w.hash, rh) TH_LOG("payload hash differs");
	close(c);
	close(s);
	free(pb); free(rb);
}

/*
 * A packet socket (tcpdump) taps every frame while a stream runs: each
 * frame it is handed is a second reference to the frame the stream's
 * receiver queues, whose payload may be its sender's very buffer (a send
 * buffer leaves as its clone and is shared, not copied, down to the
 * reader).  Reads in random sizes consume shared buffers part by part;
 * every byte must still arrive once, in order, and the tap must have
 * seen the stream's frames.
 */
struct tap { int fd; volatile int stop; long frames; };

static void *tap_fn(void *p)
{
	struct tap *t = p;
	unsigned char buf[2048];

	while (!t->stop) {
		if (recv(t->fd, buf, sizeof(buf), MSG_TRUNC) > 0)
			t->frames++;
	}
	return NULL;
}

TEST_F_TIMEOUT(bulk, tapped_stream_arrives_whole, 300)
{
	struct timeval tv = { .tv_usec = 100000 };
	struct tap t = { .fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)) };
	struct flow w = { .seed = 0x7a9 ^ 0x1, .total = 16 << 20 };
	struct flow r = { .seed = 0x7a9 };
	pthread_t th;
	int c, s;

	ASSERT_LE(0, t.fd) TH_LOG("packet socket: %s", strerror(errno));
	ASSERT_EQ(0, setsockopt(t.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	ASSERT_EQ(0, pthread_create(&th, NULL, tap_fn, &t));
	mk_pair(_metadata, &self->n, &variant->v, &c, &s);
	w.fd = c;
	r.fd = s;
	pthread_create(&r.th, NULL, reader_fn, &r);
	pthread_create(&w.th, NULL, writer_fn, &w);
	pthread_join(w.th, NULL);
	pthread_join(r.th, NULL);
	t.stop = 1;
	pthread_join(th, NULL);
	TH_LOG("%zu bytes, %ld frames tapped", r.bytes, t.frames);
	check_flow(_metadata, "client->server", &w, &r);
	ASSERT_LT(100, t.frames) TH_LOG("the tap saw %ld frames", t.frames);
	close(t.fd);
	close(c);
	close(s);
}

/*
 * Segmentation offload (AF_CUSTOM only): over veth a connection sends
 * frames of up to 64 KiB that veth hands to its peer whole (module
 * parameter gso=1, the default); with gso=0 every frame fits the MTU.
 * The frames the server's namespace sends are counted for the same
 * 8 MiB each way.  (The cut-up path, afc_gso_segment(), is what the
 * veth_lossy variants exercise: netem segments a GSO frame it corrupts.)
 */
#define GSO_PARAM "/sys/module/af_custom/parameters/gso"

/* Frames the server's namespace sends for `total` bytes server -> client. */
static long long frames_for_transfer(struct __test_metadata *_metadata, struct afc_nets *n, size_t total)
{
	static const struct nets_variant v = { 1, "10.77.0.1", "10.77.0.2", NULL };
	static const size_t sizes[] = { 1 << 16 };
	struct flow w = { .seed = 0x9abc, .total = total, .sizes = sizes, .nsizes = 1 };
	struct flow r = { .seed = 0x9abc };
	long long out0;
	int c, s;

	mk_pair(_metadata, n, &v, &c, &s);
	w.fd = s;
	r.fd = c;
	out0 = afc_stat("OutSegs");
	pthread_create(&r.th, NULL, reader_fn, &r);
	pthread_create(&w.th, NULL, writer_fn, &w);
	pthread_join(w.th, NULL);
	pthread_join(r.th, NULL);
	close(c);
	close(s);
	if (w.err || r.err || r.bytes != total)
		return -1;
	return afc_stat("OutSegs") - out0;
}

FIXTURE(gso) { struct afc_nets n; };
FIXTURE_SETUP(gso)
{
	static const struct nets_variant v = { 1, "10.77.0.1", "10.77.0.2", NULL };

	if (afc_inet())
		SKIP(return, "AF_CUSTOM only: its module parameter");
	nets_setup(_metadata, &self->n, &v);
}
FIXTURE_TEARDOWN(gso)
{
	afc_sh("echo 1 > " GSO_PARAM);
	afc_nets_close(&self->n);
}

TEST_F_TIMEOUT(gso, veth_sends_64k_frames_unless_gso_off, 300)
{
	size_t total = 8 << 20;
	long long on, off;

	ASSERT_EQ(0, afc_sh("echo 1 > " GSO_PARAM)) TH_LOG("cannot write %s", GSO_PARAM);
	on = frames_for_transfer(_metadata, &self->n, total);
	ASSERT_EQ(0, afc_sh("echo 0 > " GSO_PARAM));
	off = frames_for_transfer(_metadata, &self->n, total);
	ASSERT_EQ(0, afc_sh("echo 1 > " GSO_PARAM));
	TH_LOG("8 MiB over veth: %lld frames sent with gso=1, %lld with gso=0", on, off);
	ASSERT_LE(0, on) TH_LOG("transfer with gso=1 failed");
	ASSERT_LE(0, off) TH_LOG("transfer with gso=0 failed");
	/* gso=1: about one frame per 63 KiB (130), never per MTU. */
	ASSERT_GT((long long)(total / 16384), on);
	/* gso=0: at least one frame per 1500-byte MTU (5,700). */
	ASSERT_LT((long long)(total / 1500), off);
}

/* ---- many connections and processes ---------------------------------------
 * TCP: a listener with a large backlog holds 1000 completed connections
 * until they are accepted; a poll() loop can serve many clients; two
 * processes blocked in accept() on one listener share its connections
 * (each connection goes to exactly one); a writer whose peer does not
 * read blocks in send() once the buffers are full and resumes when the
 * reader drains.
 */
FIXTURE(many) { struct afc_nets n; };
FIXTURE_VARIANT(many) { struct nets_variant v; };
FIXTURE_VARIANT_ADD(many, lo) { .v = { 0, "127.0.0.1", "127.0.0.1", NULL } };
FIXTURE_VARIANT_ADD(many, veth) { .v = { 1, "10.77.0.1", "10.77.0.2", NULL } };
FIXTURE_SETUP(many) { nets_setup(_metadata, &self->n, &variant->v); }
FIXTURE_TEARDOWN(many) { afc_nets_close(&self->n); }

TEST_F_TIMEOUT(many, thousand_concurrent_connections, 300)
{
	enum { N = 1000 };
	static int c[N], s[N], seen[N];
	struct rlimit rl = { 4 * N + 64, 4 * N + 64 };
	int port, l;

	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl)) TH_LOG("setrlimit: %s", strerror(errno));
	l = mk_listener(_metadata, variant->v.srv, 1024, &port);
	/* All connected at once, before any accept. */
	ASSERT_EQ(0, setns(self->n.b, CLONE_NEWNET));
	for (int i = 0; i < N; i++) {
		c[i] = afc_tsocket();
		ASSERT_LE(0, c[i]) TH_LOG("socket %d: %s", i, strerror(errno));
		ASSERT_EQ(0, afc_connect(c[i], variant->v.srv, port))
			TH_LOG("connect %d: %s", i, strerror(errno));
	}
	ASSERT_EQ(0, setns(self->n.a, CLONE_NEWNET));
	for (int i = 0; i < N; i++) {
		s[i] = accept(l, NULL, NULL);
		ASSERT_LE(0, s[i]) TH_LOG("accept %d: %s", i, strerror(errno));
	}
	/* Each client says its number; the server answers its complement. */
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(4, send(c[i], &i, 4, 0));
	}
	for (int i = 0; i < N; i++) {
		int v = -1, r;

		ASSERT_EQ(4, recv(s[i], &v, 4, MSG_WAITALL));
		ASSERT_LE(0, v);
		ASSERT_GT(N, v);
		ASSERT_EQ(0, seen[v]++) TH_LOG("connection %d accepted twice", v);
		r = ~v;
		ASSERT_EQ(4, send(s[i], &r, 4, 0));
	}
	for (int i = 0; i < N; i++) {
		int v = 0;

		ASSERT_EQ(4, recv(c[i], &v, 4, MSG_WAITALL));
		ASSERT_EQ(~i, v);
	}
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(0, close(c[i]));
		ASSERT_EQ(0, close(s[i]));
	}
	ASSERT_EQ(0, close(l));
}

struct echo_client {
	pthread_t th;
	const struct afc_nets *n;
	const char *ip;
	int port, id, ok;
	char why[96];
};

static void *echo_client_fn(void *p)
{
	struct echo_client *e = p;
	char out[100], in[100];
	int fd = afc_socket_in(e->n, e->n->b, 0);

	if (fd < 0 || afc_connect(fd, e->ip, e->port)) {
		snprintf(e->why, sizeof(e->why), "socket/connect: %s", strerror(errno));
		goto out;
	}
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 100; i++)
			out[i] = (char)(e->id * 31 + round * 7 + i);
		if (send_all(fd, out, sizeof(out)) < 0 ||
		    recv(fd, in, sizeof(in), MSG_WAITALL) != sizeof(in)) {
			snprintf(e->why, sizeof(e->why), "round %d: %s", round, strerror(errno));
			goto out;
		}
		if (memcmp(in, out, sizeof(in))) {
			snprintf(e->why, sizeof(e->why), "round %d: wrong echo", round);
			goto out;
		}
	}
	e->ok = 1;
out:
	if (fd >= 0)
		close(fd);
	return NULL;
}

TEST_F_TIMEOUT(many, poll_event_loop_server, 120)
{
	enum { CLIENTS = 50 };
	struct pollfd p[CLIENTS + 1];
	struct echo_client cl[CLIENTS];
	int port, l = mk_listener(_metadata, variant->v.srv, 64, &port), np = 1, done = 0;
	long long end = now_ms() + 100000;
	char buf[4096];

	ASSERT_EQ(0, fcntl(l, F_SETFL, O_NONBLOCK));
	p[0] = (struct pollfd){ .fd = l, .events = POLLIN };
	for (int i = 0; i < CLIENTS; i++) {
		cl[i] = (struct echo_client){ .n = &self->n, .ip = variant->v.srv, .port = port, .id = i };
		pthread_create(&cl[i].th, NULL, echo_client_fn, &cl[i]);
	}
	while (done < CLIENTS && now_ms() < end) {
		ASSERT_LE(0, poll(p, np, 1000)) TH_LOG("poll: %s", strerror(errno));
		if (p[0].revents & POLLIN) {
			int s = accept4(l, NULL, NULL, SOCK_NONBLOCK);

			if (s >= 0) {
				ASSERT_GT(CLIENTS + 1, np);
				p[np++] = (struct pollfd){ .fd = s, .events = POLLIN };
			} else {
				ASSERT_EQ(EAGAIN, errno) TH_LOG("accept: %s", strerror(errno));
			}
		}
		for (int i = 1; i < np; i++) {
			ssize_t n;

			if (!p[i].revents)
				continue;
			n = recv(p[i].fd, buf, sizeof(buf), 0);
			if (n > 0) {
				ASSERT_EQ(0, fcntl(p[i].fd, F_SETFL, 0));	/* echo in full */
				ASSERT_EQ(n, send_all(p[i].fd, buf, n));
				ASSERT_EQ(0, fcntl(p[i].fd, F_SETFL, O_NONBLOCK));
			} else if (n == 0 || errno != EAGAIN) {
				ASSERT_EQ(0, n) TH_LOG("recv: %s", strerror(errno));
				ASSERT_EQ(0, close(p[i].fd));
				p[i--] = p[--np];
				done++;
			}
		}
	}
	for (int i = 0; i < CLIENTS; i++) {
		pthread_join(cl[i].th, NULL);
		EXPECT_TRUE(cl[i].ok) TH_LOG("client %d: %s", i, cl[i].why);
	}
	ASSERT_EQ(CLIENTS, done);
	ASSERT_EQ(1, np);
	close(l);
}

#define STOP 0x7fffffff

/* Child: accepts until a STOP connection, reporting (child, index) pairs. */
static void acceptor(int l, int id, int report)
{
	for (;;) {
		int s = accept(l, NULL, NULL), v = -1, rec[2];

		if (s < 0)
			_exit(20);
		if (recv(s, &v, 4, MSG_WAITALL) != 4)
			_exit(21);
		close(s);
		if (v == STOP)
			_exit(0);
		rec[0] = id;
		rec[1] = v;
		if (write(report, rec, sizeof(rec)) != sizeof(rec))
			_exit(22);
		usleep(2000);	/* let the other process take some */
	}
}

static int connect_send(const struct afc_nets *n, const char *ip, int port, int v)
{
	int fd = afc_socket_in(n, n->b, 0), rc = -1;

	if (fd >= 0 && !afc_connect(fd, ip, port) && send(fd, &v, 4, MSG_NOSIGNAL) == 4)
		rc = 0;
	if (fd >= 0)
		close(fd);
	return rc;
}

TEST_F_TIMEOUT(many, two_processes_accept_from_one_listener, 120)
{
	enum { N = 200 };
	int port, l = mk_listener(_metadata, variant->v.srv, 256, &port), pfd[2], st;
	int count[2] = { 0, 0 }, seen[N] = { 0 };
	pid_t pid[2];

	ASSERT_EQ(0, pipe(pfd));
	for (int i = 0; i < 2; i++) {
		pid[i] = fork();
		ASSERT_LE(0, pid[i]);
		if (pid[i] == 0) {
			close(pfd[0]);
			acceptor(l, i, pfd[1]);
		}
	}
	close(pfd[1]);
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(0, connect_send(&self->n, variant->v.srv, port, i))
			TH_LOG("client %d: %s", i, strerror(errno));
	}
	for (int got = 0; got < N; got++) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		int rec[2];

		ASSERT_EQ(1, poll(&p, 1, 30000)) TH_LOG("only %d of %d connections accepted", got, N);
		ASSERT_EQ(sizeof(rec), read(pfd[0], rec, sizeof(rec)));
		ASSERT_LE(0, rec[1]);
		ASSERT_GT(N, rec[1]);
		ASSERT_EQ(0, seen[rec[1]]++) TH_LOG("connection %d accepted twice", rec[1]);
		count[rec[0]]++;
	}
	/* One STOP each: a process that got one has exited, so the other gets the next. */
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, connect_send(&self->n, variant->v.srv, port, STOP));
	}
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(pid[i], waitpid(pid[i], &st, 0));
		ASSERT_TRUE(WIFEXITED(st)) TH_LOG("the child was killed by signal %d", WTERMSIG(st));
		ASSERT_EQ(0, WEXITSTATUS(st));
	}
	TH_LOG("split: %d + %d", count[0], count[1]);
	ASSERT_EQ(N, count[0] + count[1]);
	ASSERT_LT(0, count[0]);
	ASSERT_LT(0, count[1]);
	close(pfd[0]);
	close(l);
}

TEST_F_TIMEOUT(many, slow_reader_blocks_writer, 120)
{
	/* 16 MiB, or the bulk size when AFC_STRESS_MB makes that smaller
	 * (the debug kernel); either is far above both buffers. */
	size_t total = stress_bytes() < (16 << 20) ? stress_bytes() : (16 << 20);
	struct flow w = { .seed = 42, .total = total }, r = { .seed = 42 };
	int c, s, outq = -1, inq = -1;
	long long t0;

	mk_pair(_metadata, &self->n, &variant->v, &c, &s);
	w.fd = c;
	r.fd = s;
	t0 = now_ms();
	pthread_create(&w.th, NULL, writer_fn, &w);
	usleep(1500000);
	/* The writer is stuck in send(): buffers full, nothing acknowledged... */
	size_t p1 = w.progress;
	usleep(300000);
	ASSERT_EQ(0, ioctl(c, SIOCOUTQ, &outq));
	ASSERT_EQ(0, ioctl(s, SIOCINQ, &inq));
	TH_LOG("after 1.8 s: %zu of %zu bytes written, SIOCOUTQ %d, SIOCINQ %d",
	       w.progress, w.total, outq, inq);
	ASSERT_GT(w.total, w.progress);
	ASSERT_EQ(p1, w.progress);
	ASSERT_EQ(0, w.t_end);
	ASSERT_LT(0, outq);
	ASSERT_LT(0, inq);
	/* ...until the reader drains. */
	pthread_create(&r.th, NULL, reader_fn, &r);
	pthread_join(w.th, NULL);
	pthread_join(r.th, NULL);
	ASSERT_LE(1800, w.t_end - t0);
	check_flow(_metadata, "slow reader", &w, &r);
	ASSERT_EQ(0, close(c));
	ASSERT_EQ(0, close(s));
}

/* ---- peer namespace deleted mid-transfer ----------------------------------
 * The peer process is killed and its namespace (with vb, and so va) goes
 * away while we are sending.  TCP: the peer's socket is closed with
 * unread data when its process dies, before its namespace can go (the
 * socket holds it), so it resets the connection over a link that still
 * exists; our send fails with ECONNRESET (EPIPE once the reset was
 * reported), and close() works; nothing hangs.  Sends that only time out
 * (EAGAIN at SO_SNDTIMEO) mean the reset was lost or ignored: a failure.
 */
FIXTURE(netns_gone) { struct afc_nets n; };
FIXTURE_SETUP(netns_gone)
{
	static const struct nets_variant v = { 1, "10.77.0.1", "10.77.0.2", NULL };

	nets_setup(_metadata, &self->n, &v);
}
FIXTURE_TEARDOWN(netns_gone) { afc_nets_close(&self->n); }

static int link_exists(const char *dev)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "ip link show %s >/dev/null 2>&1", dev);
	return system(cmd) == 0;
}

TEST_F_TIMEOUT(netns_gone, peer_namespace_deleted_mid_transfer, 120)
{
	struct timeval tv = { .tv_sec = 1 };
	int port, l = mk_listener(_metadata, "10.77.0.1", 4, &port), s, st, eagains = 0, err = 0;
	static char buf[65536];
	long long t0, sent = 0;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* The peer: lives in namespace b, connects, never reads. */
		int fd = afc_socket_in(&self->n, self->n.b, 0);

		close(l);
		if (fd < 0 || afc_connect(fd, "10.77.0.1", port))
			_exit(1);
		afc_nets_close(&self->n);	/* its socket alone holds namespace b */
		pause();
		_exit(0);
	}
	s = accept(l, NULL, NULL);
	ASSERT_LE(0, s) TH_LOG("accept: %s", strerror(errno));
	close(l);
	/* Only the peer process keeps namespace b alive now. */
	close(self->n.b);
	self->n.b = self->n.a;
	ASSERT_EQ(0, setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)));
	t0 = now_ms();
	/* Send for a while, then kill the peer (and with it its namespace). */
	while (now_ms() - t0 < 1000) {
		ssize_t n = send(s, buf, sizeof(buf), MSG_NOSIGNAL);

		if (n > 0)
			sent += n;
		else
			ASSERT_EQ(EAGAIN, errno) TH_LOG("send before the kill: %s", strerror(errno));
	}
	ASSERT_LT(0, sent);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFSIGNALED(st)) TH_LOG("the peer exited with %d before the kill", WEXITSTATUS(st));
	/* Keep sending: it must end in the reset.  Timeouts once the link is
	 * gone stop the loop early (and fail below). */
	t0 = now_ms();
	while (now_ms() - t0 < 60000) {
		ssize_t n = send(s, buf, sizeof(buf), MSG_NOSIGNAL);

		if (n >= 0)
			continue;
		err = errno;
		if (err != EAGAIN)
			break;
		if (++eagains >= 3 && !link_exists("va"))
			break;
	}
	TH_LOG("after the peer's namespace went: %s (%d timeouts), %lld ms",
	       strerror(err), eagains, now_ms() - t0);
	ASSERT_TRUE(err == ECONNRESET || err == EPIPE)
		TH_LOG("send ended in %s, not the peer's reset", err ? strerror(err) : "no error");
	/* The namespace (with vb and so va) is gone. */
	for (t0 = now_ms(); link_exists("va") && now_ms() - t0 < 30000; usleep(100000))
		;
	ASSERT_FALSE(link_exists("va")) TH_LOG("va still exists: namespace b was not deleted");
	t0 = now_ms();
	ASSERT_EQ(0, close(s));
	ASSERT_GT(5000, now_ms() - t0);
}

TEST_HARNESS_MAIN
