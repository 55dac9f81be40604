#ifndef STRATA_CRC32C_H
#define STRATA_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/// Extends a CRC32C (Castagnoli, reflected polynomial 0x82F63B78) over `len` bytes.
/// Start with crc = 0; the result of one call is the `crc` of the next for streaming.
/// Uses the SSE4.2 crc32 instruction where the CPU has it, a slicing-by-8 table otherwise.
uint32_t strata_crc32c_extend(uint32_t crc, const void *data, size_t len);

/// The software path alone (for tests that compare both paths).
uint32_t strata_crc32c_extend_portable(uint32_t crc, const void *data, size_t len);

#endif
