// SPDX-License-Identifier: GPL-2.0
/*
 * The cost of a network namespace and the /proc walk of its sockets.
 *
 * A namespace that opens no AF_CUSTOM socket must cost the module next to
 * nothing: its lookup and bind tables (~1 MiB) are made by its first
 * socket that binds, charged to that task's memory cgroup.  The module
 * shows it in /proc/net/af_custom_stat: "TablesAllocated" (this namespace,
 * 0 or 1) and "TableSetsAllocated" (namespaces with tables, module-wide).
 *
 * /proc/net/af_custom is walked chain by chain, the lock dropped between
 * chains and between reads; every socket must still be listed exactly
 * once, however the file is read.
 */
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include "afc_test.h"
#include "kselftest_harness.h"

#define NAMESPACES 1000	/* at most; AFC_NETNS_COUNT may ask fewer (debug kernel) */
#define SOCKETS 3000

/* A field of /proc/meminfo in KiB, or -1. */
static long long meminfo(const char *name)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char key[64];
	long long v, found = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%63[^:]: %lld kB\n", key, &v) == 2) {
		if (!strcmp(key, name)) {
			found = v;
			break;
		}
	}
	fclose(f);
	return found;
}

static int raise_nofile(int n)
{
	struct rlimit r = { .rlim_cur = n, .rlim_max = n };

	return setrlimit(RLIMIT_NOFILE, &r);
}

FIXTURE(netns) { int home; };
FIXTURE_SETUP(netns)
{
	ASSERT_LT(0, afc_family()) TH_LOG("af_custom is not loaded");
	ASSERT_EQ(0, raise_nofile(SOCKETS + 1000)) TH_LOG("setrlimit: %s", strerror(errno));
	self->home = open("/proc/thread-self/ns/net", O_RDONLY);
	ASSERT_LE(0, self->home);
}
FIXTURE_TEARDOWN(netns)
{
	/* A kernel_sockets_hold_their_namespace that failed early. */
	syscall(__NR_delete_module, "afc_kern_sock", O_NONBLOCK);
	close(self->home);
}

/*
 * An RTM_NEWNSID (assign an id to the namespace of process `pid`) or
 * RTM_GETNSID (by pid, or by id: `nsid` >= 0) request.  Returns the id
 * (GETNSID), 0 (NEWNSID done), or -errno: ENOENT for an id whose
 * namespace is gone or going.  An id holds no reference: it is how a
 * test sees a namespace die without keeping it alive.
 */
static int nsid_request(int type, pid_t pid, int nsid)
{
	char buf[512] = { 0 };
	struct nlmsghdr *n = (struct nlmsghdr *)buf;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	int fd, len, ret = -EIO;

	n->nlmsg_len = NLMSG_LENGTH(sizeof(struct rtgenmsg));
	n->nlmsg_type = type;
	n->nlmsg_flags = NLM_F_REQUEST | (type == RTM_NEWNSID ? NLM_F_ACK : 0);
	((struct rtgenmsg *)NLMSG_DATA(n))->rtgen_family = AF_UNSPEC;
	for (int i = 0; i < 2; i++) {
		struct nlattr *a = (struct nlattr *)(buf + NLMSG_ALIGN(n->nlmsg_len));
		int val;

		if (i == 0 && pid > 0) {
			a->nla_type = NETNSA_PID;
			val = pid;
		} else if (i == 1 && (type == RTM_NEWNSID || pid <= 0)) {
			a->nla_type = NETNSA_NSID;
			val = nsid;
		} else {
			continue;
		}
		a->nla_len = NLA_HDRLEN + sizeof(val);
		memcpy((char *)a + NLA_HDRLEN, &val, sizeof(val));
		n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + NLA_ALIGN(a->nla_len);
	}
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (sendto(fd, buf, n->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		ret = -errno;
		goto out;
	}
	len = recv(fd, buf, sizeof(buf), 0);
	if (len < (int)NLMSG_HDRLEN)
		goto out;
	if (n->nlmsg_type == NLMSG_ERROR) {
		ret = ((struct nlmsgerr *)NLMSG_DATA(n))->error;
		goto out;
	}
	for (struct nlattr *a = (struct nlattr *)((char *)NLMSG_DATA(n) + NLMSG_ALIGN(sizeof(struct rtgenmsg)));
	     (char *)a + NLA_HDRLEN <= buf + len && a->nla_len >= NLA_HDRLEN;
	     a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len)))
		if (a->nla_type == NETNSA_NSID)
			memcpy(&ret, (char *)a + NLA_HDRLEN, sizeof(ret));
out:
	close(fd);
	return ret;
}

/*
 * A kernel socket (sock_create_kern; /afc/afc_kern_sock.ko makes a
 * listener, a client and its accepted child, and closes them, leaving the
 * client's orphan in TIME_WAIT for 2 s) holds its namespace as a user's
 * socket does: it takes a reference (net_held), the namespace outlives
 * its last process while the orphan lives (before, it was dismantled and
 * the orphan's timer read freed state: KASAN on the debug kernel), and it
 * goes once the orphan has.  Run with the module's path in
 * AFC_KERN_SOCK_MODULE.
 */
TEST_F_TIMEOUT(netns, kernel_sockets_hold_their_namespace, 120)
{
	const char *ko = getenv("AFC_KERN_SOCK_MODULE");
	int go[2], ready[2], status, fd, nsid, i;
	char params[64], c = 0;
	FILE *f;
	pid_t pid;

	ASSERT_NE(NULL, ko) TH_LOG("AFC_KERN_SOCK_MODULE is not set");
	snprintf(params, sizeof(params), "family=%d port=7600", afc_family());
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(ready));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* The namespace's only process: it loads the module there
		 * (the module's init runs in this task), waits for its
		 * namespace to get an id, and exits. */
		if (unshare(CLONE_NEWNET) || afc_lo_up())
			_exit(2);
		fd = open(ko, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || syscall(__NR_finit_module, fd, params, 0)) {
			fprintf(stderr, "# finit_module %s: %s\n", ko, strerror(errno));
			_exit(3);
		}
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(4);
		_exit(0);
	}
	ASSERT_EQ(1, read(ready[0], &c, 1)) TH_LOG("the child did not load the module");
	ASSERT_EQ(0, nsid_request(RTM_NEWNSID, pid, -1));
	nsid = nsid_request(RTM_GETNSID, pid, -1);
	ASSERT_LE(0, nsid) TH_LOG("RTM_GETNSID: %s", strerror(-nsid));
	ASSERT_EQ(1, write(go[1], &c, 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) TH_LOG("status %#x", status);
	f = fopen("/sys/module/afc_kern_sock/parameters/net_held", "r");
	ASSERT_NE(NULL, f);
	ASSERT_EQ(1, fscanf(f, "%d", &status));
	fclose(f);
	ASSERT_EQ(0, syscall(__NR_delete_module, "afc_kern_sock", O_NONBLOCK))
		TH_LOG("delete_module: %s", strerror(errno));
	EXPECT_EQ(1, status) TH_LOG("the kernel listener took no reference on its namespace");
	/* Its last process is gone; the orphan keeps it. */
	EXPECT_EQ(nsid, nsid_request(RTM_GETNSID, 0, nsid)) TH_LOG("the namespace went at once");
	/* The orphan's TIME_WAIT ends (2 s), and the namespace goes. */
	for (i = 0; nsid_request(RTM_GETNSID, 0, nsid) >= 0 && i < 200; i++)
		usleep(100 * 1000);
	ASSERT_EQ(-ENOENT, nsid_request(RTM_GETNSID, 0, nsid)) TH_LOG("the namespace outlived its sockets by 20 s");
	close(go[0]); close(go[1]); close(ready[0]); close(ready[1]);
}

TEST_F_TIMEOUT(netns, empty_namespaces_make_no_tables, 600)
{
	static int ns[NAMESPACES];
	const char *env = getenv("AFC_NETNS_COUNT");
	int count = env && atoi(env) > 0 && atoi(env) < NAMESPACES ? atoi(env) : NAMESPACES;
	struct sockaddr_custom any = { .scu_family = afc_family() };
	long long before = afc_stat("TableSetsAllocated");
	long long mem0 = meminfo("MemAvailable"), t0 = now_ms(), mem1;
	int fd;

	ASSERT_LE(0, before) TH_LOG("no TableSetsAllocated in /proc/net/af_custom_stat");
	for (int i = 0; i < count; i++) {
		ASSERT_EQ(0, unshare(CLONE_NEWNET)) TH_LOG("namespace %d: %s", i, strerror(errno));
		ns[i] = open("/proc/thread-self/ns/net", O_RDONLY);
		ASSERT_LE(0, ns[i]);
	}
	mem1 = meminfo("MemAvailable");
	printf("# %d namespaces in %lld ms, MemAvailable %lld -> %lld kB (%lld kB each, all subsystems)\n",
	       count, now_ms() - t0, mem0, mem1, (mem0 - mem1) / count);
	/* None of them made tables (namespaces of earlier tests still being
	 * dismantled can only lower the count). */
	ASSERT_EQ(0, afc_stat("TablesAllocated"));
	ASSERT_GE(before, afc_stat("TableSetsAllocated"));
	/* A socket alone makes none; its bind does, in its namespace only. */
	fd = socket(afc_family(), SOCK_STREAM, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, afc_stat("TablesAllocated"));
	ASSERT_EQ(0, bind(fd, (struct sockaddr *)&any, sizeof(any))) TH_LOG("bind: %s", strerror(errno));
	ASSERT_EQ(1, afc_stat("TablesAllocated"));
	ASSERT_LE(1, afc_stat("TableSetsAllocated"));
	ASSERT_EQ(0, setns(ns[0], CLONE_NEWNET));
	ASSERT_EQ(0, afc_stat("TablesAllocated"));
	close(fd);
	for (int i = 0; i < count; i++)
		close(ns[i]);
	ASSERT_EQ(0, setns(self->home, CLONE_NEWNET));
}

/* Reads /proc/net/af_custom with read() calls of `chunk` bytes. */
static char *read_proc(int chunk, size_t *len)
{
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	int fd = open("/proc/net/af_custom", O_RDONLY);
	ssize_t r;

	if (!buf || fd < 0)
		return NULL;
	for (;;) {
		if (n + chunk + 1 > cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				return NULL;
		}
		r = read(fd, buf + n, chunk);
		if (r < 0)
			return NULL;
		if (r == 0)
			break;
		n += r;
	}
	close(fd);
	buf[n] = 0;
	*len = n;
	return buf;
}

static int cmp_ino(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

static void *close_all(void *p)
{
	int *fds = p;

	for (int i = SOCKETS - 1; i >= 0; i--)
		close(fds[i]);
	return NULL;
}

/* Rows of /proc/net/af_custom (read in small pieces), or -1. */
static int count_rows(void)
{
	size_t len;
	char *buf = read_proc(97, &len);
	int rows = -1;

	if (!buf)
		return -1;
	for (char *p = buf; (p = strchr(p, '\n')); p++)
		rows++;
	free(buf);
	return rows;
}

TEST_F_TIMEOUT(netns, proc_lists_thousands_of_sockets, 600)
{
	static int fds[SOCKETS];
	static unsigned long want[SOCKETS], got[SOCKETS + 1];
	struct sockaddr_custom any = { .scu_family = afc_family() };
	const int chunks[] = { 97, 4096, 1 << 20 };

	ASSERT_EQ(0, unshare(CLONE_NEWNET));
	for (int i = 0; i < SOCKETS; i++) {
		struct stat st;

		fds[i] = socket(afc_family(), SOCK_STREAM, 0);
		ASSERT_LE(0, fds[i]) TH_LOG("socket %d: %s", i, strerror(errno));
		/* Every third one listens (on an ephemeral port). */
		if (i % 3 == 0) {
			ASSERT_EQ(0, bind(fds[i], (struct sockaddr *)&any, sizeof(any)));
			ASSERT_EQ(0, listen(fds[i], 1));
		}
		ASSERT_EQ(0, fstat(fds[i], &st));
		want[i] = st.st_ino;
	}
	qsort(want, SOCKETS, sizeof(want[0]), cmp_ino);
	for (int c = 0; c < 3; c++) {
		size_t len;
		char *buf = read_proc(chunks[c], &len), *line, *save = NULL;
		int rows = 0, listening = 0;

		ASSERT_NE(NULL, buf);
		line = strtok_r(buf, "\n", &save);
		ASSERT_NE(NULL, line);
		ASSERT_EQ(0, strncmp(line, "  sl  local_address", 19));
		while ((line = strtok_r(NULL, "\n", &save))) {
			unsigned int st;
			unsigned long ino;
			int sl;

			ASSERT_EQ(3, sscanf(line, "%d: %*x:%*x %*x:%*x %x %*x:%*x %*x:%*x %*x %*u %*d %lu", &sl, &st, &ino))
				TH_LOG("row %d: %s", rows, line);
			ASSERT_LT(rows, SOCKETS) TH_LOG("more rows than sockets (read() of %d bytes)", chunks[c]);
			ASSERT_EQ(rows, sl);
			got[rows++] = ino;
			listening += st == 0x0A;
		}
		ASSERT_EQ(SOCKETS, rows) TH_LOG("read() of %d bytes", chunks[c]);
		ASSERT_EQ(SOCKETS / 3, listening);
		qsort(got, rows, sizeof(got[0]), cmp_ino);
		ASSERT_EQ(0, memcmp(want, got, sizeof(want))) TH_LOG("the rows are not the sockets, each once");
		free(buf);
	}
	/* Read while the sockets go: the walk copes (no row of a freed sock,
	 * which KASAN would see on the debug kernel), and ends. */
	pthread_t th;
	int reads = 0, rows;
	long long end = now_ms() + 60000;

	ASSERT_EQ(0, pthread_create(&th, NULL, close_all, fds));
	do {
		rows = count_rows();
		ASSERT_LE(0, rows);
		ASSERT_GE(SOCKETS, rows);
		reads++;
	} while (rows > 0 && now_ms() < end);
	pthread_join(th, NULL);
	ASSERT_EQ(0, rows) TH_LOG("rows left 60 s after the sockets closed");
	printf("# %d reads while the sockets closed\n", reads);
	ASSERT_EQ(0, setns(self->home, CLONE_NEWNET));
}

TEST_HARNESS_MAIN
