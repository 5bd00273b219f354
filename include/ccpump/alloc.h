/*
 * alloc.h: the one out-of-memory policy, and the allocator's statistics.
 *
 * ccpump allocates through these wrappers only.  They either succeed or do
 * not return (Postfix's mymalloc): a relay that runs out of memory cannot keep
 * its promises, so it stops loudly rather than limp on.  The allocator is
 * jemalloc (linked in, replacing malloc); sanitizer builds use libc malloc and
 * report no allocator statistics.
 */
#ifndef CCPUMP_ALLOC_H
#define CCPUMP_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccpump/compiler.h"

CCP_EXPORT void *ccp_malloc(size_t size);
CCP_EXPORT void *ccp_calloc(size_t n, size_t size);
CCP_EXPORT void *ccp_realloc(void *p, size_t size);
CCP_EXPORT void *ccp_aligned_alloc(size_t align, size_t size);
CCP_EXPORT char *ccp_strdup(const char *s);
CCP_EXPORT void ccp_free(void *p);

struct ccp_alloc_stats {
	bool available;     /* false when the build has no jemalloc */
	uint64_t allocated; /* bytes the program holds (stats.allocated) */
	uint64_t active;    /* bytes in active pages (stats.active) */
	uint64_t resident;  /* bytes of allocator pages in RAM (stats.resident) */
	uint64_t mapped;    /* bytes mapped by the allocator (stats.mapped) */
};

/* Refreshes jemalloc's statistics epoch and reads them.  Thread-safe. */
CCP_EXPORT void ccp_alloc_stats_read(struct ccp_alloc_stats *out);
/* Name and version of the allocator in use, for reports. */
CCP_EXPORT const char *ccp_alloc_name(void);
/* Peak resident set size of the process, from getrusage(). */
CCP_EXPORT uint64_t ccp_peak_rss_bytes(void);
/* Current resident set size, from /proc/self/statm (0 when unreadable). */
CCP_EXPORT uint64_t ccp_current_rss_bytes(void);
/* Half the machine's memory in octets, the most a run's queues may be
 * sized to take; 0 when the system does not say. */
CCP_EXPORT double ccp_half_memory_bytes(void);

#endif /* CCPUMP_ALLOC_H */
