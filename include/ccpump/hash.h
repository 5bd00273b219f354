/*
 * hash.h: a fast 64-bit hash of short byte strings (message keys).
 *
 * Keys are spool file names of 20-60 bytes.  This mixes 8 bytes at a time
 * with a 128-bit multiply fold (the wyhash/rapidhash family's core step):
 * a few cycles per word and good avalanche.  Not for hostile collision
 * resistance: the registry's keys are the spool's own file names.
 */
#ifndef CCPUMP_HASH_H
#define CCPUMP_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t ccp_hash_mix(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* Words are read little-endian, so the value is the same on every host. */
static inline uint64_t ccp_hash_load64(const unsigned char *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

/* The hash with SEED folded into its starting state: different seeds give
 * unrelated functions (fpset.h takes two of them for a 128-bit
 * fingerprint).  Seed 0 is ccp_hash_bytes(). */
static inline uint64_t ccp_hash_bytes_seeded(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	const size_t whole = len;
	const uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull;
	uint64_t h = k0 ^ ccp_hash_mix(seed, k1) ^ (uint64_t)len; /* mix(0, k1) == 0 */
	while (len >= 8) {
		h = ccp_hash_mix(h ^ ccp_hash_load64(p), k1);
		p += 8;
		len -= 8;
	}
	if (len) {
		/* The last 1-7 bytes, zero-extended.  A key of 8 bytes or more
		 * reads the 8 bytes that end at its end (overlapping the last
		 * word) and shifts the tail down: one load, where a memcpy of a
		 * variable length was a library call on every key. */
		uint64_t w = 0;
		if (whole >= 8) {
			w = ccp_hash_load64(p + len - 8) >> (8 * (8 - len));
		} else {
			for (size_t i = 0; i < len; i++)
				w |= (uint64_t)p[i] << (8 * i);
		}
		h = ccp_hash_mix(h ^ w, k1 ^ (uint64_t)len);
	}
	return ccp_hash_mix(h, k0 ^ k1);
}

static inline uint64_t ccp_hash_bytes(const void *data, size_t len)
{
	return ccp_hash_bytes_seeded(data, len, 0);
}

#endif /* CCPUMP_HASH_H */
