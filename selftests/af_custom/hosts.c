// SPDX-License-Identifier: GPL-2.0
/*
 * Between hosts (issue 14): two guests of qemu/run-hosts.sh, each with a
 * virtio-net NIC on segment 10.99.0.0/24 and an e1000 NIC on segment
 * 10.98.0.0/24 (selftests/vm/hosts.sh sets the addresses).  Host 1
 * serves, host 2 drives; they keep in step over a TCP control connection
 * on the virtio segment (control_*), which needs no AF_CUSTOM.
 *
 *   no_afc_peer          host 1 has not loaded the module yet: a connect
 *                        to it is never answered and fails with
 *                        ETIMEDOUT after its SYN retransmissions
 *   first_frame_arp      no neighbour entry for the peer on the e1000
 *                        segment (which carries nothing else): the first
 *                        frame waits for ARP and goes, the connection forms
 *   transfer_NIC         AFC_HOSTS_MB (default 64) MiB each way at once,
 *                        byte-exact, then an orderly close on both sides
 *   lossy_link           netem on both hosts' e1000 (loss 10%, reordering
 *                        25%, duplication 5%, corruption 1%):
 *                        AFC_HOSTS_LOSSY_MB (default 4) MiB each way
 *   peer_powered_off     host 1 pulls its own plug mid-transfer; host 2's
 *                        connection fails with ETIMEDOUT within its
 *                        user timeout (5 s) plus one backed-off RTO
 *
 * AFC_TEST_FAMILY=inet runs the same bodies over TCP (no_afc_peer is
 * AF_CUSTOM only; peer_powered_off runs once per boot, in the AF_CUSTOM
 * pass).  Each host prints TAP and a "# Totals:" line; the guest script
 * adds them up.
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

static int host, ctl = -1, pass, fail, skip, tno;
/* Passed, failed, skipped of this host's earlier runs (AFC_HOSTS_PRIOR). */
static int prior[3];
static const char *virtio_ip[3] = { "", "10.99.0.1", "10.99.0.2" };
static const char *e1000_ip[3] = { "", "10.98.0.1", "10.98.0.2" };

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

static char why[512];

/* ---- the control connection (TCP, virtio segment) ----------------------- */

static int timeouts(int fd, int secs)
{
	struct timeval tv = { .tv_sec = secs };

	return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	       setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int control_open(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(CTL_PORT) };
	long long end = now_ms() + 120000;

	inet_pton(AF_INET, virtio_ip[1], &a.sin_addr);
	if (host == 1) {
		int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (l < 0 || bind(l, (void *)&a, sizeof(a)) || listen(l, 1) || timeouts(l, 120))
			return -1;
		ctl = accept(l, NULL, NULL);
		close(l);
	} else {
		/* Host 1 may still be booting. */
		while (now_ms() < end) {
			ctl = socket(AF_INET, SOCK_STREAM, 0);
			if (!connect(ctl, (void *)&a, sizeof(a)))
				break;
			close(ctl);
			ctl = -1;
			usleep(200000);
		}
	}
	if (ctl < 0 || timeouts(ctl, 300))
		return -1;
	return 0;
}

/* Both hosts reach step `tag` (one byte each way); 0, or -1 if the
 * other host sent something else or went away. */
static int control_step(char tag)
{
	char got = 0;

	if (send(ctl, &tag, 1, MSG_NOSIGNAL) != 1 || recv(ctl, &got, 1, MSG_WAITALL) != 1)
		return -1;
	return got == tag ? 0 : -1;
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

static int transfer(const char *ip, uint64_t len, int port)
{
	double mbps = 0;
	int fd = connection(ip, port, 3), rc;

	if (fd < 0)
		return 0;	/* why says */
	rc = exchange(fd, len, host - 1, &mbps);
	close(fd);
	CHECK(control_step('T') == 0, "control connection lost");
	CHECK(rc == 0, "%s", why);
	printf("# %llu MiB each way over %s (%s): %.1f MiB/s both ways together\n",
	       (unsigned long long)(len >> 20), ip, nic_of(ip), mbps);
	return 1;
}

static int lossy_link(uint64_t len)
{
	const char *dev = getenv("AFC_E1000_DEV");
	int rc;

	CHECK(!sh("tc qdisc replace dev %s root netem loss 10%% delay 2ms reorder 75%% duplicate 5%% corrupt 1%%",
		  dev), "tc netem on %s", dev);
	rc = transfer(e1000_ip[1], len, AFC_PORT + 3);
	sh("tc qdisc del dev %s root >/dev/null 2>&1", dev);
	return rc;
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
		printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0\n", pass, fail, skip);
		/* The guest script will not get to add up: this host's
		 * summary, with the earlier passes' (AFC_HOSTS_PRIOR). */
		printf("AFC-SUMMARY passed=%d failed=%d skipped=%d\nAFC-POWEROFF\n", pass + prior[0],
		       fail + prior[1], skip + prior[2]);
		fflush(stdout);
		send(ctl, "P", 1, MSG_NOSIGNAL);
		usleep(100000);
		sync();
		reboot(RB_AUTOBOOT);	/* -no-reboot: QEMU exits, the guest is gone */
		_exit(1);
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

int main(int argc, char **argv)
{
	uint64_t mb = afc_env_long("AFC_HOSTS_MB", 64), lossy = afc_env_long("AFC_HOSTS_LOSSY_MB", 4);
	const char *module = getenv("AFC_MODULE");
	int poweroff = afc_env_long("AFC_HOSTS_POWEROFF", 0);

	host = afc_env_long("AFC_HOST", 0);
	if (getenv("AFC_HOSTS_PRIOR"))
		sscanf(getenv("AFC_HOSTS_PRIOR"), "%d %d %d", &prior[0], &prior[1], &prior[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	printf("TAP version 13\n");
	if (host != 1 && host != 2) {
		printf("1..0 # SKIP AFC_HOST must be 1 or 2\n# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0\n");
		return 1;
	}
	if (control_open()) {
		printf("# control connection: %s\n# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0\n",
		       strerror(errno));
		return 1;
	}
	if (afc_inet()) {
		result(-1, "no_afc_peer", "AF_CUSTOM only");
	} else {
		if (host == 2 && module && sh("insmod %s", module))
			printf("# insmod %s failed\n", module);
		result(no_afc_peer(), "no_afc_peer", why);
		if (host == 1 && module && sh("insmod %s", module))
			printf("# insmod %s failed\n", module);
		if (control_step('M'))
			return 1;
	}
	result(first_frame_arp(), "first_frame_arp", why);
	result(transfer(virtio_ip[1], mb << 20, AFC_PORT + 2), "transfer_virtio", why);
	result(transfer(e1000_ip[1], mb << 20, AFC_PORT + 5), "transfer_e1000", why);
	result(lossy_link(lossy << 20), "lossy_link", why);
	if (poweroff)
		result(peer_powered_off(), "peer_powered_off", why);
	else if (control_step('E'))
		fail++;
	printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0\n", pass, fail, skip);
	return fail ? 1 : 0;
}
