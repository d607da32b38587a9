// SPDX-License-Identifier: GPL-2.0
/*
 * threads_bench: a second, independent benchmark of AF_CUSTOM against TCP
 * and AF_UNIX (issue 15), written from the uapi header alone.  Server and
 * client are two threads of ONE process (afc_bench uses processes), so
 * the shapes are measured the way an outside checker measured them.
 *
 *   threads_bench -t stream|rr|rr-nodelay|crr -f custom|inet|unix
 *                 -n lo|veth -p PORT -l SECONDS
 *
 * stream      the client writes 64 KiB buffers for SECONDS, the server
 *             reads with a 64 KiB buffer: MB/s (1e6 bytes) received.
 * rr          1-byte request, 1-byte response, blocking, Nagle left on:
 *             transactions/s, p50/p99 latency per transaction (us).
 * rr-nodelay  the same with no-delay set on both ends (TCP_NODELAY at
 *             IPPROTO_TCP; AFC_NODELAY at SOL_AF_CUSTOM).
 * crr         socket, connect, write 1, read 1, close (server: accept,
 *             read 1, write 1, close): connections/s, p50/p99 us.
 *
 * Nets: lo (127.0.0.1; an abstract name for unix) and veth: the server
 * thread joins /run/netns/afc-srv and listens on 10.77.0.1, the client
 * thread joins /run/netns/afc-cli (setns(2) on a network namespace
 * affects the calling thread only).
 *
 * Prints one line, e.g.
 *   RESULT test=t-rr fam=custom net=lo tps=... txns=... secs=... p50_us=... p99_us=...
 * or, on any error, a message on stderr and exit status 1 (no RESULT).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/af_custom.h>

#define BUFSZ (64 * 1024)

enum shape { STREAM, RR, RR_NODELAY, CRR };
enum family { F_CUSTOM, F_INET, F_UNIX };

static enum shape shape;
static enum family fam;
static const char *shape_name, *fam_name, *net_name = "lo";
static int veth, port = 9000;
static double secs = 2;
static int afc_family;	/* the AF_CUSTOM number in use */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int server_ready;
static volatile int stop_flag;

/* Results. */
static double t_start, t_end;		/* client's first and last moment */
static double srv_eof;			/* stream: when the server saw EOF */
static unsigned long long rx_bytes;	/* stream: bytes the server read */
static unsigned long long count;	/* transactions / connections */
static double *lat;			/* per-operation latency, us */
static size_t nlat, caplat;

static void die(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	fprintf(stderr, "threads_bench %s %s %s: ", shape_name ? shape_name : "?",
		fam_name ? fam_name : "?", net_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (e)
		fprintf(stderr, ": %s", strerror(e));
	fputc('\n', stderr);
	exit(1);
}

/* A window for the instruction-counting QEMU plugin of the project's
 * `make bench` (BENCH_ICOUNT=1): 0 opens it, 1 closes it.  A NOP no
 * compiler emits; without the plugin it costs nothing. */
#define mark(k) asm volatile(".byte 0x0f, 0x1f, 0x84, 0x00, " #k ", 0xbe, 0xad, 0xde" ::: "memory")

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void add_lat(double us)
{
	if (nlat == caplat) {
		caplat = caplat ? caplat * 2 : 65536;
		lat = realloc(lat, caplat * sizeof(*lat));
		if (!lat) {
			errno = ENOMEM;
			die("realloc");
		}
	}
	lat[nlat++] = us;
}

static int read_family(void)
{
	FILE *f = fopen(AF_CUSTOM_FAMILY_PATH, "r");
	int n;

	if (!f)
		die("AF_CUSTOM not available (%s)", AF_CUSTOM_FAMILY_PATH);
	if (fscanf(f, "%d", &n) != 1) {
		errno = 0;
		die("cannot parse %s", AF_CUSTOM_FAMILY_PATH);
	}
	fclose(f);
	return n;
}

static void join_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die("open %s", path);
	if (setns(fd, CLONE_NEWNET) < 0)
		die("setns %s", path);
	close(fd);
}

/* The server's address; len gets its length. */
static void server_addr(struct sockaddr_storage *ss, socklen_t *len)
{
	const char *ip = veth ? "10.77.0.1" : "127.0.0.1";

	memset(ss, 0, sizeof(*ss));
	if (fam == F_UNIX) {
		struct sockaddr_un *un = (void *)ss;
		int n;

		un->sun_family = AF_UNIX;
		/* Abstract name: sun_path[0] is 0. */
		n = snprintf(un->sun_path + 1, sizeof(un->sun_path) - 1, "afc-threads-bench-%d", port);
		*len = offsetof(struct sockaddr_un, sun_path) + 1 + n;
	} else if (fam == F_INET) {
		struct sockaddr_in *in = (void *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		inet_pton(AF_INET, ip, &in->sin_addr);
		*len = sizeof(*in);
	} else {
		struct sockaddr_custom *cu = (void *)ss;

		cu->scu_family = afc_family;
		cu->scu_port = htons(port);
		inet_pton(AF_INET, ip, &cu->scu_addr);
		*len = sizeof(*cu);
	}
}

static int new_socket(void)
{
	int d = fam == F_UNIX ? AF_UNIX : fam == F_INET ? AF_INET : afc_family;
	int fd = socket(d, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	return fd;
}

static void set_nodelay(int fd)
{
	int one = 1;

	if (fam == F_UNIX)
		return;
	if (fam == F_INET) {
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			die("setsockopt TCP_NODELAY");
	} else {
		if (setsockopt(fd, SOL_AF_CUSTOM, AFC_NODELAY, &one, sizeof(one)) < 0)
			die("setsockopt AFC_NODELAY");
	}
}

static void write_all(int fd, const char *b, size_t n)
{
	while (n) {
		ssize_t r = write(fd, b, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("write");
		}
		b += r;
		n -= r;
	}
}

/* Reads exactly one byte; returns 0 at EOF. */
static int read_one(int fd, char *c)
{
	for (;;) {
		ssize_t r = read(fd, c, 1);

		if (r == 1)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			die("read");
	}
}

static void *server(void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int lfd, fd, one = 1;
	char *buf;

	if (veth)
		join_netns("/run/netns/afc-srv");
	lfd = new_socket();
	if (fam != F_UNIX && setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		die("setsockopt SO_REUSEADDR");
	server_addr(&ss, &len);
	if (bind(lfd, (struct sockaddr *)&ss, len) < 0)
		die("bind port %d", port);
	if (listen(lfd, 128) < 0)
		die("listen");
	buf = malloc(BUFSZ);
	if (!buf)
		die("malloc");

	pthread_mutex_lock(&mu);
	server_ready = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);

	if (shape == CRR) {
		for (;;) {
			char c;

			fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0) {
				if (errno == EINTR || errno == ECONNABORTED)
					continue;
				die("accept");
			}
			if (!read_one(fd, &c)) {
				close(fd);
				if (stop_flag)
					break;
				errno = 0;
				die("crr: unexpected EOF on an accepted connection");
			}
			write_all(fd, &c, 1);
			close(fd);
		}
	} else {
		do
			fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		while (fd < 0 && errno == EINTR);
		if (fd < 0)
			die("accept");
		if (shape == RR_NODELAY)
			set_nodelay(fd);
		if (shape == STREAM) {
			for (;;) {
				ssize_t r = read(fd, buf, BUFSZ);

				if (r > 0) {
					rx_bytes += r;
					continue;
				}
				if (r == 0)
					break;
				if (errno != EINTR)
					die("read");
			}
			srv_eof = now();
		} else {
			char c;

			while (read_one(fd, &c))
				write_all(fd, &c, 1);
		}
		close(fd);
	}
	close(lfd);
	free(buf);
	return NULL;
}

static int client_connect(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = new_socket();

	server_addr(&ss, &len);
	while (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		if (errno != EINTR)
			die("connect");
	}
	return fd;
}

static void *client(void *arg)
{
	int fd;
	double deadline;
	char c = 'x';

	if (veth)
		join_netns("/run/netns/afc-cli");

	if (shape == CRR) {
		t_start = now();
		deadline = t_start + secs;
		for (;;) {
			double a = now(), b;

			fd = client_connect();
			write_all(fd, &c, 1);
			if (!read_one(fd, &c)) {
				errno = 0;
				die("crr: EOF before the response");
			}
			close(fd);
			b = now();
			add_lat((b - a) * 1e6);
			count++;
			if (b >= deadline)
				break;
		}
		t_end = now();
		/* Wake the server's accept: a connection closed with no data. */
		stop_flag = 1;
		fd = client_connect();
		close(fd);
		return NULL;
	}

	fd = client_connect();
	if (shape == RR_NODELAY)
		set_nodelay(fd);
	if (shape == STREAM) {
		char *buf = malloc(BUFSZ);

		if (!buf)
			die("malloc");
		memset(buf, 'x', BUFSZ);
		mark(0);
		t_start = now();
		deadline = t_start + secs;
		do
			write_all(fd, buf, BUFSZ);
		while (now() < deadline);
		t_end = now();
		mark(1);
		close(fd);
		free(buf);
		return NULL;
	}

	mark(0);
	t_start = now();
	deadline = t_start + secs;
	for (;;) {
		double a = now(), b;

		write_all(fd, &c, 1);
		if (!read_one(fd, &c)) {
			errno = 0;
			die("rr: EOF before the response");
		}
		b = now();
		add_lat((b - a) * 1e6);
		count++;
		if (b >= deadline)
			break;
	}
	t_end = now();
	mark(1);
	close(fd);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted latencies. */
static double pct(double p)
{
	size_t i;

	if (!nlat)
		return 0;
	i = (size_t)(p * nlat + 0.999999);
	if (i < 1)
		i = 1;
	if (i > nlat)
		i = nlat;
	return lat[i - 1];
}

static void usage(void)
{
	fprintf(stderr, "usage: threads_bench -t stream|rr|rr-nodelay|crr -f custom|inet|unix "
		"-n lo|veth -p PORT -l SECONDS\n");
	exit(2);
}

/* The names -t, -f and -n take, in the order of their enums (-n: veth). */
static const char *const shape_names[] = { "stream", "rr", "rr-nodelay", "crr", NULL };
static const char *const fam_names[] = { "custom", "inet", "unix", NULL };
static const char *const net_names[] = { "lo", "veth", NULL };

/* The index of arg in the NULL-terminated names; usage() if absent. */
static int pick(const char *arg, const char *const names[])
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(arg, names[i]))
			return i;
	usage();
	return -1;
}

int main(int argc, char **argv)
{
	pthread_t st, ct;
	int o, e;

	while ((o = getopt(argc, argv, "t:f:n:p:l:")) != -1) {
		switch (o) {
		case 't':
			shape_name = optarg;
			shape = pick(optarg, shape_names);
			break;
		case 'f':
			fam_name = optarg;
			fam = pick(optarg, fam_names);
			break;
		case 'n':
			net_name = optarg;
			veth = pick(optarg, net_names);
			break;
		case 'p':
			port = atoi(optarg);
			if (port <= 0 || port > 65535)
				usage();
			break;
		case 'l':
			secs = atof(optarg);
			if (!(secs > 0))
				usage();
			break;
		default:
			usage();
		}
	}
	if (!shape_name || !fam_name || optind != argc)
		usage();
	if (fam == F_UNIX && veth) {
		errno = 0;
		die("AF_UNIX has no veth variant");
	}
	if (fam == F_CUSTOM)
		afc_family = read_family();
	signal(SIGPIPE, SIG_IGN);
	/* A hang must not outlive the run by much: SIGALRM kills us. */
	alarm((unsigned)secs * 5 + 60);

	if ((e = pthread_create(&st, NULL, server, NULL))) {
		errno = e;
		die("pthread_create");
	}
	pthread_mutex_lock(&mu);
	while (!server_ready)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	if ((e = pthread_create(&ct, NULL, client, NULL))) {
		errno = e;
		die("pthread_create");
	}
	pthread_join(ct, NULL);
	pthread_join(st, NULL);

	if (shape == STREAM) {
		double s = srv_eof - t_start;

		printf("RESULT test=t-stream fam=%s net=%s mbps=%.1f bytes=%llu secs=%.3f\n",
		       fam_name, net_name, rx_bytes / s / 1e6, rx_bytes, s);
	} else {
		double s = t_end - t_start;

		qsort(lat, nlat, sizeof(*lat), cmp_double);
		if (shape == CRR)
			printf("RESULT test=t-crr fam=%s net=%s cps=%.0f conns=%llu secs=%.3f p50_us=%.1f p99_us=%.1f\n",
			       fam_name, net_name, count / s, count, s, pct(0.50), pct(0.99));
		else
			printf("RESULT test=t-%s fam=%s net=%s tps=%.0f txns=%llu secs=%.3f p50_us=%.1f p99_us=%.1f\n",
			       shape_name, fam_name, net_name, count / s, count, s, pct(0.50), pct(0.99));
	}
	return 0;
}
