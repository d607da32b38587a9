// SPDX-License-Identifier: GPL-2.0
/*
 * afc_bench: a neper/netperf-style benchmark that runs the same code over
 * AF_CUSTOM, TCP and AF_UNIX, so that the families compare side by side.
 *
 *   afc_bench -t TEST -f custom|inet|unix [options]
 *
 * Tests (one run each; the caller repeats and takes medians):
 *   stream     one flow, 64 KiB writes for -l seconds; receiver-side bytes/s
 *   rr         1-byte request/response on one connection (NODELAY):
 *              transactions/s, p50/p99 latency
 *   rr-nagle   the same without NODELAY on either end (Nagle and delayed
 *              ACKs as the family sets them by default)
 *   crr        connect, 1-byte rr, close, repeated: connections/s
 *   listeners  connect() latency with 1 listener, then with -n more
 *              listeners bound on other ports
 *   reuseport  -k shards with SO_REUSEPORT, -n connections, accepts per
 *              shard (max/min); "na" with the errno if refused
 *   memory     kernel memory per idle established connection (-n of them):
 *              /proc/meminfo Slab and MemFree deltas
 *   copy       single-core memcpy bandwidth on 64 KiB buffers (no sockets)
 *   stream8    -P (default 8) parallel stream flows, forked senders and
 *              receivers: aggregate receiver-side bytes/s (afc_bench_more.c)
 *   epoll      -n connections (default 10000) on one epoll server process;
 *              the client (one epoll process) sends one byte on every
 *              connection per round and waits for every answer: transactions/s
 *   report     reads RESULT lines on stdin, prints the summary table
 *   report-hosts  the same for the split runs between two hosts
 *
 * Between hosts (-m server / -m client, afc_bench_more.c): the server is one
 * daemon per family on -p (it binds -a, default 0.0.0.0 in that mode) that
 * serves stream, rr and crr connections one after the other until a client
 * tells it to quit (-t quit); the client runs one test against -a and adds
 * the server's counter deltas to its RESULT line.
 *
 * The server end lives in network namespace -S PATH and the client end in
 * -C PATH (e.g. /run/netns/afc-srv); without them both are in the current
 * one.  -a is the server's IPv4 address (default 127.0.0.1).  stream, rr
 * and crr fork a server process; the others drive both ends from one
 * process (a socket stays in the namespace it was opened in).
 *
 * Every run prints one line "RESULT test=.. fam=.. net=.. key=value ..."
 * with the protocol counters that moved (AF_CUSTOM: /proc/net/
 * af_custom_stat; TCP: /proc/net/snmp and netstat), summed over both
 * namespaces.  Times come from CLOCK_MONOTONIC (vDSO, TSC-backed when the
 * kernel's clocksource is tsc).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/af_custom.h>
#include "afc_bench.h"

const char *fam_names[] = { "custom", "inet", "unix", "none" };

struct opts o = { .fam = F_NONE, .net = "lo", .addr = "127.0.0.1", .port = 9000, .secs = 2.0,
	.n = 10000, .shards = 4, .streams = 8, .srv_ns = -1, .cli_ns = -1 };

void die(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	fprintf(stderr, "afc_bench %s/%s/%s: ", o.test ? o.test : "?", fam_names[o.fam], o.net);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(e));
	exit(1);
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Jiffies of the whole machine from /proc/stat: total and idle (+iowait). */
struct cpu cpu_now(void)
{
	unsigned long long v[10] = { 0 };
	struct cpu c = { 0 };
	char line[256];
	FILE *f = fopen("/proc/stat", "r");

	if (f) {
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
			   &v[4], &v[5], &v[6], &v[7]) == 8) {
			for (int i = 0; i < 8; i++)
				c.total += v[i];
			c.idle = v[3] + v[4];
			c.user = v[0] + v[1];
			c.sys = v[2];
			c.softirq = v[6];
		}
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "ctxt %llu", &c.ctxt) == 1)
				continue;
			(void)sscanf(line, "intr %llu", &c.intr);
		}
		fclose(f);
	}
	return c;
}

/* Percentage of CPU time idle between a and b: time nobody could run. */
double idle_pct(struct cpu a, struct cpu b)
{
	return b.total > a.total ? 100.0 * (b.idle - a.idle) / (b.total - a.total) : 0.0;
}

/* ---- families ------------------------------------------------------- */

int sysfam(void)
{
	static int custom = -1;

	switch (o.fam) {
	case F_INET: return AF_INET;
	case F_UNIX: return AF_UNIX;
	case F_CUSTOM:
		if (custom < 0) {
			FILE *f = fopen(AF_CUSTOM_FAMILY_PATH, "r");

			if (!f || fscanf(f, "%d", &custom) != 1)
				die("AF_CUSTOM not loaded (%s)", AF_CUSTOM_FAMILY_PATH);
			fclose(f);
		}
		return custom;
	default:
		errno = EINVAL;
		die("no family");
	}
	return -1;
}

socklen_t mkaddr(struct sockaddr_storage *ss, const char *ip, int port)
{
	memset(ss, 0, sizeof(*ss));
	if (o.fam == F_UNIX) {
		struct sockaddr_un *u = (struct sockaddr_un *)ss;
		int n;

		u->sun_family = AF_UNIX;
		/* abstract name: nothing to unlink */
		n = snprintf(u->sun_path + 1, sizeof(u->sun_path) - 1, "afc-bench-%d", port);
		return offsetof(struct sockaddr_un, sun_path) + 1 + n;
	}
	/* struct sockaddr_custom is laid out like struct sockaddr_in */
	struct sockaddr_custom *a = (struct sockaddr_custom *)ss;

	a->scu_family = sysfam();
	a->scu_port = htons(port);
	if (inet_pton(AF_INET, ip, &a->scu_addr) != 1) {
		errno = EINVAL;
		die("bad address %s", ip);
	}
	return sizeof(*a);
}

void enter_ns(int ns)
{
	if (ns >= 0 && setns(ns, CLONE_NEWNET))
		die("setns");
}

/* A stream socket of the family under test, opened in namespace ns. */
int sock_in(int ns)
{
	int home = -1, fd;

	if (ns >= 0) {
		home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		enter_ns(ns);
	}
	fd = socket(sysfam(), SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	if (home >= 0) {
		enter_ns(home);
		close(home);
	}
	return fd;
}

void setint(int fd, int level, int opt, int v, const char *what)
{
	if (setsockopt(fd, level, opt, &v, sizeof(v)))
		die("setsockopt %s", what);
}

void nodelay(int fd)
{
	if (o.fam == F_CUSTOM)
		setint(fd, SOL_AF_CUSTOM, AFC_NODELAY, 1, "AFC_NODELAY");
	else if (o.fam == F_INET)
		setint(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
}

/* close() that resets (SO_LINGER 0): no TIME_WAIT left behind. */
void close_rst(int fd)
{
	struct linger l = { 1, 0 };

	if (o.fam != F_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* A listener on addr:port in namespace ns; reuseport: SO_REUSEPORT first
 * (returns -errno if that is refused). */
int listener(int ns, int port, int backlog, int reuseport)
{
	struct sockaddr_storage ss;
	socklen_t len = mkaddr(&ss, o.addr, port);
	int fd = sock_in(ns), one = 1;

	if (o.fam != F_UNIX)
		setint(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))) {
		int e = errno;

		close(fd);
		return -e;
	}
	if (bind(fd, (struct sockaddr *)&ss, len))
		die("bind port %d", port);
	if (listen(fd, backlog))
		die("listen");
	return fd;
}

int dial(int ns, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = mkaddr(&ss, o.addr, port);
	int fd = sock_in(ns);

	if (connect(fd, (struct sockaddr *)&ss, len))
		die("connect port %d", port);
	return fd;
}

void xwrite1(int fd)
{
	char c = 'x';

	if (write(fd, &c, 1) != 1)
		die("write");
}

int xread1(int fd)
{
	char c;
	ssize_t r = read(fd, &c, 1);

	if (r < 0)
		die("read");
	return r;
}

/* ---- protocol counters ---------------------------------------------- */

void ctr_add(struct ctrs *c, const char *name, long long v)
{
	for (int i = 0; i < c->n; i++)
		if (!strcmp(c->name[i], name)) {
			c->val[i] += v;
			return;
		}
	if (c->n < MAXCTR) {
		snprintf(c->name[c->n], sizeof(c->name[0]), "%s", name);
		c->val[c->n++] = v;
	}
}

/* "Prefix: a b c\nPrefix: 1 2 3" pairs (/proc/net/snmp, netstat). */
static void read_pairs(struct ctrs *c, const char *path, const char *prefix)
{
	FILE *f = fopen(path, "r");
	char hdr[4096], val[4096];

	if (!f)
		return;
	while (fgets(hdr, sizeof(hdr), f) && fgets(val, sizeof(val), f)) {
		size_t pl = strlen(prefix);
		char *sh, *sv, *h, *v;

		if (strncmp(hdr, prefix, pl) || hdr[pl] != ':')
			continue;
		h = strtok_r(hdr + pl + 1, " \n", &sh);
		v = strtok_r(val + pl + 1, " \n", &sv);
		while (h && v) {
			ctr_add(c, h, atoll(v));
			h = strtok_r(NULL, " \n", &sh);
			v = strtok_r(NULL, " \n", &sv);
		}
	}
	fclose(f);
}

void read_ctrs_ns(struct ctrs *c, int ns)
{
	int home = -1;

	if (ns >= 0) {
		home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		enter_ns(ns);
	}
	if (o.fam == F_CUSTOM) {
		FILE *f = fopen("/proc/net/af_custom_stat", "r");
		char k[64];
		long long v;

		if (f) {
			while (fscanf(f, "%63[^:]: %lld\n", k, &v) == 2)
				ctr_add(c, k, v);
			fclose(f);
		}
	} else if (o.fam == F_INET) {
		read_pairs(c, "/proc/net/snmp", "Tcp");
		read_pairs(c, "/proc/net/netstat", "TcpExt");
	}
	if (home >= 0) {
		enter_ns(home);
		close(home);
	}
}

/* Counters of both namespaces (once when they are the same). */
void read_ctrs(struct ctrs *c)
{
	memset(c, 0, sizeof(*c));
	read_ctrs_ns(c, o.srv_ns);
	if (o.cli_ns != o.srv_ns)
		read_ctrs_ns(c, o.cli_ns);
}

long long ctr_delta(const struct ctrs *a, const struct ctrs *b, const char *name)
{
	long long va = 0, vb = 0;

	for (int i = 0; i < a->n; i++)
		if (!strcmp(a->name[i], name))
			va = a->val[i];
	for (int i = 0; i < b->n; i++)
		if (!strcmp(b->name[i], name))
			vb = b->val[i];
	return vb - va;
}

/* The RESULT line: fixed fields, then the moved counters as ctr.NAME=delta. */
static char resbuf[8192];
void res(const char *fmt, ...)
{
	size_t l = strlen(resbuf);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(resbuf + l, sizeof(resbuf) - l, fmt, ap);
	va_end(ap);
}

void res_emit(const struct ctrs *a, const struct ctrs *b)
{
	printf("RESULT test=%s fam=%s net=%s%s", o.test, fam_names[o.fam], o.net, resbuf);
	if (a && b) {
		for (int i = 0; i < b->n; i++) {
			long long d = ctr_delta(a, b, b->name[i]);

			/* gauges (CurrEstab) and the RTO constants are not deltas */
			if (d && strcmp(b->name[i], "CurrEstab") && strncmp(b->name[i], "Rto", 3) &&
			    strcmp(b->name[i], "MaxConn"))
				printf(" ctr.%s=%lld", b->name[i], d);
		}
	}
	printf("\n");
	fflush(stdout);
	resbuf[0] = 0;
}

/* ---- shared state with the forked server ----------------------------- */

struct shared *shm_new(void)
{
	struct shared *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (s == MAP_FAILED)
		die("mmap");
	memset(s, 0, sizeof(*s));
	return s;
}

pid_t fork_server(void (*fn)(int lfd, struct shared *s), int lfd, struct shared *s)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		/* named for profiles (perf's comm, BENCH_SORT): the server */
		prctl(PR_SET_NAME, "afc-server");
		enter_ns(o.srv_ns);
		fn(lfd, s);
		_exit(0);
	}
	close(lfd);
	enter_ns(o.cli_ns);
	return pid;
}

void reap(pid_t pid, int kill_it)
{
	int st;

	if (kill_it)
		kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	if (!kill_it && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		errno = ECHILD;
		die("server process failed (status %#x)", st);
	}
}

int accept_one(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		die("accept");
	return fd;
}

/* ---- stream --------------------------------------------------------- */

static void stream_server(int lfd, struct shared *s)
{
	static char buf[CHUNK];
	int fd = accept_one(lfd);
	uint64_t t0 = 0, t_start = 0, t_end = 0;
	long long total = 0, b_start = 0, reads = 0, r_start = 0;
	struct rusage u0 = { 0 }, u1;
	socklen_t sl = sizeof(s->rcvbuf);
	ssize_t r;

	close(lfd);
	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		uint64_t t = now_ns();

		total += r;
		reads++;
		if (!t0)
			t0 = t;
		if (!t_start && t - t0 >= WARMUP_NS) {
			t_start = t;
			b_start = total;
			r_start = reads;
			getrusage(RUSAGE_SELF, &u0);
		} else if (t_start && !t_end && t - t_start >= (uint64_t)(o.secs * 1e9)) {
			t_end = t;
			getrusage(RUSAGE_SELF, &u1);
			s->vcs = u1.ru_nvcsw - u0.ru_nvcsw;
			s->ivcs = u1.ru_nivcsw - u0.ru_nivcsw;
			getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &s->rcvbuf, &sl);
			s->bytes = total - b_start;
			s->reads = reads - r_start;
			s->t_ns = t_end - t_start;
			s->stop = 1;	/* the sender stops; drain to EOF */
		}
	}
	if (r < 0)
		s->err = errno;
	close(fd);
}

void sigign(int sig) { (void)sig; }

static void t_stream(void)
{
	static char buf[CHUNK];
	struct shared *s = shm_new();
	struct ctrs a, b;
	long long writes = 0;
	pid_t pid;
	int fd;

	struct cpu c0, c1;
	struct rusage u0 = { 0 }, u1 = { 0 };
	int sndbuf = 0;
	socklen_t sl = sizeof(sndbuf);

	memset(buf, 'b', sizeof(buf));
	read_ctrs(&a);
	c0 = cpu_now();
	pid = fork_server(stream_server, listener(o.srv_ns, o.port, 16, 0), s);
	fd = dial(-1, o.port);
	icount_mark(0);
	getrusage(RUSAGE_SELF, &u0);
	while (!s->stop) {
		ssize_t w = write(fd, buf, sizeof(buf));

		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("write");
		}
		writes++;
	}
	icount_mark(1);
	getrusage(RUSAGE_SELF, &u1);
	getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl);
	close(fd);
	reap(pid, 0);
	c1 = cpu_now();
	read_ctrs(&b);
	if (s->err) {
		errno = s->err;
		die("server read");
	}
	res(" mbps=%.1f bytes=%lld secs=%.3f bytes_per_read=%.0f writes=%lld idle_pct=%.1f",
	    s->bytes / (s->t_ns / 1e9) / 1e6, s->bytes, s->t_ns / 1e9,
	    s->reads ? (double)s->bytes / s->reads : 0.0, writes, idle_pct(c0, c1));
	/* Context switches: the reader's in its window, the writer's over
	 * its whole run (v blocked, iv preempted), and the buffers. */
	res(" rd_vcs=%ld rd_ivcs=%ld wr_vcs=%ld wr_ivcs=%ld rcvbuf=%d sndbuf=%d",
	    s->vcs, s->ivcs, u1.ru_nvcsw - u0.ru_nvcsw, u1.ru_nivcsw - u0.ru_nivcsw,
	    s->rcvbuf, sndbuf);
	res_emit(&a, &b);
}

/* ---- rr ------------------------------------------------------------- */

static void rr_server(int lfd, struct shared *s)
{
	int fd = accept_one(lfd);

	close(lfd);
	if (!o.nagle)
		nodelay(fd);
	while (xread1(fd) == 1)
		xwrite1(fd);
	close(fd);
}

int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

double pct(uint64_t *v, long n, double p)
{
	long i;

	if (!n)
		return 0;
	i = (long)ceil(p / 100.0 * n) - 1;
	if (i < 0)
		i = 0;
	return v[i] / 1000.0;	/* µs */
}

static void t_rr(void)
{
	struct shared *s = shm_new();
	uint64_t *lat = malloc(MAXLAT * sizeof(*lat)), t0, t_end, t;
	struct cpu c0, c1;
	struct ctrs a, b;
	long n = 0;
	pid_t pid;
	int fd;

	if (!lat)
		die("malloc");
	pid = fork_server(rr_server, listener(o.srv_ns, o.port, 16, 0), s);
	fd = dial(-1, o.port);
	if (!o.nagle)
		nodelay(fd);
	/* warm up: a few hundred transactions before counting */
	for (int i = 0; i < 200; i++) {
		xwrite1(fd);
		if (xread1(fd) != 1)
			die("rr: server closed");
	}
	read_ctrs(&a);
	icount_mark(0);
	c0 = cpu_now();
	t0 = now_ns();
	t_end = t0 + (uint64_t)(o.secs * 1e9);
	t = t0;
	while (t < t_end && n < MAXLAT) {
		uint64_t t1;

		xwrite1(fd);
		if (xread1(fd) != 1)
			die("rr: server closed");
		t1 = now_ns();
		lat[n++] = t1 - t;
		t = t1;
	}
	icount_mark(1);
	c1 = cpu_now();
	read_ctrs(&b);
	close(fd);
	reap(pid, 0);
	qsort(lat, n, sizeof(*lat), cmp_u64);
	res(" tps=%.0f txns=%ld secs=%.3f p50_us=%.1f p99_us=%.1f idle_pct=%.1f", n / ((t - t0) / 1e9), n,
	    (t - t0) / 1e9, pct(lat, n, 50), pct(lat, n, 99), idle_pct(c0, c1));
	res_emit(&a, &b);
	free(lat);
}

/* ---- crr ------------------------------------------------------------ */

static void crr_server(int lfd, struct shared *s)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			die("accept");
		}
		nodelay(fd);
		if (xread1(fd) == 1) {
			xwrite1(fd);
			while (xread1(fd) == 1)	/* until the client's FIN */
				;
		}
		close(fd);
	}
}

/* The RESULT line of crr and crr1: n connections from t0 to t, their
 * latencies (sorted here, then freed), CPU and counters around them. */
static void report_conns(uint64_t *lat, long n, uint64_t t0, uint64_t t, struct cpu c0, struct cpu c1,
			 const struct ctrs *a, const struct ctrs *b)
{
	qsort(lat, n, sizeof(*lat), cmp_u64);
	res(" cps=%.0f conns=%ld secs=%.3f p50_us=%.1f p99_us=%.1f idle_pct=%.1f", n / ((t - t0) / 1e9), n,
	    (t - t0) / 1e9, pct(lat, n, 50), pct(lat, n, 99), idle_pct(c0, c1));
	res_emit(a, b);
	free(lat);
}

static void t_crr(void)
{
	struct shared *s = shm_new();
	uint64_t *lat = malloc(MAXLAT * sizeof(*lat)), t0, t_end, t;
	struct cpu c0, c1;
	struct ctrs a, b;
	long n = 0;
	pid_t pid;

	if (!lat)
		die("malloc");
	pid = fork_server(crr_server, listener(o.srv_ns, o.port, 128, 0), s);
	read_ctrs(&a);
	icount_mark(0);
	c0 = cpu_now();
	t0 = now_ns();
	t_end = t0 + (uint64_t)(o.secs * 1e9);
	t = t0;
	while (t < t_end && n < MAXLAT) {
		uint64_t t1;
		int fd = dial(-1, o.port);

		nodelay(fd);
		xwrite1(fd);
		if (xread1(fd) != 1)
			die("crr: no response");
		close(fd);
		t1 = now_ns();
		lat[n++] = t1 - t;
		t = t1;
	}
	icount_mark(1);
	c1 = cpu_now();
	read_ctrs(&b);
	reap(pid, 1);
	report_conns(lat, n, t0, t, c0, c1, &a, &b);
}

/* crr1: crr's work in ONE thread, with no context switch: connect (the
 * handshake completes inside the call on lo and veth), accept, one byte
 * each way, the client's close, then the server's.  What a connection
 * costs the protocol, without the scheduler's share.  Not in the default
 * set (BENCH_ONLY=crr1, or a profile "crr1:custom:lo"). */
static void t_crr1(void)
{
	uint64_t *lat = malloc(MAXLAT * sizeof(*lat)), t0, t_end, t;
	int lfd = listener(o.srv_ns, o.port, 128, 0);
	struct cpu c0, c1;
	struct ctrs a, b;
	long n = 0;

	if (!lat)
		die("malloc");
	enter_ns(o.cli_ns);
	read_ctrs(&a);
	c0 = cpu_now();
	t0 = now_ns();
	t_end = t0 + (uint64_t)(o.secs * 1e9);
	t = t0;
	while (t < t_end && n < MAXLAT) {
		uint64_t t1;
		int fd = dial(-1, o.port), afd = accept_one(lfd);

		nodelay(fd);
		nodelay(afd);
		xwrite1(fd);
		if (xread1(afd) != 1)
			die("crr1: no request");
		xwrite1(afd);
		if (xread1(fd) != 1)
			die("crr1: no response");
		close(fd);
		close(afd);
		t1 = now_ns();
		lat[n++] = t1 - t;
		t = t1;
	}
	c1 = cpu_now();
	read_ctrs(&b);
	close(lfd);
	report_conns(lat, n, t0, t, c0, c1, &a, &b);
}

/* ---- listeners ------------------------------------------------------ */

void raise_nofile(long need)
{
	struct rlimit r = { need + 64, need + 64 };

	if (setrlimit(RLIMIT_NOFILE, &r))
		die("setrlimit(RLIMIT_NOFILE, %ld)", need + 64);
}

/* Median connect() latency (µs) to lfd's port over `rounds` connections;
 * each connection is accepted and then reset, so nothing lingers. */
static double connect_lat(int lfd, int rounds, double *p99)
{
	uint64_t *lat = malloc(rounds * sizeof(*lat));
	struct sockaddr_storage ss;
	socklen_t len = mkaddr(&ss, o.addr, o.port);
	double med;

	if (!lat)
		die("malloc");
	for (int i = 0; i < rounds; i++) {
		int fd = sock_in(o.cli_ns), afd;
		uint64_t t = now_ns();

		if (connect(fd, (struct sockaddr *)&ss, len))
			die("connect");
		lat[i] = now_ns() - t;
		afd = accept_one(lfd);
		close_rst(fd);
		close(afd);
	}
	qsort(lat, rounds, sizeof(*lat), cmp_u64);
	med = pct(lat, rounds, 50);
	*p99 = pct(lat, rounds, 99);
	free(lat);
	return med;
}

static void t_listeners(void)
{
	int rounds = 300, base = 20000, lfd, *others;
	double l1, l1_99, ln, ln_99;
	struct ctrs a, b;
	uint64_t t;

	if (o.port >= base && o.port < base + o.n) {
		errno = EINVAL;
		die("-p %d collides with the extra listeners' ports", o.port);
	}
	raise_nofile(o.n + 16);
	others = calloc(o.n, sizeof(int));
	lfd = listener(o.srv_ns, o.port, 512, 0);
	connect_lat(lfd, 50, &l1_99);	/* warm up */
	read_ctrs(&a);
	l1 = connect_lat(lfd, rounds, &l1_99);
	t = now_ns();
	for (long i = 0; i < o.n; i++)
		others[i] = listener(o.srv_ns, base + i, 16, 0);
	t = now_ns() - t;
	ln = connect_lat(lfd, rounds, &ln_99);
	read_ctrs(&b);
	res(" lat1_us=%.1f lat1_p99_us=%.1f latn_us=%.1f latn_p99_us=%.1f ratio=%.3f nlisteners=%ld"
	    " setup_ms=%.1f rounds=%d",
	    l1, l1_99, ln, ln_99, ln / l1, o.n, t / 1e6, rounds);
	res_emit(&a, &b);
	for (long i = 0; i < o.n; i++)
		close(others[i]);
	close(lfd);
	free(others);
}

/* ---- reuseport ------------------------------------------------------ */

static void t_reuseport(void)
{
	int sh[16], k = o.shards > 16 ? 16 : o.shards;
	long cnt[16] = { 0 }, mx = 0, mn = -1;
	struct sockaddr_storage ss;
	socklen_t len = mkaddr(&ss, o.addr, o.port);
	struct ctrs a, b;

	if (o.fam == F_UNIX) {
		res(" na=unix");
		res_emit(NULL, NULL);
		return;
	}
	for (int i = 0; i < k; i++) {
		sh[i] = listener(o.srv_ns, o.port, 1024, 1);
		if (sh[i] < 0) {
			res(" na=%s errno=%d", strerrorname_np(-sh[i]) ? strerrorname_np(-sh[i]) : "?", -sh[i]);
			res_emit(NULL, NULL);
			for (int j = 0; j < i; j++)
				close(sh[j]);
			return;
		}
		fcntl(sh[i], F_SETFL, O_NONBLOCK);
	}
	read_ctrs(&a);
	for (long c = 0; c < o.n; c++) {
		int fd = sock_in(o.cli_ns), got = 0;

		if (connect(fd, (struct sockaddr *)&ss, len))
			die("connect");
		/* accept at the same pace from every shard */
		for (int i = 0; i < k; i++) {
			int afd;

			while ((afd = accept4(sh[i], NULL, NULL, SOCK_CLOEXEC)) >= 0) {
				cnt[i]++;
				got++;
				close(afd);
			}
		}
		if (!got) {
			errno = EAGAIN;
			die("connection %ld accepted by no shard", c);
		}
		close_rst(fd);
	}
	read_ctrs(&b);
	for (int i = 0; i < k; i++) {
		if (cnt[i] > mx)
			mx = cnt[i];
		if (mn < 0 || cnt[i] < mn)
			mn = cnt[i];
		close(sh[i]);
	}
	res(" maxmin=%.3f max=%ld min=%ld shards=%d conns=%ld per_shard=", mn ? (double)mx / mn : 0.0,
	    mx, mn, k, o.n);
	for (int i = 0; i < k; i++)
		res("%s%ld", i ? "/" : "", cnt[i]);
	res_emit(&a, &b);
}

/* ---- memory --------------------------------------------------------- */

static void meminfo(long long *slab, long long *memfree)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long long v;

	*slab = *memfree = 0;
	if (!f)
		die("/proc/meminfo");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Slab: %lld", &v) == 1)
			*slab = v * 1024;
		else if (sscanf(line, "MemFree: %lld", &v) == 1)
			*memfree = v * 1024;
	}
	fclose(f);
}

static void t_memory(void)
{
	int *cli = calloc(o.n, sizeof(int)), *srv = calloc(o.n, sizeof(int)), lfd;
	long long s0, f0, s1, f1;
	struct sockaddr_storage ss;
	socklen_t len = mkaddr(&ss, o.addr, o.port);
	struct ctrs a, b;
	uint64_t t;

	raise_nofile(2 * o.n + 16);
	lfd = listener(o.srv_ns, o.port, 1024, 0);
	/* warm the caches and the fd table, so the deltas are the sockets' */
	int z = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (z < 0)
		die("/dev/null");
	for (long i = 0; i < o.n; i++)
		cli[i] = dup(z), srv[i] = dup(z);
	for (long i = 0; i < o.n; i++)
		close(cli[i]), close(srv[i]);
	close(z);
	sync();
	usleep(300000);
	read_ctrs(&a);
	meminfo(&s0, &f0);
	t = now_ns();
	for (long i = 0; i < o.n; i++) {
		cli[i] = sock_in(o.cli_ns);
		if (connect(cli[i], (struct sockaddr *)&ss, len))
			die("connect %ld", i);
		srv[i] = accept_one(lfd);
	}
	t = now_ns() - t;
	usleep(500000);	/* let delayed ACKs and timers settle: idle connections */
	meminfo(&s1, &f1);
	read_ctrs(&b);
	res(" slab_per_conn=%.0f kmem_per_conn=%.0f conns=%ld setup_ms=%.1f",
	    (double)(s1 - s0) / o.n, (double)(f0 - f1) / o.n, o.n, t / 1e6);
	res_emit(&a, &b);
	for (long i = 0; i < o.n; i++)
		close_rst(cli[i]), close(srv[i]);
	close(lfd);
	free(cli);
	free(srv);
}

/* ---- copy ----------------------------------------------------------- */

static void t_copy(void)
{
	char *src = aligned_alloc(4096, CHUNK), *dst = aligned_alloc(4096, CHUNK);
	uint64_t t0, t, t_end;
	long long n = 0;

	memset(src, 'c', CHUNK);
	memset(dst, 0, CHUNK);
	for (int i = 0; i < 100; i++)
		memcpy(dst, src, CHUNK);
	t0 = t = now_ns();
	t_end = t0 + (uint64_t)(o.secs * 1e9);
	while (t < t_end) {
		for (int i = 0; i < 16; i++) {
			memcpy(dst, src, CHUNK);
			__asm__ volatile("" : : "r"(dst), "r"(src) : "memory");
		}
		n += 16;
		t = now_ns();
	}
	res(" mbps=%.1f copies=%lld secs=%.3f", n * (double)CHUNK / ((t - t0) / 1e9) / 1e6, n, (t - t0) / 1e9);
	res_emit(NULL, NULL);
	free(src);
	free(dst);
}

/* ---- report --------------------------------------------------------- */

struct rec recs[MAXRES];
int nrecs;

/* value of key k in record r, or NAN; string in sval if given */
double rec_get(const struct rec *r, const char *k, char *sval, size_t sl)
{
	size_t kl = strlen(k);
	const char *p = r->kv;

	while ((p = strstr(p, k))) {
		if ((p == r->kv || p[-1] == ' ') && p[kl] == '=') {
			if (sval) {
				size_t i = 0;

				p += kl + 1;
				while (p[i] && p[i] != ' ' && i + 1 < sl) {
					sval[i] = p[i];
					i++;
				}
				sval[i] = 0;
				return 0;
			}
			return atof(p + kl + 1);
		}
		p += kl;
	}
	return NAN;
}

int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The values of key in the runs of (test, fam, net), in run order, into
 * v (at most MAXRES); returns how many.  A run that says why it could not
 * run ("na=...") counts none, its reason copied to na (if given). */
static int run_values(const char *test, const char *fam, const char *net, const char *key, double *v,
		      char *na, size_t nal)
{
	int n = 0;

	for (int i = 0; i < nrecs && n < MAXRES; i++) {
		const struct rec *r = &recs[i];
		double x;

		if (strcmp(r->test, test) || strcmp(r->fam, fam) || strcmp(r->net, net))
			continue;
		if (!isnan(rec_get(r, "na", na, nal)))
			continue;
		x = rec_get(r, key, NULL, 0);
		if (!isnan(x))
			v[n++] = x;
	}
	return n;
}

/* Median, smallest and largest of n values (sorts them). */
static void summarize(double *v, int n, double *med, double *lo, double *hi)
{
	qsort(v, n, sizeof(double), cmp_d);
	*med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	*lo = v[0];
	*hi = v[n - 1];
}

struct stat3 collect(const char *test, const char *fam, const char *net, const char *key)
{
	double v[MAXRES];
	struct stat3 s = { 0 };

	s.n = run_values(test, fam, net, key, v, s.na, sizeof(s.na));
	if (s.n)
		summarize(v, s.n, &s.med, &s.min, &s.max);
	return s;
}

void fmt_num(char *b, size_t l, double x)
{
	if (fabs(x) >= 100)
		snprintf(b, l, "%.0f", x);
	else if (fabs(x) >= 10)
		snprintf(b, l, "%.1f", x);
	else
		snprintf(b, l, "%.2f", x);
}

void fmt_cell(char *b, size_t l, struct stat3 s)
{
	char m[32], lo[32], hi[32];

	if (!s.n) {
		if (s.na[0])
			snprintf(b, l, "n/a (%s)", s.na);
		else
			snprintf(b, l, "-");
		return;
	}
	fmt_num(m, sizeof(m), s.med);
	fmt_num(lo, sizeof(lo), s.min);
	fmt_num(hi, sizeof(hi), s.max);
	snprintf(b, l, "%s (%s-%s)", m, lo, hi);
}

struct row {
	const char *test, *net, *key, *label;
};

static const struct row rows[] = {
	{ "stream", "lo", "mbps", "stream lo, MB/s" },
	{ "stream", "veth", "mbps", "stream veth, MB/s" },
	{ "stream", "lo", "idle_pct", "stream lo, CPU idle %" },
	{ "stream", "veth", "idle_pct", "stream veth, CPU idle %" },
	{ "rr", "lo", "tps", "rr lo, transactions/s" },
	{ "rr", "lo", "p50_us", "rr lo, p50 latency us" },
	{ "rr", "lo", "p99_us", "rr lo, p99 latency us" },
	{ "rr", "veth", "tps", "rr veth, transactions/s" },
	{ "rr", "veth", "p50_us", "rr veth, p50 latency us" },
	{ "rr", "veth", "p99_us", "rr veth, p99 latency us" },
	{ "crr", "lo", "cps", "crr lo, connections/s" },
	{ "crr", "lo", "p50_us", "crr lo, p50 us per connection" },
	{ "crr", "veth", "cps", "crr veth, connections/s" },
	{ "crr1", "lo", "cps", "crr1 lo (one thread), connections/s" },
	{ "crr1", "veth", "cps", "crr1 veth (one thread), connections/s" },
	{ "rr-nagle", "lo", "tps", "rr lo no NODELAY, transactions/s" },
	{ "rr-nagle", "lo", "p50_us", "rr lo no NODELAY, p50 latency us" },
	{ "rr-nagle", "lo", "p99_us", "rr lo no NODELAY, p99 latency us" },
	{ "rr-nagle", "veth", "tps", "rr veth no NODELAY, transactions/s" },
	{ "rr-nagle", "veth", "p50_us", "rr veth no NODELAY, p50 latency us" },
	{ "rr-nagle", "veth", "p99_us", "rr veth no NODELAY, p99 latency us" },
	{ "stream8", "lo", "mbps", "stream x8 lo (2 vCPUs), MB/s" },
	{ "stream8", "veth", "mbps", "stream x8 veth (2 vCPUs), MB/s" },
	{ "stream8", "lo", "idle_pct", "stream x8 lo (2 vCPUs), CPU idle %" },
	{ "epoll", "lo", "tps", "epoll lo, 10k conns, transactions/s" },
	{ "epoll", "lo", "round_p50_ms", "epoll lo, round p50 ms" },
	{ "epoll", "lo", "setup_ms", "epoll lo, connects+accepts, ms" },
	{ "rr", "lo", "idle_pct", "rr lo, CPU idle %" },
	{ "crr", "lo", "idle_pct", "crr lo, CPU idle %" },
	{ "listeners", "lo", "lat1_us", "connect lo, 1 listener, us" },
	{ "listeners", "lo", "latn_us", "connect lo, +10k listeners, us" },
	{ "listeners", "lo", "ratio", "connect lo, 10k/1 ratio" },
	{ "listeners", "lo", "setup_ms", "bind+listen 10k listeners lo, ms" },
	{ "listeners", "veth", "lat1_us", "connect veth, 1 listener, us" },
	{ "listeners", "veth", "latn_us", "connect veth, +10k listeners, us" },
	{ "listeners", "veth", "ratio", "connect veth, 10k/1 ratio" },
	{ "reuseport", "lo", "maxmin", "reuseport lo, 4 shards max/min" },
	{ "memory", "lo", "slab_per_conn", "memory lo, Slab bytes/conn" },
	{ "memory", "lo", "kmem_per_conn", "memory lo, MemFree bytes/conn" },
	{ "memory", "lo", "setup_ms", "memory lo, 10k connects+accepts, ms" },
	/* The second harness, bench/threads_bench.c (BENCH_ONLY token "threads"). */
	{ "t-stream", "lo", "mbps", "threads: stream lo, MB/s" },
	{ "t-stream", "veth", "mbps", "threads: stream veth, MB/s" },
	{ "t-rr", "lo", "tps", "threads: rr lo (Nagle on), transactions/s" },
	{ "t-rr", "lo", "p99_us", "threads: rr lo (Nagle on), p99 latency us" },
	{ "t-rr", "veth", "tps", "threads: rr veth (Nagle on), transactions/s" },
	{ "t-rr", "veth", "p99_us", "threads: rr veth (Nagle on), p99 latency us" },
	{ "t-rr-nodelay", "lo", "tps", "threads: rr lo NODELAY, transactions/s" },
	{ "t-rr-nodelay", "lo", "p99_us", "threads: rr lo NODELAY, p99 latency us" },
	{ "t-rr-nodelay", "veth", "tps", "threads: rr veth NODELAY, transactions/s" },
	{ "t-rr-nodelay", "veth", "p99_us", "threads: rr veth NODELAY, p99 latency us" },
	{ "t-crr", "lo", "cps", "threads: crr lo, connections/s" },
	{ "t-crr", "veth", "cps", "threads: crr veth, connections/s" },
};

/* The last, "base", is a baseline module (BENCH_BASELINE), when one ran. */
static const char *const fams[] = { "custom", "inet", "unix", "base" };

void read_recs(void)
{
	static char line[8192];

	while (fgets(line, sizeof(line), stdin) && nrecs < MAXRES) {
		char *p = strstr(line, "RESULT ");
		struct rec *r = &recs[nrecs];

		if (!p)
			continue;
		line[strcspn(line, "\r\n")] = 0;
		if (sscanf(p, "RESULT test=%15s fam=%7s net=%7s", r->test, r->fam, r->net) != 3)
			continue;
		snprintf(r->kv, sizeof(r->kv), "%s", p + 7);
		nrecs++;
	}
}

/* The ratio AF_CUSTOM / TCP of each repetition (the i-th run of each
 * family: the runs are interleaved, so the i-th of both ran side by side),
 * its smallest, largest and median in *lo, *hi and *med; returns how many
 * pairs. */
static int paired_ratios(const char *test, const char *net, const char *key, double *lo, double *hi,
			 double *med)
{
	double c[MAXRES], t[MAXRES];
	int nc = run_values(test, "custom", net, key, c, NULL, 0);
	int n = run_values(test, "inet", net, key, t, NULL, 0);

	n = nc < n ? nc : n;
	*lo = *hi = *med = 0;
	for (int i = 0; i < n; i++)
		c[i] = t[i] ? c[i] / t[i] : 0;
	if (n)
		summarize(c, n, med, lo, hi);
	return n;
}

/* One row of a targets table: AF_CUSTOM's median over TCP's against goal
 * (lower: the ratio must be at most goal). */
void target_row(const char *name, const char *test, const char *net, const char *key, int lower, double goal)
{
	struct stat3 sc = collect(test, "custom", net, key);
	struct stat3 sb = !strcmp(test, "copy-ratio") ? collect("copy", "none", "lo", "mbps")
						     : collect(test, "inet", net, key);
	double r;
	int ok, crosses = 0;

	if (!strcmp(test, "copy-ratio"))
		sc = collect("stream", "custom", net, key);
	if (!sc.n || !sb.n || !sb.med) {
		printf("| %s | not measured | - |\n", name);
		return;
	}
	r = sc.med / sb.med;
	ok = lower ? r <= goal : r >= goal;
	printf("| %s | %.2fx", name, r);
	if (strcmp(test, "copy-ratio")) {
		double lo, hi, med;

		/* The median of the runs' own ratios beside the ratio of the
		 * medians: a boot that drifts moves both families of a pair. */
		if (paired_ratios(test, net, key, &lo, &hi, &med) > 1)
			printf(" (runs %.2f-%.2f, their median %.2fx)", lo, hi, med);
		if (lo < goal && hi > goal)
			crosses = 1;
	}
	printf(" | %s", ok ? "met" : "MISSED");
	if (!ok)
		printf(" (%s by %.0f%%)", lower ? "over" : "short", lower ? (r / goal - 1) * 100 : (1 - r / goal) * 100);
	if (crosses)
		printf("; the runs' range crosses the target");
	printf(" |\n");
}

/* Frames per unit of work, AF_CUSTOM and TCP: OutSegs (and InSegs) summed
 * over both ends, retransmissions and receive drops; medians over runs. */
void frames_row(const char *test, const char *net, const char *unitkey, double scale, const char *unit)
{
	static const char *const fam[] = { "custom", "inet", "base" }, *const name[] = { "AF_CUSTOM", "TCP", "baseline" };

	for (int f = 0; f < 3; f++) {
		double segs[MAXRES], in[MAXRES], rt[MAXRES], dr[MAXRES];
		int n = 0;

		for (int j = 0; j < nrecs; j++) {
			const struct rec *r = &recs[j];
			double units, out, ins, re, d1, d2, d3;

			if (strcmp(r->test, test) || strcmp(r->net, net) || strcmp(r->fam, fam[f]))
				continue;
			units = rec_get(r, unitkey, NULL, 0) / scale;
			out = rec_get(r, "ctr.OutSegs", NULL, 0);
			ins = rec_get(r, "ctr.InSegs", NULL, 0);
			re = rec_get(r, "ctr.RetransSegs", NULL, 0);
			if (f != 1) {
				d1 = rec_get(r, "ctr.RcvMemDrops", NULL, 0);
				d2 = rec_get(r, "ctr.BacklogDrops", NULL, 0);
				d3 = NAN;
			} else {
				d1 = rec_get(r, "ctr.PruneCalled", NULL, 0);
				d2 = rec_get(r, "ctr.TCPRcvQDrop", NULL, 0);
				d3 = rec_get(r, "ctr.TCPBacklogDrop", NULL, 0);
			}
			if (isnan(units) || units <= 0)
				continue;
			segs[n] = isnan(out) ? 0 : out / units;
			in[n] = isnan(ins) ? 0 : ins / units;
			rt[n] = isnan(re) ? 0 : re;
			dr[n] = (isnan(d1) ? 0 : d1) + (isnan(d2) ? 0 : d2) + (isnan(d3) ? 0 : d3);
			n++;
		}
		if (!n)
			continue;
		qsort(segs, n, sizeof(double), cmp_d);
		qsort(in, n, sizeof(double), cmp_d);
		qsort(rt, n, sizeof(double), cmp_d);
		qsort(dr, n, sizeof(double), cmp_d);
		printf("| %s %s | %s | %.2f | %.2f | %.0f | %.0f | %s |\n", test, net, name[f],
		       segs[n / 2], in[n / 2], rt[n / 2], dr[n / 2], unit);
	}
}

static void t_report(void)
{
	char c[4][128], ratio[48], bratio[48], m[32];
	int base = 0;

	read_recs();
	/* A baseline module (scripts/bench.sh's BENCH_BASELINE) ran as "base". */
	for (int i = 0; i < nrecs; i++)
		base |= !strcmp(recs[i].fam, "base");
	if (base) {
		printf("| metric | AF_CUSTOM | AF_CUSTOM baseline | TCP | AF_UNIX | AF_CUSTOM/TCP | baseline/TCP |\n");
		printf("|---|---|---|---|---|---|---|\n");
	} else {
		printf("| metric | AF_CUSTOM | TCP | AF_UNIX | AF_CUSTOM/TCP |\n");
		printf("|---|---|---|---|---|\n");
	}
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct stat3 s[4];

		for (int f = 0; f < 4; f++) {
			s[f] = collect(rows[i].test, fams[f], rows[i].net, rows[i].key);
			fmt_cell(c[f], sizeof(c[f]), s[f]);
		}
		snprintf(ratio, sizeof(ratio), "-");
		snprintf(bratio, sizeof(bratio), "-");
		if (s[0].n && s[1].n && s[1].med) {
			fmt_num(m, sizeof(m), s[0].med / s[1].med);
			snprintf(ratio, sizeof(ratio), "%sx", m);
		}
		if (s[3].n && s[1].n && s[1].med) {
			fmt_num(m, sizeof(m), s[3].med / s[1].med);
			snprintf(bratio, sizeof(bratio), "%sx", m);
		}
		if (base)
			printf("| %s | %s | %s | %s | %s | %s | %s |\n", rows[i].label, c[0], c[3], c[1], c[2],
			       ratio, bratio);
		else
			printf("| %s | %s | %s | %s | %s |\n", rows[i].label, c[0], c[1], c[2], ratio);
	}
	{
		struct stat3 cp = collect("copy", "none", "lo", "mbps");

		fmt_cell(c[0], sizeof(c[0]), cp);
		printf("| copy limit: memcpy 64 KiB, MB/s (no sockets) | %s | | | |\n", c[0]);
		for (int n = 0; n < 2; n++) {
			const char *net = n ? "veth" : "lo";
			struct stat3 sc = collect("stream", "custom", net, "mbps");
			struct stat3 st = collect("stream", "inet", net, "mbps");
			char a[32] = "-", b[32] = "-";

			if (cp.n && sc.n)
				fmt_num(a, sizeof(a), sc.med / cp.med);
			if (cp.n && st.n)
				fmt_num(b, sizeof(b), st.med / cp.med);
			printf("| stream %s / memcpy | %s | %s | | |\n", net, a, b);
		}
	}

	/* Protocol counters per unit of work (medians over the runs). */
	printf("\nProtocol counters (both namespaces; median over runs):\n\n");
	printf("| test | family | OutSegs per unit | InSegs per unit | RetransSegs | drops (RcvMem/Backlog or TCP prune/rcvq) | unit |\n");
	printf("|---|---|---|---|---|---|---|\n");
	static const struct { const char *test, *net, *unitkey, *unit; double scale; } cr[] = {
		{ "stream", "lo", "bytes", "per 64 KiB received", 65536 },
		{ "stream", "veth", "bytes", "per 64 KiB received", 65536 },
		{ "stream8", "lo", "bytes", "per 64 KiB received", 65536 },
		{ "stream8", "veth", "bytes", "per 64 KiB received", 65536 },
		{ "rr", "lo", "txns", "per transaction", 1 },
		{ "rr", "veth", "txns", "per transaction", 1 },
		{ "rr-nagle", "lo", "txns", "per transaction", 1 },
		{ "rr-nagle", "veth", "txns", "per transaction", 1 },
		{ "crr", "lo", "conns", "per connection", 1 },
		{ "crr", "veth", "conns", "per connection", 1 },
		{ "epoll", "lo", "txns", "per transaction", 1 },
	};
	for (size_t i = 0; i < sizeof(cr) / sizeof(cr[0]); i++)
		frames_row(cr[i].test, cr[i].net, cr[i].unitkey, cr[i].scale, cr[i].unit);

	/* The targets. */
	printf("\nTargets (issue 7), from the medians above:\n\n");
	printf("| target | measured (range: each run's ratio to the TCP run beside it) | verdict |\n|---|---|---|\n");
	{
		static const struct { const char *name, *test, *net, *key; int lower; double goal; } tg[] = {
			{ "stream lo >= 1.3x TCP", "stream", "lo", "mbps", 0, 1.3 },
			{ "stream veth >= 1.3x TCP", "stream", "veth", "mbps", 0, 1.3 },
			{ "stream lo >= 0.5x memcpy", "copy-ratio", "lo", "mbps", 0, 0.5 },
			{ "rr lo >= 1.5x TCP transactions/s", "rr", "lo", "tps", 0, 1.5 },
			{ "rr veth >= 1.5x TCP transactions/s", "rr", "veth", "tps", 0, 1.5 },
			{ "crr lo >= 1.5x TCP", "crr", "lo", "cps", 0, 1.5 },
			{ "crr veth >= 1.5x TCP", "crr", "veth", "cps", 0, 1.5 },
			{ "memory/conn (Slab) <= TCP", "memory", "lo", "slab_per_conn", 1, 1.0 },
		};
		for (size_t i = 0; i < sizeof(tg) / sizeof(tg[0]); i++)
			target_row(tg[i].name, tg[i].test, tg[i].net, tg[i].key, tg[i].lower, tg[i].goal);
		for (int n = 0; n < 2; n++) {
			const char *net = n ? "veth" : "lo";
			struct stat3 s = collect("listeners", "custom", net, "ratio");

			if (!s.n) {
				printf("| listeners %s: 10k/1 <= 1.1 | not measured | - |\n", net);
				continue;
			}
			printf("| listeners %s: 10k/1 <= 1.1 | %.2f | %s", net, s.med, s.med <= 1.1 ? "met" : "MISSED");
			if (s.med > 1.1)
				printf(" (over by %.0f%%)", (s.med / 1.1 - 1) * 100);
			printf(" |\n");
		}
		{
			struct stat3 s = collect("reuseport", "custom", "lo", "maxmin");

			if (!s.n)
				printf("| reuseport max/min <= 1.1 | n/a (%s) | MISSED (not supported) |\n",
				       s.na[0] ? s.na : "not run");
			else
				printf("| reuseport max/min <= 1.1 | %.2f | %s |\n", s.med, s.med <= 1.1 ? "met" : "MISSED");
		}
	}

	printf("\nTargets (issue 15), from the medians above (stream x8: the 2-vCPU boot):\n\n");
	printf("| target | measured (range: each run's ratio to the TCP run beside it) | verdict |\n|---|---|---|\n");
	{
		static const struct { const char *name, *test, *net, *key; int lower; double goal; } tg[] = {
			{ "stream lo >= 1.2x TCP", "stream", "lo", "mbps", 0, 1.2 },
			{ "stream veth >= 1.2x TCP", "stream", "veth", "mbps", 0, 1.2 },
			{ "rr lo (NODELAY) >= 1.25x TCP transactions/s", "rr", "lo", "tps", 0, 1.25 },
			{ "rr veth (NODELAY) >= 1.2x TCP transactions/s", "rr", "veth", "tps", 0, 1.2 },
			{ "rr lo (no NODELAY) >= 1.25x TCP transactions/s", "rr-nagle", "lo", "tps", 0, 1.25 },
			{ "rr veth (no NODELAY) >= 1.2x TCP transactions/s", "rr-nagle", "veth", "tps", 0, 1.2 },
			{ "rr lo (NODELAY) p99 <= 0.9x TCP", "rr", "lo", "p99_us", 1, 0.9 },
			{ "rr veth (NODELAY) p99 <= 0.9x TCP", "rr", "veth", "p99_us", 1, 0.9 },
			{ "rr lo (no NODELAY) p99 <= 0.9x TCP", "rr-nagle", "lo", "p99_us", 1, 0.9 },
			{ "rr veth (no NODELAY) p99 <= 0.9x TCP", "rr-nagle", "veth", "p99_us", 1, 0.9 },
			{ "crr lo >= 2x TCP", "crr", "lo", "cps", 0, 2.0 },
			{ "crr veth >= 2x TCP", "crr", "veth", "cps", 0, 2.0 },
			{ "stream x8 lo (2 vCPUs) >= 1.2x TCP", "stream8", "lo", "mbps", 0, 1.2 },
			{ "stream x8 veth (2 vCPUs) >= 1.2x TCP", "stream8", "veth", "mbps", 0, 1.2 },
			{ "epoll 10k connections lo >= 1.2x TCP transactions/s", "epoll", "lo", "tps", 0, 1.2 },
		};
		for (size_t i = 0; i < sizeof(tg) / sizeof(tg[0]); i++)
			target_row(tg[i].name, tg[i].test, tg[i].net, tg[i].key, tg[i].lower, tg[i].goal);
	}
}

/* ---- main ----------------------------------------------------------- */

static int open_ns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die("open %s", path);
	return fd;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: afc_bench -t stream|rr|rr-nagle|crr|stream8|epoll|listeners|reuseport|memory|copy\n"
		"                 [-f custom|inet|unix] [-l SECONDS] [-n COUNT] [-k SHARDS] [-P STREAMS]\n"
		"                 [-a SERVER_IP] [-p PORT] [-S SERVER_NETNS] [-C CLIENT_NETNS] [-N LABEL]\n"
		"       afc_bench -t report|report-hosts < RESULT lines\n"
		"       afc_bench -m server -f custom|inet [-a BIND_IP] [-p PORT]   (between hosts)\n"
		"       afc_bench -m client -t stream|rr|crr|quit -f custom|inet -a SERVER_IP [-p PORT]\n"
		"                 [-l SECONDS] [-N LABEL]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int c;

	signal(SIGPIPE, sigign);
	while ((c = getopt(argc, argv, "t:f:l:n:k:a:p:S:C:N:P:m:h")) != -1) {
		switch (c) {
		case 't': o.test = optarg; break;
		case 'f':
			if (!strcmp(optarg, "custom")) o.fam = F_CUSTOM;
			else if (!strcmp(optarg, "inet") || !strcmp(optarg, "tcp")) o.fam = F_INET;
			else if (!strcmp(optarg, "unix")) o.fam = F_UNIX;
			else if (!strcmp(optarg, "none")) o.fam = F_NONE;
			else usage();
			break;
		case 'l': o.secs = atof(optarg); break;
		case 'n': o.n = atol(optarg); break;
		case 'k': o.shards = atoi(optarg); break;
		case 'a': o.addr = optarg; break;
		case 'p': o.port = atoi(optarg); break;
		case 'S': o.srv_ns = open_ns(optarg); break;
		case 'C': o.cli_ns = open_ns(optarg); break;
		case 'N': o.net = optarg; break;
		case 'P': o.streams = atoi(optarg); break;
		case 'm': o.mode = optarg; break;
		default: usage();
		}
	}
	if (o.mode && !strcmp(o.mode, "server")) {
		if (o.fam != F_CUSTOM && o.fam != F_INET)
			usage();
		o.test = "server";
		split_server();
		return 0;
	}
	if (!o.test)
		usage();
	if (!strcmp(o.test, "report")) {
		t_report();
		return 0;
	}
	if (!strcmp(o.test, "report-hosts")) {
		t_report_hosts();
		return 0;
	}
	if (o.mode && !strcmp(o.mode, "client")) {
		if (o.fam != F_CUSTOM && o.fam != F_INET)
			usage();
		split_client();
		return 0;
	}
	if (o.mode)
		usage();
	if (!strcmp(o.test, "copy")) {
		o.fam = F_NONE;
		t_copy();
		return 0;
	}
	if (o.fam == F_NONE)
		usage();
	if (o.fam == F_UNIX && (o.srv_ns >= 0 || o.cli_ns >= 0)) {
		errno = EINVAL;
		die("AF_UNIX runs within one namespace only");
	}
	if (!strcmp(o.test, "stream")) t_stream();
	else if (!strcmp(o.test, "rr")) t_rr();
	else if (!strcmp(o.test, "rr-nagle")) o.nagle = 1, t_rr();
	else if (!strcmp(o.test, "stream8")) t_stream8();
	else if (!strcmp(o.test, "epoll")) t_epoll();
	else if (!strcmp(o.test, "crr")) t_crr();
	else if (!strcmp(o.test, "crr1")) t_crr1();
	else if (!strcmp(o.test, "listeners")) t_listeners();
	else if (!strcmp(o.test, "reuseport")) t_reuseport();
	else if (!strcmp(o.test, "memory")) t_memory();
	else usage();
	return 0;
}
