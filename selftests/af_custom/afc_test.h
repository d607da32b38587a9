/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the AF_CUSTOM kselftests. */
#ifndef AFC_TEST_H
#define AFC_TEST_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <linux/af_custom.h>

/* The family number the loaded module registered (from sysfs), or -1. */
static inline int afc_family(void)
{
	FILE *f = fopen(AF_CUSTOM_FAMILY_PATH, "r");
	int fam = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &fam) != 1)
		fam = -1;
	fclose(f);
	return fam;
}

/* A counter of /proc/net/af_custom_stat in the current netns, or -1. */
static inline long long afc_stat(const char *name)
{
	FILE *f = fopen("/proc/net/af_custom_stat", "r");
	char key[64];
	long long val, found = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%63[^:]: %lld\n", key, &val) == 2) {
		if (!strcmp(key, name)) {
			found = val;
			break;
		}
	}
	fclose(f);
	return found;
}

/*
 * Family abstraction for the stream tests.  With AFC_TEST_FAMILY=inet in
 * the environment the tests open AF_INET/TCP sockets instead, so that every
 * expectation can be checked against real TCP on any Linux host:
 * struct sockaddr_custom is laid out like struct sockaddr_in, and the
 * AFC_* options carry the numbers of their TCP twins.
 */
_Static_assert(sizeof(struct sockaddr_custom) == sizeof(struct sockaddr_in), "layout");
_Static_assert(offsetof(struct sockaddr_custom, scu_port) == offsetof(struct sockaddr_in, sin_port), "layout");
_Static_assert(offsetof(struct sockaddr_custom, scu_addr) == offsetof(struct sockaddr_in, sin_addr), "layout");
_Static_assert(AFC_NODELAY == TCP_NODELAY && AFC_KEEPIDLE == TCP_KEEPIDLE &&
	       AFC_KEEPINTVL == TCP_KEEPINTVL && AFC_KEEPCNT == TCP_KEEPCNT &&
	       AFC_SYNCNT == TCP_SYNCNT, "AFC_* options are numbered like TCP_*");

/* Nonzero when the tests run against AF_INET/TCP (AFC_TEST_FAMILY=inet). */
static inline int afc_inet(void)
{
	const char *f = getenv("AFC_TEST_FAMILY");

	return f && !strcmp(f, "inet");
}

/* The family under test: AF_INET or the module's family. */
static inline int afc_tfamily(void)
{
	return afc_inet() ? AF_INET : afc_family();
}

/* The level of the protocol options (NODELAY, KEEP*, SYNCNT). */
static inline int afc_optlevel(void)
{
	return afc_inet() ? IPPROTO_TCP : SOL_AF_CUSTOM;
}

/* A stream socket of the family under test; type_flags: SOCK_NONBLOCK... */
static inline int afc_tsocket_flags(int type_flags)
{
	return socket(afc_tfamily(), SOCK_STREAM | type_flags, 0);
}

static inline int afc_tsocket(void)
{
	return afc_tsocket_flags(0);
}

/* ip:port as an address of the family under test. */
static inline struct sockaddr_custom afc_addr(const char *ip, int port)
{
	struct sockaddr_custom a = { .scu_family = afc_tfamily(), .scu_port = htons(port) };

	inet_pton(AF_INET, ip, &a.scu_addr);
	return a;
}

static inline int afc_bind(int fd, const char *ip, int port)
{
	struct sockaddr_custom a = afc_addr(ip, port);

	return bind(fd, (struct sockaddr *)&a, sizeof(a));
}

static inline int afc_connect(int fd, const char *ip, int port)
{
	struct sockaddr_custom a = afc_addr(ip, port);

	return connect(fd, (struct sockaddr *)&a, sizeof(a));
}

/* The local (peer = 0) or remote (peer = 1) port of fd, or -1. */
static inline int afc_port(int fd, int peer)
{
	struct sockaddr_custom a;
	socklen_t len = sizeof(a);

	if ((peer ? getpeername : getsockname)(fd, (struct sockaddr *)&a, &len))
		return -1;
	return ntohs(a.scu_port);
}

static inline int afc_getint(int fd, int level, int opt)
{
	int v = -12345;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, level, opt, &v, &len))
		return -1000 - errno;
	return v;
}

static inline int afc_setint(int fd, int level, int opt, int v)
{
	return setsockopt(fd, level, opt, &v, sizeof(v));
}

/*
 * Network namespaces for the stream tests.  "lo": one fresh namespace,
 * both ends on 127.0.0.1 (a == b).  "veth": namespace a holds va
 * 10.77.0.1/24, namespace b holds its peer vb 10.77.0.2/24, with fixed
 * MAC addresses and permanent neighbour entries (no ARP needed, so that a
 * lossy or silent link fails as TCP does: by timeouts).  The calling
 * thread is left in a.  A socket lives in the namespace it was opened in,
 * so one thread may drive both ends: see afc_socket_in().
 */
#define AFC_VA_MAC "02:77:00:00:00:01"
#define AFC_VB_MAC "02:77:00:00:00:02"

struct afc_nets {
	int a, b;	/* namespace fds (/proc/thread-self/ns/net); a == b for lo */
};

static inline int afc_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int afc_sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc)
		fprintf(stderr, "# command failed (status %d): %s\n", rc, cmd);
	return rc;
}

/* Brings the current namespace's loopback up (as "ip link set lo up",
 * without a process: on the debug kernel each exec costs a fixture about
 * half a second). */
static inline int afc_lo_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = -1;

	if (fd >= 0 && !ioctl(fd, SIOCGIFFLAGS, &ifr)) {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	if (rc)
		fprintf(stderr, "# bringing lo up: %s\n", strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Runs the ip(8) commands of cmds (one a line) in one process ("ip -batch"). */
static inline int afc_ip_batch(const char *cmds)
{
	FILE *p = popen("ip -batch -", "w");
	int rc;

	if (!p)
		return -1;
	fputs(cmds, p);
	rc = pclose(p);
	if (rc)
		fprintf(stderr, "# ip -batch failed (status %d):\n%s", rc, cmds);
	return rc;
}

/* Waits (at most 5 s) until device ifname of the current namespace is
 * operationally up with its queue discipline attached: both happen in
 * the kernel's link watch work, after `ip link set up` returned, and a
 * frame sent before it is dropped by the "noop" discipline, with no
 * counter of ours (a packet socket's injection is the one sender this
 * matters to; sockets retransmit).  0 once ready, -1 if it never was. */
static inline int afc_wait_link_ready(const char *ifname)
{
	char cmd[96], line[512] = "";

	snprintf(cmd, sizeof(cmd), "ip -o link show dev %s 2>/dev/null", ifname);
	for (int i = 0; i < 500; i++) {
		FILE *p = popen(cmd, "r");
		int ready = 0;

		if (!p)
			return -1;
		if (fgets(line, sizeof(line), p))
			ready = strstr(line, "state UP") && !strstr(line, "qdisc noop");
		pclose(p);
		if (ready)
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "# %s never came up: %s", ifname, line);
	return -1;
}

static inline int afc_lo_setup(struct afc_nets *n)
{
	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "# unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	n->a = n->b = open("/proc/thread-self/ns/net", O_RDONLY);
	if (n->a < 0)
		return -1;
	return afc_lo_up();
}

/* Runs a shell command inside namespace ns, then returns to namespace back. */
static inline int afc_sh_in(int ns, int back, const char *cmd)
{
	int rc;

	if (setns(ns, CLONE_NEWNET))
		return -1;
	rc = afc_sh("%s", cmd);
	if (setns(back, CLONE_NEWNET))
		return -1;
	return rc;
}

static inline int afc_veth_setup(struct afc_nets *n)
{
	if (afc_lo_setup(n))
		return -1;
	char cmds[512];
	int rc;

	/* The second namespace: unshare again, remember it, come back. */
	if (unshare(CLONE_NEWNET))
		return -1;
	n->b = open("/proc/thread-self/ns/net", O_RDONLY);	/* inherited by ip: no CLOEXEC */
	if (n->b < 0 || afc_lo_up() || setns(n->a, CLONE_NEWNET))
		return -1;
	/* Two ip processes in all (one per namespace): a fixture's set-up is
	 * most of a short test's time on the debug kernel. */
	snprintf(cmds, sizeof(cmds),
		 "link add va address " AFC_VA_MAC " type veth peer name vb address " AFC_VB_MAC "\n"
		 "link set vb netns /proc/self/fd/%d\n"
		 "addr add 10.77.0.1/24 dev va\n"
		 "link set va up\n"
		 "neigh replace 10.77.0.2 lladdr " AFC_VB_MAC " dev va nud permanent\n", n->b);
	if (afc_ip_batch(cmds) || setns(n->b, CLONE_NEWNET))
		return -1;
	rc = afc_ip_batch("addr add 10.77.0.2/24 dev vb\n"
			  "link set vb up\n"
			  "neigh replace 10.77.0.1 lladdr " AFC_VA_MAC " dev vb nud permanent\n");
	if (setns(n->a, CLONE_NEWNET))
		return -1;
	return rc;
}

/* A socket (type_flags as for afc_tsocket_flags) opened in namespace ns. */
static inline int afc_socket_in(const struct afc_nets *n, int ns, int type_flags)
{
	int fd, err;

	if (ns == n->a)
		return afc_tsocket_flags(type_flags);
	if (setns(ns, CLONE_NEWNET))
		return -1;
	fd = afc_tsocket_flags(type_flags);
	err = errno;
	if (setns(n->a, CLONE_NEWNET)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	errno = err;
	return fd;
}

static inline void afc_nets_close(struct afc_nets *n)
{
	if (n->b >= 0 && n->b != n->a)
		close(n->b);
	if (n->a >= 0)
		close(n->a);
	n->a = n->b = -1;
}

/* Milliseconds of CLOCK_MONOTONIC. */
static inline long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static inline long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* Sends all of buf (MSG_NOSIGNAL); returns len or -1. */
static inline ssize_t send_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);

		if (n < 0)
			return -1;
		done += n;
	}
	return done;
}

/* The value of environment variable name (strtol base 0), or def. */
static inline long long afc_env_long(const char *name, long long def)
{
	const char *e = getenv(name);

	return e && *e ? strtoll(e, NULL, 0) : def;
}

/* Pins the calling thread to CPU cpu (modulo the CPUs there are); 0 or -1. */
static inline int afc_pin_cpu(int cpu)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(n > 0 ? cpu % n : 0, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

#endif
