/* wal_writer.c: the WAL writer thread: takes everything queued, writes it with few pwrite calls, one fdatasync per group.
 * Also handles rolls, the interval fsync, write failures (cut back, refuse, probe) and fsync failures (read-only).
 *
 * A "group" (commit unit) is the records between two commits: usually the
 * whole queue as taken in one go, split where a segment fills up or a
 * wal_roll() marker sits. A group is copied into buf (flushed with one
 * pwrite whenever buf fills), then, with wal_sync = commit, fdatasync'd
 * once; then done() runs for each of its records. The writer starts the
 * next group only after that, so with commit at most one group is ever
 * unsynced (invariant 3 of wal_format.h), and in every mode a group that
 * fails is cut off the segment whole: the file goes back to unit_start,
 * the end of the last group that was written in full.
 *
 * Invariants: seg.synced_off <= unit_start <= seg.end_off; buf holds the
 * bytes of the group from seg.end_off on; every node in the unit list has
 * its bytes in buf or in the file past unit_start.
 *
 * Concurrency: everything here runs on the writer thread. wal.lock is held
 * only to take the queue, to sleep, and to publish state; never across
 * I/O or done() callbacks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/endian.h"
#include "lib/hs_error.h"
#include "lib/log.h"
#include "storage/wal_int.h"

/* Zeros the probe writes past the end of the segment, then cuts off. Many
 * blocks' worth: a few bytes could still fit into the last, partly used
 * block of a full disk and prove nothing. */
#define WAL_PROBE_BYTES 65536
static const unsigned char probe_zeros[WAL_PROBE_BYTES];

/* Refusing, but not for good: the probe may end it. */
static bool probing(const struct wal *w)
{
	return w->wstate != 0 && w->wstate != -EROFS;
}

static void complete_node(struct wal *w, struct wal__node *n, int status)
{
	if (status == 0) {
		atomic_fetch_add(&w->st_records, 1);
		atomic_fetch_add(&w->st_payload_bytes, n->len);
	} else {
		atomic_fetch_add(&w->st_failed_records, 1);
	}
	if (n->done)
		n->done(n->arg, status);
	free(n);
}

/* Run done() for every record of the group and start the next group. */
static void unit_complete(struct wal *w, int status)
{
	struct wal__node *n = w->unit_head, *next;

	if (status == 0 && n)
		atomic_fetch_add(&w->st_commits, 1);
	for (; n; n = next) {
		next = n->next;
		complete_node(w, n, status);
	}
	w->unit_head = NULL;
	w->unit_tailp = &w->unit_head;
	w->unit_start = w->seg.end_off;
}

/* Full disk and quota both clear up by themselves; anything else is an
 * I/O error, which the probe may also find cleared. */
static int refusal_for(int rc)
{
	return (rc == -ENOSPC || rc == -EDQUOT) ? -ENOSPC : -EIO;
}

static void start_probing(struct wal *w, int rc, const char *what)
{
	wal__set_state(w, refusal_for(rc));
	w->probe_due_ns = clock_mono_ns() + w->probe_interval_ns;
	log_error("wal", "%s/%0*" PRIu64 "%s: %s failed: %s; refusing writes, retrying every %" PRIu64
		  " ms", w->dir, WAL_SEGMENT_DIGITS, w->seg.seq, WAL_SEGMENT_SUFFIX, what,
		  hs_strerror(rc), w->probe_interval_ns / 1000000u);
}

/* A write of the group failed: cut the segment back to where the group
 * began, fail the group, refuse appends until a probe succeeds. If even
 * the cut fails, the file's tail is unknown: read-only. */
static void unit_failed(struct wal *w, int rc)
{
	int trc = w->io->ftruncate(w->seg.fd, (off_t)w->unit_start);

	w->seg.end_off = w->unit_start;
	w->seg.dirty = true;
	w->buf_len = 0;
	if (trc != 0) {
		log_error("wal", "%s/%0*" PRIu64 "%s: write failed (%s) and cutting it back failed "
			  "(%s); the WAL is read-only until historiand restarts", w->dir,
			  WAL_SEGMENT_DIGITS, w->seg.seq, WAL_SEGMENT_SUFFIX, hs_strerror(rc),
			  hs_strerror(trc));
		wal__set_state(w, -EROFS);
	} else {
		start_probing(w, rc, "write");
	}
	unit_complete(w, rc);
}

/* io_pwrite_all loops on short writes and EINTR; a write that makes no
 * progress comes back as -EIO. */
static int write_at(struct wal *w, const void *p, size_t len, uint64_t off)
{
	int rc = io_pwrite_all(w->io, w->seg.fd, p, len, (off_t)off);

	if (rc == 0) {
		w->seg.dirty = true;
		atomic_fetch_add(&w->st_write_bytes, len);
	}
	return rc;
}

static int flush(struct wal *w)
{
	int rc;

	if (w->buf_len == 0)
		return 0;
	rc = write_at(w, w->buf, w->buf_len, w->seg.end_off);
	if (rc != 0)
		return rc;
	w->seg.end_off += w->buf_len;
	w->buf_len = 0;
	return 0;
}

/* A failure here has made the WAL read-only (wal__fdatasync). */
static int sync_segment(struct wal *w)
{
	int rc = wal__fdatasync(w, w->seg.fd, w->seg.seq);

	if (rc == 0) {
		w->seg.synced_off = w->seg.end_off;
		w->seg.dirty = false;
	}
	w->sync_armed = false;
	return rc;
}

/* End the current group: write what buf holds, fdatasync (commit mode),
 * run the done()s. Returns the group's status. */
static int commit(struct wal *w)
{
	int rc = flush(w);

	if (rc != 0) {
		unit_failed(w, rc);
		return rc;
	}
	if (!w->unit_head)
		return 0;
	/* One fdatasync for the whole group: this is the group commit. */
	if (w->sync == WAL_SYNC_COMMIT) {
		rc = sync_segment(w);
	} else if (w->sync == WAL_SYNC_INTERVAL && !w->sync_armed) {
		w->sync_armed = true;
		w->sync_due_ns = clock_mono_ns() + w->sync_interval_ns;
	}
	unit_complete(w, rc);
	return rc;
}

/* Close the segment and start the next (invariant 2 of wal_format.h: the
 * old one is durable first). On failure the old segment stays active. */
static int switch_segment(struct wal *w)
{
	struct wal__segment next;
	int rc = 0;

	/* dirty also covers a cut-back or probe since the last sync: its
	 * truncation must be durable before this segment stops being the
	 * newest, where replay would call leftover bytes corruption. */
	if (w->sync != WAL_SYNC_OFF && w->seg.dirty)
		rc = sync_segment(w);
	if (rc != 0)
		return rc;
	rc = wal__segment_create(w, w->seg.seq + 1, &next);
	if (rc != 0) {
		if (w->wstate != -EROFS)
			start_probing(w, rc, "creating the next segment");
		return rc;
	}
	w->io->close(w->seg.fd);
	w->seg = next;
	w->unit_start = next.end_off;
	pthread_mutex_lock(&w->lock);
	w->active_seq = next.seq;
	pthread_mutex_unlock(&w->lock);
	atomic_store(&w->st_active_seq, next.seq);
	return 0;
}

/* Frame the record at file offset off into hdr. */
static void frame(const struct wal *w, const struct wal__node *n, uint64_t off, unsigned char *hdr)
{
	/* Everything before off is durable: recovery may trust this record
	 * to prove that a bad record before it is corruption, not a tear. */
	uint32_t word = n->len | (off == w->seg.synced_off ? WAL_REC_SYNCED : 0);

	put_le32(hdr + WAL_FRAME_OFF_WORD, word);
	put_le32(hdr + WAL_FRAME_OFF_CRC, wal__record_crc(n->crc, word, w->seg.ctx));
}

/* Put one record into the current group; a full segment is rolled first. */
static void add_record(struct wal *w, struct wal__node *n)
{
	size_t size = WAL_FRAME_SIZE + (size_t)n->len;
	uint64_t off = w->seg.end_off + w->buf_len;
	unsigned char hdr[WAL_FRAME_SIZE];
	int rc;

	/* Records never span segments; one bigger than a segment gets an
	 * empty segment to itself. */
	if (off > WAL_HDR_SIZE && off + size > w->segment_bytes) {
		rc = commit(w);
		if (rc == 0)
			rc = switch_segment(w);
		if (rc != 0) {
			complete_node(w, n, rc);
			return;
		}
		off = w->seg.end_off;
	}
	frame(w, n, off, hdr);
	if (size > w->buf_cap - w->buf_len && (rc = flush(w)) != 0)
		goto fail;
	if (size <= w->buf_cap) {
		memcpy(w->buf + w->buf_len, hdr, sizeof hdr);
		memcpy(w->buf + w->buf_len + sizeof hdr, n->payload, n->len);
		w->buf_len += size;
	} else {
		/* Bigger than buf: two writes beat copying 64 MiB. */
		rc = write_at(w, hdr, sizeof hdr, off);
		if (rc == 0)
			rc = write_at(w, n->payload, n->len, off + sizeof hdr);
		if (rc != 0)
			goto fail;
		w->seg.end_off += size;
	}
	*w->unit_tailp = n;
	w->unit_tailp = &n->next;
	return;
fail:
	unit_failed(w, rc);
	complete_node(w, n, rc);
}

/* A wal_roll() marker: commit what came before it, switch, answer. */
static void do_roll(struct wal *w, struct wal__node *n)
{
	struct wal__roll *req = n->roll;
	uint64_t pos = 0;
	int rc = w->wstate;

	free(n);
	if (rc == 0)
		rc = commit(w);
	if (rc == 0)
		rc = switch_segment(w);
	if (rc == 0)
		pos = (w->seg.seq << 32) | w->seg.end_off;
	pthread_mutex_lock(&w->lock);
	req->rc = rc;
	req->pos = pos;
	req->finished = true;
	pthread_cond_broadcast(&w->roll_cv);
	pthread_mutex_unlock(&w->lock);
}

static void process_batch(struct wal *w, struct wal__node *batch)
{
	struct wal__node *n, *next;

	for (n = batch; n; n = next) {
		next = n->next;
		n->next = NULL;
		if (n->roll)
			do_roll(w, n);
		else if (w->wstate != 0)
			complete_node(w, n, w->wstate); /* queued before the failure */
		else
			add_record(w, n);
	}
	if (w->buf_len > 0 || w->unit_head)
		(void)commit(w); /* the status went to every done() */
}

/* Disk full or I/O error: see whether a write works now. The zeros go past
 * the end and are cut off again; a crash in between leaves a zero tail,
 * which replay cuts. */
static void probe(struct wal *w)
{
	int rc = io_pwrite_all(w->io, w->seg.fd, probe_zeros, sizeof probe_zeros,
			       (off_t)w->seg.end_off);
	int trc = w->io->ftruncate(w->seg.fd, (off_t)w->seg.end_off);

	w->seg.dirty = true;
	if (trc != 0) {
		log_error("wal", "%s: cutting off a probe write failed: %s; the WAL is read-only "
			  "until historiand restarts", w->dir, hs_strerror(trc));
		wal__set_state(w, -EROFS);
	} else if (rc != 0) {
		w->probe_due_ns = clock_mono_ns() + w->probe_interval_ns;
	} else {
		log_info("wal", "%s: writes work again; accepting appends", w->dir);
		wal__set_state(w, 0);
	}
}

/* WAL_SYNC_INTERVAL: records were acknowledged at write; this is where
 * they become durable. A failure cannot un-acknowledge them: say so. */
static void interval_sync(struct wal *w)
{
	if (!w->seg.dirty) {
		w->sync_armed = false;
		return;
	}
	if (sync_segment(w) != 0)
		log_error("wal", "records acknowledged in the last %" PRIu64 " ms may be lost on "
			  "power failure", w->sync_interval_ns / 1000000u);
}

static void run_timers(struct wal *w, bool closing)
{
	uint64_t now = clock_mono_ns();

	if (w->sync_armed && (closing || now >= w->sync_due_ns))
		interval_sync(w);
	if (probing(w) && !closing && now >= w->probe_due_ns)
		probe(w);
}

/* Sleep (lock held) until there is a batch, a close, or a timer due. */
static void wait_for_work(struct wal *w)
{
	while (!w->head && !w->closing) {
		uint64_t due = UINT64_MAX;
		struct timespec ts;

		if (w->sync_armed)
			due = w->sync_due_ns;
		if (probing(w) && w->probe_due_ns < due)
			due = w->probe_due_ns;
		if (due == UINT64_MAX) {
			pthread_cond_wait(&w->work_cv, &w->lock);
			continue;
		}
		if (clock_mono_ns() >= due)
			return;
		ts.tv_sec = (time_t)(due / 1000000000u);
		ts.tv_nsec = (long)(due % 1000000000u);
		pthread_cond_timedwait(&w->work_cv, &w->lock, &ts);
	}
}

/* Everything queued becomes the next batch: the more producers wait
 * during one fdatasync, the more records share the next. */
static struct wal__node *take_queue(struct wal *w)
{
	struct wal__node *batch = w->head;

	w->head = NULL;
	w->tailp = &w->head;
	if (w->queued_bytes > 0)
		pthread_cond_broadcast(&w->space_cv);
	w->queued_bytes = 0;
	w->queued_records = 0;
	atomic_store(&w->st_queue_bytes, 0);
	atomic_store(&w->st_queue_records, 0);
	return batch;
}

void *wal__writer_main(void *arg)
{
	struct wal *w = arg;
	bool closing = false;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct wal__node *batch;

		wait_for_work(w);
		batch = take_queue(w);
		closing = w->closing;
		pthread_mutex_unlock(&w->lock);
		if (batch)
			process_batch(w, batch);
		run_timers(w, closing);
		pthread_mutex_lock(&w->lock);
		/* Appends are refused once closing is set, so the queue
		 * drains in a bounded number of rounds. */
		if (closing && !w->head)
			break;
	}
	pthread_mutex_unlock(&w->lock);
	/* wal_close() promises durability of what it completed; commit mode
	 * synced every group already, interval mode may owe one. */
	if (w->sync == WAL_SYNC_INTERVAL && w->seg.dirty && w->wstate != -EROFS)
		interval_sync(w);
	return NULL;
}
