// SPDX-License-Identifier: GPL-2.0
/*
 * Socket memory (issue 11): what a user who never reads can pin, held by
 * the family-wide limit (net.af_custom.mem, as tcp_mem) and by the memory
 * cgroup; buffers that start small and grow with the transfer (as TCP's
 * autotuning); a receive queue of tiny segments that fills memory closes
 * the window instead of black-holing the sender.
 *
 * Every test runs against TCP too (AFC_TEST_FAMILY=inet): the same body,
 * with tcp_mem and the "TCP" line of /proc/net/protocols.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <grp.h>
#include <sys/prctl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include "afc_test.h"
#include "afc_frame.h"
#include "kselftest_harness.h"

#define NOSIG MSG_NOSIGNAL

static int getbuf(int fd, int opt);

static const char *mem_sysctl(void)
{
	return afc_inet() ? "/proc/sys/net/ipv4/tcp_mem" : "/proc/sys/net/af_custom/mem";
}

/* Pages the family has charged ("memory" of /proc/net/protocols), or -1. */
static long proto_pages(void)
{
	const char *name = afc_inet() ? "TCP" : "AF_CUSTOM";
	FILE *f = fopen("/proc/net/protocols", "r");
	char line[512], proto[64];
	long size, socks, mem = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %ld %ld %ld", proto, &size, &socks, &mem) == 4 &&
		    !strcmp(proto, name))
			break;
		mem = -1;
	}
	fclose(f);
	return mem;
}

/* Sends until EAGAIN on a nonblocking path; returns the bytes taken. */
static long fill(int fd)
{
	static char junk[65536];
	long total = 0;

	for (int i = 0; i < 4096; i++) {
		ssize_t n = send(fd, junk, sizeof(junk), MSG_DONTWAIT | NOSIG);

		if (n <= 0)
			break;
		total += n;
	}
	return total;
}

struct pairs {
	int n, l, port;
	int rcvbuf;	/* nonzero: SO_RCVBUFFORCE of the listener (so of the servers) */
	int c[512], s[512];
};

/* n connected pairs over 127.0.0.1 in the current namespace. */
static int open_pairs(struct pairs *p, int n)
{
	p->n = 0;
	p->port = 0;
	p->l = afc_tsocket();
	if (p->l < 0 || afc_bind(p->l, "127.0.0.1", 0))
		return -1;
	if (p->rcvbuf && setsockopt(p->l, SOL_SOCKET, SO_RCVBUFFORCE, &p->rcvbuf, sizeof(p->rcvbuf)))
		return -1;
	if (listen(p->l, n + 8))
		return -1;
	p->port = afc_port(p->l, 0);
	for (int i = 0; i < n; i++) {
		p->c[i] = afc_tsocket();
		if (p->c[i] < 0 || afc_connect(p->c[i], "127.0.0.1", p->port))
			return -1;
		p->s[i] = accept(p->l, NULL, NULL);
		if (p->s[i] < 0)
			return -1;
		p->n++;
	}
	return 0;
}

static void close_pairs(struct pairs *p)
{
	for (int i = 0; i < p->n; i++) {
		close(p->c[i]);
		close(p->s[i]);
	}
	if (p->l >= 0)
		close(p->l);
	p->n = 0;
	p->l = -1;
}

/* Every client writes what it can; nobody reads.  Returns the bytes the
 * servers hold unread once the queues settle. */
static long pin(struct pairs *p)
{
	long unread = 0;

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < p->n; i++)
			fill(p->c[i]);
		usleep(300 * 1000);
	}
	for (int i = 0; i < p->n; i++) {
		int v = 0;

		if (ioctl(p->s[i], SIOCINQ, &v) == 0)
			unread += v;
	}
	return unread;
}

FIXTURE(mem) {
	struct afc_nets n;
	int sysctl_fd;
	char saved[128];
	int rmem_max;	/* net.af_custom.rmem[2], read in the init namespace */
};

FIXTURE_SETUP(mem)
{
	ssize_t r;

	/* The limit is global (init namespace): keep a handle before
	 * leaving it. */
	self->sysctl_fd = open(mem_sysctl(), O_RDWR);
	ASSERT_LE(0, self->sysctl_fd) TH_LOG("%s: %s", mem_sysctl(), strerror(errno));
	r = pread(self->sysctl_fd, self->saved, sizeof(self->saved) - 1, 0);
	ASSERT_LT(0, r);
	self->saved[r] = 0;
	if (!afc_inet()) {
		FILE *f = fopen("/proc/sys/net/af_custom/rmem", "r");
		int lo, def;

		ASSERT_NE(NULL, f);
		ASSERT_EQ(3, fscanf(f, "%d %d %d", &lo, &def, &self->rmem_max));
		fclose(f);
	}
	ASSERT_EQ(0, afc_lo_setup(&self->n));
	if (!afc_inet()) {
		ASSERT_LT(0, afc_family()) TH_LOG("af_custom is not loaded");
	}
}

FIXTURE_TEARDOWN(mem)
{
	if (self->sysctl_fd >= 0) {
		pwrite(self->sysctl_fd, self->saved, strlen(self->saved), 0);
		close(self->sysctl_fd);
	}
	afc_nets_close(&self->n);
}

static int set_mem(int fd, const char *v)
{
	return pwrite(fd, v, strlen(v), 0) == (ssize_t)strlen(v) ? 0 : -1;
}

/*
 * 200 pairs that never read, under a family-wide limit of 256 pages
 * (1 MiB): what the receivers hold stays within the limit plus the
 * per-CPU reserve the kernel's accounting batches (1 MiB a CPU); with the
 * default limit the same program pins several times that.  TCP also
 * forces one buffer into each empty receive queue past the limit
 * (tcp_data_queue's sk_forced_mem_schedule): its bound has 200 frames
 * more (measured 2026-12-04 in the VM: TCP 6.6 MB unread in 3,651 pages,
 * AF_CUSTOM 64 KB unread in 3,422 pages, mostly the senders' one forced
 * chunk each).
 */
TEST_F_TIMEOUT(mem, family_limit_caps_what_unread_pairs_pin, 120)
{
	const long cap = (1L << 20) + sysconf(_SC_NPROCESSORS_ONLN) * (1L << 20) +
			 (afc_inet() ? 200L * 65536 : 0);
	struct pairs p = { .l = -1 };
	long limited, unlimited, pages;

	ASSERT_EQ(0, set_mem(self->sysctl_fd, "128 192 256"));
	ASSERT_EQ(0, open_pairs(&p, 200)) TH_LOG("pairs: %s", strerror(errno));
	limited = pin(&p);
	pages = proto_pages();
	TH_LOG("limit 256 pages: %ld bytes unread, %ld pages charged", limited, pages);
	EXPECT_LE(limited, cap);
	/* Each sender may queue one chunk (64 KiB, 17 pages) over the limit:
	 * __sk_mem_raise_allocated forces a stream's charge once its queue
	 * reaches its (moderated) send buffer, for TCP as for us. */
	EXPECT_LE(pages, 256 + sysconf(_SC_NPROCESSORS_ONLN) * 256 + 200 * 17);
	EXPECT_LT(0, pages) TH_LOG("the family's memory is not accounted");
	close_pairs(&p);

	ASSERT_EQ(0, set_mem(self->sysctl_fd, self->saved));
	usleep(300 * 1000);
	ASSERT_EQ(0, open_pairs(&p, 200));
	unlimited = pin(&p);
	TH_LOG("default limit: %ld bytes unread, %ld pages charged", unlimited, proto_pages());
	EXPECT_LT(afc_inet() ? limited : 2 * cap, unlimited) TH_LOG("the limit made no difference to measure");
	close_pairs(&p);
}

/*
 * The per-namespace defaults of new sockets' buffers cannot pass the
 * init namespace's limits (net.af_custom.rmem[2], wmem[2]): the owner of
 * a namespace once raised them to 1 GiB and pinned 300 MiB with one pair.
 */
TEST_F(mem, namespace_buffer_defaults_are_clamped)
{
	int fd;
	FILE *f;

	if (afc_inet())
		SKIP(return, "AF_CUSTOM's sysctls");
	/* This fixture's namespace is not the init one. */
	f = fopen("/proc/sys/net/af_custom/rmem_default", "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "1073741824\n");
	EXPECT_NE(0, fclose(f)) TH_LOG("1 GiB accepted");
	f = fopen("/proc/sys/net/af_custom/wmem_default", "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "1073741824\n");
	EXPECT_NE(0, fclose(f)) TH_LOG("1 GiB accepted");
	/* The largest allowed is rmem[2] (6 MiB by default, as TCP's). */
	ASSERT_LT(4096, self->rmem_max);
	f = fopen("/proc/sys/net/af_custom/rmem_default", "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "%d\n", self->rmem_max + 1);
	EXPECT_NE(0, fclose(f)) TH_LOG("more than rmem[2] accepted");
	f = fopen("/proc/sys/net/af_custom/rmem_default", "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "%d\n", self->rmem_max);
	EXPECT_EQ(0, fclose(f));
	fd = afc_tsocket();
	ASSERT_LE(0, fd);
	EXPECT_EQ(self->rmem_max, getbuf(fd, SO_RCVBUF));
	close(fd);
}

/* ---- memory cgroup ------------------------------------------------------- */

#define CG_ROOT "/sys/fs/cgroup"

static long cg_read_long(const char *dir, const char *file, const char *key)
{
	char path[256], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char k[64];
		long x;

		if (!key) {
			v = atol(line);
			break;
		}
		if (sscanf(line, "%63s %ld", k, &x) == 2 && !strcmp(k, key)) {
			v = x;
			break;
		}
	}
	fclose(f);
	return v;
}

static int cg_write(const char *dir, const char *file, const char *v)
{
	char path[256];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ok = write(fd, v, strlen(v)) == (ssize_t)strlen(v);
	close(fd);
	return ok ? 0 : -1;
}

/*
 * The receiving side of 200 pairs that never read belongs to a task in a
 * cgroup with memory.max = 4 MiB (the senders are outside it): their
 * socket memory is charged to the cgroup ("sock" in memory.stat), and
 * neither the charge nor what they hold unread exceeds memory.max.  (A
 * sender inside the cgroup would meet the memory cgroup's OOM killer when
 * its own charge fails in process context, as a TCP sender does.)
 */
TEST_F_TIMEOUT(mem, memory_cgroup_holds_socket_memory, 120)
{
	char dir[128], pid[32];
	long res[3] = { -1, -1, -1 };
	int up[2], down[2], status, port = 0, c[200], tables;
	pid_t child;

	/* TCP's receive charges in softirq are forced past memory.max
	 * (GFP_ATOMIC; measured in the VM: 12.6 MB "sock" in a 4 MiB
	 * cgroup), so this bound is AF_CUSTOM's own. */
	if (afc_inet())
		SKIP(return, "TCP does not hold socket memory to memory.max");
	if (access(CG_ROOT "/cgroup.controllers", F_OK))
		mount("none", CG_ROOT, "cgroup2", 0, NULL);
	ASSERT_EQ(0, access(CG_ROOT "/cgroup.controllers", F_OK)) TH_LOG("cgroup2 not mounted");
	cg_write(CG_ROOT, "cgroup.subtree_control", "+memory");
	snprintf(dir, sizeof(dir), CG_ROOT "/afc_mem_%d", getpid());
	ASSERT_EQ(0, mkdir(dir, 0755)) TH_LOG("mkdir %s: %s", dir, strerror(errno));
	ASSERT_EQ(0, cg_write(dir, "memory.max", "4194304")) TH_LOG("no memory controller");
	ASSERT_EQ(0, pipe(up));
	ASSERT_EQ(0, pipe(down));
	/* The namespace's lookup and bind tables (~1 MiB, twice that on the
	 * debug kernel) are made by its first bind and charged to whoever
	 * binds: here, outside the cgroup, so that its 4 MiB hold sockets. */
	tables = afc_tsocket();
	ASSERT_LE(0, tables);
	ASSERT_EQ(0, afc_bind(tables, "127.0.0.1", 0));

	child = fork();
	ASSERT_LE(0, child);
	if (child == 0) {
		int l, s[200], go;
		long out[3] = { 0, 0, 0 };

		snprintf(pid, sizeof(pid), "%d", getpid());
		if (cg_write(dir, "cgroup.procs", pid))
			_exit(2);
		/* The listener is made inside the cgroup: its children are charged there. */
		l = afc_tsocket();
		if (l < 0 || afc_bind(l, "127.0.0.1", 0) || listen(l, 256))
			_exit(2);
		port = afc_port(l, 0);
		if (write(up[1], &port, sizeof(port)) != sizeof(port))
			_exit(3);
		for (int i = 0; i < 200; i++)
			if ((s[i] = accept(l, NULL, NULL)) < 0)
				_exit(4);
		/* The parent filled the pipes: count what is held. */
		if (read(down[0], &go, sizeof(go)) != sizeof(go))
			_exit(5);
		for (int i = 0; i < 200; i++) {
			int v = 0;

			if (ioctl(s[i], SIOCINQ, &v) == 0)
				out[0] += v;
		}
		out[1] = cg_read_long(dir, "memory.stat", "sock");
		out[2] = cg_read_long(dir, "memory.current", NULL);
		if (write(up[1], out, sizeof(out)) != sizeof(out))
			_exit(6);
		_exit(0);
	}
	ASSERT_EQ(sizeof(port), read(up[0], &port, sizeof(port)));
	for (int i = 0; i < 200; i++) {
		c[i] = afc_tsocket();
		ASSERT_LE(0, c[i]);
		ASSERT_EQ(0, afc_connect(c[i], "127.0.0.1", port)) TH_LOG("connect %d: %s", i, strerror(errno));
	}
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 200; i++)
			fill(c[i]);
		usleep(300 * 1000);
	}
	ASSERT_EQ(sizeof(port), write(down[1], &port, sizeof(port)));
	ASSERT_EQ(sizeof(res), read(up[0], res, sizeof(res)));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_EQ(0, cg_read_long(dir, "memory.events", "oom_kill")) TH_LOG("the cgroup's OOM killer ran");
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("the child was killed by signal %d", WTERMSIG(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	for (int i = 0; i < 200; i++)
		close(c[i]);
	close(tables);
	TH_LOG("unread %ld, sock %ld, current %ld (max 4194304)", res[0], res[1], res[2]);
	EXPECT_LT(0, res[1]) TH_LOG("socket memory is not charged to the cgroup");
	EXPECT_LE(res[1], 4194304);
	EXPECT_LE(res[0], 4194304);
	EXPECT_LE(res[2], 4194304);
	/* Without it the same receivers would hold 200 windows (over 12 MiB). */
	for (int i = 0; i < 50 && rmdir(dir); i++)
		usleep(100 * 1000);
}

/*
 * The attacker of issue 11: an unprivileged user (uid 65534) in a user and
 * network namespace of its own, inside a cgroup with memory.max = 8 MiB,
 * tries to raise its namespace's buffer defaults to 1 GiB, then opens 200
 * pairs that never read plus 100 connections it never accepts, and writes
 * all it can.  The sysctl is refused, and neither the cgroup's socket
 * memory nor its total passes memory.max (its own senders wait for memory
 * instead of meeting the OOM killer).  Its sockets leave the cgroup's
 * tasks room: with every buffer full, the user still touches 256 KiB of
 * fresh memory, and the cgroup's OOM killer never runs (CI once saw the
 * child killed when the sockets had filled the cgroup to within 4 KiB).
 */
TEST_F_TIMEOUT(mem, unprivileged_namespace_user_held_by_memory_max, 180)
{
	char dir[128];
	long res[4] = { -1, -1, -1, -1 }, oom_kills;
	int up[2], status;
	pid_t child;

	if (afc_inet())
		SKIP(return, "TCP does not hold socket memory to memory.max");
	if (access(CG_ROOT "/cgroup.controllers", F_OK))
		mount("none", CG_ROOT, "cgroup2", 0, NULL);
	ASSERT_EQ(0, access(CG_ROOT "/cgroup.controllers", F_OK)) TH_LOG("cgroup2 not mounted");
	cg_write(CG_ROOT, "cgroup.subtree_control", "+memory");
	snprintf(dir, sizeof(dir), CG_ROOT "/afc_user_%d", getpid());
	ASSERT_EQ(0, mkdir(dir, 0755)) TH_LOG("mkdir %s: %s", dir, strerror(errno));
	ASSERT_EQ(0, cg_write(dir, "memory.max", "8388608"));
	ASSERT_EQ(0, pipe(up));

	child = fork();
	ASSERT_LE(0, child);
	if (child == 0) {
		struct pairs p = { .l = -1 };
		long out[4] = { 0, 0, 0, 0 };
		int l2, c2[100], port2;
		char pid[32], path[160], *touched;
		int reclaim;
		FILE *f;

		snprintf(pid, sizeof(pid), "%d", getpid());
		/* Opened as root: the reclaim below is the administrator's. */
		snprintf(path, sizeof(path), "%s/memory.reclaim", dir);
		reclaim = open(path, O_WRONLY);
		if (reclaim < 0 || cg_write(dir, "cgroup.procs", pid) || setgroups(0, NULL) || setgid(65534) ||
		    setuid(65534) || prctl(PR_SET_DUMPABLE, 1) || unshare(CLONE_NEWUSER | CLONE_NEWNET))
			_exit(2);
		/* Root of its namespaces, as an unprivileged user can make itself. */
		if (cg_write("/proc/self", "setgroups", "deny") ||
		    cg_write("/proc/self", "uid_map", "0 65534 1") ||
		    cg_write("/proc/self", "gid_map", "0 65534 1") || system("ip link set lo up"))
			_exit(8);
		/* The namespace's owner may set its sysctls, within the limits. */
		f = fopen("/proc/sys/net/af_custom/rmem_default", "w");
		if (!f)
			_exit(3);
		fprintf(f, "1073741824\n");
		out[3] = fclose(f) == 0;	/* 1: the 1 GiB default was accepted */
		if (open_pairs(&p, 200))
			_exit(4);
		/* 100 more connections nobody accepts. */
		l2 = afc_tsocket();
		if (l2 < 0 || afc_bind(l2, "127.0.0.1", 0) || listen(l2, 128))
			_exit(5);
		port2 = afc_port(l2, 0);
		for (int i = 0; i < 100; i++) {
			c2[i] = afc_tsocket();
			if (c2[i] < 0 || afc_connect(c2[i], "127.0.0.1", port2))
				_exit(6);
		}
		for (int round = 0; round < 3; round++) {
			for (int i = 0; i < 100; i++)
				fill(c2[i]);
			usleep(100 * 1000);
		}
		/*
		 * Reclaim takes the cgroup's page cache; the pairs fill what it
		 * frees, so no page is left that reclaim could free for the
		 * user's own memory: only what the sockets leave.
		 */
		if (write(reclaim, "64M", 3) < 0 && errno != EAGAIN)
			_exit(10);
		out[0] = pin(&p);
		out[1] = cg_read_long(dir, "memory.stat", "sock");
		out[2] = cg_read_long(dir, "memory.current", NULL);
		/* The user's own memory, with every buffer full. */
		touched = mmap(NULL, 256 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (touched == MAP_FAILED)
			_exit(9);
		memset(touched, 1, 256 << 10);
		if (write(up[1], out, sizeof(out)) != sizeof(out))
			_exit(7);
		_exit(0);
	}
	close(up[1]);
	EXPECT_EQ(sizeof(res), read(up[0], res, sizeof(res)));
	close(up[0]);
	ASSERT_EQ(child, waitpid(child, &status, 0));
	oom_kills = cg_read_long(dir, "memory.events", "oom_kill");
	EXPECT_EQ(0, oom_kills) TH_LOG("the cgroup's OOM killer ran %ld times", oom_kills);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("the child was killed by signal %d", WTERMSIG(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("the child failed at step %d", WEXITSTATUS(status));
	TH_LOG("unread %ld, sock %ld, current %ld (max 8388608)", res[0], res[1], res[2]);
	EXPECT_EQ(0, res[3]) TH_LOG("a 1 GiB buffer default was accepted");
	EXPECT_LT(0, res[1]) TH_LOG("socket memory is not charged to the cgroup");
	EXPECT_LE(res[1], 8388608);
	/*
	 * The sockets stop a sixteenth (512 KiB) short of memory.max; what
	 * else the kernel charged since (more on the debug kernel: 380 KiB
	 * left there) comes out of that.  Without the margin: 0-16 KiB left.
	 */
	EXPECT_LE(res[2], 8388608 - 131072) TH_LOG("the user's sockets left it under 128 KiB");
	for (int i = 0; i < 50 && rmdir(dir); i++)
		usleep(100 * 1000);
}

/*
 * An orphan holding queued data behind a zero window is reset by its
 * timer once the family is past its hard limit (tcp_out_of_resources),
 * however many probes orphan_retries would still allow.
 */
TEST_F_TIMEOUT(mem, orphan_reset_when_the_family_is_out_of_memory, 120)
{
	const char *retries = afc_inet() ? "/proc/sys/net/ipv4/tcp_orphan_retries"
					 : "/proc/sys/net/af_custom/orphan_retries";
	struct pairs p = { .l = -1 };
	int small = 4096, big = 4 << 20, err = 0, queued;
	socklen_t l = sizeof(err);
	long long t0;
	FILE *f;

	f = fopen(retries, "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "255\n");
	ASSERT_EQ(0, fclose(f));
	ASSERT_EQ(0, open_pairs(&p, 1));
	ASSERT_EQ(0, setsockopt(p.c[0], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)));
	/*
	 * The family's count batches charges per CPU (up to 1 MiB each,
	 * SK_MEMORY_PCPU_RESERVE), so it can read up to 1 MiB per CPU below
	 * what sockets hold. The orphan must hold well past that for the
	 * count to be past mem[2] = 1 page whatever other sockets left in
	 * the per-CPU reserves: a 4 MiB send buffer (8 MiB with overhead).
	 */
	ASSERT_EQ(0, setsockopt(p.s[0], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)));
	/* The server's data fills the client's window; the rest stays queued. */
	for (int i = 0; i < 3; i++) {
		fill(p.s[0]);
		usleep(100 * 1000);
	}
	queued = 0;
	ASSERT_EQ(0, ioctl(p.s[0], SIOCOUTQ, &queued));
	TH_LOG("orphan-to-be holds %d unacknowledged bytes", queued);
	EXPECT_LT(2 << 20, queued);
	close(p.s[0]);
	p.s[0] = -1;
	ASSERT_EQ(0, set_mem(self->sysctl_fd, "1 1 1"));
	t0 = now_ms();
	while (now_ms() - t0 < 60000) {
		l = sizeof(err);
		getsockopt(p.c[0], SOL_SOCKET, SO_ERROR, &err, &l);
		if (err)
			break;
		usleep(50 * 1000);
	}
	ASSERT_EQ(0, set_mem(self->sysctl_fd, self->saved));
	TH_LOG("client error %d after %lld ms", err, now_ms() - t0);
	EXPECT_EQ(ECONNRESET, err);
	if (!afc_inet())
		EXPECT_LT(0, afc_stat("OrphanOverflows"));
	close(p.c[0]);
	close(p.l);
}

/* ---- buffer sizes --------------------------------------------------------- */

struct reader {
	int fd;
	long want, got;
};

static void *read_all(void *arg)
{
	struct reader *r = arg;
	static char buf[65536];

	while (r->got < r->want) {
		ssize_t n = recv(r->fd, buf, sizeof(buf), 0);

		if (n <= 0)
			break;
		r->got += n;
	}
	return NULL;
}

static int getbuf(int fd, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);

	getsockopt(fd, SOL_SOCKET, opt, &v, &l);
	return v;
}

/* New sockets start at tcp_rmem[1] / tcp_wmem[1] (128 KiB, 16 KiB); a
 * transfer with a keen reader grows both; a size the user set stays. */
TEST_F(mem, buffers_start_small_and_grow_with_the_transfer)
{
	static char chunk[65536];
	struct pairs p = { .l = -1 }, locked = { .l = -1 };
	struct reader r;
	pthread_t t;
	int v = 65536;

	/* A new socket; a connected one's send buffer already holds two
	 * initial congestion windows (tcp_init_buffer_space). */
	v = afc_tsocket();
	ASSERT_LE(0, v);
	EXPECT_EQ(131072, getbuf(v, SO_RCVBUF));
	EXPECT_EQ(16384, getbuf(v, SO_SNDBUF));
	close(v);
	v = 65536;
	ASSERT_EQ(0, open_pairs(&p, 1));
	EXPECT_EQ(131072, getbuf(p.s[0], SO_RCVBUF));

	/* 32 MiB; the debug kernel moves less (AFC_STRESS_MB, check.sh). */
	r = (struct reader){ .fd = p.s[0], .want = (getenv("AFC_STRESS_MB") ? 8L : 32L) << 20 };
	ASSERT_EQ(0, pthread_create(&t, NULL, read_all, &r));
	for (long sent = 0; sent < r.want;) {
		ssize_t n = send(p.c[0], chunk, sizeof(chunk), NOSIG);

		ASSERT_LT(0, n);
		sent += n;
	}
	pthread_join(t, NULL);
	ASSERT_EQ(r.want, r.got);
	TH_LOG("after %ld MiB: rcvbuf %d, sndbuf %d", r.want >> 20, getbuf(p.s[0], SO_RCVBUF), getbuf(p.c[0], SO_SNDBUF));
	EXPECT_LT(131072, getbuf(p.s[0], SO_RCVBUF));
	EXPECT_LT(16384, getbuf(p.c[0], SO_SNDBUF));
	close_pairs(&p);

	/* SO_RCVBUF on the listener: its children keep it. */
	locked.l = afc_tsocket();
	ASSERT_LE(0, locked.l);
	ASSERT_EQ(0, setsockopt(locked.l, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)));
	ASSERT_EQ(0, afc_bind(locked.l, "127.0.0.1", 0));
	ASSERT_EQ(0, listen(locked.l, 4));
	locked.c[0] = afc_tsocket();
	ASSERT_EQ(0, afc_connect(locked.c[0], "127.0.0.1", afc_port(locked.l, 0)));
	locked.s[0] = accept(locked.l, NULL, NULL);
	ASSERT_LE(0, locked.s[0]);
	locked.n = 1;
	r = (struct reader){ .fd = locked.s[0], .want = 8L << 20 };
	ASSERT_EQ(0, pthread_create(&t, NULL, read_all, &r));
	for (long sent = 0; sent < r.want;) {
		ssize_t n = send(locked.c[0], chunk, sizeof(chunk), NOSIG);

		ASSERT_LT(0, n);
		sent += n;
	}
	pthread_join(t, NULL);
	ASSERT_EQ(r.want, r.got);
	EXPECT_EQ(2 * v, getbuf(locked.s[0], SO_RCVBUF));
	close_pairs(&locked);
}

/*
 * Defect 4: one-byte segments (truesize far above their payload) fill a
 * small receive buffer's memory while its window, counted in payload
 * bytes, is still mostly open.  The receiver must take their ACKs and
 * close the window, so that once the reader wakes the rest follows at
 * once; dropping the segments whole left the sender retransmitting into
 * the full buffer with its timer backing off (seconds, then ETIMEDOUT).
 */
TEST_F(mem, tiny_segments_close_the_window_not_the_connection)
{
	struct pairs p = { .l = -1 };
	int one = 1, small = 4096, n = 0, got = 0;
	long long t0;
	char c = 0, buf[4096];

	p.l = afc_tsocket();
	ASSERT_LE(0, p.l);
	ASSERT_EQ(0, setsockopt(p.l, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)));
	ASSERT_EQ(0, afc_bind(p.l, "127.0.0.1", 0));
	ASSERT_EQ(0, listen(p.l, 4));
	p.c[0] = afc_tsocket();
	ASSERT_EQ(0, setsockopt(p.c[0], afc_optlevel(), AFC_NODELAY, &one, sizeof(one)));
	ASSERT_EQ(0, afc_connect(p.c[0], "127.0.0.1", afc_port(p.l, 0)));
	p.s[0] = accept(p.l, NULL, NULL);
	ASSERT_LE(0, p.s[0]);
	p.n = 1;

	if (!afc_inet())
		TH_LOG("MemoryPages %lld, rcvbuf %d", afc_stat("MemoryPages"), getbuf(p.s[0], SO_RCVBUF));
	/* 3000 one-byte writes, each its own segment; nobody reads. */
	for (int i = 0; i < 3000; i++) {
		c = (char)i;
		if (send(p.c[0], &c, 1, MSG_DONTWAIT | NOSIG) != 1)
			break;
		n++;
	}
	TH_LOG("%d one-byte writes taken", n);
	if (!afc_inet())
		TH_LOG("RcvMemDrops %lld RetransSegs %lld BacklogDrops %lld InSegs %lld",
		       afc_stat("RcvMemDrops"), afc_stat("RetransSegs"), afc_stat("BacklogDrops"), afc_stat("InSegs"));
	ASSERT_LT(100, n);
	sleep(6);
	/* The reader wakes: everything arrives, promptly and in order. */
	t0 = now_ms();
	while (got < n && now_ms() - t0 < 30000) {
		struct pollfd pf = { .fd = p.s[0], .events = POLLIN };
		ssize_t r;

		if (poll(&pf, 1, 1000) <= 0)
			continue;
		r = recv(p.s[0], buf, sizeof(buf), MSG_DONTWAIT);
		ASSERT_LT(0, r) TH_LOG("recv: %s", r < 0 ? strerror(errno) : "EOF");
		for (ssize_t i = 0; i < r; i++)
			ASSERT_EQ((char)(got + i), buf[i]);
		got += r;
	}
	TH_LOG("all %d bytes %lld ms after the reader woke", got, now_ms() - t0);
	if (!afc_inet())
		TH_LOG("RcvMemDrops %lld RetransSegs %lld BacklogDrops %lld InSegs %lld",
		       afc_stat("RcvMemDrops"), afc_stat("RetransSegs"), afc_stat("BacklogDrops"), afc_stat("InSegs"));
	ASSERT_EQ(n, got);
	EXPECT_GT(2000, now_ms() - t0) TH_LOG("the sender was stuck in retransmission backoff");
	EXPECT_EQ(0, getbuf(p.c[0], SO_ERROR));
	close_pairs(&p);
}

/* ---- memory pressure ------------------------------------------------------ */

/* Whether /proc/net/protocols says the family is under memory pressure
 * (its "press" column), or -1. */
static int proto_pressure(void)
{
	const char *name = afc_inet() ? "TCP" : "AF_CUSTOM";
	FILE *f = fopen("/proc/net/protocols", "r");
	char line[512], proto[64], press[16];
	long size, socks, mem;
	int ret = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %ld %ld %ld %15s", proto, &size, &socks, &mem, press) == 5 &&
		    !strcmp(proto, name))
			ret = !strcmp(press, "yes");
	fclose(f);
	return ret;
}

/* A packet socket that sees each frame of the family under test arriving
 * on lo once (IPv4 for TCP). */
static int sniff_open(void)
{
	int proto = htons(afc_inet() ? ETH_P_IP : ETH_P_AF_CUSTOM);
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = proto };
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK, proto);
	int big = 64 << 20, one = 1;

	sll.sll_ifindex = if_nametoindex("lo");
	if (fd < 0 || bind(fd, (void *)&sll, sizeof(sll)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) ||
	    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* What one end (by its port) advertised, as seen on the wire. */
struct adverts {
	int port;
	int wscale, mss;	/* from its SYN-ACK */
	int segs;		/* its segments after the SYN-ACK */
	long max;		/* the largest window among them, in bytes */
};

/* Reads every frame the sniffer holds; counts those of a->port. */
static void sniff_adverts(int fd, struct adverts *a)
{
	static uint8_t b[256];
	ssize_t n;

	while ((n = recv(fd, b, sizeof(b), MSG_TRUNC)) > 0) {
		size_t len = (size_t)n < sizeof(b) ? (size_t)n : sizeof(b);
		int port, syn, win, wscale = 0, mss = 0;

		if (afc_inet()) {
			size_t ihl = (b[0] & 15) * 4, doff;
			const uint8_t *t = b + ihl;

			if (len < ihl + 20 || b[9] != IPPROTO_TCP)
				continue;
			port = t[0] << 8 | t[1];
			syn = t[13] & 0x02;
			win = t[14] << 8 | t[15];
			doff = (t[12] >> 4) * 4;
			for (size_t i = 20; syn && i + 1 < doff && ihl + i + 1 < len;) {
				if (t[i] == 0)
					break;
				if (t[i] == 1) {
					i++;
					continue;
				}
				if (t[i + 1] < 2)
					break;
				if (t[i] == 2 && ihl + i + 3 < len)
					mss = t[i + 2] << 8 | t[i + 3];
				if (t[i] == 3 && ihl + i + 2 < len)
					wscale = t[i + 2];
				i += t[i + 1];
			}
		} else {
			if (len < AFC_HDR_LEN)
				continue;
			port = b[4] << 8 | b[5];
			syn = b[1] & AFC_F_SYN;
			win = b[2] << 8 | b[3];
			wscale = b[28];
			mss = b[30] << 8 | b[31];
		}
		if (port != a->port)
			continue;
		if (syn) {
			a->wscale = wscale;
			a->mss = mss;
			continue;
		}
		a->segs++;
		if ((long)win << a->wscale > a->max)
			a->max = (long)win << a->wscale;
	}
}

/* A client writes for 400 ms toward a server that never reads, whose
 * receive buffer (forced past net.core.rmem_max) allows a 4 MiB window;
 * returns what the server advertised meanwhile. */
static int advertised(int sniff, struct pairs *p, struct adverts *a)
{
	p->l = -1;
	p->rcvbuf = 4 << 20;
	if (open_pairs(p, 1))
		return -1;
	for (int i = 0; i < 4; i++) {
		fill(p->c[0]);
		usleep(100 * 1000);
	}
	a->port = p->port;
	sniff_adverts(sniff, a);
	return 0;
}

/*
 * Under memory pressure (net.af_custom.mem[1] passed, as tcp_mem[1]) a
 * receiver offers no more than four segments of window beyond what it
 * holds, however large its buffer: the senders slow down before the
 * family reaches its hard limit. TCP is looser: it stops growing
 * rcv_ssthresh and clamps it to 4 * advmss only once half the buffer is
 * used (__tcp_select_window), and a connection whose buffer was set
 * large starts with its full window (measured with this test in its TCP
 * mode: a 4 MB window under pressure, 7.9 MB taken). So in TCP mode the
 * test checks that pressure is entered and data still flows, and logs
 * TCP's window; the bound is AF_CUSTOM's.
 */
TEST_F_TIMEOUT(mem, pressure_shrinks_the_window_to_a_few_segments, 120)
{
	struct pairs a = { .l = -1 }, b = { .l = -1 }, t = { .l = -1 };
	struct adverts wa = { 0 }, wb = { 0 };
	long lo, mid, hi, bound;
	int sniff, unread = 0, press = 0;
	char v[128];

	ASSERT_EQ(3, sscanf(self->saved, "%ld %ld %ld", &lo, &mid, &hi));
	sniff = sniff_open();
	ASSERT_LE(0, sniff) TH_LOG("packet socket: %s", strerror(errno));
	ASSERT_EQ(0, proto_pressure()) TH_LOG("under pressure before the test");

	/* Without pressure: the window opens wide. Pair a's unread data
	 * then keeps the family's count far past one page (its per-CPU
	 * batching hides up to 1 MiB a CPU), so pressure holds below. */
	ASSERT_EQ(0, advertised(sniff, &a, &wa));
	ASSERT_EQ(0, ioctl(a.s[0], SIOCINQ, &unread));
	TH_LOG("no pressure: %d segments, largest window %ld (scale %d, MSS %d), %d bytes unread",
	       wa.segs, wa.max, wa.wscale, wa.mss, unread);

	/* mem[0] = mem[1] = 1 page: pressure from the next charge on, and
	 * never left while more than a page is charged; no hard limit. */
	snprintf(v, sizeof(v), "1 1 %ld", hi);
	ASSERT_EQ(0, set_mem(self->sysctl_fd, v));
	/* Pressure is entered when memory is next charged: a fresh pair
	 * exchanges a little (pair a's sockets have their charge already). */
	ASSERT_EQ(0, open_pairs(&t, 1));
	for (int i = 0; i < 50 && press != 1; i++) {
		char buf[1000] = { 0 };

		ASSERT_EQ(sizeof(buf), send(t.c[0], buf, sizeof(buf), NOSIG));
		ASSERT_LT(0, recv(t.s[0], buf, sizeof(buf), 0));
		usleep(20 * 1000);
		press = proto_pressure();
	}
	ASSERT_EQ(1, press) TH_LOG("the family never entered memory pressure");

	ASSERT_EQ(0, advertised(sniff, &b, &wb));
	press = proto_pressure();
	ASSERT_EQ(0, set_mem(self->sysctl_fd, self->saved));
	unread = 0;
	ASSERT_EQ(0, ioctl(b.s[0], SIOCINQ, &unread));
	TH_LOG("pressure: %d segments, largest window %ld (scale %d, MSS %d), %d bytes unread",
	       wb.segs, wb.max, wb.wscale, wb.mss, unread);
	EXPECT_EQ(1, press) TH_LOG("pressure ended during the transfer");

	/* Four segments, plus the rounding to the window scale. */
	bound = 4L * wb.mss + 2L * (1L << wb.wscale);
	ASSERT_LT(0, wa.segs);
	ASSERT_LT(0, wb.segs);
	ASSERT_LT(0, wb.mss);
	EXPECT_LT(bound, wa.max) TH_LOG("the window never opened past four segments without pressure");
	if (!afc_inet())
		EXPECT_GE(bound, wb.max) TH_LOG("window %ld under pressure, bound %ld", wb.max, bound);
	EXPECT_LT(0, unread) TH_LOG("no data flowed under pressure");
	close_pairs(&a);
	close_pairs(&b);
	close_pairs(&t);
	close(sniff);
}

/*
 * A non-blocking writer refused for want of socket memory (the family
 * past its hard limit) gets EAGAIN, and an edge-triggered EPOLLOUT once it
 * may try again, even with nothing of its own in flight whose
 * acknowledgement would wake it.  TCP forces the first buffer of an empty
 * write queue past the limit, so an acknowledgement always comes; we hold
 * the limit and wake the writer to retry (before the fix the EPOLLOUT
 * never came).
 */
TEST_F_TIMEOUT(mem, writer_refused_memory_hears_epollout, 120)
{
	struct pairs p = { .l = -1 }, q = { .l = -1 }, r = { .l = -1 };
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLET }, got;
	static char buf[65536];
	long sent = 0, got_bytes = 0;
	int ep, sends, n, eagain = 0;

	ASSERT_EQ(0, open_pairs(&q, 1)) TH_LOG("pair: %s", strerror(errno));
	ASSERT_EQ(0, open_pairs(&r, 1)) TH_LOG("pair: %s", strerror(errno));
	/* 2 MiB: well above what the kernel's per-CPU batching of the
	 * family's count (up to 1 MiB a CPU) can leave charged once the
	 * pinned pairs are gone. */
	ASSERT_EQ(0, set_mem(self->sysctl_fd, "512 512 512"));
	ASSERT_EQ(0, open_pairs(&p, 50)) TH_LOG("pairs: %s", strerror(errno));
	pin(&p);
	TH_LOG("%ld pages charged with a limit of 512", proto_pages());
	ASSERT_LT(512, proto_pages());
	ep = epoll_create1(0);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, q.c[0], &ev));
	/* The edge of a writable new socket. */
	ASSERT_EQ(1, epoll_wait(ep, &got, 1, 1000));
	for (sends = 0; sends < 2000; sends++) {
		n = send(q.c[0], buf, 100, MSG_DONTWAIT | NOSIG);
		if (n < 0) {
			ASSERT_EQ(EAGAIN, errno) TH_LOG("send: %s", strerror(errno));
			eagain = 1;
			break;
		}
		sent += n;
	}
	TH_LOG("%d sends of 100 bytes taken before EAGAIN", sends);
	ASSERT_TRUE(eagain) TH_LOG("the family's limit refused nothing");
	if (!afc_inet()) {
		/* Level-triggered: no POLLOUT while the writer waits for
		 * memory (TCP shows POLLOUT from its shrunk send buffer and
		 * relies on its forced first buffer). */
		struct pollfd pf = { .fd = q.c[0], .events = POLLOUT };

		EXPECT_EQ(0, poll(&pf, 1, 0)) TH_LOG("POLLOUT while refused memory: 0x%x", pf.revents);
	}
	/* The wait ends with its connection: reconnected after
	 * connect(AF_UNSPEC), a refused writer is writable at once. */
	{
		struct sockaddr unspec = { .sa_family = AF_UNSPEC };
		struct pollfd pf = { .fd = r.c[0], .events = POLLOUT };
		int rs;

		for (int i = 0; i < 2000; i++)
			if (send(r.c[0], buf, 100, MSG_DONTWAIT | NOSIG) < 0)
				break;
		ASSERT_EQ(EAGAIN, errno);
		ASSERT_EQ(0, connect(r.c[0], &unspec, sizeof(unspec))) TH_LOG("disconnect: %s", strerror(errno));
		ASSERT_EQ(0, afc_connect(r.c[0], "127.0.0.1", r.port)) TH_LOG("reconnect: %s", strerror(errno));
		rs = accept(r.l, NULL, NULL);
		ASSERT_LE(0, rs);
		ASSERT_EQ(1, poll(&pf, 1, 0));
		ASSERT_TRUE(pf.revents & POLLOUT) TH_LOG("reconnected socket not writable: 0x%x", pf.revents);
		close(rs);
	}
	/* Memory comes back. */
	close_pairs(&p);
	ASSERT_EQ(1, epoll_wait(ep, &got, 1, 5000)) TH_LOG("no EPOLLOUT after EAGAIN");
	ASSERT_TRUE(got.events & EPOLLOUT);
	n = -1;
	for (int i = 0; i < 50 && n < 0; i++) {
		n = send(q.c[0], buf, 100, MSG_DONTWAIT | NOSIG);
		if (n < 0) {
			ASSERT_EQ(EAGAIN, errno);
			ASSERT_EQ(1, epoll_wait(ep, &got, 1, 5000)) TH_LOG("no EPOLLOUT after a second EAGAIN");
		}
	}
	ASSERT_EQ(100, n);
	sent += n;
	/* Every byte taken arrives. */
	while (got_bytes < sent) {
		struct pollfd pf = { .fd = q.s[0], .events = POLLIN };

		ASSERT_EQ(1, poll(&pf, 1, 5000)) TH_LOG("%ld of %ld bytes arrived", got_bytes, sent);
		n = recv(q.s[0], buf, sizeof(buf), MSG_DONTWAIT);
		ASSERT_LT(0, n);
		got_bytes += n;
	}
	ASSERT_EQ(sent, got_bytes);
	close(ep);
	close_pairs(&q);
	close_pairs(&r);
}

TEST_HARNESS_MAIN
