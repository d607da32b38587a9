// SPDX-License-Identifier: GPL-2.0
/*
 * What leaves and what is trusted with the kernel's offloads (issue 12,
 * defect 4; docs/PROTOCOL.md 1.3 and docs/DESIGN.md, segmentation).
 *
 * - A connection over veth sends 64 KiB GSO frames.  When the veth peer is
 *   a bridge port, the bridge floods them to its other ports: a tap with
 *   vnet headers and UDP segmentation offload (TUN_F_USO4/6) stands for a
 *   NIC that segments UDP in hardware.  It must only ever be handed wire
 *   frames of at most the MTU, each with its checksum computed or pending
 *   at our own field, never a frame to cut as UDP.
 * - A frame leaving by a device other than a veth (here the tap, which
 *   claims NETIF_F_HW_CSUM) carries its checksum already.
 * - On receive, a checksum still pending is trusted only if it is ours (at
 *   our header's checksum field, which no user injector can set up); one
 *   pending elsewhere in the frame is verified like any other.
 *
 * These are AF_CUSTOM wire rules: no TCP mode (skipped under inet).
 */
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include "afc_test.h"
#include "afc_frame.h"
#include "kselftest_harness.h"

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

#define PORT 7300
#define MTU 1500
#define BULK (2 << 20)
#define VNET_LEN ((int)sizeof(struct virtio_net_hdr))
#define VD_MAC "02:77:00:00:00:04"

/* Byte i of the stream. */
static char pattern(size_t i)
{
	return (char)(i * 131 + (i >> 9));
}

/* A fresh network namespace; the caller stays in `back`.  -1 on error. */
static int new_ns(int back)
{
	int fd;

	if (unshare(CLONE_NEWNET))
		return -1;
	fd = open("/proc/thread-self/ns/net", O_RDONLY);
	if (setns(back, CLONE_NEWNET)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A socket opened in namespace ns; the caller stays in back. */
static int socket_in(int ns, int back, int flags)
{
	int fd;

	if (setns(ns, CLONE_NEWNET))
		return -1;
	fd = afc_tsocket_flags(flags);
	if (setns(back, CLONE_NEWNET)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A counter of namespace ns; the caller stays in back. */
static long long stat_in(int ns, int back, const char *name)
{
	long long v;

	if (setns(ns, CLONE_NEWNET))
		return -1;
	v = afc_stat(name);
	if (setns(back, CLONE_NEWNET))
		return -1;
	return v;
}

/*
 * A tap device `name` with vnet headers and the offloads a NIC with UDP
 * segmentation offload has (checksum, TSO, USO), up; its fd, nonblocking.
 */
static int tap_open(const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);

	if (fd < 0)
		return -1;
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) ||
	    ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6)) {
		fprintf(stderr, "# tap %s: %s\n", name, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* What a tap reader saw of our frames. */
struct tap_seen {
	int frames, data_frames, gso, too_long, csum_bad, pending_elsewhere, pending_ours;
	unsigned int max_len;
};

/*
 * Judges one frame read from a tap (vnet header, then the Ethernet frame)
 * as a virtual machine or a NIC would take it.
 */
static void tap_judge(struct tap_seen *t, uint8_t *buf, int n)
{
	struct virtio_net_hdr *vh = (void *)buf;
	uint8_t *f = buf + VNET_LEN + ETH_HLEN;
	int len = n - VNET_LEN - ETH_HLEN;

	if (len < AFC_HDR_LEN || buf[VNET_LEN + 12] != 0x88 || buf[VNET_LEN + 13] != 0xb5)
		return;
	t->frames++;
	if ((unsigned int)len > t->max_len)
		t->max_len = len;
	if (((f[8] << 8) | f[9]) > 1000)
		t->data_frames++;
	if (vh->gso_type != VIRTIO_NET_HDR_GSO_NONE)
		t->gso++;
	if (len > MTU)
		t->too_long++;
	if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (vh->csum_start == ETH_HLEN && vh->csum_offset == 10)
			t->pending_ours++;
		else
			t->pending_elsewhere++;
	} else if (!afc_csum_verify(f, len)) {
		t->csum_bad++;
	}
}

/* Reads every frame the tap has queued. */
static void tap_drain(int fd, struct tap_seen *t)
{
	static uint8_t buf[VNET_LEN + 65536 + 64];
	int n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		tap_judge(t, buf, n);
}

static void tap_report(const struct tap_seen *t)
{
	fprintf(stderr, "# tap saw %d frames (%d data, longest %u): gso %d, longer than the MTU %d, "
		"bad checksum %d, pending at our field %d, pending elsewhere %d\n",
		t->frames, t->data_frames, t->max_len, t->gso, t->too_long, t->csum_bad,
		t->pending_ours, t->pending_elsewhere);
}

/*
 * Namespace m (the caller's) holds bridge br0 with ports vb, vc and tap0,
 * learning off on every port so that every frame floods to the tap; a
 * holds va 10.77.0.1 (vb's peer), b holds vd 10.77.0.2 (vc's peer).
 */
FIXTURE(bridged) {
	int m, a, b, tap;
};

FIXTURE_SETUP(bridged)
{
	self->m = self->a = self->b = self->tap = -1;
	if (afc_inet())
		SKIP(return, "AF_CUSTOM wire rules (no TCP mode)");
	ASSERT_LT(0, afc_family()) TH_LOG("af_custom is not loaded");
	ASSERT_EQ(0, unshare(CLONE_NEWNET));
	self->m = open("/proc/thread-self/ns/net", O_RDONLY);
	ASSERT_LE(0, self->m);
	self->a = new_ns(self->m);
	self->b = new_ns(self->m);
	ASSERT_LE(0, self->a);
	ASSERT_LE(0, self->b);
	self->tap = tap_open("tap0");
	ASSERT_LE(0, self->tap) TH_LOG("no tap (CONFIG_TUN)");
	ASSERT_EQ(0, afc_sh("ip link set lo up && ip link add br0 type bridge && ip link set br0 up && "
			    "ip link add va address " AFC_VA_MAC " type veth peer name vb && "
			    "ip link add vd address " VD_MAC " type veth peer name vc && "
			    "ip link set va netns /proc/self/fd/%d && ip link set vd netns /proc/self/fd/%d && "
			    "for p in vb vc tap0; do ip link set $p master br0 && "
			    "ip link set $p type bridge_slave learning off && ip link set $p up || exit 1; done",
			    self->a, self->b));
	ASSERT_EQ(0, afc_sh_in(self->a, self->m, "ip link set lo up && ip addr add 10.77.0.1/24 dev va && "
			       "ip link set va up && ip neigh replace 10.77.0.2 lladdr " VD_MAC
			       " dev va nud permanent"));
	ASSERT_EQ(0, afc_sh_in(self->b, self->m, "ip link set lo up && ip addr add 10.77.0.2/24 dev vd && "
			       "ip link set vd up && ip neigh replace 10.77.0.1 lladdr " AFC_VA_MAC
			       " dev vd nud permanent"));
}

FIXTURE_TEARDOWN(bridged)
{
	for (int *fd = &self->m; fd <= &self->tap; fd++)
		if (*fd >= 0)
			close(*fd);
}

/*
 * 2 MiB from a to b across the bridge: b gets every byte, and the tap is
 * never handed a GSO frame or one longer than the MTU, and every frame it
 * gets has its checksum right or pending at our own field.
 */
TEST_F(bridged, gso_frames_reach_a_bridged_tap_cut_to_the_mtu)
{
	static char out[BULK], in[BULK];
	struct tap_seen t = { 0 };
	int l, c, s, got = 0, sent = 0;
	long long deadline;

	for (size_t i = 0; i < BULK; i++)
		out[i] = pattern(i);
	l = socket_in(self->b, self->m, 0);
	ASSERT_LE(0, l);
	ASSERT_EQ(0, afc_bind(l, "0.0.0.0", PORT));
	ASSERT_EQ(0, listen(l, 4));
	c = socket_in(self->a, self->m, 0);
	ASSERT_LE(0, c);
	ASSERT_EQ(0, afc_connect(c, "10.77.0.2", PORT)) TH_LOG("connect: %s", strerror(errno));
	s = accept(l, NULL, NULL);
	ASSERT_LE(0, s);
	ASSERT_EQ(0, fcntl(c, F_SETFL, O_NONBLOCK));
	ASSERT_EQ(0, fcntl(s, F_SETFL, O_NONBLOCK));
	deadline = now_ms() + 120000;
	while (got < BULK && now_ms() < deadline) {
		struct pollfd p[3] = { { .fd = c, .events = sent < BULK ? POLLOUT : 0 },
				       { .fd = s, .events = POLLIN }, { .fd = self->tap, .events = POLLIN } };
		ssize_t n;

		poll(p, 3, 200);
		if (sent < BULK) {
			n = send(c, out + sent, BULK - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += n;
			else
				ASSERT_EQ(EAGAIN, errno);
		}
		n = recv(s, in + got, BULK - got, 0);
		if (n > 0)
			got += n;
		else
			ASSERT_TRUE(n < 0 && errno == EAGAIN) TH_LOG("recv %zd: %s", n, strerror(errno));
		tap_drain(self->tap, &t);
	}
	usleep(100000);
	tap_drain(self->tap, &t);
	tap_report(&t);
	ASSERT_EQ(BULK, got);
	ASSERT_EQ(0, memcmp(out, in, BULK)) TH_LOG("the stream arrived altered");
	/* Each of the ~1430 data frames floods to the tap (some may be
	 * dropped by its queue, 500 frames long, while we send). */
	EXPECT_LT(200, t.data_frames);
	EXPECT_EQ(0, t.gso) TH_LOG("the tap was handed GSO frames to cut as its own protocol");
	EXPECT_EQ(0, t.too_long) TH_LOG("frames of up to %u bytes on a %d-byte MTU", t.max_len, MTU);
	EXPECT_EQ(0, t.csum_bad);
	EXPECT_EQ(0, t.pending_elsewhere);
	EXPECT_EQ(0, t.pending_ours) TH_LOG("frames left a veth for another device with their sum pending");
	close(s);
	close(c);
	close(l);
}

/*
 * A connect out of the tap itself (tap0 10.88.0.1, the peer a static
 * neighbour): the SYN, and its retransmissions, are handed to the tap,
 * which claims NETIF_F_HW_CSUM, with the checksum already computed.
 */
TEST_F(bridged, frames_leaving_by_another_device_carry_their_checksum)
{
	struct tap_seen t = { 0 };
	long long deadline;
	int c;

	ASSERT_EQ(0, afc_sh("ip addr add 10.88.0.1/24 dev tap0 && "
			    "ip neigh replace 10.88.0.2 lladdr 02:77:00:00:00:09 dev tap0 nud permanent"));
	c = afc_tsocket_flags(SOCK_NONBLOCK);
	ASSERT_LE(0, c);
	ASSERT_EQ(-1, afc_connect(c, "10.88.0.2", PORT));
	ASSERT_EQ(EINPROGRESS, errno);
	deadline = now_ms() + 5000;
	while (t.frames < 1 && now_ms() < deadline) {
		struct pollfd p = { .fd = self->tap, .events = POLLIN };

		poll(&p, 1, 200);
		tap_drain(self->tap, &t);
	}
	tap_report(&t);
	ASSERT_LE(1, t.frames) TH_LOG("no SYN reached the tap");
	EXPECT_EQ(0, t.pending_ours) TH_LOG("the SYN left with its checksum pending");
	EXPECT_EQ(0, t.pending_elsewhere);
	EXPECT_EQ(0, t.csum_bad);
	close(c);
}

/*
 * Frames injected on va with a vnet header (PACKET_VNET_HDR) arrive at vb
 * in namespace b as the injector's header says: a checksum pending at
 * payload offset is not ours, so our field is verified and a wrong one
 * counted; a pending checksum at our own field cannot be injected at all.
 */
FIXTURE(veth) {
	struct afc_nets n;
};

FIXTURE_SETUP(veth)
{
	if (afc_inet())
		SKIP(return, "AF_CUSTOM wire rules (no TCP mode)");
	ASSERT_EQ(0, afc_veth_setup(&self->n));
	ASSERT_LT(0, afc_family()) TH_LOG("af_custom is not loaded");
}

FIXTURE_TEARDOWN(veth)
{
	afc_nets_close(&self->n);
}

/* Sends an ACK with 2 payload bytes, 10.77.0.1 -> 10.77.0.2:PORT (no
 * socket), on va: checksum right or off by one, with a vnet header asking
 * for a checksum at csum_start (from the Ethernet header) unless 0. */
static int inject_vnet(int fd, int csum_right, int csum_start)
{
	struct afc_hdr_fields h = { .version = 1, .flags = AFC_F_ACK, .window = 100,
				    .sport = 40000, .dport = PORT, .payload_len = 2,
				    .saddr = 0x0a4d0001, .daddr = 0x0a4d0002, .seq = 1, .ack = 1 };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_AF_CUSTOM),
				   .sll_halen = ETH_ALEN, .sll_ifindex = if_nametoindex("va") };
	uint8_t buf[VNET_LEN + ETH_HLEN + AFC_HDR_LEN + 2] = { 0 };
	struct virtio_net_hdr *vh = (void *)buf;
	uint8_t *eth = buf + VNET_LEN, *f = eth + ETH_HLEN;
	static const uint8_t vb_mac[ETH_ALEN] = { 2, 0x77, 0, 0, 0, 2 };

	afc_build(f, &h, "xy", 1);
	if (!csum_right)
		afc_put16(f + 10, ((f[10] << 8) | f[11]) ^ 0x0101);
	if (csum_start) {
		vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh->csum_start = csum_start;
		vh->csum_offset = 0;
	}
	memcpy(eth, vb_mac, ETH_ALEN);
	memcpy(sll.sll_addr, vb_mac, ETH_ALEN);
	eth[12] = ETH_P_AF_CUSTOM >> 8;
	eth[13] = ETH_P_AF_CUSTOM & 0xff;
	return sendto(fd, buf, sizeof(buf), 0, (void *)&sll, sizeof(sll)) == (ssize_t)sizeof(buf) ? 0 : -1;
}

TEST_F(veth, a_checksum_pending_elsewhere_does_not_excuse_ours)
{
	int one = 1, fd = socket(AF_PACKET, SOCK_RAW, 0);
	long long segs, errs;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)));
	/* Control: a plain frame with its field right is taken. */
	segs = stat_in(self->n.b, self->n.a, "InSegs");
	errs = stat_in(self->n.b, self->n.a, "InCsumErrors");
	ASSERT_EQ(0, inject_vnet(fd, 1, 0));
	usleep(200000);
	ASSERT_EQ(segs + 1, stat_in(self->n.b, self->n.a, "InSegs"));
	ASSERT_EQ(errs, stat_in(self->n.b, self->n.a, "InCsumErrors"));
	/* A checksum pending at the payload (the injector's claim) and our
	 * field wrong: counted as a checksum error, not taken. */
	ASSERT_EQ(0, inject_vnet(fd, 0, ETH_HLEN + AFC_HDR_LEN));
	usleep(200000);
	EXPECT_EQ(segs + 1, stat_in(self->n.b, self->n.a, "InSegs"));
	EXPECT_EQ(errs + 1, stat_in(self->n.b, self->n.a, "InCsumErrors"));
	/* Pending at our header: refused by the kernel before it is sent
	 * (virtio_net_hdr_to_skb wants 20 bytes of network header first),
	 * which is why a pending sum of ours can only be this host's own. */
	errno = 0;
	EXPECT_EQ(-1, inject_vnet(fd, 0, ETH_HLEN));
	EXPECT_EQ(EINVAL, errno);
	usleep(200000);
	EXPECT_EQ(segs + 1, stat_in(self->n.b, self->n.a, "InSegs"));
	EXPECT_EQ(errs + 1, stat_in(self->n.b, self->n.a, "InCsumErrors"));
	close(fd);
}

TEST_HARNESS_MAIN
