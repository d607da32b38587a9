// SPDX-License-Identifier: GPL-2.0
/*
 * Arrays of bottom-half spinlocks (hash buckets, accept queues).
 * (Thin by design: what Rust cannot do in 6.12. Declarations in
 * af_custom_helpers.h, read by bindgen.)
 */
#include "afc_internal.h"

/* Bottom-half spinlocks of arrays (hash buckets, queues), each beside
 * the value it guards in a Rust array, initialised where it lies.  Each
 * array's locks get the lockdep class of its `cls`, so that taking a
 * lock of one class inside another is not taken for recursion. */
#define AFC_LOCK_CLASSES 4
static struct lock_class_key afc_bh_lock_keys[AFC_LOCK_CLASSES];
static const char *const afc_bh_lock_names[AFC_LOCK_CLASSES] = {
	"afc_accept_queue", "afc_established", "afc_listeners", "afc_other",
};

void afc_bh_lock_init(spinlock_t *l, unsigned int cls)
{
	if (cls >= AFC_LOCK_CLASSES)
		cls = AFC_LOCK_CLASSES - 1;
	spin_lock_init(l);
	lockdep_set_class_and_name(l, &afc_bh_lock_keys[cls], afc_bh_lock_names[cls]);
}
void afc_spin_lock_bh(spinlock_t *l) { spin_lock_bh(l); }
void afc_spin_unlock_bh(spinlock_t *l) { spin_unlock_bh(l); }
