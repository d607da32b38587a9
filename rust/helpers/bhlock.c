// SPDX-License-Identifier: GPL-2.0
/*
 * Arrays of bottom-half spinlocks (hash buckets, accept queues).
 * (Thin by design: what Rust cannot do in 6.12. Declarations in
 * af_custom_helpers.h, read by bindgen.)
 */
#include "afc_internal.h"

/* Bottom-half spinlocks, allocated in arrays (hash buckets, queues).
 * Each array gets the lockdep class of its `cls`, so that taking a lock
 * of one class inside another is not taken for recursion.  Allocated in
 * process context for a socket call (listen, the namespace's first bind
 * or connect), so charged to the caller's memory cgroup. */
#define AFC_LOCK_CLASSES 4
spinlock_t *afc_bh_locks_alloc(unsigned int n, unsigned int cls)
{
	static struct lock_class_key keys[AFC_LOCK_CLASSES];
	static const char *const names[AFC_LOCK_CLASSES] = {
		"afc_accept_queue", "afc_established", "afc_listeners", "afc_other",
	};
	spinlock_t *locks;
	unsigned int i;

	if (cls >= AFC_LOCK_CLASSES)
		return NULL;
	locks = kvmalloc_array(n ? n : 1, sizeof(*locks), GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	if (!locks)
		return NULL;
	for (i = 0; i < n; i++) {
		spin_lock_init(&locks[i]);
		lockdep_set_class_and_name(&locks[i], &keys[cls], names[cls]);
	}
	return locks;
}
void afc_bh_locks_free(spinlock_t *locks) { kvfree(locks); }
void afc_spin_lock_bh(spinlock_t *l) { spin_lock_bh(l); }
void afc_spin_unlock_bh(spinlock_t *l) { spin_unlock_bh(l); }
