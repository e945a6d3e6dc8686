/* wal.h: the write-ahead log: opaque records appended with group commit, replayed after a restart, trimmed by segment.
 * Owns the files of its directory (DATA_DIR/wal) and one writer thread; the on-disk format is in storage/wal_format.h. */
#ifndef HS_WAL_H
#define HS_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "storage/io.h"

/*
 * Lifecycle: wal_open() -> wal_replay() (reads what is there, then starts
 * the writer thread) -> wal_append() / wal_roll() / wal_trim() from any
 * thread -> wal_close().
 *
 * Positions: a record's position is (segment sequence << 32) | (byte
 * offset of its frame in the segment file); sequences start at 1. Positions
 * only grow, across segments and across restarts (each open starts a new
 * segment), so they compare with <. Position 0 is before every record. A position is meaningful only as one this API
 * returned: a record's position from wal_replay(), one from wal_roll(),
 * or wal_pos_after() of a replayed record.
 *
 * Durability, by sync mode; "acknowledged" means done(arg, 0) was called:
 *   WAL_SYNC_COMMIT   done() after the fdatasync that covers the record.
 *                     Nothing acknowledged is lost, whatever the crash.
 *   WAL_SYNC_INTERVAL done() after write(2); fdatasync every
 *                     sync_interval_ms. A process crash loses nothing
 *                     acknowledged (the page cache has it); a power loss or
 *                     kernel crash may lose what was acknowledged in the
 *                     last sync_interval_ms, plus the time to write one
 *                     group and to fdatasync. A failed fdatasync cannot
 *                     take back acknowledgements: the WAL turns read-only
 *                     and logs that they may be lost.
 *   WAL_SYNC_OFF      done() after write(2); never fsyncs anything, not
 *                     even new segments or the directory. A process crash
 *                     loses nothing; a power loss may lose anything
 *                     recent and may leave corruption that needs salvage.
 *                     For tests and benchmarks only.
 *
 * Group commit: one writer thread takes everything queued, writes it with
 * as few pwrite calls as it can (4 MiB each) and, with commit, one
 * fdatasync; then runs done() for every record of that group.
 *
 * Faults: a failed write (EIO, ENOSPC, a short write that cannot progress)
 * fails that commit's records, cuts the segment back to its last good
 * byte and makes wal_append() refuse with -ENOSPC (disk full, quota) or
 * -EIO. The writer probes every probe_interval_ms by writing a block and
 * cutting it off again; once that works, appends are accepted again. A
 * failed fdatasync or fsync is never retried: that commit's records fail,
 * and the WAL turns read-only (-EROFS) until it is closed and reopened.
 */

enum wal_sync_mode {
	WAL_SYNC_COMMIT = 0, /* the default */
	WAL_SYNC_INTERVAL,
	WAL_SYNC_OFF,
};

/* What the WAL is doing about writes, for /health and /metrics. */
enum wal_state {
	WAL_STATE_OK = 0,
	WAL_STATE_DISK_FULL, /* refusing with -ENOSPC; probing */
	WAL_STATE_IO_ERROR,  /* refusing with -EIO; probing */
	WAL_STATE_READ_ONLY, /* refusing with -EROFS until reopened */
};

struct wal_options {
	const char *dir;             /* the WAL directory, e.g. DATA_DIR/wal; created if missing */
	enum wal_sync_mode sync;
	uint64_t sync_interval_ms;   /* WAL_SYNC_INTERVAL; 0 = 1000 */
	uint64_t segment_bytes;      /* roll when the next record would pass this; 0 = 64 MiB;
				      * 64 B .. 1 GiB; a bigger record gets a segment alone */
	size_t queue_bytes;          /* bound on payload bytes waiting for the writer; 0 = 32 MiB */
	uint64_t probe_interval_ms;  /* disk full / write error: retry this often; 0 = 1000 */
	const struct io_ops *io;     /* NULL = io_default; must outlive the WAL */
	bool salvage;                /* replay skips corruption instead of failing */
};

/* Called once per record on the WAL writer thread: status 0 when the record
 * is durable as the sync mode promises, else a negative error (-EIO,
 * -ENOSPC, -EROFS...). It must be quick and must not call wal_append(),
 * wal_roll(), wal_trim() or wal_close() (the writer would wait on itself),
 * nor take a lock that a thread may hold while it waits in wal_append()
 * (backpressure) or wal_roll(): both wait for the writer. The next group
 * is written only after every done() of this one has returned. */
typedef void (*wal_done_fn)(void *arg, int status);

/* Called by wal_replay() for each valid record, in log order, on the
 * thread that called wal_replay(). payload is valid only during the call.
 * It must not call wal_* functions. A nonzero return stops replay, which
 * then returns that value. */
typedef int (*wal_replay_fn)(void *arg, const void *payload, size_t len, uint64_t pos);

#define WAL_ERROR_MAX 512 /* error texts are cut to fit; a long path may be cut short */
#define WAL_REPLAY_SKIPS_MAX 16

/* One stretch replay passed over (salvage) or found missing. */
struct wal_replay_skip {
	uint64_t seq;    /* segment sequence */
	uint64_t offset; /* first byte skipped */
	uint64_t len;    /* bytes skipped; for a missing segment 0 */
	bool whole_file; /* the segment's header was bad, or (missing) it is absent */
	bool missing;
};

struct wal_replay_report {
	uint64_t records;        /* passed to fn */
	uint64_t payload_bytes;  /* their payload bytes */
	uint64_t segments;       /* segment files read */
	uint64_t next_pos;       /* where the next appended record goes */
	uint64_t torn_pos;       /* where the torn tail was cut, 0 if nothing was */
	uint64_t torn_bytes;     /* bytes cut from the tail */
	uint64_t skipped_bytes;  /* salvage: bytes of invalid data passed over */
	uint64_t skipped_ranges; /* salvage: ranges passed over, whole files included */
	uint64_t skipped_files;  /* salvage: segments with a bad header, or missing */
	unsigned nskips;         /* entries in skips[]: the first WAL_REPLAY_SKIPS_MAX */
	struct wal_replay_skip skips[WAL_REPLAY_SKIPS_MAX];
	char error[WAL_ERROR_MAX]; /* why replay failed; "" on success */
};

struct wal_stats {
	uint64_t records;        /* completed with status 0 */
	uint64_t payload_bytes;  /* their payload bytes */
	uint64_t failed_records; /* completed with an error */
	uint64_t write_bytes;    /* bytes written to segment files, frames and headers included */
	uint64_t commits;        /* groups completed with status 0 */
	uint64_t fsyncs;         /* fdatasync and fsync calls, directories included */
	uint64_t fsync_ns;       /* time spent in them */
	uint64_t queue_records;  /* waiting for the writer now */
	uint64_t queue_bytes;    /* their payload bytes */
	uint64_t segments;       /* segment files in the directory */
	uint64_t active_seq;     /* sequence of the segment being appended to; 0 before replay */
	enum wal_state state;
};

struct wal;

/* Check opts, create opts->dir if missing (and fsync its parent), delete
 * leftover *.wal.tmp files. Reads no segment and starts no thread: call
 * wal_replay() next. On success *out is the caller's, to give back with
 * wal_close(). On failure returns -errno or HS_EINVAL_CONFIG with err (at
 * least WAL_ERROR_MAX bytes) saying why. opts is copied; opts->dir may go
 * after the call, opts->io may not. One WAL per directory: the caller
 * holds the data directory lock. Any thread. */
int wal_open(const struct wal_options *opts, struct wal **out, char *err)
	__attribute__((warn_unused_result));

/* Read every valid record at or after from_pos (0 = everything) in log
 * order, passing each to fn (NULL: only count them). Cuts a torn tail (see
 * storage/wal_format.h, RECOVERY), then creates a new segment and starts
 * the writer thread: appends go there. Not a read-only check, even with
 * fn NULL: the tail is cut and a segment created. Returns 0, HS_ECORRUPT (corruption
 * without opts.salvage; report->error names file and offset), -errno, or
 * what fn returned. On failure fn may already have seen records: discard
 * them; the WAL accepts no appends (close it). report may be NULL; it is
 * filled either way. Call once, from the thread that opened, before any
 * other call but wal_stats() and wal_close(). */
int wal_replay(struct wal *w, uint64_t from_pos, wal_replay_fn fn, void *arg,
	       struct wal_replay_report *report) __attribute__((warn_unused_result));

/* Copy len payload bytes into the queue and return; done(arg, status) is
 * called later on the writer thread (done may be NULL). Blocks while the
 * queue holds queue_bytes or more (backpressure); a record bigger than
 * queue_bytes waits for an empty queue. On error returns at once and done
 * is never called: -EINVAL (len 0), -EMSGSIZE (len > 64 MiB), -ENOMEM,
 * -EAGAIN (wal_replay() has not succeeded), -ENOSPC or -EIO (a write
 * failed; retry later), -EROFS (an fsync failed; reopen), -ESHUTDOWN
 * (closing). Any thread, concurrently; never from a done callback. */
int wal_append(struct wal *w, const void *payload, size_t len, wal_done_fn done, void *arg)
	__attribute__((warn_unused_result));

/* wal_append() of one record gathered from iovcnt buffers. */
int wal_append_vec(struct wal *w, const struct iovec *iov, int iovcnt, wal_done_fn done,
		   void *arg) __attribute__((warn_unused_result));

/* Close the current segment after every record appended before this call
 * (they are durable in it, per the sync mode, when this returns) and start
 * a new one: records appended after this call go there. *pos is where the
 * first of them goes; replay from it reads exactly those. Blocks until the
 * writer has switched. Returns 0 or -errno (the refusal codes of
 * wal_append(), or the failure). Any thread after wal_replay(); never from
 * a done callback. */
int wal_roll(struct wal *w, uint64_t *pos) __attribute__((warn_unused_result));

/* Delete, oldest first, every segment other than the active one whose
 * records all lie before before_pos (its end <= before_pos), then fsync
 * the directory. Returns 0 or -errno (some segments may then remain; call
 * again; -EAGAIN before wal_replay() succeeded). Any thread, concurrently
 * with appends; calls
 * are serialized. Allowed in every state, read-only included. */
int wal_trim(struct wal *w, uint64_t before_pos) __attribute__((warn_unused_result));

/* Position just past the record at pos with len payload bytes. */
uint64_t wal_pos_after(uint64_t pos, size_t len);

/* Fill *st. Lock-free; any thread, any time between open and close. */
void wal_stats(const struct wal *w, struct wal_stats *st);

/* Write everything queued (durably, except with WAL_SYNC_OFF: with
 * interval a last fdatasync), call its done()s, join the writer, close the
 * files and free w. Call once, after every other thread has returned from
 * its wal_* calls (stop producers first); never from a done callback.
 * NULL is fine. */
void wal_close(struct wal *w);

#endif
