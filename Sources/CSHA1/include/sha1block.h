#ifndef STRATA_SHA1BLOCK_H
#define STRATA_SHA1BLOCK_H
#include <stddef.h>
#include <stdint.h>

/// Whether this CPU has the SHA extensions (x86-64: CPUID leaf 7, EBX bit 29).
int strata_sha1_hardware(void);

/// Compresses `blocks` 64-byte blocks of `data` into `state` (h0..h4) with the SHA
/// instructions. Only where `strata_sha1_hardware()` is 1; padding is the caller's.
void strata_sha1_blocks_hardware(uint32_t state[5], const uint8_t *data, size_t blocks);

#endif
