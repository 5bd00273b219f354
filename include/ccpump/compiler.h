/*
 * compiler.h: the few compiler and platform helpers every module uses.
 */
#ifndef CCPUMP_COMPILER_H
#define CCPUMP_COMPILER_H

#include <stddef.h>

/* Symbols of libccpump that programs and tests may call. */
#define CCP_EXPORT __attribute__((visibility("default")))

/*
 * x86-64 and most Arm cores move 64-byte lines; adjacent-line prefetch on
 * Intel pulls pairs, so the hottest shared words are kept 128 bytes apart
 * (DPDK's RTE_CACHE_GUARD does the same).
 */
#define CCP_CACHELINE 64
#define CCP_CACHE_GUARD 128
#define CCP_ALIGNED(n) __attribute__((aligned(n)))
/* Kept out of line: for a slow path whose register saves would otherwise
 * land on its inline caller's fast path too.  Defined in a header (static,
 * not inline, which GCC will not combine with noinline), so "unused" keeps
 * quiet the files that include it and never call it. */
#define CCP_NOINLINE __attribute__((noinline, unused))

/* The sanitizers of this build, as GCC names them (__SANITIZE_*__) and as
 * Clang does (__has_feature): CCP_TSAN, CCP_ASAN. */
#if defined(__SANITIZE_THREAD__)
#define CCP_TSAN 1
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CCP_ASAN 1
#endif
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) && !defined(CCP_TSAN)
#define CCP_TSAN 1
#endif
#if __has_feature(address_sanitizer) && !defined(CCP_ASAN)
#define CCP_ASAN 1
#endif
#endif

#define ccp_likely(x) __builtin_expect(!!(x), 1)
#define ccp_unlikely(x) __builtin_expect(!!(x), 0)

#define CCP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CCP_CONTAINER_OF(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* One pause of a spin-wait: tells the core (and an SMT sibling) we spin. */
static inline void ccp_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

#endif /* CCPUMP_COMPILER_H */
