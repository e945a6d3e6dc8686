/* wal_int.h: what the files of the WAL module share: struct wal, the queue node, and the wal__ helpers.
 * Private to storage/wal*.c; nothing outside the module includes it. */
#ifndef HS_WAL_INT_H
#define HS_WAL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/io.h"
#include "storage/wal.h"
#include "storage/wal_format.h"

/* What the writer coalesces into one pwrite. bench_wal measured 1, 4 and
 * 16 MiB within run-to-run noise; 4 MiB keeps the buffer modest. */
#define WAL_WRITE_BUF_BYTES ((size_t)4 << 20)

/* A wal_roll() request waiting on its caller's stack. */
struct wal__roll {
	int rc;
	uint64_t pos;
	bool finished; /* under wal.lock */
};

/* One queued record, or a roll marker (roll != NULL, len 0). Allocated by
 * the appending thread, freed by the writer after done() ran. */
struct wal__node {
	struct wal__node *next;
	wal_done_fn done;
	void *arg;
	struct wal__roll *roll;
	uint32_t len;
	uint32_t crc;            /* crc32c of the payload alone */
	unsigned char payload[]; /* len bytes */
};

/* The segment being appended to. Owned by the replaying thread until the
 * writer starts, then by the writer alone. */
struct wal__segment {
	int fd;
	uint64_t seq;
	unsigned char ctx[WAL_CRC_CONTEXT_SIZE]; /* sequence and salt, as in the header */
	uint64_t end_off;    /* bytes written and kept */
	uint64_t synced_off; /* bytes known durable; 0 with WAL_SYNC_OFF */
	bool dirty;          /* written or truncated since the last fdatasync */
};

struct wal {
	/* Fixed from wal_open() to wal_close(). */
	char *dir;
	const struct io_ops *io;
	enum wal_sync_mode sync;
	uint64_t sync_interval_ns;
	uint64_t probe_interval_ns;
	uint64_t segment_bytes;
	size_t queue_bytes;
	bool salvage;

	pthread_mutex_t lock;
	pthread_cond_t work_cv;  /* writer: work queued, closing */
	pthread_cond_t space_cv; /* appenders: queue room, refusal, closing */
	pthread_cond_t roll_cv;  /* wal_roll() callers: their marker is done */
	pthread_mutex_t trim_lock; /* serializes wal_trim() */

	/* Under lock. */
	struct wal__node *head, **tailp;
	size_t queued_bytes;
	uint64_t queued_records;
	int refuse;     /* 0, or what wal_append() returns: -ENOSPC, -EIO, -EROFS */
	bool running;   /* replay done, writer started */
	bool closing;
	uint64_t active_seq;

	/* Writer thread only (the replaying thread before it starts). */
	bool replayed;         /* wal_replay() was called */
	pthread_t writer;
	struct wal__segment seg;
	int wstate;            /* the writer's copy of refuse */
	uint64_t unit_start;   /* end_off when the current commit group began */
	struct wal__node *unit_head, **unit_tailp; /* records of that group */
	unsigned char *buf;    /* coalesces a group into few pwrite calls */
	size_t buf_len, buf_cap;
	bool sync_armed;       /* interval mode: a sync is due at sync_due_ns */
	uint64_t sync_due_ns;
	uint64_t probe_due_ns;

	/* Statistics: written by whoever does the work, read by wal_stats(). */
	_Atomic uint64_t st_records, st_payload_bytes, st_failed_records, st_write_bytes;
	_Atomic uint64_t st_commits, st_fsyncs, st_fsync_ns, st_queue_records, st_queue_bytes;
	_Atomic uint64_t st_segments, st_active_seq;
	_Atomic int st_state;
};

/* wal.c: segment files. */
int wal__segment_path(const struct wal *w, uint64_t seq, bool tmp, char *out, size_t cap)
	__attribute__((warn_unused_result));
bool wal__segment_name(const char *name, uint64_t *seq);
void wal__header_encode(unsigned char *hdr, uint64_t seq, uint64_t salt, int64_t ctime_ns);
int wal__header_decode(const unsigned char *hdr, uint64_t seq, unsigned char *ctx,
		       const char **why) __attribute__((warn_unused_result));
uint32_t wal__record_crc(uint32_t payload_crc, uint32_t word, const unsigned char *ctx);
int wal__segment_create(struct wal *w, uint64_t seq, struct wal__segment *out)
	__attribute__((warn_unused_result));
int wal__fdatasync(struct wal *w, int fd, uint64_t seq) __attribute__((warn_unused_result));
int wal__fsync_dir(struct wal *w, bool fatal) __attribute__((warn_unused_result));
int wal__list_segments(const struct wal *w, uint64_t **seqs, size_t *count)
	__attribute__((warn_unused_result));
void wal__set_state(struct wal *w, int refuse);
void wal__errf(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* wal_writer.c: the writer thread. */
void *wal__writer_main(void *arg);

#endif
