// SPDX-License-Identifier: GPL-2.0
/*
 * A QEMU TCG plugin that counts the guest's instructions between two
 * markers, for `make bench` with BENCH_ICOUNT=1 (scripts/bench.sh builds it
 * and qemu/run-vm.sh loads it through VM_QEMU_ARGS).
 *
 * Timing on this host moves by 10-15 % between runs of the same code; an
 * instruction count per transaction does not, so a change of a few per cent
 * in what a transaction executes can be seen.  It is not time (a page walk
 * or a cold translation costs no instruction), but it is what a change to
 * the code changes.
 *
 * The guest marks a window with a NOP no compiler emits,
 * `nopl 0xdeadbeKK(%rax,%rax,1)` (bench/afc_bench.h's icount_mark): KK 00
 * starts a window (the counts are zeroed), KK 01 ends it.  At the end the
 * plugin prints `AFC-ICOUNT window=N insns=I` to stderr (the console log)
 * and writes OUT.N: one line per translated block that ran in the window,
 * "vaddr instructions executions" (hex, dec, dec), for
 * scripts/icount-report.py to attribute to symbols.  Whole system, every
 * vCPU (counters are not atomic: use it with one vCPU).
 *
 *   qemu-system-x86_64 ... -plugin build/bench/icount_plugin.so,out=PREFIX[,mem=1]
 *
 * Only the few API calls used are declared here, as QEMU 7.2 (Debian 12)
 * defines them; its header is not packaged.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the QEMU plugin API, version 1 (QEMU 7.2) ---------------------- */
#define EXPORT __attribute__((visibility("default")))
typedef uint64_t qemu_plugin_id_t;
typedef struct {
	const char *target_name;
	struct {
		int min;
		int cur;
	} version;
	bool system_emulation;
	union {
		struct {
			int smp_vcpus;
			int max_vcpus;
		} system;
	};
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef uint32_t qemu_plugin_meminfo_t;
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr,
					  void *userdata);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
				      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
					      uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op, void *ptr,
						uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
					    enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
EXPORT int qemu_plugin_version = 1;
EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);

/* ---- the counts ----------------------------------------------------- */

/* One entry per (block address, length); entries never move (the inline
 * add holds a pointer to `runs`). */
struct block {
	uint64_t vaddr;
	uint64_t insns;
	uint64_t runs;
};

#define SLOTS (1u << 20)
static struct block *table;
static unsigned int used;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t total;		/* instructions, all blocks, since boot */
static uint64_t window_start;
static unsigned int windows;
static const char *out = "icount";

/* mem=1: every data access goes through a model of QEMU's softmmu TLB
 * (direct-mapped, TLB_SETS entries per privilege, an 8-entry victim
 * TLB), emptied where the guest writes CR3; a window then also reports
 * its data accesses, the distinct 4 KiB pages they touched and the
 * model's misses (each a page-table walk in QEMU).  Several times
 * slower. */
#define TLB_SETS 1024
#define VICTIMS 8
static bool mem_model;
struct tlb {
	uint64_t set[TLB_SETS];	/* page + 1, 0: empty */
	uint64_t victim[VICTIMS];
	unsigned int next_victim;
};
static struct tlb tlbs[2];	/* user, kernel */
static uint64_t accesses, misses, window_accesses, window_misses;
#define PAGE_SLOTS (1u << 18)
static uint64_t *pages;		/* page + 1 seen in this window (open addressing) */
static uint64_t window_pages;

static void page_seen(uint64_t page)
{
	for (uint64_t i = (page * 0x9e3779b97f4a7c15ull) >> 46;; i = (i + 1) & (PAGE_SLOTS - 1)) {
		if (pages[i] == page + 1)
			return;
		if (pages[i] == 0) {
			if (window_pages < PAGE_SLOTS / 2) {
				pages[i] = page + 1;
				window_pages++;
			}
			return;
		}
	}
}

static void on_mem(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
	struct tlb *t = &tlbs[vaddr >> 63];
	uint64_t page = vaddr >> 12, *e = &t->set[page & (TLB_SETS - 1)];

	(void)vcpu;
	(void)info;
	(void)udata;
	accesses++;
	page_seen(page);
	if (*e == page + 1)
		return;
	for (unsigned int i = 0; i < VICTIMS; i++) {
		if (t->victim[i] == page + 1) {
			/* QEMU swaps the victim with the set's entry. */
			t->victim[i] = *e;
			*e = page + 1;
			return;
		}
	}
	misses++;
	t->victim[t->next_victim] = *e;
	t->next_victim = (t->next_victim + 1) % VICTIMS;
	*e = page + 1;
}

static void on_cr3(unsigned int vcpu, void *udata)
{
	(void)vcpu;
	(void)udata;
	memset(tlbs, 0, sizeof(tlbs));
}

/* Instructions that cost TCG far more than their count: a return or
 * indirect branch looks its target up, a helper runs the others.  Each
 * window reports how many of each class ran (cls.NAME=). */
enum cls { C_RET, C_IND, C_LOCK, C_FLAGS, C_IRQ, C_TSC, C_DIV, C_REP, C_SYS, C_MSR, C_CALL, NCLS };
static const char *const cls_name[NCLS] = { "ret", "indirect", "locked", "pushf_popf", "cli_sti", "rdtsc", "div",
					    "rep", "sys_entry", "msr_cr", "call" };
static uint64_t cls_count[NCLS], cls_start[NCLS];

/* The class of the instruction at d (len bytes), or NCLS. */
static enum cls classify(const unsigned char *d, size_t len)
{
	size_t i = 0;
	bool lock = false, rep = false;

	for (; i < len; i++) {
		unsigned char b = d[i];

		if (b == 0xf0)
			lock = true;
		else if (b == 0xf2 || b == 0xf3)
			rep = true;
		else if (!(b == 0x66 || b == 0x67 || b == 0x2e || b == 0x3e || b == 0x26 || b == 0x36 || b == 0x64 ||
			   b == 0x65 || (b & 0xf0) == 0x40))
			break;
	}
	if (i >= len)
		return NCLS;
	unsigned char op = d[i], m = i + 1 < len ? d[i + 1] : 0, r = (m >> 3) & 7;

	if (lock)
		return C_LOCK;
	if (op == 0xc3 || op == 0xc2 || op == 0xcf)
		return op == 0xcf ? C_SYS : C_RET;
	if (op == 0xff && (r == 2 || r == 3 || r == 4 || r == 5))
		return C_IND;
	if (op == 0xe8)
		return C_CALL;
	if (op == 0x9c || op == 0x9d)
		return C_FLAGS;
	if (op == 0xfa || op == 0xfb)
		return C_IRQ;
	if ((op == 0xf6 || op == 0xf7) && (r == 6 || r == 7))
		return C_DIV;
	if (rep && (op == 0xa4 || op == 0xa5 || op == 0xaa || op == 0xab || op == 0xa6 || op == 0xa7 || op == 0xae ||
		    op == 0xaf))
		return C_REP;
	if ((op == 0x86 || op == 0x87) && (m >> 6) != 3)
		return C_LOCK;
	if (op == 0x0f) {
		unsigned char o2 = m, m2 = i + 2 < len ? d[i + 2] : 0;

		if (o2 == 0x31 || (o2 == 0x01 && m2 == 0xf9))
			return C_TSC;
		if (o2 == 0x05 || o2 == 0x07 || (o2 == 0x01 && m2 == 0xf8))
			return C_SYS;
		if (o2 == 0x30 || o2 == 0x32 || o2 == 0x20 || o2 == 0x22)
			return C_MSR;
	}
	return NCLS;
}

static const unsigned char MARK[] = { 0x0f, 0x1f, 0x84, 0x00 };	/* then KK be ad de */

static struct block *block_for(uint64_t vaddr, uint64_t insns)
{
	uint64_t h = (vaddr ^ (insns << 48)) * 0x9e3779b97f4a7c15ull;

	for (unsigned int i = (unsigned int)(h >> 44) & (SLOTS - 1);; i = (i + 1) & (SLOTS - 1)) {
		struct block *b = &table[i];

		if (b->insns == 0) {
			if (used >= SLOTS - SLOTS / 8)
				return NULL;
			used++;
			b->vaddr = vaddr;
			b->insns = insns;
			return b;
		}
		if (b->vaddr == vaddr && b->insns == insns)
			return b;
	}
}

static void on_mark(unsigned int vcpu, void *udata)
{
	unsigned int kind = (unsigned int)(uintptr_t)udata;
	char path[4096];
	FILE *f;

	(void)vcpu;
	pthread_mutex_lock(&lock);
	if (kind == 0) {
		for (unsigned int i = 0; i < SLOTS; i++)
			table[i].runs = 0;
		window_start = total;
		memcpy(cls_start, cls_count, sizeof(cls_start));
		window_accesses = accesses;
		window_misses = misses;
		if (pages)
			memset(pages, 0, PAGE_SLOTS * sizeof(*pages));
		window_pages = 0;
	} else if (kind == 1) {
		windows++;
		if (mem_model)
			fprintf(stderr,
				"\nAFC-ICOUNT window=%u insns=%" PRIu64 " mem=%" PRIu64 " pages=%" PRIu64
				" tlbmiss=%" PRIu64 "\n",
				windows, total - window_start, accesses - window_accesses, window_pages,
				misses - window_misses);
		else
			fprintf(stderr, "\nAFC-ICOUNT window=%u insns=%" PRIu64 "\n", windows,
				total - window_start);
		fprintf(stderr, "AFC-ICOUNT-CLASSES window=%u", windows);
		for (unsigned int c = 0; c < NCLS; c++)
			fprintf(stderr, " cls.%s=%" PRIu64, cls_name[c], cls_count[c] - cls_start[c]);
		fprintf(stderr, "\n");
		snprintf(path, sizeof(path), "%s.%u", out, windows);
		f = fopen(path, "w");
		if (f) {
			for (unsigned int i = 0; i < SLOTS; i++)
				if (table[i].runs)
					fprintf(f, "%" PRIx64 " %" PRIu64 " %" PRIu64 "\n", table[i].vaddr,
						table[i].insns, table[i].runs);
			fclose(f);
		}
	}
	pthread_mutex_unlock(&lock);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb);
	struct block *b;

	(void)id;
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &total, n);
	pthread_mutex_lock(&lock);
	b = block_for(qemu_plugin_tb_vaddr(tb), n);
	pthread_mutex_unlock(&lock);
	if (b)
		qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->runs, 1);
	for (size_t i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		const unsigned char *d = qemu_plugin_insn_data(insn);

		size_t len = qemu_plugin_insn_size(insn);
		enum cls c = classify(d, len);

		if (c != NCLS)
			qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &cls_count[c], 1);

		if (len == 8 && !memcmp(d, MARK, sizeof(MARK)) && d[5] == 0xbe && d[6] == 0xad && d[7] == 0xde)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS,
							       (void *)(uintptr_t)d[4]);
		if (!mem_model)
			continue;
		qemu_plugin_register_vcpu_mem_cb(insn, on_mem, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, NULL);
		/* mov %reg, %cr3: [REX] 0f 22 /r with reg field 3. */
		size_t o = len >= 4 && (d[0] & 0xf0) == 0x40 ? 1 : 0;

		if (len >= o + 3 && d[o] == 0x0f && d[o + 1] == 0x22 && ((d[o + 2] >> 3) & 7) == 3)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, on_cr3, QEMU_PLUGIN_CB_NO_REGS, NULL);
	}
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
	(void)info;
	for (int i = 0; i < argc; i++)
		if (!strncmp(argv[i], "out=", 4))
			out = argv[i] + 4;
		else if (!strcmp(argv[i], "mem=1") || !strcmp(argv[i], "mem=on"))
			mem_model = true;
	table = calloc(SLOTS, sizeof(*table));
	if (!table)
		return -1;
	if (mem_model) {
		pages = calloc(PAGE_SLOTS, sizeof(*pages));
		if (!pages)
			return -1;
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	return 0;
}
