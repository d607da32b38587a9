/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * AF_CUSTOM: a reliable, connection-oriented byte-stream socket family
 * carried directly in Ethernet frames (EtherType 0x88B5).
 *
 * From userspace it behaves like TCP over IPv4: the same calls (socket,
 * bind, listen, accept, connect, send, recv, poll, shutdown, close), the
 * same blocking and nonblocking behaviour and the same errno values, and
 * addresses that are an IPv4 address and a port.  Code written for
 * AF_INET/SOCK_STREAM ports over by changing the family, the address
 * structure's name and the option level (see below).  Userspace opens it
 * like TCP:
 *
 *	int fd = socket(AF_CUSTOM, SOCK_STREAM, 0);
 *
 * Every network namespace has its own AF_CUSTOM endpoints: its own bound
 * ports, its own local addresses (those of its interfaces) and its own
 * counters in /proc/net/af_custom_stat.  Two namespaces reach each other
 * only through an Ethernet link between them (a veth pair, a bridge).
 */
#ifndef _UAPI_LINUX_AF_CUSTOM_H
#define _UAPI_LINUX_AF_CUSTOM_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/socket.h>
#else
#include <stdint.h>
#include <sys/socket.h>
#include <linux/types.h>
#endif

/*
 * The address family number.  AF_CUSTOM reuses an address-family slot
 * that Linux 6.12 does not register (sock_register() refuses numbers >=
 * AF_MAX), so the number is not fixed: it is a module parameter, and
 * "insmod af_custom.ko family=N" picks another free slot (a taken one
 * makes insmod fail with EEXIST).  AF_CUSTOM_DEFAULT is only what the
 * module uses when loaded without family=.  Programs should read the
 * number in use from AF_CUSTOM_FAMILY_PATH at run time rather than trust
 * the constant; a program may define AF_CUSTOM before including this
 * header to compile another number in.
 */
/* Default address family number (the former AF_IRDA slot). */
#define AF_CUSTOM_DEFAULT	23
#ifndef AF_CUSTOM
#define AF_CUSTOM		AF_CUSTOM_DEFAULT
#endif
#define PF_CUSTOM		AF_CUSTOM

/*
 * Where the module publishes the family number it registered: the file
 * holds the number in decimal followed by a newline.  It exists only
 * while the module is loaded, so failing to open it (ENOENT) means that
 * AF_CUSTOM is not available.
 */
#define AF_CUSTOM_FAMILY_PATH	"/sys/module/af_custom/parameters/family"

/*
 * The EtherType of AF_CUSTOM frames (IEEE 802 local experimental 1).
 * Userspace needs it only to watch the wire (tcpdump 'ether proto
 * 0x88b5') or to build frames through AF_PACKET.
 */
#define ETH_P_AF_CUSTOM		0x88B5

/*
 * Protocol numbers accepted by socket(2): 0 (the default) or
 * AFCPROTO_STREAM.  Any other protocol fails with EPROTONOSUPPORT; any
 * type other than SOCK_STREAM fails with ESOCKTNOSUPPORT.  SO_PROTOCOL
 * reports the number given to socket(2).
 */
#define AFCPROTO_STREAM		1

/*
 * Socket address: laid out exactly like struct sockaddr_in, so that code
 * written for IPv4 ports over by changing the family.  The total size is
 * that of struct sockaddr (16 bytes); pass sizeof(struct sockaddr_custom)
 * as the address length (a shorter one is EINVAL).
 *
 * scu_family must be the family number in use (AF_CUSTOM_FAMILY_PATH);
 * another family is EAFNOSUPPORT.
 *
 * scu_port is in network byte order.  Port 0 in bind(2) asks the kernel
 * for a free port, and so does connect(2) or listen(2) on an unbound
 * socket; getsockname(2) then tells which.  Binding a port below 1024
 * needs CAP_NET_BIND_SERVICE (EACCES otherwise).  Two sockets bind the
 * same port under the rules Linux applies to TCP (EADDRINUSE otherwise,
 * SO_REUSEADDR relaxing them as for TCP).
 *
 * scu_addr is an IPv4 address in network byte order.  As a local address
 * (bind) it must be an address of an interface of the socket's network
 * namespace (EADDRNOTAVAIL otherwise), or 0.0.0.0 (INADDR_ANY), which
 * binds every local address of the namespace: a listener bound there
 * accepts connections to any of them.  As a remote address (connect) it
 * names the peer, reached over Ethernet (or lo for the namespace's own
 * addresses).
 *
 * scu_zero pads the structure to the size of struct sockaddr; set it to
 * zero, as sin_zero of struct sockaddr_in.
 *
 * getsockname(2), getpeername(2) and accept(2) return addresses in this
 * layout, with scu_family the family in use.
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

/*
 * Socket option level of the protocol (for setsockopt/getsockopt): the
 * counterpart of IPPROTO_TCP for the AFC_ options below.  Unlike the
 * family number it is fixed.  The generic options at SOL_SOCKET
 * (SO_RCVTIMEO, SO_SNDTIMEO, SO_ERROR, SO_REUSEADDR, SO_TYPE, ...) work
 * on AF_CUSTOM sockets as on any socket.
 */
#define SOL_AF_CUSTOM		283

/*
 * Options at level SOL_AF_CUSTOM.  Each takes an int and behaves like the
 * TCP option of the same number (tcp(7)), so code written for TCP ports
 * over by changing IPPROTO_TCP to SOL_AF_CUSTOM and TCP_ to AFC_.  A value
 * outside the range given is EINVAL.
 *
 * AFC_NODELAY: nonzero turns off the coalescing of small writes (Nagle's
 * algorithm), so each write is sent at once; zero (the default) turns it
 * back on.
 *
 * AFC_KEEPIDLE, AFC_KEEPINTVL, AFC_KEEPCNT: once keepalive is on
 * (SO_KEEPALIVE at SOL_SOCKET), a connection idle for AFC_KEEPIDLE
 * seconds is probed every AFC_KEEPINTVL seconds, and dropped (ETIMEDOUT)
 * after AFC_KEEPCNT unanswered probes.
 *
 * AFC_SYNCNT: how many times connect(2) retransmits its SYN before it
 * gives up with ETIMEDOUT.
 */
#define AFC_NODELAY		1	/* nonzero: send small writes at once (no Nagle) */
#define AFC_KEEPIDLE		4	/* seconds idle before keepalive probes (1..32767) */
#define AFC_KEEPINTVL		5	/* seconds between keepalive probes (1..32767) */
#define AFC_KEEPCNT		6	/* unanswered probes before the connection drops (1..127) */
#define AFC_SYNCNT		7	/* SYN retransmissions before connect() fails with ETIMEDOUT (1..127) */

/*
 * More options at level SOL_AF_CUSTOM, with the semantics and errnos of
 * the TCP option of the same number.  An option number AF_CUSTOM does
 * not know is ENOPROTOOPT; an optlen shorter than the option's value
 * (an int, unless said otherwise) is EINVAL.
 *
 * AFC_MAXSEG: the largest segment payload (MSS).  Read on a connection,
 * it is the MSS in use; on a socket not yet connected, the value set
 * with it, else 536 (TCP_MSS_DEFAULT).  Setting it before connect(2) or
 * listen(2) clamps the MSS the connection announces (0: no clamp;
 * otherwise 88..32767, EINVAL outside).
 *
 * AFC_DEFER_ACCEPT: seconds a listener waits for data on a new
 * connection before accept(2) (and poll's POLLIN on the listener) sees
 * it; 0 (the default) turns it off.  As TCP's, the time is rounded up
 * to the SYN-ACK retransmission schedule (1, 3, 7, 15, ... seconds) and
 * read back so rounded; once it has passed, the connection is handed to
 * accept(2) without data.
 *
 * AFC_INFO (read only): a struct tcp_info (linux/tcp.h) describing the
 * connection: state (TCP numbers), retransmits, probes, backoff, window
 * scales, rto, ato, snd_mss, rcv_mss, advmss, unacked, last_ack_recv,
 * rtt, rttvar, snd_ssthresh, snd_cwnd, total_retrans, segs_out,
 * segs_in, notsent_bytes, snd_wnd, rcv_wnd and total_rto are filled
 * (times in microseconds but last_ack_recv in milliseconds, as TCP's);
 * the rest, which has no meaning here, is zero.  The copy is truncated
 * to optlen, and optlen says how much was written.
 *
 * AFC_QUICKACK: nonzero sends any acknowledgement owed at once; read,
 * it tells the mode as TCP_QUICKACK does (1 on a new socket, 0 after
 * setting 0; an even nonzero value acknowledges and then reads 0 if an
 * acknowledgement was owed).  AF_CUSTOM's acknowledgement policy does
 * not otherwise change with it: every second segment is acknowledged at
 * once, a lone one within 40 ms.
 *
 * AFC_CONGESTION: a string, the congestion control's name.  AF_CUSTOM
 * has one, NewReno, named "reno" (at most 16 bytes, as
 * TCP_CA_NAME_MAX); setting any other name fails with ENOENT, as TCP
 * does for an algorithm it does not have.  An empty optlen is EINVAL.
 *
 * AFC_USER_TIMEOUT: milliseconds that sent data (or a SYN) may stay
 * unacknowledged, or that window or keepalive probes may go unanswered,
 * before the connection is dropped with ETIMEDOUT; 0 (the default)
 * leaves it to the retry counts.  Negative is EINVAL.
 *
 * AFC_CORK: nonzero holds back partial segments: only full ones are
 * sent, until the option is cleared (which sends what is held) or the
 * connection is shut down for writing.  As TCP's, what is held goes
 * anyway after 200 ms (the ceiling tcp(7) names).
 * send(2)'s MSG_MORE corks the data of that call the same way, until a
 * send without it.
 *
 * AFC_NOTSENT_LOWAT: poll(2) reports POLLOUT, and a blocked writer
 * wakes, only when fewer than this many bytes are queued and not yet
 * sent; 0 (the default) means no such limit.
 */
#define AFC_MAXSEG		2	/* MSS: read the one in use, clamp before connect (88..32767, 0) */
#define AFC_CORK		3	/* nonzero: send only full segments until cleared */
#define AFC_DEFER_ACCEPT	9	/* seconds to wait for data before accept() sees a connection */
#define AFC_INFO		11	/* struct tcp_info (read only) */
#define AFC_QUICKACK		12	/* nonzero: acknowledge at once */
#define AFC_CONGESTION		13	/* string: the congestion control, "reno" */
#define AFC_USER_TIMEOUT	18	/* ms unacknowledged before ETIMEDOUT (0: off) */
#define AFC_NOTSENT_LOWAT	25	/* POLLOUT only below this many unsent bytes (0: off) */


/*
 * Ancillary data on recvmsg(2).
 *
 * Receive timestamps are those of TCP: with SO_TIMESTAMP (a struct
 * timeval, cmsg type SCM_TIMESTAMP), SO_TIMESTAMPNS (a struct timespec,
 * SCM_TIMESTAMPNS) or SO_TIMESTAMPING with SOF_TIMESTAMPING_RX_SOFTWARE |
 * SOF_TIMESTAMPING_SOFTWARE (a struct scm_timestamping, SCM_TIMESTAMPING,
 * the software stamp in ts[0]) set at SOL_SOCKET, each recvmsg that
 * returns data carries the time (CLOCK_REALTIME) at which the last
 * buffer it read from arrived, at level SOL_SOCKET.
 *
 * AFC_PKTINFO (an int at SOL_AF_CUSTOM; nonzero turns it on; the number
 * of IP_PKTINFO, which it resembles): each recvmsg that returns data
 * carries a struct afc_pktinfo (level SOL_AF_CUSTOM, cmsg type
 * AFC_PKTINFO): the index of the interface the last buffer read arrived
 * on (that of "lo" for the namespace's own addresses) and the
 * connection's local and peer addresses.  An accepted socket inherits
 * the setting of its listener.
 *
 * A control buffer too short for a message gets MSG_CTRUNC in msg_flags
 * (and as much of the message as fits, as for any socket).
 */
#define AFC_PKTINFO		8	/* nonzero: recvmsg returns a struct afc_pktinfo */

struct afc_pktinfo {
	int			ipi_ifindex;	/* ingress interface index */
	struct sockaddr_custom	ipi_local;	/* the connection's local address */
	struct sockaddr_custom	ipi_peer;	/* the connection's peer address */
};

/*
 * Urgent data, as TCP's (tcp(7)); there are no constants of its own.
 *
 * send(2) with MSG_OOB marks the last byte of that write urgent; a later
 * urgent write moves the mark on (the earlier urgent byte, if still
 * unread, becomes ordinary data).  The receiving socket's owner
 * (fcntl(F_SETOWN)) gets SIGURG when the mark arrives, and poll(2)
 * reports POLLPRI once the urgent byte has arrived.
 *
 * By default the urgent byte is out of band: recv(2) with MSG_OOB
 * returns it (msg_flags MSG_OOB), once; MSG_PEEK leaves it.  recv(MSG_OOB)
 * never blocks: EINVAL when there is no urgent byte, when it was read
 * already or when SO_OOBINLINE is set; EAGAIN when the mark has arrived
 * but the byte not yet (0 once no more data can come); ENOTCONN on a
 * listener.  Ordinary reads step over the out-of-band byte, and once a
 * read has passed the mark the byte is lost to recv(MSG_OOB).  With
 * SO_OOBINLINE (SOL_SOCKET) the urgent byte is read as data.
 *
 * Either way a read that has returned data stops at the mark, the ioctl
 * SIOCATMARK stores 1 while the read position is at it (0 otherwise, also
 * on a listener or an unconnected socket), and SIOCINQ counts only the
 * bytes before an out-of-band urgent byte that has arrived.
 *
 * On the wire: flag URG (0x10) and a 32-bit urgent pointer, the sequence
 * number just past the urgent byte (docs/PROTOCOL.md 1.1, 5.4).
 */

/*
 * sock_diag(7): listing the sockets of a network namespace over netlink
 * (NETLINK_SOCK_DIAG), as inet_diag lists TCP's for ss(8).
 *
 * A request is a struct nlmsghdr of type SOCK_DIAG_BY_FAMILY with flags
 * NLM_F_REQUEST | NLM_F_DUMP, followed by a struct afc_diag_req whose
 * sdiag_family is the family number in use (AF_CUSTOM_FAMILY_PATH).
 * The answer is a multipart dump: one message of type
 * SOCK_DIAG_BY_FAMILY per socket (a struct afc_diag_msg, then the
 * attributes asked for in adiag_ext), ended by NLMSG_DONE; a dump larger
 * than one receive buffer continues over several recvmsg(2) calls.
 * Without NLM_F_DUMP the request fails with EOPNOTSUPP; a request
 * shorter than struct afc_diag_req fails with EINVAL.
 *
 * Only the sockets of the requesting netlink socket's network namespace
 * are listed.  As for TCP, any user may dump them (no capability is
 * needed), and sees every socket of the namespace, its uid (mapped into
 * the requester's user namespace) and inode.
 *
 * A socket is listed if its state's bit is set in adiag_states (1 <<
 * TCP_LISTEN, 1 << TCP_ESTABLISHED, ...; AFC_DIAG_ALL_STATES for all)
 * and, for each of adiag_sport and adiag_dport that is nonzero, its local
 * (peer) port equals it; the filters are applied in the kernel.  Sockets
 * that come or go while a dump runs may be missed or listed twice, as
 * with /proc/net/tcp; a socket present throughout is listed once.
 */
/* Request */
struct afc_diag_req {
	__u8	sdiag_family;	/* the family number in use */
	__u8	sdiag_protocol;	/* must be 0 */
	__u16	adiag_pad;	/* must be 0 */
	__u32	adiag_states;	/* query bitmap: 1 << state (TCP numbers) */
	__be16	adiag_sport;	/* local port, network order; 0: any */
	__be16	adiag_dport;	/* peer port, network order; 0: any */
	__u32	adiag_ext;	/* attributes wanted: 1 << (AFC_DIAG_INFO - 1) */
};

#define AFC_DIAG_ALL_STATES	0xffffffffU

/* Response */
struct afc_diag_msg {
	__u8	adiag_family;	/* the family number in use */
	__u8	adiag_state;	/* TCP numbers (TCP_LISTEN, TCP_ESTABLISHED, ...) */
	__u8	adiag_shutdown;	/* local RCV_SHUTDOWN (1) | SEND_SHUTDOWN (2) */
	__u8	adiag_pad;
	__be16	adiag_sport;	/* local port, network order */
	__be16	adiag_dport;	/* peer port, network order (0: none) */
	__be32	adiag_src;	/* local IPv4 address, network order */
	__be32	adiag_dst;	/* peer IPv4 address, network order (0: none) */
	__u32	adiag_rqueue;	/* unread bytes; a listener: accept queue length */
	__u32	adiag_wqueue;	/* unacknowledged and unsent bytes; a listener: backlog */
	__u32	adiag_uid;	/* owner, in the requester's user namespace */
	__u32	adiag_inode;	/* socket inode (0: none, e.g. not yet accepted) */
	__u32	adiag_cookie[2];	/* SO_COOKIE, low word first */
};

/*
 * Attributes after struct afc_diag_msg (struct nlattr, type below),
 * present when asked for by bit (1 << (type - 1)) of adiag_ext:
 *
 * AFC_DIAG_INFO: a struct tcp_info (linux/tcp.h), filled as AFC_INFO
 * fills it; as with INET_DIAG_INFO, its length may grow, read
 * min(nla_len - NLA_HDRLEN, sizeof(struct tcp_info)).
 */
enum {
	AFC_DIAG_NONE,
	AFC_DIAG_INFO,
	__AFC_DIAG_MAX,
};
#define AFC_DIAG_MAX		(__AFC_DIAG_MAX - 1)

#endif /* _UAPI_LINUX_AF_CUSTOM_H */
