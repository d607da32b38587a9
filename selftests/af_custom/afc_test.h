/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the AF_CUSTOM kselftests. */
#ifndef AFC_TEST_H
#define AFC_TEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/af_custom.h>

/* The family number the loaded module registered (from sysfs), or -1. */
static inline int afc_family(void)
{
	FILE *f = fopen(AF_CUSTOM_FAMILY_PATH, "r");
	int fam = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &fam) != 1)
		fam = -1;
	fclose(f);
	return fam;
}

/* A counter of /proc/net/af_custom_stat in the current netns, or -1. */
static inline long long afc_stat(const char *name)
{
	FILE *f = fopen("/proc/net/af_custom_stat", "r");
	char key[64];
	long long val, found = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%63[^:]: %lld\n", key, &val) == 2) {
		if (!strcmp(key, name)) {
			found = val;
			break;
		}
	}
	fclose(f);
	return found;
}

#endif
