// SPDX-License-Identifier: GPL-2.0
/*
 * An open AF_CUSTOM socket pins the module: rmmod fails while it is open
 * and succeeds once it is closed; the module then loads again.  Run with
 * the path of af_custom.ko in AFC_MODULE.
 */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "afc_test.h"
#include "kselftest_harness.h"

static int unload(void)
{
	return syscall(__NR_delete_module, "af_custom", O_NONBLOCK);
}

static int load(const char *params)
{
	const char *path = getenv("AFC_MODULE");
	int fd, ret;

	if (!path)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ret = syscall(__NR_finit_module, fd, params, 0);
	close(fd);
	return ret;
}

static int loaded(void)
{
	struct stat st;

	return stat("/sys/module/af_custom", &st) == 0;
}

TEST(rmmod_fails_while_socket_open)
{
	int fd;

	ASSERT_NE(NULL, getenv("AFC_MODULE"));
	ASSERT_TRUE(loaded());
	fd = socket(afc_family(), SOCK_STREAM, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(-1, unload());
	ASSERT_EQ(EWOULDBLOCK, errno);
	ASSERT_TRUE(loaded());
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, unload()) TH_LOG("delete_module: %s", strerror(errno));
	ASSERT_FALSE(loaded());
	ASSERT_EQ(0, load("")) TH_LOG("finit_module: %s", strerror(errno));
	ASSERT_TRUE(loaded());
}

TEST(family_parameter)
{
	int fd;

	ASSERT_EQ(0, unload());
	ASSERT_EQ(0, load("family=25")) TH_LOG("finit_module: %s", strerror(errno));
	ASSERT_EQ(25, afc_family());
	fd = socket(25, SOCK_STREAM, 0);
	ASSERT_LE(0, fd);
	close(fd);
	ASSERT_EQ(0, unload());
	/* A slot another family holds fails the load cleanly. */
	ASSERT_EQ(-1, load("family=2"));
	ASSERT_EQ(EEXIST, errno);
	ASSERT_FALSE(loaded());
	/* Out of range. */
	ASSERT_EQ(-1, load("family=46"));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(-1, load("family=0"));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(0, load(""));
	ASSERT_EQ(AF_CUSTOM_DEFAULT, afc_family());
}

TEST_HARNESS_MAIN
