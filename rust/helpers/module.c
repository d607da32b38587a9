// SPDX-License-Identifier: GPL-2.0
/*
 * The module parameters the 6.12 `module!` macro cannot declare.
 * (Thin by design: what Rust cannot do in 6.12. Declarations in
 * af_custom_helpers.h, read by bindgen.)
 */
#include "afc_internal.h"

static int family = AF_CUSTOM_DEFAULT;
module_param(family, int, 0444);
MODULE_PARM_DESC(family, "address family number to register (default 23; must be a free slot below AF_MAX)");
int afc_family_param(void) { return family; }
static unsigned int est_buckets = 16384;
module_param(est_buckets, uint, 0444);
MODULE_PARM_DESC(est_buckets, "buckets of each namespace's established-connection table (default 16384)");
static unsigned int listen_buckets = 4096;
module_param(listen_buckets, uint, 0444);
MODULE_PARM_DESC(listen_buckets, "buckets of each namespace's listener table, keyed by port (default 4096)");
unsigned int afc_est_buckets_param(void) { return clamp(est_buckets, 1U, 1U << 22); }
unsigned int afc_listen_buckets_param(void) { return clamp(listen_buckets, 1U, 65536U); }
