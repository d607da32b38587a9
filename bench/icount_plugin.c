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
 *   qemu-system-x86_64 ... -plugin build/bench/icount_plugin.so,out=PREFIX
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
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
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
	} else if (kind == 1) {
		windows++;
		fprintf(stderr, "\nAFC-ICOUNT window=%u insns=%" PRIu64 "\n", windows, total - window_start);
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

		if (qemu_plugin_insn_size(insn) == 8 && !memcmp(d, MARK, sizeof(MARK)) && d[5] == 0xbe &&
		    d[6] == 0xad && d[7] == 0xde)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS,
							       (void *)(uintptr_t)d[4]);
	}
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
	(void)info;
	for (int i = 0; i < argc; i++)
		if (!strncmp(argv[i], "out=", 4))
			out = argv[i] + 4;
	table = calloc(SLOTS, sizeof(*table));
	if (!table)
		return -1;
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	return 0;
}
