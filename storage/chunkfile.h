/* chunkfile.h: the chunk files of a data directory: create per partition, append chunks, sync, read, remove.
 * Owns the open file descriptors (one per file, shared by readers and the appender, reference-counted). */
#ifndef HS_CHUNKFILE_H
#define HS_CHUNKFILE_H

#include <stddef.h>
#include <stdint.h>

#include "storage/catalog.h"
#include "storage/io.h"

struct chunkfiles;

/* Open the chunk files the catalog lists under data_dir/chunks: cut every
 * file back to the bytes the catalog records (a torn append) and delete
 * files the catalog does not know (a crash before their first commit).
 * err gets CATALOG_ERROR_MAX bytes. io NULL means io_default. */
int chunkfiles_open(const char *data_dir, struct catalog *cat, const struct io_ops *io,
		    struct chunkfiles **out, char *err) __attribute__((warn_unused_result));
void chunkfiles_close(struct chunkfiles *cf);

/* Append len bytes to the file taking new chunks of the partition
 * [part_start, part_end) for this seal (seq), creating it (and its catalog
 * row) on first use. *file_id and *offset say where the bytes went. Not
 * durable until chunkfiles_sync(). One appender at a time. */
int chunkfiles_append(struct chunkfiles *cf, int64_t part_start, int64_t part_end, uint64_t seq,
		      const void *bytes, size_t len, uint64_t *file_id, uint64_t *offset)
	__attribute__((warn_unused_result));

/* fdatasync every file appended to since the last call, fsync the
 * directory when a file was created. 0 or -errno (then nothing appended
 * since the last success may be committed). */
int chunkfiles_sync(struct chunkfiles *cf) __attribute__((warn_unused_result));

/* Forget this seal's new files after a failure (their catalog rows stay
 * with no chunks; chunkfiles_open() tidies them). */
void chunkfiles_abandon(struct chunkfiles *cf);

/* Read len bytes at offset of file_id into buf. Thread-safe. Returns 0,
 * -ENOENT (file gone: removed by compaction; look the chunk up again),
 * HS_ECORRUPT for a short read, or -errno. */
int chunkfiles_read(struct chunkfiles *cf, uint64_t file_id, uint64_t offset, void *buf,
		    size_t len) __attribute__((warn_unused_result));

/* Pin file_id so that a removal waits for the reader: returns 0 or -ENOENT
 * (already removed: list the chunks again). Every pin needs an unpin.
 * Thread-safe. */
int chunkfiles_pin(struct chunkfiles *cf, uint64_t file_id) __attribute__((warn_unused_result));
void chunkfiles_unpin(struct chunkfiles *cf, uint64_t file_id);

/* Take file_id out of use (after its catalog rows are gone): new pins and
 * reads fail with -ENOENT at once; the file is closed and deleted when the
 * last pin goes (now, if none). Returns 0 or -ENOENT. */
int chunkfiles_remove(struct chunkfiles *cf, uint64_t file_id) __attribute__((warn_unused_result));

/* Number of files (for compaction's choice). */
size_t chunkfiles_count(struct chunkfiles *cf);

/* Bytes in all chunk files. */
uint64_t chunkfiles_bytes(const struct chunkfiles *cf);

#endif
