/*
 * alloc.c: allocation wrappers with one out-of-memory policy.
 */
#include "ccpump/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ccpump/log.h"

#ifdef CCPUMP_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

static _Noreturn void out_of_memory(size_t size)
{
	ccp_panic("out of memory allocating %zu bytes", size);
}

void *ccp_malloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (ccp_unlikely(p == NULL))
		out_of_memory(size);
	return p;
}

void *ccp_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (ccp_unlikely(p == NULL))
		out_of_memory(n * size);
	return p;
}

void *ccp_realloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);
	if (ccp_unlikely(q == NULL))
		out_of_memory(size);
	return q;
}

void *ccp_aligned_alloc(size_t align, size_t size)
{
	void *p = NULL;
	if (ccp_unlikely(posix_memalign(&p, align, size ? size : align) != 0))
		out_of_memory(size);
	return p;
}

char *ccp_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(ccp_malloc(n), s, n);
}

void ccp_free(void *p)
{
	free(p);
}

#ifdef CCPUMP_WITH_JEMALLOC
static uint64_t je_stat(const char *name)
{
	size_t v = 0, len = sizeof(v);
	if (mallctl(name, &v, &len, NULL, 0) != 0)
		return 0;
	return v;
}
#endif

void ccp_alloc_stats_read(struct ccp_alloc_stats *out)
{
	memset(out, 0, sizeof(*out));
#ifdef CCPUMP_WITH_JEMALLOC
	uint64_t epoch = 1;
	size_t len = sizeof(epoch);
	/* Writing "epoch" makes jemalloc refresh its cached statistics. */
	mallctl("epoch", &epoch, &len, &epoch, len);
	out->available = true;
	out->allocated = je_stat("stats.allocated");
	out->active = je_stat("stats.active");
	out->resident = je_stat("stats.resident");
	out->mapped = je_stat("stats.mapped");
#endif
}

const char *ccp_alloc_name(void)
{
#ifdef CCPUMP_WITH_JEMALLOC
	static char name[64];
	const char *v = NULL;
	size_t len = sizeof(v);
	if (name[0] == '\0') {
		if (mallctl("version", &v, &len, NULL, 0) == 0 && v)
			snprintf(name, sizeof(name), "jemalloc %.40s", v);
		else
			snprintf(name, sizeof(name), "jemalloc");
	}
	return name;
#else
	return "libc malloc";
#endif
}

uint64_t ccp_peak_rss_bytes(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (uint64_t)ru.ru_maxrss * 1024u; /* Linux reports KiB */
}

uint64_t ccp_current_rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");
	if (f == NULL)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

double ccp_half_memory_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	return pages > 0 && page > 0 ? (double)pages / 2.0 * (double)page : 0;
}
