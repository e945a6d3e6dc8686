/* memtrim.c: mem_give_back() behind memtrim.h: malloc_trim(3) where glibc provides it, measured by the process's
 * resident set before and after. */
#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>

#include "hs_autoconf.h"
#include "lib/memtrim.h"

#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif

/* Resident bytes from /proc/self/statm (second field, in pages); 0 if unreadable. */
static size_t resident_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

size_t mem_give_back(void)
{
#ifdef HAVE_MALLOC_TRIM
	size_t before = resident_bytes();
	malloc_trim(0);
	size_t after = resident_bytes();
	return before > after ? before - after : 0;
#else
	return 0;
#endif
}
