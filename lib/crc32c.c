/* crc32c.c: CRC-32C behind crc32c.h: hardware (SSE 4.2) when available, slicing-by-8 in software otherwise.
 * The table is built once, on first use, under pthread_once; the choice of implementation is made then too. */
#include <pthread.h>
#include <string.h>

#include "lib/crc32c.h"

#define POLY_REFLECTED 0x82F63B78u

static uint32_t table[8][256];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static uint32_t (*impl)(uint32_t crc, const unsigned char *p, size_t len);

static uint32_t crc_soft(uint32_t crc, const unsigned char *p, size_t len)
{
	while (len && ((uintptr_t)p & 7)) {
		crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		len--;
	}
	while (len >= 8) {
		uint64_t word;
		memcpy(&word, p, 8);
		/* Little-endian load: this path is only used on such hosts (x86, arm64 LE). */
		word ^= crc;
		crc = table[7][word & 0xff] ^ table[6][(word >> 8) & 0xff] ^
		      table[5][(word >> 16) & 0xff] ^ table[4][(word >> 24) & 0xff] ^
		      table[3][(word >> 32) & 0xff] ^ table[2][(word >> 40) & 0xff] ^
		      table[1][(word >> 48) & 0xff] ^ table[0][word >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *p,
							  size_t len)
{
	uint64_t c = crc;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t word;
		memcpy(&word, p, 8);
		c = __builtin_ia32_crc32di(c, word);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

static void init(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (POLY_REFLECTED & (0u - (c & 1)));
		table[0][i] = c;
	}
	for (unsigned i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = table[0][table[t - 1][i] & 0xff] ^ (table[t - 1][i] >> 8);
	impl = crc_soft;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		impl = crc_hw;
#endif
}

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
	pthread_once(&init_once, init);
	return ~impl(~crc, data, len);
}
