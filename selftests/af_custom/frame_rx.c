// SPDX-License-Identifier: GPL-2.0
/*
 * Frames of EtherType 0x88B5 injected through AF_PACKET reach the
 * module's packet_type handler, which validates and counts them: a valid
 * frame counts as InSegs, a runt or malformed one as InErrs, a corrupted
 * one on a non-loopback link as InCsumErrors, and none crashes anything.
 */
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include "afc_test.h"
#include "afc_frame.h"
#include "kselftest_harness.h"

static const struct afc_hdr_fields valid = {
	.version = 1, .flags = AFC_F_ACK, .window = 1000,
	.sport = 40000, .dport = 7000, .payload_len = 5,
	.saddr = 0x7f000001, .daddr = 0x7f000001, .seq = 1, .ack = 1,
};

/* Waits (at most 1 s) until counter `name` reaches `want`. */
static long long wait_stat(const char *name, long long want)
{
	long long v = afc_stat(name);

	for (int i = 0; i < 100 && v < want; i++) {
		usleep(10000);
		v = afc_stat(name);
	}
	return v;
}

FIXTURE(rx) { char ifname[16]; };
FIXTURE_VARIANT(rx) { int veth; };
FIXTURE_VARIANT_ADD(rx, lo) { .veth = 0 };
FIXTURE_VARIANT_ADD(rx, veth) { .veth = 1 };

FIXTURE_SETUP(rx)
{
	ASSERT_EQ(0, unshare(CLONE_NEWNET));
	ASSERT_EQ(0, system("ip link set lo up"));
	strcpy(self->ifname, "lo");
	if (variant->veth) {
		ASSERT_EQ(0, system("ip link add va type veth peer name vb && "
				    "ip link set va up && ip link set vb up"));
		strcpy(self->ifname, "va");
	}
}

FIXTURE_TEARDOWN(rx) {}

TEST_F(rx, valid_frame_counted)
{
	uint8_t buf[64];
	size_t len = afc_build(buf, &valid, "hello", 1);
	long long before = afc_stat("InSegs");

	ASSERT_LE(0, before);
	ASSERT_EQ(0, afc_inject(self->ifname, buf, len));
	ASSERT_EQ(before + 1, wait_stat("InSegs", before + 1));
	ASSERT_EQ(0, afc_stat("InErrs"));
}

TEST_F(rx, runt_frame_is_an_error)
{
	uint8_t buf[64];
	long long errs = afc_stat("InErrs"), segs = afc_stat("InSegs");

	afc_build(buf, &valid, "hello", 1);
	ASSERT_EQ(0, afc_inject(self->ifname, buf, 10));
	ASSERT_EQ(errs + 1, wait_stat("InErrs", errs + 1));
	/* Header complete but payload cut short. */
	ASSERT_EQ(0, afc_inject(self->ifname, buf, AFC_HDR_LEN + 2));
	ASSERT_EQ(errs + 2, wait_stat("InErrs", errs + 2));
	ASSERT_EQ(segs, afc_stat("InSegs"));
}

TEST_F(rx, malformed_frames_are_errors)
{
	struct afc_hdr_fields h;
	uint8_t buf[64];
	long long errs = afc_stat("InErrs");
	size_t len;

	h = valid; h.version = 2;
	len = afc_build(buf, &h, "hello", 1);
	ASSERT_EQ(0, afc_inject(self->ifname, buf, len));
	h = valid; h.flags = 0x80 | AFC_F_ACK;
	len = afc_build(buf, &h, "hello", 1);
	ASSERT_EQ(0, afc_inject(self->ifname, buf, len));
	h = valid; h.dport = 0;
	len = afc_build(buf, &h, "hello", 1);
	ASSERT_EQ(0, afc_inject(self->ifname, buf, len));
	ASSERT_EQ(errs + 3, wait_stat("InErrs", errs + 3));
}

TEST_F(rx, padding_after_payload_is_ignored)
{
	uint8_t buf[128] = { 0 };
	long long segs = afc_stat("InSegs");

	afc_build(buf, &valid, "hello", 1);
	ASSERT_EQ(0, afc_inject(self->ifname, buf, 100));
	ASSERT_EQ(segs + 1, wait_stat("InSegs", segs + 1));
}

TEST_F(rx, corrupted_frame_caught_by_checksum_except_on_loopback)
{
	uint8_t buf[64];
	long long csum = afc_stat("InCsumErrors"), segs = afc_stat("InSegs");
	size_t len = afc_build(buf, &valid, "hello", 1);

	buf[AFC_HDR_LEN + 1] ^= 0x04;	/* flip a payload bit after summing */
	ASSERT_EQ(0, afc_inject(self->ifname, buf, len));
	if (variant->veth) {
		ASSERT_EQ(csum + 1, wait_stat("InCsumErrors", csum + 1));
		ASSERT_EQ(segs, afc_stat("InSegs"));
	} else {
		/* Loopback guarantees integrity: the checksum is not checked. */
		ASSERT_EQ(segs + 1, wait_stat("InSegs", segs + 1));
	}
}

/* Slow on the debug kernel (KASAN, SLUB debugging under TCG). */
TEST_F_TIMEOUT(rx, random_garbage_never_crashes, 300)
{
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	uint8_t buf[256];
	long long segs = afc_stat("InSegs"), errs = afc_stat("InErrs"),
		  csum = afc_stat("InCsumErrors");

	ASSERT_LE(0, fd);
	srand(42);
	for (int i = 0; i < 2000; i++) {
		size_t len = 1 + rand() % sizeof(buf);

		for (size_t j = 0; j < len; j++)
			buf[j] = rand();
		if (i % 2)
			buf[0] = 1;	/* get past the version check half the time */
		ASSERT_EQ(0, afc_inject_fd(fd, self->ifname, buf, len));
	}
	close(fd);
	/* Every frame was judged, one way or another. */
	ASSERT_EQ(segs + errs + csum + 2000,
		  wait_stat("InSegs", 0) + wait_stat("InErrs", 0) + wait_stat("InCsumErrors", 0));
}

TEST_HARNESS_MAIN
