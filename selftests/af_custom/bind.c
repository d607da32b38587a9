// SPDX-License-Identifier: GPL-2.0
/*
 * bind(2), getsockname(2) and getpeername(2) on AF_CUSTOM, with the errnos
 * Linux gives for TCP: each test runs in a network namespace of its own,
 * binding a loopback address or one assigned to a veth device.  The same
 * bodies run against TCP (AFC_TEST_FAMILY=inet, `bind@inet` in make check).
 */
#include <arpa/inet.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "afc_test.h"
#include "kselftest_harness.h"

FIXTURE(bind) { };
FIXTURE_VARIANT(bind) { const char *ip; const char *other_ip; };
FIXTURE_VARIANT_ADD(bind, loopback) { .ip = "127.0.0.1", .other_ip = "127.0.0.2" };
FIXTURE_VARIANT_ADD(bind, veth) { .ip = "10.77.0.1", .other_ip = "10.77.0.2" };

FIXTURE_SETUP(bind)
{
	if (!afc_inet())
		ASSERT_LT(0, afc_family()) TH_LOG("af_custom is not loaded");
	ASSERT_EQ(0, unshare(CLONE_NEWNET));
	ASSERT_EQ(0, afc_lo_up());
	ASSERT_EQ(0, afc_ip_batch("link add va type veth peer name vb\n"
				  "link set va up\n"
				  "link set vb up\n"
				  "addr add 10.77.0.1/24 dev va\n"
				  "addr add 10.77.0.2/24 dev vb\n"));
}

FIXTURE_TEARDOWN(bind) {}

TEST_F(bind, specific_address_then_getsockname)
{
	struct sockaddr_custom got;
	socklen_t len = sizeof(got);
	int fd = afc_tsocket();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, afc_bind(fd, variant->ip, 7000)) TH_LOG("bind: %s", strerror(errno));
	memset(&got, 0xaa, sizeof(got));
	ASSERT_EQ(0, getsockname(fd, (void *)&got, &len));
	ASSERT_EQ(sizeof(got), len);
	ASSERT_EQ(afc_tfamily(), got.scu_family);
	ASSERT_EQ(htons(7000), got.scu_port);
	struct sockaddr_custom want = afc_addr(variant->ip, 7000);
	ASSERT_EQ(want.scu_addr, got.scu_addr);
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(0, got.scu_zero[i]);
	close(fd);
}

TEST_F(bind, unbound_getsockname_is_zero_and_getpeername_enotconn)
{
	struct sockaddr_custom got;
	socklen_t len = sizeof(got);
	int fd = afc_tsocket();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, getsockname(fd, (void *)&got, &len));
	ASSERT_EQ(afc_tfamily(), got.scu_family);
	ASSERT_EQ(0, got.scu_port);
	ASSERT_EQ(0, got.scu_addr);
	len = sizeof(got);
	ASSERT_EQ(-1, getpeername(fd, (void *)&got, &len));
	ASSERT_EQ(ENOTCONN, errno);
	ASSERT_EQ(0, afc_bind(fd, variant->ip, 7001));
	len = sizeof(got);
	ASSERT_EQ(-1, getpeername(fd, (void *)&got, &len));
	ASSERT_EQ(ENOTCONN, errno);
	close(fd);
}

TEST_F(bind, port_zero_picks_an_ephemeral_port)
{
	struct sockaddr_custom got;
	socklen_t len = sizeof(got);
	int a = afc_tsocket(), b = afc_tsocket();

	ASSERT_EQ(0, afc_bind(a, variant->ip, 0));
	ASSERT_EQ(0, getsockname(a, (void *)&got, &len));
	int pa = ntohs(got.scu_port);
	ASSERT_GE(pa, 32768);
	ASSERT_LE(pa, 60999);
	ASSERT_EQ(0, afc_bind(b, variant->ip, 0));
	ASSERT_EQ(0, getsockname(b, (void *)&got, &len));
	ASSERT_NE(pa, ntohs(got.scu_port));
	close(a);
	close(b);
}

TEST_F(bind, address_not_in_namespace_is_eaddrnotavail)
{
	int fd = afc_tsocket();

	ASSERT_EQ(-1, afc_bind(fd, "10.99.99.99", 7000));
	ASSERT_EQ(EADDRNOTAVAIL, errno);
	ASSERT_EQ(-1, afc_bind(fd, "192.0.2.1", 0));
	ASSERT_EQ(EADDRNOTAVAIL, errno);
	/* The socket stays unbound and usable. */
	ASSERT_EQ(0, afc_bind(fd, variant->ip, 7000));
	close(fd);
}

TEST_F(bind, second_bind_is_einval)
{
	int fd = afc_tsocket();

	ASSERT_EQ(0, afc_bind(fd, variant->ip, 7000));
	ASSERT_EQ(-1, afc_bind(fd, variant->ip, 7002));
	ASSERT_EQ(EINVAL, errno);
	close(fd);
}

TEST_F(bind, bad_addresses)
{
	struct sockaddr_custom a = afc_addr(variant->ip, 7000);
	int fd = afc_tsocket();

	ASSERT_EQ(-1, bind(fd, (void *)&a, sizeof(a) - 1));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, bind(fd, (void *)&a, 0));
	ASSERT_EQ(EINVAL, errno);
	/* Another family's address (TCP's inet_bind says the same). */
	a.scu_family = AF_UNIX;
	ASSERT_EQ(-1, bind(fd, (void *)&a, sizeof(a)));
	ASSERT_EQ(EAFNOSUPPORT, errno);
	close(fd);
}

TEST_F(bind, same_port_is_eaddrinuse)
{
	int a = afc_tsocket(), b = afc_tsocket(), c = afc_tsocket(), d = afc_tsocket();

	ASSERT_EQ(0, afc_bind(a, variant->ip, 7000));
	ASSERT_EQ(-1, afc_bind(b, variant->ip, 7000));
	ASSERT_EQ(EADDRINUSE, errno);
	/* The wildcard overlaps every address. */
	ASSERT_EQ(-1, afc_bind(c, "0.0.0.0", 7000));
	ASSERT_EQ(EADDRINUSE, errno);
	/* Another address on the same port is free. */
	ASSERT_EQ(0, afc_bind(d, variant->other_ip, 7000)) TH_LOG("bind: %s", strerror(errno));
	/* Another port is free. */
	ASSERT_EQ(0, afc_bind(b, variant->ip, 7003));
	close(a); close(b); close(c); close(d);
}

TEST_F(bind, wildcard_blocks_specific)
{
	int a = afc_tsocket(), b = afc_tsocket();

	ASSERT_EQ(0, afc_bind(a, "0.0.0.0", 7000));
	ASSERT_EQ(-1, afc_bind(b, variant->ip, 7000));
	ASSERT_EQ(EADDRINUSE, errno);
	close(a); close(b);
}

TEST_F(bind, reuseaddr_on_both_shares_an_unlistened_port)
{
	int one = 1, a = afc_tsocket(), b = afc_tsocket(), c = afc_tsocket();

	ASSERT_EQ(0, setsockopt(a, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
	ASSERT_EQ(0, setsockopt(b, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
	ASSERT_EQ(0, afc_bind(a, variant->ip, 7000));
	ASSERT_EQ(0, afc_bind(b, variant->ip, 7000)) TH_LOG("bind: %s", strerror(errno));
	/* Without SO_REUSEADDR on the newcomer: refused. */
	ASSERT_EQ(-1, afc_bind(c, variant->ip, 7000));
	ASSERT_EQ(EADDRINUSE, errno);
	close(a); close(b); close(c);
}

TEST_F(bind, close_releases_the_port)
{
	int a = afc_tsocket(), b;

	ASSERT_EQ(0, afc_bind(a, variant->ip, 7000));
	ASSERT_EQ(0, close(a));
	b = afc_tsocket();
	ASSERT_EQ(0, afc_bind(b, variant->ip, 7000)) TH_LOG("bind: %s", strerror(errno));
	close(b);
}

TEST_F(bind, namespaces_do_not_share_ports)
{
	int a = afc_tsocket(), status;
	pid_t pid;

	ASSERT_EQ(0, afc_bind(a, "0.0.0.0", 7000));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int b;

		if (unshare(CLONE_NEWNET) || afc_lo_up())
			_exit(2);
		b = afc_tsocket();
		_exit(afc_bind(b, "127.0.0.1", 7000) == 0 ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("the child was killed by signal %d", WTERMSIG(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	close(a);
}

TEST_F(bind, privileged_port_needs_cap_net_bind_service)
{
	int status;
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd = afc_tsocket();

		if (fd < 0 || setuid(65534))	/* drops every capability */
			_exit(10);
		if (afc_bind(fd, variant->ip, 80) != -1 || errno != EACCES)
			_exit(11);
		if (afc_bind(fd, variant->ip, 8080))
			_exit(12);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("the child was killed by signal %d", WTERMSIG(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	/* Root may. */
	int fd = afc_tsocket();
	ASSERT_EQ(0, afc_bind(fd, variant->ip, 80));
	close(fd);
}

TEST_F(bind, many_sockets_many_ports)
{
	enum { N = 300 };
	int fds[N];

	for (int i = 0; i < N; i++) {
		fds[i] = afc_tsocket();
		ASSERT_LE(0, fds[i]);
		ASSERT_EQ(0, afc_bind(fds[i], variant->ip, i % 2 ? 10000 + i : 0));
	}
	for (int i = 0; i < N; i++)
		ASSERT_EQ(0, close(fds[i]));
}

/* Closes a pair from the client side (no TIME_WAIT on the server's port):
 * the child reads the end of the stream, then closes. */
static int close_from_client(int c, int s)
{
	char b;

	close(c);
	if (recv(s, &b, 1, 0) != 0)
		return -1;
	return close(s);
}

/*
 * TCP: accepted connections share their listener's port (the bind
 * bucket), so it stays in use while any of them lives, listener closed or
 * not, and is free once the last is gone.  100 children, half of them
 * closed and replaced (their claims' places reused), in and out of order.
 */
TEST_F(bind, children_hold_the_port_until_the_last_goes)
{
	enum { N = 100 };
	int l = afc_tsocket(), b = afc_tsocket(), c[N], s[N], rc = -1;

	ASSERT_EQ(0, afc_bind(l, variant->ip, 7100));
	ASSERT_EQ(0, listen(l, 512));
	for (int i = 0; i < N; i++) {
		c[i] = afc_tsocket();
		ASSERT_EQ(0, afc_connect(c[i], variant->ip, 7100)) TH_LOG("connect %d: %s", i, strerror(errno));
		s[i] = accept(l, NULL, NULL);
		ASSERT_LE(0, s[i]);
	}
	for (int i = 0; i < N; i += 2)
		ASSERT_EQ(0, close_from_client(c[i], s[i]));
	for (int i = 0; i < N; i += 2) {
		c[i] = afc_tsocket();
		ASSERT_EQ(0, afc_connect(c[i], variant->ip, 7100)) TH_LOG("connect %d: %s", i, strerror(errno));
		s[i] = accept(l, NULL, NULL);
		ASSERT_LE(0, s[i]);
	}
	ASSERT_EQ(0, close(l));
	ASSERT_EQ(-1, afc_bind(b, variant->ip, 7100)) TH_LOG("the children's port was free");
	ASSERT_EQ(EADDRINUSE, errno);
	/* All but the last, the odd ones from the top down. */
	for (int i = 0; i < N - 1; i += 2)
		ASSERT_EQ(0, close_from_client(c[i], s[i]));
	for (int i = N - 3; i > 0; i -= 2)
		ASSERT_EQ(0, close_from_client(c[i], s[i]));
	ASSERT_EQ(-1, afc_bind(b, variant->ip, 7100)) TH_LOG("the port was free with a child left");
	ASSERT_EQ(EADDRINUSE, errno);
	ASSERT_EQ(0, close_from_client(c[N - 1], s[N - 1]));
	/* Free once the last child's FIN is acknowledged (LAST_ACK to CLOSED). */
	for (int t = 0; t < 100 && rc; t++) {
		rc = afc_bind(b, variant->ip, 7100);
		if (rc)
			usleep(30 * 1000);
	}
	ASSERT_EQ(0, rc) TH_LOG("the port stayed in use after every child closed: %s", strerror(errno));
	close(b);
}

TEST_HARNESS_MAIN
