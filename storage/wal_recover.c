/* wal_recover.c: wal_replay(): reads the segments back in order, cuts a torn tail, tells corruption from a tear, salvages.
 * The rules it implements are the RECOVERY section of wal_format.h; at the end it creates a fresh segment and starts the writer.
 *
 * Reading goes through a window (struct rd) of a few MiB that slides over
 * the file; a record larger than the window grows it. Records are checked
 * in place and handed to the callback from the window, never copied.
 *
 * Invariants: every byte handed to the callback belongs to a record that
 * is valid per wal_format.h; nothing on disk is changed except cutting the
 * newest segment's torn tail (truncate + fdatasync) and removing a newest
 * segment that is no longer than a header.
 *
 * Concurrency: runs on the thread that called wal_replay(), before the
 * writer exists; nothing else touches the files meanwhile (wal.h says so).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/crc32c.h"
#include "lib/endian.h"
#include "lib/hs_error.h"
#include "lib/log.h"
#include "storage/wal_int.h"

/* Big enough that reading costs few system calls, small enough to stay
 * in the cache; a record larger than this grows the window. */
#define RD_WINDOW_BYTES ((size_t)4 << 20)

/* A read window over one segment file. */
struct rd {
	const struct io_ops *io;
	int fd;
	uint64_t size; /* of the file, fixed while replaying */
	unsigned char *buf;
	size_t cap;
	uint64_t base; /* file offset of buf[0] */
	size_t fill;   /* valid bytes in buf */
};

/* One replay in progress. */
struct replay {
	struct wal *w;
	wal_replay_fn fn;
	void *arg;
	struct wal_replay_report *rep;
	struct rd rd;
	char path[PATH_MAX];
	uint64_t seq;
	unsigned char ctx[WAL_CRC_CONTEXT_SIZE];
};

/* What rec_check() found at an offset. */
struct rec {
	uint32_t word, len;
	const unsigned char *payload; /* in the window, until the next rd_get() */
	const char *why;              /* when not valid */
};

/* Point *p at bytes [off, off + len) of the file, reading as needed. The
 * caller has checked off + len <= size. */
static int rd_get(struct rd *r, uint64_t off, size_t len, const unsigned char **p)
{
	size_t keep = 0, want;
	ssize_t got;

	if (off >= r->base && off + len <= r->base + r->fill) {
		*p = r->buf + (off - r->base);
		return 0;
	}
	if (len > r->cap) {
		unsigned char *grown = realloc(r->buf, len);
		if (!grown)
			return -ENOMEM;
		r->buf = grown;
		r->cap = len;
	}
	/* Keep the part of the window at and after off (usually the start of
	 * the record that did not fit) and read only the rest. */
	if (off >= r->base && off < r->base + r->fill) {
		keep = (size_t)(r->base + r->fill - off);
		memmove(r->buf, r->buf + (off - r->base), keep);
	}
	want = r->cap;
	if (want > r->size - off)
		want = (size_t)(r->size - off);
	got = io_pread_all(r->io, r->fd, r->buf + keep, want - keep, (off_t)(off + keep));
	if (got < 0)
		return (int)got;
	r->base = off;
	r->fill = keep + (size_t)got;
	if (r->fill < len)
		return -EIO; /* the file shrank under us */
	*p = r->buf;
	return 0;
}

/* Is there a valid record at off? Returns 1 (yes), 0 (no, r->why says
 * why) or -errno. */
static int rec_check(struct replay *rp, uint64_t off, struct rec *r)
{
	const unsigned char *p = NULL;
	uint64_t size = rp->rd.size;
	int rc;

	r->why = NULL;
	if (off + WAL_FRAME_SIZE > size) {
		r->why = "truncated record frame";
		return 0;
	}
	if ((rc = rd_get(&rp->rd, off, WAL_FRAME_SIZE, &p)) != 0)
		return rc;
	/* Cheap checks first: while resyncing most offsets fail here, before
	 * any payload is read or CRC'd. */
	r->word = get_le32(p + WAL_FRAME_OFF_WORD);
	r->len = r->word & WAL_REC_LEN_MASK;
	if (r->word & WAL_REC_RESERVED)
		r->why = "reserved bits set in record frame";
	else if (r->len == 0 || r->len > WAL_RECORD_MAX)
		r->why = "bad record length";
	else if (r->len > size - off - WAL_FRAME_SIZE)
		r->why = "record runs past the end of the file";
	if (r->why)
		return 0;
	if ((rc = rd_get(&rp->rd, off, WAL_FRAME_SIZE + r->len, &p)) != 0)
		return rc;
	r->payload = p + WAL_FRAME_SIZE;
	if (wal__record_crc(crc32c(0, r->payload, r->len), r->word, rp->ctx) !=
	    get_le32(p + WAL_FRAME_OFF_CRC)) {
		r->why = "record CRC mismatch";
		return 0;
	}
	return 1;
}

/* The first offset >= from holding a valid record: 1 with *at and *r set,
 * 0 when there is none before the end of the file, or -errno. Byte by
 * byte, since a corrupt length says nothing about where the next is. */
static int rec_resync(struct replay *rp, uint64_t from, uint64_t *at, struct rec *r)
{
	for (uint64_t o = from; o + WAL_FRAME_SIZE <= rp->rd.size; o++) {
		int rc = rec_check(rp, o, r);
		if (rc != 0) {
			*at = o;
			return rc;
		}
	}
	return 0;
}

static int corrupt(struct replay *rp, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Corruption: HS_ECORRUPT with file and offset in the report and the log. */
static int corrupt(struct replay *rp, uint64_t off, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	wal__errf(rp->rep->error, "%s: offset %" PRIu64 ": %s", rp->path, off, what);
	log_error("wal", "%s: offset %" PRIu64 ": %s (WAL salvage would keep the valid records)",
		  rp->path, off, what);
	return HS_ECORRUPT;
}

static void note_skip(struct replay *rp, uint64_t seq, uint64_t off, uint64_t len, bool whole,
		      bool missing)
{
	struct wal_replay_report *rep = rp->rep;

	rep->skipped_ranges++;
	rep->skipped_bytes += len;
	if (whole)
		rep->skipped_files++;
	if (rep->nskips < WAL_REPLAY_SKIPS_MAX)
		rep->skips[rep->nskips++] = (struct wal_replay_skip){
			.seq = seq, .offset = off, .len = len, .whole_file = whole, .missing = missing};
	if (missing)
		log_warn("wal", "salvage: segment %" PRIu64 " is missing; skipped", seq);
	else
		log_warn("wal", "salvage: %s: skipped %" PRIu64 " bytes at offset %" PRIu64 "%s",
			 rp->path, len, off, whole ? " (bad header: whole file)" : "");
}

/* Cut the newest segment's torn tail at off. */
static int cut_tail(struct replay *rp, uint64_t off, const char *why)
{
	struct wal *w = rp->w;
	uint64_t cut = rp->rd.size - off;
	int rc = w->io->ftruncate(rp->rd.fd, (off_t)off);

	if (rc == 0 && w->sync != WAL_SYNC_OFF)
		rc = wal__fdatasync(w, rp->rd.fd, rp->seq);
	if (rc != 0) {
		wal__errf(rp->rep->error, "%s: cannot cut the torn tail: %s", rp->path,
			  hs_strerror(rc));
		return rc;
	}
	log_warn("wal", "%s: cut %" PRIu64 " bytes of torn tail at offset %" PRIu64 " (%s)",
		 rp->path, cut, off, why);
	rp->rep->torn_pos = (rp->seq << 32) | off;
	rp->rep->torn_bytes += cut;
	rp->rd.size = off;
	return 0;
}

/* A bad record at off of the newest segment: is it corruption? Only if a
 * valid record written after an fdatasync (WAL_REC_SYNCED) follows: then
 * the bad bytes had been durable before, and changed. Valid records after
 * off without that mark belong to the last, unsynced group, which a power
 * loss may have persisted out of order: a tear. Returns 1 (corruption,
 * *at is the marked record), 0 (tear) or -errno. */
static int synced_follows(struct replay *rp, uint64_t off, uint64_t *at)
{
	uint64_t o = off + 1;
	struct rec r = {0};
	int rc;

	while ((rc = rec_resync(rp, o, at, &r)) == 1) {
		if (r.word & WAL_REC_SYNCED)
			return 1;
		o = *at + WAL_FRAME_SIZE + r.len; /* a whole valid record: no need to look inside */
	}
	return rc;
}

/* Salvage: pass over the bad bytes at off to the next valid record.
 * Returns 0 with *next set, 1 when nothing valid is left in the file. */
static int skip_bad(struct replay *rp, uint64_t off, uint64_t *next)
{
	struct rec r = {0};
	int rc = rec_resync(rp, off + 1, next, &r);

	if (rc < 0)
		return rc;
	if (rc == 0)
		*next = rp->rd.size;
	note_skip(rp, rp->seq, off, *next - off, false, false);
	return rc == 1 ? 0 : 1;
}

/* The record at off is not valid (why). Returns 0 with *next where to go
 * on, 1 when the segment is done, or an error (HS_ECORRUPT included). */
static int bad_record(struct replay *rp, uint64_t off, bool newest, const char *why,
		      uint64_t *next)
{
	uint64_t at = 0;
	int rc;

	if (newest) {
		rc = synced_follows(rp, off, &at);
		if (rc == 0)
			rc = cut_tail(rp, off, why);
		if (rc <= 0)
			return rc == 0 ? 1 : rc;
		if (!rp->w->salvage)
			return corrupt(rp, off, "%s, but a valid record written after an fdatasync "
				       "follows at offset %" PRIu64, why, at);
	} else if (!rp->w->salvage) {
		return corrupt(rp, off, "%s in a segment that is not the newest", why);
	}
	return skip_bad(rp, off, next);
}

/* Hand a valid record to the caller, straight from the window. */
static int deliver(struct replay *rp, const struct rec *r, uint64_t off)
{
	rp->rep->records++;
	rp->rep->payload_bytes += r->len;
	return rp->fn ? rp->fn(rp->arg, r->payload, r->len, (rp->seq << 32) | off) : 0;
}

/* Read the records of the open segment from off on. */
static int read_records(struct replay *rp, uint64_t off, bool newest)
{
	struct rec r = {0};
	int rc;

	for (;;) {
		rc = rec_check(rp, off, &r);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			if ((rc = deliver(rp, &r, off)) != 0)
				return rc;
			off += WAL_FRAME_SIZE + r.len;
			continue;
		}
		if (off == rp->rd.size)
			return 0;
		rc = bad_record(rp, off, newest, r.why, &off);
		if (rc != 0)
			return rc == 1 ? 0 : rc;
	}
}

/* The newest segment is no longer than a header and has no valid one: its
 * creation was torn (it cannot hold a record), so remove it. */
static int remove_torn_segment(struct replay *rp)
{
	struct wal *w = rp->w;
	int rc = w->io->unlink(rp->path);

	if (rc == 0 && w->sync != WAL_SYNC_OFF)
		rc = wal__fsync_dir(w, true);
	if (rc != 0) {
		wal__errf(rp->rep->error, "%s: cannot remove: %s", rp->path, hs_strerror(rc));
		return rc;
	}
	log_warn("wal", "%s: removed a segment of %" PRIu64 " bytes with no valid header "
		 "(creation was interrupted)", rp->path, rp->rd.size);
	rp->rep->torn_pos = rp->seq << 32;
	rp->rep->torn_bytes += rp->rd.size;
	return 0;
}

/* Open segment seq, check its header. Returns 0 (header good), 1 (bad
 * header, skipped by salvage), 2 (torn creation, removed), or an error. */
static int open_segment(struct replay *rp, bool newest)
{
	struct wal *w = rp->w;
	const unsigned char *hdr = NULL;
	const char *why = "file shorter than a segment header";
	struct stat st;
	int rc;

	/* Only the newest segment may need cutting or removing. */
	rp->rd.fd = w->io->open(rp->path, newest ? O_RDWR : O_RDONLY, 0);
	if (rp->rd.fd < 0)
		return rp->rd.fd;
	/* io_ops has no fstat: metadata, not a fault tests need to inject. */
	if (fstat(rp->rd.fd, &st) != 0)
		return -errno;
	rp->rd.size = (uint64_t)st.st_size;
	rp->rd.base = rp->rd.fill = 0;
	if (rp->rd.size >= WAL_HDR_SIZE) {
		if ((rc = rd_get(&rp->rd, 0, WAL_HDR_SIZE, &hdr)) != 0)
			return rc;
		if (wal__header_decode(hdr, rp->seq, rp->ctx, &why) == 0)
			return 0;
	}
	if (newest && rp->rd.size <= WAL_HDR_SIZE) {
		rc = remove_torn_segment(rp);
		return rc != 0 ? rc : 2;
	}
	if (!w->salvage)
		return corrupt(rp, 0, "%s", why);
	note_skip(rp, rp->seq, 0, rp->rd.size, true, false);
	return 1;
}

/* Replay one segment; *removed when it was a torn creation and is gone. */
static int replay_segment(struct replay *rp, uint64_t seq, uint64_t from_pos, bool newest,
			  bool *removed)
{
	uint64_t off = WAL_HDR_SIZE;
	int rc;

	*removed = false;
	rp->seq = seq;
	rc = wal__segment_path(rp->w, seq, false, rp->path, sizeof rp->path);
	if (rc == 0)
		rc = open_segment(rp, newest);
	if (rc == 0) {
		rp->rep->segments++;
		/* Start mid-segment at from_pos: it is a record boundary this
		 * API handed out, so nothing before it needs reading. */
		if (seq == from_pos >> 32 && (uint32_t)from_pos > off)
			off = (uint32_t)from_pos;
		if (off > rp->rd.size) {
			log_warn("wal", "%s: replay position %" PRIu64 " is past the end (%" PRIu64 ")",
				 rp->path, off, rp->rd.size);
			off = rp->rd.size;
		}
		rc = read_records(rp, off, newest);
	} else if (rc == 1 || rc == 2) {
		*removed = rc == 2;
		rc = 0;
	} else if (rc < 0 && rc != HS_ECORRUPT && !rp->rep->error[0]) {
		wal__errf(rp->rep->error, "%s: %s", rp->path, hs_strerror(rc));
	}
	if (rp->rd.fd >= 0)
		rp->w->io->close(rp->rd.fd);
	rp->rd.fd = -1;
	return rc;
}

/* A hole in the sequence: corruption, or with salvage a reported skip. */
static int missing(struct replay *rp, uint64_t first, uint64_t last)
{
	int rc = wal__segment_path(rp->w, first, false, rp->path, sizeof rp->path);

	if (rc != 0)
		return rc;
	if (!rp->w->salvage)
		return corrupt(rp, 0, "missing segment(s) %" PRIu64 "..%" PRIu64
			       " in the sequence", first, last);
	for (uint64_t s = first; s <= last; s++)
		note_skip(rp, s, 0, 0, true, true);
	return 0;
}

/* Replay the segments at and after from_pos's; *next_seq is where the
 * writer starts. */
static int replay_all(struct replay *rp, uint64_t from_pos, uint64_t *next_seq)
{
	uint64_t *seqs = NULL, from_seq = from_pos >> 32, prev, top = from_seq;
	size_t n = 0, i = 0;
	bool removed = false;
	int rc = wal__list_segments(rp->w, &seqs, &n);

	if (rc != 0) {
		wal__errf(rp->rep->error, "%s: cannot list: %s", rp->w->dir, hs_strerror(rc));
		return rc;
	}
	while (i < n && seqs[i] < from_seq)
		i++;
	/* The segment holding from_pos may be gone (trimmed: it ended at
	 * from_pos); the one after it may not. */
	prev = from_seq ? from_seq : (i < n ? seqs[i] - 1 : 0);
	for (; rc == 0 && i < n; i++) {
		if (seqs[i] > prev + 1 && (rc = missing(rp, prev + 1, seqs[i] - 1)) != 0)
			break;
		rc = replay_segment(rp, seqs[i], from_pos, i + 1 == n, &removed);
		prev = seqs[i];
	}
	if (n > 0 && seqs[n - 1] > top)
		top = removed ? seqs[n - 1] - 1 : seqs[n - 1];
	/* A removed torn segment held nothing; its number is reused so the
	 * sequence stays without a hole. */
	*next_seq = top + 1;
	free(seqs);
	return rc;
}

/* Appends always go to a fresh segment, never to the one just replayed:
 * a segment is then written by one process lifetime only, and once the
 * next exists the strict rules for older segments apply to it. */
static int start_writer(struct wal *w, uint64_t seq, struct wal_replay_report *rep)
{
	int rc;

	w->buf_cap = WAL_WRITE_BUF_BYTES;
	w->buf = malloc(w->buf_cap);
	if (!w->buf)
		return -ENOMEM;
	rc = wal__segment_create(w, seq, &w->seg);
	if (rc != 0) {
		wal__errf(rep->error, "%s: cannot create segment %" PRIu64 ": %s", w->dir, seq,
			  hs_strerror(rc));
		return rc;
	}
	w->unit_start = w->seg.end_off;
	atomic_store(&w->st_active_seq, seq);
	pthread_mutex_lock(&w->lock);
	w->active_seq = seq;
	rc = -pthread_create(&w->writer, NULL, wal__writer_main, w);
	w->running = rc == 0;
	pthread_mutex_unlock(&w->lock);
	if (rc != 0)
		wal__errf(rep->error, "wal: cannot start the writer thread: %s", hs_strerror(rc));
	rep->next_pos = (seq << 32) | WAL_HDR_SIZE;
	return rc;
}

/* For wal_stats(): after replay, which may have removed a torn segment. */
static int count_segments(struct wal *w)
{
	uint64_t *seqs;
	size_t n;
	int rc = wal__list_segments(w, &seqs, &n);

	if (rc == 0)
		atomic_store(&w->st_segments, n);
	free(seqs);
	return rc;
}

int wal_replay(struct wal *w, uint64_t from_pos, wal_replay_fn fn, void *arg,
	       struct wal_replay_report *report)
{
	struct wal_replay_report local;
	struct replay rp = {.w = w, .fn = fn, .arg = arg, .rd = {.io = w->io, .fd = -1}};
	uint64_t next_seq = 0;
	int rc;

	rp.rep = report ? report : &local;
	memset(rp.rep, 0, sizeof *rp.rep);
	if (w->replayed) {
		wal__errf(rp.rep->error, "wal: replay was already called");
		return -EINVAL;
	}
	w->replayed = true;
	rp.rd.cap = RD_WINDOW_BYTES;
	rp.rd.buf = malloc(rp.rd.cap);
	if (!rp.rd.buf)
		return -ENOMEM;
	rc = replay_all(&rp, from_pos, &next_seq);
	free(rp.rd.buf); /* replay is done with it; the callback had its records */
	if (rc == 0)
		rc = count_segments(w);
	if (rc == 0)
		rc = start_writer(w, next_seq, rp.rep);
	if (rc == 0)
		log_info("wal", "%s: replayed %" PRIu64 " records (%" PRIu64 " bytes) from %" PRIu64
			 " segment(s); appending to segment %" PRIu64, w->dir, rp.rep->records,
			 rp.rep->payload_bytes, rp.rep->segments, next_seq);
	else if (!rp.rep->error[0])
		wal__errf(rp.rep->error, "wal: replay failed: %s", hs_strerror(rc));
	return rc;
}
