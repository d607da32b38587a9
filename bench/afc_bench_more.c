// SPDX-License-Identifier: GPL-2.0
/*
 * afc_bench's tests of issues 14 and 15 (the rest is in afc_bench.c):
 *
 *   stream8  -P flows in parallel (default 8): P forked receivers (server
 *            namespace) and P forked senders (client namespace), 64 KiB
 *            writes; after every flow has delivered bytes and WARMUP_NS
 *            more, the bytes all receivers read in -l seconds: aggregate
 *            MB/s, with the slowest and fastest flow.
 *   epoll    -n connections (default 10000) to one server process that
 *            serves them all from one epoll loop (accepts included); the
 *            client, one process with one epoll set, writes one byte on
 *            every connection per round and waits for every answer.
 *            Rounds for -l seconds (at least 3) after one warm-up round: transactions
 *            (answers) per second and the p50 round time.  NODELAY on both
 *            ends, as rr.
 *
 * Between two hosts (-m server / -m client):
 *   afc_bench -m server -f custom -a 0.0.0.0 -p 9100
 *            one daemon per family: serves one connection after another,
 *            each announced by its first byte: 'B' snapshot the counters,
 *            'E' send the counter deltas since 'B' ("NAME=VALUE ..."),
 *            's' a stream (read to EOF, answer "bytes=.. t_ns=.." measured
 *            from WARMUP_NS after the first byte to the last read), 'r' /
 *            'n' rr with / without NODELAY (the byte is the first request;
 *            echo until EOF), 'c' one crr connection (the same echo), 'X'
 *            quit.  Errors on one connection do not stop the daemon.
 *   afc_bench -m client -t stream|rr|crr|quit -f custom -a 10.99.0.1 -p 9100 -N virtio
 *            'B' (retried for 60 s while the daemon comes up), the test,
 *            'E'; the RESULT line carries the counters of both hosts.
 *            stream writes for WARMUP_NS + -l seconds, then shuts down its
 *            write side and reads the server's measurement.
 *
 *   report-hosts  reads RESULT lines of the split runs, prints the table.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "afc_bench.h"

#define MAXFLOWS 64

/* ---- stream8 -------------------------------------------------------- */

struct flows {
	volatile int stop;
	volatile int err;
	volatile long long bytes[MAXFLOWS];	/* each written by one receiver */
};

static void flow_receiver(int lfd, struct flows *f, int i)
{
	static char buf[CHUNK];
	int fd = accept_one(lfd);
	ssize_t r;

	close(lfd);
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		f->bytes[i] += r;
	if (r < 0)
		f->err = errno;
	close(fd);
}

static void flow_sender(struct flows *f)
{
	static char buf[CHUNK];
	int fd = dial(-1, o.port);

	memset(buf, 'b', sizeof(buf));
	while (!f->stop) {
		if (write(fd, buf, sizeof(buf)) < 0 && errno != EINTR)
			die("write");
	}
	close(fd);
}

static long long flows_sum(struct flows *f, int n)
{
	long long s = 0;

	for (int i = 0; i < n; i++)
		s += f->bytes[i];
	return s;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { ns / 1000000000ull, ns % 1000000000ull };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void t_stream8(void)
{
	int n = o.streams < 1 ? 1 : o.streams > MAXFLOWS ? MAXFLOWS : o.streams, lfd, ok;
	struct flows *f = mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	long long b0[MAXFLOWS], b1, mn = -1, mx = 0;
	pid_t pids[2 * MAXFLOWS];
	uint64_t t0, t1, deadline;
	struct cpu c0, c1;
	struct ctrs a, b;

	if (f == MAP_FAILED)
		die("mmap");
	memset((void *)f, 0, sizeof(*f));
	lfd = listener(o.srv_ns, o.port, 64, 0);
	for (int i = 0; i < 2 * n; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork");
		if (pids[i] == 0) {
			/* named for profiles (perf's comm): readers and writers */
			prctl(PR_SET_NAME, i < n ? "x8-reader" : "x8-writer");
			if (i < n) {
				enter_ns(o.srv_ns);
				flow_receiver(lfd, f, i);
			} else {
				close(lfd);
				enter_ns(o.cli_ns);
				flow_sender(f);
			}
			_exit(0);
		}
	}
	close(lfd);
	/* every flow moving, then the warm-up */
	deadline = now_ns() + 60000000000ull;
	do {
		ok = 1;
		for (int i = 0; i < n; i++)
			ok &= f->bytes[i] > 0;
		if (!ok)
			sleep_ns(10000000);
	} while (!ok && now_ns() < deadline && !f->err);
	if (!ok) {
		f->stop = 1;
		errno = f->err ? f->err : ETIMEDOUT;
		die("stream8: not every flow started");
	}
	sleep_ns(WARMUP_NS);
	read_ctrs(&a);
	c0 = cpu_now();
	t0 = now_ns();
	for (int i = 0; i < n; i++)
		b0[i] = f->bytes[i];
	sleep_ns((uint64_t)(o.secs * 1e9));
	t1 = now_ns();
	b1 = flows_sum(f, n);
	for (int i = 0; i < n; i++) {
		long long d = f->bytes[i] - b0[i];

		if (d > mx)
			mx = d;
		if (mn < 0 || d < mn)
			mn = d;
	}
	c1 = cpu_now();
	read_ctrs(&b);
	f->stop = 1;
	for (int i = 0; i < 2 * n; i++) {
		int st;

		waitpid(pids[i], &st, 0);
		if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
			errno = ECHILD;
			die("stream8: flow process %d failed (status %#x)", i, st);
		}
	}
	if (f->err) {
		errno = f->err;
		die("stream8: receiver read");
	}
	{
		long long sum0 = 0;
		double secs = (t1 - t0) / 1e9;

		for (int i = 0; i < n; i++)
			sum0 += b0[i];
		double mib = (b1 - sum0) / 1048576.0, ticks = c1.total > c0.total ? c1.total - c0.total : 1;

		/* where the CPUs' time went, and the switches and interrupts
		 * per MiB: what two vCPUs add to one (wake-ups across CPUs) */
		res(" mbps=%.1f bytes=%lld secs=%.3f flows=%d flow_min_mbps=%.1f flow_max_mbps=%.1f idle_pct=%.1f"
		    " user_pct=%.1f sys_pct=%.1f softirq_pct=%.1f ctxt_per_mib=%.2f intr_per_mib=%.2f",
		    (b1 - sum0) / secs / 1e6, b1 - sum0, secs, n, mn / secs / 1e6, mx / secs / 1e6, idle_pct(c0, c1),
		    100.0 * (c1.user - c0.user) / ticks, 100.0 * (c1.sys - c0.sys) / ticks,
		    100.0 * (c1.softirq - c0.softirq) / ticks, mib > 0 ? (c1.ctxt - c0.ctxt) / mib : 0,
		    mib > 0 ? (c1.intr - c0.intr) / mib : 0);
	}
	res_emit(&a, &b);
	munmap((void *)f, sizeof(*f));
}

/* ---- epoll ---------------------------------------------------------- */

static void nonblock(int fd)
{
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK))
		die("fcntl O_NONBLOCK");
}

/* The server: one process, one epoll set, the listener and every
 * connection; echoes what it reads.  s->reads counts accepted connections
 * (the client paces its connects by it).  Ends when killed. */
static void epoll_server(int lfd, struct shared *s)
{
	struct epoll_event ev = { .events = EPOLLIN }, evs[256];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	char buf[256];

	if (ep < 0)
		die("epoll_create1");
	raise_nofile(o.n + 64);
	nonblock(lfd);
	ev.data.fd = lfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev))
		die("epoll_ctl listener");
	for (;;) {
		int k = epoll_wait(ep, evs, 256, -1);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < k; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd) {
				int c;

				while ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
					nodelay(c);
					ev.data.fd = c;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev))
						die("epoll_ctl");
					s->reads++;
				}
				if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
					die("accept");
				continue;
			}
			ssize_t r = read(fd, buf, sizeof(buf));

			if (r > 0) {
				if (write(fd, buf, r) != r)
					die("epoll server: short write");
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				close(fd);	/* leaves the epoll set */
			}
		}
	}
}

/* One round: a byte on every connection, then every answer. */
static void epoll_round(int ep, int *fds, long n)
{
	struct epoll_event evs[1024];
	long got = 0;
	char c = 'e';

	for (long i = 0; i < n; i++)
		if (write(fds[i], &c, 1) != 1)
			die("epoll client: write on connection %ld", i);
	while (got < n) {
		int k = epoll_wait(ep, evs, 1024, 30000);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			errno = k ? errno : ETIMEDOUT;
			die("epoll client: %ld of %ld answers", got, n);
		}
		for (int i = 0; i < k; i++) {
			char b[16];
			ssize_t r = read(evs[i].data.fd, b, sizeof(b));

			if (r > 0)
				got += r;
			else if (r == 0 || (errno != EAGAIN && errno != EINTR))
				die("epoll client: connection closed");
		}
	}
}

void t_epoll(void)
{
	struct shared *s = shm_new();
	long n = o.n, rounds = 0, cap;
	int *fds = calloc(n, sizeof(int)), ep;
	uint64_t *rt, t, t0, tsetup;
	struct ctrs a, b;
	pid_t pid;

	if (!fds || n < 1)
		die("epoll: -n %ld", n);
	raise_nofile(n + 64);
	pid = fork_server(epoll_server, listener(o.srv_ns, o.port, 4096, 0), s);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	tsetup = now_ns();
	for (long i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = 0 };

		/* keep the accept queue short: the server may not have run yet */
		while (i - s->reads >= 512)
			sched_yield();
		fds[i] = dial(-1, o.port);
		nonblock(fds[i]);
		nodelay(fds[i]);
		ev.data.fd = fds[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev))
			die("epoll_ctl");
	}
	while (s->reads < n)
		sched_yield();
	tsetup = now_ns() - tsetup;
	epoll_round(ep, fds, n);	/* warm-up */
	cap = 3 + (long)(o.secs * 1e9 / 1e6);	/* rounds of 1 ms at best */
	rt = malloc(cap * sizeof(*rt));
	if (!rt)
		die("malloc");
	read_ctrs(&a);
	t0 = t = now_ns();
	do {
		uint64_t t1;

		epoll_round(ep, fds, n);
		t1 = now_ns();
		rt[rounds++] = t1 - t;
		t = t1;
	} while ((t - t0 < (uint64_t)(o.secs * 1e9) || rounds < 3) && rounds < cap);
	read_ctrs(&b);
	qsort(rt, rounds, sizeof(*rt), cmp_u64);
	res(" tps=%.0f txns=%ld rounds=%ld conns=%ld secs=%.3f round_p50_ms=%.1f round_max_ms=%.1f setup_ms=%.0f",
	    n * rounds / ((t - t0) / 1e9), n * rounds, rounds, n, (t - t0) / 1e9, pct(rt, rounds, 50) / 1000,
	    rt[rounds - 1] / 1e6, tsetup / 1e6);
	res_emit(&a, &b);
	for (long i = 0; i < n; i++)
		close_rst(fds[i]);
	close(ep);
	reap(pid, 1);
	free(rt);
	free(fds);
}

/* ---- between hosts: the server daemon ------------------------------- */

/* read/write that report instead of dying: one bad connection must not
 * stop the daemon. */
static int read_full(int fd, void *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)p + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += r;
	}
	return 0;
}

static int write_full(int fd, const void *p, size_t n)
{
	size_t put = 0;

	while (put < n) {
		ssize_t w = write(fd, (const char *)p + put, n - put);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		put += w;
	}
	return 0;
}

/* Echo one byte at a time until EOF (rr, crr). */
static void srv_echo(int fd, char first)
{
	char c = first;

	do {
		if (write_full(fd, &c, 1))
			return;
	} while (read_full(fd, &c, 1) == 0);
}

static void srv_stream(int fd)
{
	static char buf[CHUNK];
	uint64_t t0 = 0, t_start = 0, t_last = 0;
	long long total = 0, b_start = 0;
	char ans[128];
	ssize_t r;

	while ((r = read(fd, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR)) {
		if (r < 0)
			continue;
		t_last = now_ns();
		total += r;
		if (!t0)
			t0 = t_last;
		if (!t_start && t_last - t0 >= WARMUP_NS) {
			t_start = t_last;
			b_start = total;
		}
	}
	if (r < 0 || !t_start) {
		fprintf(stderr, "afc_bench server: stream ended after %lld bytes: %s\n", total,
			r < 0 ? strerror(errno) : "shorter than the warm-up");
		return;
	}
	snprintf(ans, sizeof(ans), "bytes=%lld t_ns=%llu total=%lld\n", total - b_start,
		 (unsigned long long)(t_last - t_start), total);
	write_full(fd, ans, strlen(ans));
}

/* The deltas since base as "NAME=VALUE ..." and a newline. */
static void srv_counters(int fd, const struct ctrs *base)
{
	static struct ctrs now;
	char out[8192];
	size_t l = 0;

	read_ctrs(&now);
	out[0] = 0;
	for (int i = 0; i < now.n && l < sizeof(out) - 64; i++) {
		long long d = ctr_delta(base, &now, now.name[i]);

		if (d)
			l += snprintf(out + l, sizeof(out) - l, "%s=%lld ", now.name[i], d);
	}
	l += snprintf(out + l, sizeof(out) - l, "\n");
	write_full(fd, out, l);
}

void split_server(void)
{
	static struct ctrs base;
	struct timeval idle = { 600, 0 };
	int lfd = listener(-1, o.port, 128, 0);

	/* a client that never comes or never says quit: give up after 10 min */
	setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
	read_ctrs(&base);
	printf("afc_bench server: %s on %s port %d\n", fam_names[o.fam], o.addr, o.port);
	fflush(stdout);
	for (;;) {
		struct timeval tv = { 120, 0 };
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), quit = 0;
		char k, c = 'k';

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept (no client for 10 min?)");
		}
		/* a client that vanishes costs two minutes, not the daemon */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (read_full(fd, &k, 1)) {
			close(fd);
			continue;
		}
		switch (k) {
		case 'B':
			read_ctrs(&base);
			write_full(fd, &c, 1);
			break;
		case 'E':
			srv_counters(fd, &base);
			break;
		case 's':
			srv_stream(fd);
			break;
		case 'r':
		case 'c':
			nodelay(fd);
			srv_echo(fd, k);
			break;
		case 'n':
			srv_echo(fd, k);
			break;
		case 'X':
			write_full(fd, &c, 1);
			quit = 1;
			break;
		default:
			fprintf(stderr, "afc_bench server: unknown request %#x\n", k);
		}
		/* 'B', 'X': the client closes first (its end keeps TIME_WAIT);
		 * 'E' is read to EOF by the client, so the server closes */
		while ((k == 'B' || k == 'X') && read(fd, &c, 1) > 0)
			;
		close(fd);
		if (quit)
			break;
	}
	close(lfd);
}

/* ---- between hosts: the client -------------------------------------- */

/* A connection to the daemon, retried while it comes up (60 s). */
static int dial_retry(void)
{
	struct sockaddr_storage ss;
	socklen_t len = mkaddr(&ss, o.addr, o.port);
	uint64_t end = now_ns() + 60000000000ull;

	for (;;) {
		int fd = sock_in(-1);

		if (!connect(fd, (struct sockaddr *)&ss, len))
			return fd;
		close(fd);
		if (now_ns() > end)
			die("no server at %s port %d", o.addr, o.port);
		sleep_ns(200000000);
	}
}

/* Sends request k on a new connection and reads the answer to EOF. */
static void ctl(char k, char *ans, size_t l, int retry)
{
	int fd = retry ? dial_retry() : dial(-1, o.port);
	size_t got = 0;
	ssize_t r;

	if (write_full(fd, &k, 1))
		die("request %c", k);
	if (k == 'B' || k == 'X') {
		if (read_full(fd, ans, 1))
			die("no answer to %c", k);
		got = 1;
	} else {
		while (got + 1 < l && (r = read(fd, ans + got, l - 1 - got)) != 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				die("answer to %c", k);
			got += r;
		}
	}
	ans[got] = 0;
	close(fd);
}

static void cli_stream(void)
{
	static char buf[CHUNK], ans[256];
	int fd = dial(-1, o.port);
	uint64_t end = now_ns() + WARMUP_NS + (uint64_t)(o.secs * 1e9);
	long long writes = 0, bytes = 0, total = 0;
	unsigned long long t_ns = 0;
	size_t got = 0;
	ssize_t r;

	memset(buf, 'b', sizeof(buf));
	buf[0] = 's';
	if (write_full(fd, buf, 1))
		die("write");
	buf[0] = 'b';
	while (now_ns() < end) {
		if (write(fd, buf, sizeof(buf)) < 0) {
			if (errno == EINTR)
				continue;
			die("write");
		}
		writes++;
	}
	if (shutdown(fd, SHUT_WR))
		die("shutdown");
	while (got + 1 < sizeof(ans) && (r = read(fd, ans + got, sizeof(ans) - 1 - got)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("reading the server's measurement");
		got += r;
	}
	ans[got] = 0;
	close(fd);
	if (sscanf(ans, "bytes=%lld t_ns=%llu total=%lld", &bytes, &t_ns, &total) != 3 || !t_ns) {
		errno = EPROTO;
		die("the server measured nothing ('%s')", ans);
	}
	/* bytes_all: the warm-up's too, as the counters cover the whole run */
	res(" mbps=%.1f bytes=%lld secs=%.3f writes=%lld bytes_all=%lld", bytes / (t_ns / 1e9) / 1e6, bytes,
	    t_ns / 1e9, writes, total);
}

static void cli_rr(void)
{
	uint64_t *lat = malloc(MAXLAT * sizeof(*lat)), t0, t_end, t;
	int fd = dial(-1, o.port);
	char c = o.nagle ? 'n' : 'r';
	long n = 0;

	if (!lat)
		die("malloc");
	if (!o.nagle)
		nodelay(fd);
	if (write_full(fd, &c, 1) || xread1(fd) != 1)
		die("rr: no answer");
	for (int i = 0; i < 200; i++) {
		xwrite1(fd);
		if (xread1(fd) != 1)
			die("rr: server closed");
	}
	t0 = t = now_ns();
	t_end = t0 + (uint64_t)(o.secs * 1e9);
	while (t < t_end && n < MAXLAT) {
		uint64_t t1;

		xwrite1(fd);
		if (xread1(fd) != 1)
			die("rr: server closed");
		t1 = now_ns();
		lat[n++] = t1 - t;
		t = t1;
	}
	close(fd);
	qsort(lat, n, sizeof(*lat), cmp_u64);
	/* txns_all: with the 201 of the warm-up, as the counters cover them */
	res(" tps=%.0f txns=%ld secs=%.3f p50_us=%.1f p99_us=%.1f txns_all=%ld", n / ((t - t0) / 1e9), n,
	    (t - t0) / 1e9, pct(lat, n, 50), pct(lat, n, 99), n + 201);
	free(lat);
}

static void cli_crr(void)
{
	uint64_t *lat = malloc(MAXLAT * sizeof(*lat)), t0, t_end, t;
	long n = 0;

	if (!lat)
		die("malloc");
	t0 = t = now_ns();
	t_end = t0 + (uint64_t)(o.secs * 1e9);
	while (t < t_end && n < MAXLAT) {
		uint64_t t1;
		int fd = dial(-1, o.port);
		char c = 'c';

		nodelay(fd);
		if (write_full(fd, &c, 1) || xread1(fd) != 1)
			die("crr: no response");
		close(fd);
		t1 = now_ns();
		lat[n++] = t1 - t;
		t = t1;
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	res(" cps=%.0f conns=%ld secs=%.3f p50_us=%.1f p99_us=%.1f", n / ((t - t0) / 1e9), n, (t - t0) / 1e9,
	    pct(lat, n, 50), pct(lat, n, 99));
	free(lat);
}

void split_client(void)
{
	static struct ctrs a, b;
	static char ans[8192];
	char *p, *save;

	if (!strcmp(o.test, "quit")) {
		ctl('X', ans, sizeof(ans), 1);
		return;
	}
	ctl('B', ans, sizeof(ans), 1);
	read_ctrs(&a);
	if (!strcmp(o.test, "stream"))
		cli_stream();
	else if (!strcmp(o.test, "rr"))
		cli_rr();
	else if (!strcmp(o.test, "rr-nagle"))
		o.nagle = 1, cli_rr();
	else if (!strcmp(o.test, "crr"))
		cli_crr();
	else
		die("-m client: no test %s", o.test);
	read_ctrs(&b);
	/* the server's deltas join ours: a delta of b - a */
	ctl('E', ans, sizeof(ans), 0);
	for (p = strtok_r(ans, " \n", &save); p; p = strtok_r(NULL, " \n", &save)) {
		char *eq = strchr(p, '=');

		if (eq) {
			*eq = 0;
			ctr_add(&b, p, atoll(eq + 1));
		}
	}
	res_emit(&a, &b);
}

/* ---- between hosts: the report -------------------------------------- */

void t_report_hosts(void)
{
	static const struct { const char *test, *net, *key, *label; } rows[] = {
		{ "stream", "virtio", "mbps", "stream virtio-net, MB/s" },
		{ "rr", "virtio", "tps", "rr virtio-net, transactions/s" },
		{ "rr", "virtio", "p50_us", "rr virtio-net, p50 latency us" },
		{ "rr", "virtio", "p99_us", "rr virtio-net, p99 latency us" },
		{ "crr", "virtio", "cps", "crr virtio-net, connections/s" },
		{ "stream", "e1000", "mbps", "stream e1000, MB/s" },
		{ "rr", "e1000", "tps", "rr e1000, transactions/s" },
		{ "rr", "e1000", "p50_us", "rr e1000, p50 latency us" },
		{ "rr", "e1000", "p99_us", "rr e1000, p99 latency us" },
		{ "crr", "e1000", "cps", "crr e1000, connections/s" },
	};
	static const struct { const char *name, *test, *net, *key; double goal; } tg[] = {
		{ "stream virtio-net >= 1.0x TCP", "stream", "virtio", "mbps", 1.0 },
		{ "rr virtio-net >= 1.1x TCP transactions/s", "rr", "virtio", "tps", 1.1 },
		{ "crr virtio-net >= 1.5x TCP", "crr", "virtio", "cps", 1.5 },
		{ "stream e1000 >= 0.9x TCP", "stream", "e1000", "mbps", 0.9 },
	};
	char c[2][128], m[32], ratio[48];

	read_recs();
	printf("| metric | AF_CUSTOM | TCP | AF_CUSTOM/TCP |\n|---|---|---|---|\n");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct stat3 s[2];

		for (int f = 0; f < 2; f++) {
			s[f] = collect(rows[i].test, f ? "inet" : "custom", rows[i].net, rows[i].key);
			fmt_cell(c[f], sizeof(c[f]), s[f]);
		}
		snprintf(ratio, sizeof(ratio), "-");
		if (s[0].n && s[1].n && s[1].med) {
			fmt_num(m, sizeof(m), s[0].med / s[1].med);
			snprintf(ratio, sizeof(ratio), "%sx", m);
		}
		printf("| %s | %s | %s | %s |\n", rows[i].label, c[0], c[1], ratio);
	}
	printf("\nFrames, both hosts, whole runs (warm-ups and the two control connections of each\n"
	       "run included). OutSegs: AF_CUSTOM's frames sent; TCP's segments of at most one MSS\n"
	       "(a GSO packet counts as its segments). InSegs: what the protocol's receive handler\n"
	       "took in, after any GRO merging. Median over runs:\n\n");
	printf("| test | family | OutSegs per unit | InSegs per unit | RetransSegs | drops (RcvMem/Backlog or TCP prune/rcvq) | unit |\n");
	printf("|---|---|---|---|---|---|---|\n");
	for (int n = 0; n < 2; n++) {
		const char *net = n ? "e1000" : "virtio";

		frames_row("stream", net, "bytes_all", 1048576, "per MiB received");
		frames_row("rr", net, "txns_all", 1, "per transaction");
		frames_row("crr", net, "conns", 1, "per connection");
	}
	printf("\nTargets (issue 14), from the medians above:\n\n");
	printf("| target | measured | verdict |\n|---|---|---|\n");
	for (size_t i = 0; i < sizeof(tg) / sizeof(tg[0]); i++)
		target_row(tg[i].name, tg[i].test, tg[i].net, tg[i].key, 0, tg[i].goal);
}
