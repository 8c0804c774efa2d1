/* crc32c.h: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of iSCSI, ext4 and SSE4.2's crc32 instruction.
 *
 * Content checksums of checkpoint tensors and token-store datasets are
 * CRC-32C values stored as attributes; the same bytes always give the same
 * value, whichever implementation (table or SSE4.2) computed it.
 */
#ifndef LLMPI_CRC32C_H
#define LLMPI_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc over n bytes of data and returns the new value. Start with
 * crc = 0; chunks chain: ll_crc32c(ll_crc32c(0, a, na), b, nb) equals the
 * CRC of a followed by b. ll_crc32c(0, "123456789", 9) == 0xE3069283.
 * data may be NULL when n == 0. Thread-safe. */
uint32_t ll_crc32c(uint32_t crc, const void *data, size_t n);
/* The same function computed by the portable table path only (what
 * ll_crc32c uses on CPUs without SSE4.2): for tests that compare the two. */
uint32_t ll_crc32c_portable(uint32_t crc, const void *data, size_t n);

#endif
