// SPDX-License-Identifier: GPL-2.0
/*
 * `make run`'s demonstration: opens an AF_CUSTOM socket, shows what the
 * kernel says of it, injects one valid frame on lo and shows the handler
 * counted it.  Not a test (the tests are the other programs here).
 */
#include <sys/socket.h>
#include <unistd.h>
#include "afc_test.h"
#include "afc_frame.h"

int main(void)
{
	static const struct afc_hdr_fields h = {
		.version = 1, .flags = AFC_F_ACK, .window = 1000, .sport = 40000,
		.dport = 7000, .payload_len = 5, .saddr = 0x7f000001,
		.daddr = 0x7f000001, .seq = 1, .ack = 1,
	};
	uint8_t buf[64];
	int fam = afc_family(), fd, type = 0;
	socklen_t len = sizeof(type);

	printf("AF_CUSTOM is family %d (from %s)\n", fam, AF_CUSTOM_FAMILY_PATH);
	fd = socket(fam, SOCK_STREAM, 0);
	if (fd < 0) {
		perror("socket(AF_CUSTOM, SOCK_STREAM, 0)");
		return 1;
	}
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
	printf("socket(AF_CUSTOM, SOCK_STREAM, 0) = fd %d, SO_TYPE %d\n", fd, type);
	printf("InSegs before: %lld\n", afc_stat("InSegs"));
	if (afc_inject("lo", buf, afc_build(buf, &h, "hello", 1))) {
		perror("inject");
		return 1;
	}
	usleep(10000);
	printf("sent one 0x88B5 frame through AF_PACKET on lo; InSegs now: %lld\n", afc_stat("InSegs"));
	close(fd);
	return 0;
}
