// SPDX-License-Identifier: GPL-2.0
/*
 * socket(2) on AF_CUSTOM: which types and protocols give a socket, and the
 * exact errno of the ones that do not.
 */
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "afc_test.h"
#include "kselftest_harness.h"

TEST(family_published_in_sysfs)
{
	int fam = afc_family();

	ASSERT_GT(fam, 0);
	ASSERT_LT(fam, 46);	/* AF_MAX of 6.12 */
}

FIXTURE(good_socket) {};
FIXTURE_VARIANT(good_socket) { int type; int protocol; };
FIXTURE_VARIANT_ADD(good_socket, stream_default) { .type = SOCK_STREAM, .protocol = 0 };
FIXTURE_VARIANT_ADD(good_socket, stream_explicit) { .type = SOCK_STREAM, .protocol = AFCPROTO_STREAM };
FIXTURE_VARIANT_ADD(good_socket, stream_nonblock_cloexec) {
	.type = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, .protocol = 0 };
FIXTURE_SETUP(good_socket) {}
FIXTURE_TEARDOWN(good_socket) {}

TEST_F(good_socket, opens)
{
	int fd = socket(afc_family(), variant->type, variant->protocol);
	int type = -1;
	socklen_t len = sizeof(type);

	ASSERT_LE(0, fd) TH_LOG("socket: %s", strerror(errno));
	ASSERT_EQ(0, getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len));
	ASSERT_EQ(SOCK_STREAM, type);
	ASSERT_EQ(0, getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &type, &len));
	ASSERT_EQ(afc_family(), type);
	ASSERT_EQ(0, close(fd));
}

FIXTURE(bad_socket) {};
FIXTURE_VARIANT(bad_socket) { int type; int protocol; int err; };
FIXTURE_VARIANT_ADD(bad_socket, dgram) { .type = SOCK_DGRAM, .protocol = 0, .err = ESOCKTNOSUPPORT };
FIXTURE_VARIANT_ADD(bad_socket, seqpacket) { .type = SOCK_SEQPACKET, .protocol = 0, .err = ESOCKTNOSUPPORT };
FIXTURE_VARIANT_ADD(bad_socket, raw) { .type = SOCK_RAW, .protocol = 0, .err = ESOCKTNOSUPPORT };
FIXTURE_VARIANT_ADD(bad_socket, rdm) { .type = SOCK_RDM, .protocol = 0, .err = ESOCKTNOSUPPORT };
FIXTURE_VARIANT_ADD(bad_socket, proto_tcp) { .type = SOCK_STREAM, .protocol = 6, .err = EPROTONOSUPPORT };
FIXTURE_VARIANT_ADD(bad_socket, proto_two) { .type = SOCK_STREAM, .protocol = 2, .err = EPROTONOSUPPORT };
FIXTURE_VARIANT_ADD(bad_socket, proto_negative) { .type = SOCK_STREAM, .protocol = -1, .err = EPROTONOSUPPORT };
FIXTURE_SETUP(bad_socket) {}
FIXTURE_TEARDOWN(bad_socket) {}

TEST_F(bad_socket, refused)
{
	int fd = socket(afc_family(), variant->type, variant->protocol);

	ASSERT_EQ(-1, fd);
	ASSERT_EQ(variant->err, errno);
}

TEST(many_sockets_open_and_close)
{
	int fds[512];

	for (int i = 0; i < 512; i++) {
		fds[i] = socket(afc_family(), SOCK_STREAM, 0);
		ASSERT_LE(0, fds[i]);
	}
	for (int i = 0; i < 512; i++)
		ASSERT_EQ(0, close(fds[i]));
}

TEST(unknown_ioctl_is_enotty)
{
	int fd = socket(afc_family(), SOCK_STREAM, 0);

	ASSERT_LE(0, fd);
	ASSERT_EQ(-1, ioctl(fd, _IO('z', 0x42)));
	ASSERT_EQ(ENOTTY, errno);
	close(fd);
}

TEST_HARNESS_MAIN
