/* h5.h: small HDF5 helpers shared by the file formats (the token store, the
 * checkpoints; the SFT store next). They know HDF5, not any one layout.
 *
 * Ids are passed as int64_t (HDF5's hid_t) so that callers need not include
 * <hdf5.h>. loc is an open file, group or dataset; path names the file in the
 * one error line. Strings are written fixed-length and NUL-terminated; the
 * readers accept fixed or variable-length strings and any integer type
 * (negative values refused), scalar or one-element dataspace.
 */
#ifndef LLMPI_H5_H
#define LLMPI_H5_H

#include <stddef.h>
#include <stdint.h>

/* HDF5 is built without thread safety (Debian's libhdf5): code that may call
 * it while another thread does (the asynchronous checkpoint writer, in the
 * trainer) holds this process-wide lock around its HDF5 calls: the
 * checkpoint image build and prune, and the token store's dataset reads.
 * Not recursive. */
void h5u_lock(void);
void h5u_unlock(void);

/* Silences HDF5's own error stack printing (we print one line ourselves). */
void h5u_quiet(void);

/* Checks, with plain reads, what libhdf5 would trust blindly: the signature,
 * the superblock (8-byte addresses, end of file not beyond the file's size)
 * and the root object header (every chunk inside the file, every message
 * inside its chunk, every attribute message's name, type, dataspace and data
 * inside the message). 0, or -1 with one line naming path. */
int h5u_check_file(const char *path);
/* h5u_check_file without printing: -1 puts the line (without "llmpi: ") in
 * msg[0..cap), for callers that report it their own way (a warning); msg is
 * empty when the check ran out of memory (ll_malloc printed that line). */
int h5u_check_file_why(const char *path, char *msg, size_t cap);
/* h5u_check_file, then H5Fopen read-only with H5F_CLOSE_STRONG. The file
 * id, or -1 with one line. */
int64_t h5u_open_readonly(const char *path);

/* The root "format" attribute of the file at path, into out ("" when the
 * file is HDF5 but has none): how `llmpi info` tells the formats apart.
 * -1 with one line when the file is unreadable or not HDF5. */
int h5u_file_format(const char *path, char *out, size_t cap);

int h5u_attr_write_str(int64_t loc, const char *name, const char *value, const char *path);
int h5u_attr_write_u64(int64_t loc, const char *name, uint64_t value, const char *path);
/* 0 and *exists = 0 if the attribute is absent (exists may be NULL: then absent is an error). */
int h5u_attr_read_str(int64_t loc, const char *name, char *out, size_t cap, const char *path, int *exists);
int h5u_attr_read_u64(int64_t loc, const char *name, uint64_t *out, const char *path);
/* Attributes kept in an object header (compact) before HDF5 would move them
 * to dense storage. */
#define H5U_COMPACT_ATTRS 64
/* The format llmpi writes: HDF5 1.8 bounds on a file access plist (metadata
 * checksums; readable by HDF5 >= 1.8, h5dump, h5py) and compact attributes
 * on a file creation plist; either may be -1. 0 / -1 (nothing printed). */
int h5u_set_format(int64_t fapl, int64_t fcpl);
/* Creates a group without modification times (byte-identical reruns); the
 * id, or -1 with nothing printed. */
int64_t h5u_create_group(int64_t loc, const char *name);
/* Closes a file being written (H5Fclose: HDF5 flushes its caches here).
 * 0, or -1 with nothing printed when the close failed (disk full), the
 * failure-injection hook's LLMPI_FAULT_WRITE included; the id is released
 * either way. */
int h5u_close_file(int64_t file);
/* A byte string as a 1-D uint8 dataset name under loc (no times) with a
 * "crc32c" attribute: CRC-32C of the bytes. 0 / -1 (one line naming path). */
int h5u_blob_write(int64_t loc, const char *name, const void *data, size_t n, const char *path);
/* Reads a dataset written by h5u_blob_write into a new NUL-terminated buffer
 * (*out, *n bytes without the NUL; free it), verifying its checksum and
 * refusing more than max bytes. 0 with *out = NULL when loc has no link of
 * that name; -1 with one line naming path when it is damaged or not a blob. */
int h5u_blob_read(int64_t loc, const char *name, size_t max, char **out, size_t *n, const char *path);

#endif
