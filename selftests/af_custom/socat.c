// SPDX-License-Identifier: GPL-2.0
/*
 * socat (1.7.4, Debian 12) reaches AF_CUSTOM through its generic socket
 * addresses (issue 17 item 2), the family number read at run time:
 *
 *   SOCKET-LISTEN:F:0:x<port><addr>x0000000000000000
 *   SOCKET-CONNECT:F:0:x<port><addr>x0000000000000000
 *
 * (the address is the sockaddr without its family, in hex; the 8 zero
 * bytes are needed, socat refuses a length under 16).  1 MiB byte-exact
 * through a socat listener echoing with cat, from a socat client into
 * our listener, and through a TCP-to-AF_CUSTOM gateway driven by a TCP
 * client.  AFC_TEST_FAMILY=inet runs the same bodies with family 2
 * (TCP), which is how the addresses were checked.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include "afc_test.h"
#include "kselftest_harness.h"

#define LEN (1 << 20)

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + i / 4096);
}

/* socat's generic address of ip:port for the family under test. */
static void gaddr(char *buf, size_t n, const char *kind, const char *ip, int port)
{
	struct in_addr a;

	inet_pton(AF_INET, ip, &a);
	snprintf(buf, n, "%s:%d:0:x%04x%08xx0000000000000000", kind, afc_tfamily(), port,
		 ntohl(a.s_addr));
}

/* Starts socat with the given arguments (NULL-terminated); its pid. */
static pid_t socat(const char *a1, const char *a2, const char *a3)
{
	pid_t p = fork();

	if (p == 0) {
		/* -t 10: after one direction ends, wait for the other's data
		 * (the default half a second can cut an echo's tail). */
		execlp("socat", "socat", "-t", "10", a1, a2, a3, (char *)NULL);
		_exit(127);
	}
	return p;
}

/* socat's exit status within ms, or -1 (then it is killed). */
static int reap(pid_t p, int ms)
{
	int st;

	for (long long end = now_ms() + ms; now_ms() < end; usleep(20000))
		if (waitpid(p, &st, WNOHANG) == p)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	kill(p, SIGKILL);
	waitpid(p, &st, 0);
	return -1;
}

/* Connects (family fam: the one under test, or AF_INET for a TCP
 * client) to ip:port, retrying while socat starts up; fd or -1. */
static int connect_retry(int fam, const char *ip, int port)
{
	for (long long end = now_ms() + 10000; now_ms() < end; usleep(50000)) {
		struct sockaddr_custom a = afc_addr(ip, port);
		int fd = socket(fam, SOCK_STREAM, 0);

		a.scu_family = fam;
		if (fd >= 0 && !connect(fd, (void *)&a, sizeof(a)))
			return fd;
		close(fd);
	}
	return -1;
}

struct writer {
	pthread_t th;
	int fd, err;
};

static void *write_fn(void *p)
{
	struct writer *w = p;
	static uint8_t buf[LEN];

	for (size_t i = 0; i < LEN; i++)
		buf[i] = pattern(i);
	if (send_all(w->fd, buf, LEN) != LEN || shutdown(w->fd, SHUT_WR))
		w->err = errno ? errno : EIO;
	return NULL;
}

/* Reads fd to its end: 0 if it held exactly LEN bytes of the pattern. */
static int read_pattern(int fd, char *why, size_t n)
{
	static uint8_t buf[65536];
	size_t got = 0;

	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);

		if (r < 0) {
			snprintf(why, n, "recv after %zu bytes: %s", got, strerror(errno));
			return -1;
		}
		if (r == 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pattern(got + i)) {
				snprintf(why, n, "byte %zu differs", got + i);
				return -1;
			}
		got += r;
	}
	if (got != LEN) {
		snprintf(why, n, "%zu bytes, want %d", got, LEN);
		return -1;
	}
	return 0;
}

/* Sends the pattern on fd while reading the echo back: 0 if exact. */
static int echo_through(int fd, char *why, size_t n)
{
	struct writer w = { .fd = fd };
	struct timeval tv = { .tv_sec = 30 };
	int rc;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (pthread_create(&w.th, NULL, write_fn, &w))
		return -1;
	rc = read_pattern(fd, why, n);
	pthread_join(w.th, NULL);
	if (!rc && w.err) {
		snprintf(why, n, "send: %s", strerror(w.err));
		rc = -1;
	}
	return rc;
}

FIXTURE(socat) { struct afc_nets n; };
FIXTURE_SETUP(socat)
{
	ASSERT_EQ(0, afc_lo_setup(&self->n)) TH_LOG("namespace setup failed");
	if (!afc_inet()) {
		ASSERT_LT(0, afc_family()) TH_LOG("af_custom is not loaded");
	}
	ASSERT_EQ(0, system("socat -V >/dev/null")) TH_LOG("socat is not installed");
	signal(SIGPIPE, SIG_IGN);
}
FIXTURE_TEARDOWN(socat) { afc_nets_close(&self->n); }

/* socat listens and echoes with cat; we connect and compare. */
TEST_F_TIMEOUT(socat, listen_echoes_1mib, 120)
{
	char l[128], why[128] = "";
	int fd;
	pid_t p;

	gaddr(l, sizeof(l), "SOCKET-LISTEN", "0.0.0.0", 7300);
	p = socat(l, "EXEC:cat", NULL);
	ASSERT_LT(0, p);
	fd = connect_retry(afc_tfamily(), "127.0.0.1", 7300);
	ASSERT_LE(0, fd) TH_LOG("connect to socat's listener: %s", strerror(errno));
	EXPECT_EQ(0, echo_through(fd, why, sizeof(why))) TH_LOG("%s", why);
	close(fd);
	EXPECT_EQ(0, reap(p, 10000));
}

/* socat connects and sends a file; our listener reads it. */
TEST_F_TIMEOUT(socat, connect_sends_a_file, 120)
{
	int l = afc_tsocket(), fd, f;
	char c[128], file[] = "/tmp/afc_socat_XXXXXX", src[64], why[128] = "";
	static uint8_t buf[LEN];
	struct timeval tv = { .tv_sec = 30 };
	pid_t p;

	ASSERT_LE(0, l);
	ASSERT_EQ(0, afc_bind(l, "127.0.0.1", 7301));
	ASSERT_EQ(0, listen(l, 4));
	f = mkstemp(file);
	ASSERT_LE(0, f);
	for (size_t i = 0; i < LEN; i++)
		buf[i] = pattern(i);
	ASSERT_EQ(LEN, write(f, buf, LEN));
	close(f);
	snprintf(src, sizeof(src), "FILE:%s", file);
	gaddr(c, sizeof(c), "SOCKET-CONNECT", "127.0.0.1", 7301);
	p = socat("-u", src, c);
	ASSERT_LT(0, p);
	setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	fd = accept(l, NULL, NULL);
	ASSERT_LE(0, fd) TH_LOG("accept: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	EXPECT_EQ(0, read_pattern(fd, why, sizeof(why))) TH_LOG("%s", why);
	EXPECT_EQ(0, reap(p, 10000));
	close(fd);
	close(l);
	unlink(file);
}

struct echo_server {
	pthread_t th;
	int l, err;
};

static void *echo_fn(void *p)
{
	struct echo_server *e = p;
	static char buf[65536];
	int fd = accept(e->l, NULL, NULL);
	ssize_t r;

	if (fd < 0) {
		e->err = errno;
		return NULL;
	}
	while ((r = recv(fd, buf, sizeof(buf), 0)) > 0)
		if (send_all(fd, buf, r) != r) {
			e->err = errno;
			break;
		}
	shutdown(fd, SHUT_WR);
	close(fd);
	return NULL;
}

/* A TCP client, through socat (TCP-LISTEN to SOCKET-CONNECT), to our
 * echo server of the family under test. */
TEST_F_TIMEOUT(socat, tcp_gateway_echoes_1mib, 120)
{
	struct echo_server e = { .l = afc_tsocket() };
	struct timeval tv = { .tv_sec = 30 };
	char c[128], why[128] = "";
	int fd;
	pid_t p;

	ASSERT_LE(0, e.l);
	ASSERT_EQ(0, afc_bind(e.l, "127.0.0.1", 7302));
	ASSERT_EQ(0, listen(e.l, 4));
	setsockopt(e.l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ASSERT_EQ(0, pthread_create(&e.th, NULL, echo_fn, &e));
	gaddr(c, sizeof(c), "SOCKET-CONNECT", "127.0.0.1", 7302);
	p = socat("TCP-LISTEN:7303,bind=127.0.0.1,reuseaddr", c, NULL);
	ASSERT_LT(0, p);
	fd = connect_retry(AF_INET, "127.0.0.1", 7303);
	ASSERT_LE(0, fd) TH_LOG("connect to the gateway: %s", strerror(errno));
	EXPECT_EQ(0, echo_through(fd, why, sizeof(why))) TH_LOG("%s", why);
	close(fd);
	pthread_join(e.th, NULL);
	EXPECT_EQ(0, e.err) TH_LOG("echo server: %s", strerror(e.err));
	EXPECT_EQ(0, reap(p, 10000));
	close(e.l);
}

TEST_HARNESS_MAIN
