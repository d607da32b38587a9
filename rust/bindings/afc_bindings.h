/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of the module's own bindgen step (see Kbuild).  The kernel's
 * `bindings` crate lacks most of networking in 6.12 (struct sock is
 * opaque; proto_register, sk_alloc, dev_add_pack, ... are absent), so the
 * module generates its own, allow-listed in Kbuild.  Static inline
 * functions are reached through the wrappers of af_custom_helpers.h.
 */
#include <linux/errno.h>
#include <linux/net.h>
#include <linux/netdevice.h>
#include <linux/poll.h>
#include <linux/sockios.h>
#include <asm/ioctls.h>
#include <linux/fcntl.h>
#include <linux/skbuff.h>
#include <linux/filter.h>
#include <linux/seq_file.h>
#include <net/sock.h>
#include <linux/tcp.h>
#include <net/net_namespace.h>
#include "../uapi/linux/af_custom.h"
#include "../helpers/af_custom_helpers.h"
