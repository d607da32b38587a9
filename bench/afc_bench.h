/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What afc_bench.c (the single-host tests, main, the report) and
 * afc_bench_more.c (stream8, epoll, the split client/server mode between
 * hosts and its report) share.
 */
#ifndef AFC_BENCH_H
#define AFC_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

enum fam { F_CUSTOM, F_INET, F_UNIX, F_NONE };
extern const char *fam_names[];

struct opts {
	enum fam fam;
	const char *test;
	const char *net;	/* label: lo, veth, virtio, e1000 */
	const char *addr;
	int port;
	double secs;
	long n;
	int shards;
	int streams;		/* stream8: parallel flows (-P) */
	int nagle;		/* rr-nagle: no NODELAY on either end */
	const char *mode;	/* NULL (one host), "server" or "client" (-m) */
	int srv_ns, cli_ns;	/* namespace fds, -1: current */
};
extern struct opts o;

void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
uint64_t now_ns(void);

/* /proc/stat: the whole machine's CPU time in ticks (total; idle with
 * iowait; user, system and softirq), and its context switches and
 * interrupts so far. */
struct cpu { unsigned long long total, idle, user, sys, softirq, ctxt, intr; };
struct cpu cpu_now(void);
double idle_pct(struct cpu a, struct cpu b);

int sysfam(void);
socklen_t mkaddr(struct sockaddr_storage *ss, const char *ip, int port);
void enter_ns(int ns);
int sock_in(int ns);
void setint(int fd, int level, int opt, int v, const char *what);
void nodelay(int fd);
void close_rst(int fd);
int listener(int ns, int port, int backlog, int reuseport);
int dial(int ns, int port);
void xwrite1(int fd);
int xread1(int fd);
void raise_nofile(long need);
void sigign(int sig);

/* Protocol counters: AF_CUSTOM's /proc/net/af_custom_stat, TCP's
 * /proc/net/snmp and netstat. */
#define MAXCTR 160
struct ctrs {
	int n;
	char name[MAXCTR][40];
	long long val[MAXCTR];
};
void ctr_add(struct ctrs *c, const char *name, long long v);
void read_ctrs_ns(struct ctrs *c, int ns);
void read_ctrs(struct ctrs *c);
long long ctr_delta(const struct ctrs *a, const struct ctrs *b, const char *name);

/* A window for the instruction-counting QEMU plugin (bench/icount_plugin.c,
 * BENCH_ICOUNT=1): 0 opens it, 1 closes it.  A NOP no compiler emits
 * (nopl 0xdeadbeKK(%rax,%rax,1)); without the plugin it costs nothing. */
#define icount_mark(k) asm volatile(".byte 0x0f, 0x1f, 0x84, 0x00, " #k ", 0xbe, 0xad, 0xde" ::: "memory")

/* The RESULT line: res() appends " key=value" fields, res_emit() prints
 * the line with the counters that moved between a and b. */
void res(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void res_emit(const struct ctrs *a, const struct ctrs *b);

/* Shared memory with a forked server process. */
struct shared {
	volatile int stop;
	volatile int ready;
	long long bytes, reads;
	uint64_t t_ns;
	int err;
	/* the reader's context switches over the measured window
	 * (getrusage: blocked, preempted) and its SO_RCVBUF at the end */
	long vcs, ivcs;
	int rcvbuf;
};
struct shared *shm_new(void);
pid_t fork_server(void (*fn)(int lfd, struct shared *s), int lfd, struct shared *s);
void reap(pid_t pid, int kill_it);
int accept_one(int lfd);

#define CHUNK 65536
#define WARMUP_NS 300000000ull
#define MAXLAT (4 * 1024 * 1024)
int cmp_u64(const void *a, const void *b);
double pct(uint64_t *v, long n, double p);

/* Report: the RESULT lines read back, medians (min-max). */
#define MAXRES 4096
struct rec {
	char test[16], fam[8], net[8];
	char kv[1024];
};
extern struct rec recs[MAXRES];
extern int nrecs;
struct stat3 {
	int n;
	double med, min, max;
	char na[48];
};
void read_recs(void);
double rec_get(const struct rec *r, const char *k, char *sval, size_t sl);
int cmp_d(const void *a, const void *b);
struct stat3 collect(const char *test, const char *fam, const char *net, const char *key);
void fmt_num(char *b, size_t l, double x);
void fmt_cell(char *b, size_t l, struct stat3 s);
void target_row(const char *name, const char *test, const char *net, const char *key, int lower, double goal);
void frames_row(const char *test, const char *net, const char *unitkey, double scale, const char *unit);

/* afc_bench_more.c */
void t_stream8(void);
void t_epoll(void);
void split_server(void);
void split_client(void);
void t_report_hosts(void);

#endif
