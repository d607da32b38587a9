/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * AF_CUSTOM: a reliable, connection-oriented byte-stream socket family
 * carried directly in Ethernet frames (EtherType 0x88B5).
 *
 * Userspace opens it like TCP:
 *
 *	int fd = socket(AF_CUSTOM, SOCK_STREAM, 0);
 *
 * AF_CUSTOM reuses an address-family slot that Linux 6.12 does not
 * register (sock_register() refuses numbers >= AF_MAX).  The number in use
 * is a module parameter: read it from
 * /sys/module/af_custom/parameters/family rather than trusting the default
 * below, which is only what the module uses when loaded without family=.
 */
#ifndef _UAPI_LINUX_AF_CUSTOM_H
#define _UAPI_LINUX_AF_CUSTOM_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/socket.h>
#else
#include <stdint.h>
#include <sys/socket.h>
#endif

/* Default address family number (the former AF_IRDA slot). */
#define AF_CUSTOM_DEFAULT	23
#ifndef AF_CUSTOM
#define AF_CUSTOM		AF_CUSTOM_DEFAULT
#endif
#define PF_CUSTOM		AF_CUSTOM

/* Where the module publishes the family number it registered. */
#define AF_CUSTOM_FAMILY_PATH	"/sys/module/af_custom/parameters/family"

/* The EtherType of AF_CUSTOM frames (IEEE 802 local experimental 1). */
#define ETH_P_AF_CUSTOM		0x88B5

/*
 * Protocol numbers accepted by socket(2): 0 (the default) or
 * AFCPROTO_STREAM.  Any other protocol fails with EPROTONOSUPPORT; any
 * type other than SOCK_STREAM fails with ESOCKTNOSUPPORT.
 */
#define AFCPROTO_STREAM		1

/*
 * Socket address: laid out exactly like struct sockaddr_in, so that code
 * written for IPv4 ports over by changing the family.  Port and address
 * are in network byte order.  scu_addr 0.0.0.0 (INADDR_ANY) binds every
 * local address of the socket's network namespace.
 */
struct sockaddr_custom {
#ifdef __KERNEL__
	__kernel_sa_family_t	scu_family;	/* AF_CUSTOM */
	__be16			scu_port;	/* port, network order */
	__be32			scu_addr;	/* IPv4 address, network order */
	unsigned char		scu_zero[8];	/* pad to sizeof(struct sockaddr); must be zero */
#else
	sa_family_t		scu_family;	/* AF_CUSTOM */
	uint16_t		scu_port;	/* port, network order */
	uint32_t		scu_addr;	/* IPv4 address, network order */
	unsigned char		scu_zero[8];	/* pad to sizeof(struct sockaddr); must be zero */
#endif
};

/* Socket option level of the protocol (for setsockopt/getsockopt). */
#define SOL_AF_CUSTOM		283

/*
 * Options at level SOL_AF_CUSTOM.  Each takes an int and behaves like the
 * TCP option of the same number (tcp(7)), so code written for TCP ports
 * over by changing IPPROTO_TCP to SOL_AF_CUSTOM and TCP_ to AFC_.
 */
#define AFC_NODELAY		1	/* nonzero: send small writes at once (no Nagle) */
#define AFC_KEEPIDLE		4	/* seconds idle before keepalive probes (1..32767) */
#define AFC_KEEPINTVL		5	/* seconds between keepalive probes (1..32767) */
#define AFC_KEEPCNT		6	/* unanswered probes before the connection drops (1..127) */
#define AFC_SYNCNT		7	/* SYN retransmissions before connect() fails with ETIMEDOUT (1..127) */

#endif /* _UAPI_LINUX_AF_CUSTOM_H */
