/* crc32c.h: CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected), the checksum of every WAL record and chunk.
 * Pure; uses the SSE 4.2 crc32 instruction when the CPU has it, a slicing-by-8 table otherwise. */
#ifndef HS_CRC32C_H
#define HS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: crc32c(0, ...) starts one; feeding a buffer in pieces
 * gives the same result as feeding it whole. crc32c(0, "123456789", 9) is
 * 0xE3069283. Thread-safe. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif
