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

static inline uint64_t ccp_hash_bytes(const void *data, size_t len)
{
	const unsigned char *p = data;
	const uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull;
	uint64_t h = k0 ^ (uint64_t)len;
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = ccp_hash_mix(h ^ w, k1);
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t w = 0;
		memcpy(&w, p, len);
		h = ccp_hash_mix(h ^ w, k1 ^ (uint64_t)len);
	}
	return ccp_hash_mix(h, k0 ^ k1);
}

#endif /* CCPUMP_HASH_H */
