// SPDX-License-Identifier: GPL-2.0
/*
 * Counters with a copy per CPU, as TCP's SNMP MIBs (`SNMP_INC_STATS`):
 * a writer adds to its CPU's copy with one `this_cpu_add`, no locked
 * instruction and no cache line shared with the other CPUs; a reader
 * sums the copies.  The namespace's protocol counters (rust/stats.rs)
 * are kept so.
 * (Thin by design: what Rust cannot do in 6.12. Declarations in
 * af_custom_helpers.h, read by bindgen.)
 */
#include "afc_internal.h"

#define AFC_COUNTERS(p) ((u64 __percpu __force *)(p))

/* `n` zeroed counters per CPU, or NULL. */
void *afc_counters_alloc(unsigned int n)
{
	return (void __force *)__alloc_percpu(n * sizeof(u64), __alignof__(u64));
}

void afc_counters_free(void *c)
{
	free_percpu(AFC_COUNTERS(c));
}

/* Any context: `this_cpu_add` is one instruction on x86 (interrupt-safe
 * elsewhere), so softirq and process context may both add. */
void afc_counters_add(void *c, unsigned int i, u64 n)
{
	this_cpu_add(AFC_COUNTERS(c)[i], n);
}

u64 afc_counters_sum(void *c, unsigned int i)
{
	u64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += *per_cpu_ptr(&AFC_COUNTERS(c)[i], cpu);
	return sum;
}
