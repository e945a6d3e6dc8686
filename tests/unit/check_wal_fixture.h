/* check_wal_fixture.h: declarations the WAL test files share (check_wal_fixture.c defines them).
 * Test-only: a fault-injecting io table, temp directories, deterministic payloads, append and replay helpers. */
#ifndef HS_CHECK_WAL_FIXTURE_H
#define HS_CHECK_WAL_FIXTURE_H

#include <check.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "storage/io.h"
#include "storage/wal.h"
#include "storage/wal_format.h"

#define ck_assert_str_contains(s, sub)                                                     \
	do {                                                                               \
		const char *s_ = (s), *sub_ = (sub);                                       \
		ck_assert_msg(strstr(s_, sub_) != NULL,                                    \
			      "Assertion '%s contains %s' failed: \"%s\" does not contain \"%s\"", \
			      #s, #sub, s_, sub_);                                         \
	} while (0)

#define POS(seq, off) (((uint64_t)(seq) << 32) | (uint64_t)(off))
#define HDR WAL_HDR_SIZE

extern char base_dir[PATH_MAX]; /* the TCase's mkdtemp directory */
extern char wal_dir[PATH_MAX];  /* base_dir/wal, what every test opens */
extern char log_path[PATH_MAX]; /* the WAL's log lines go here, not to the test output */
extern uint64_t seed;           /* HS_SEED */

/* Faults and counters of test_io, an io table wrapping io_default. */
struct wal_faults {
	_Atomic int pwrite_err;      /* nonzero: pwrite fails with it ... */
	_Atomic int pwrite_skip;     /* ... after this many more pwrites succeed */
	_Atomic int pwrite_zero;     /* pwrite returns 0 (no progress) */
	_Atomic size_t short_max;    /* nonzero: a pwrite writes at most this much */
	_Atomic int fdatasync_err;   /* the next fdatasync fails with it (once) */
	_Atomic int tmp_open_err;    /* opening a .wal.tmp fails with it */
	_Atomic bool real_sync;      /* call the real fdatasync/fsync */
	_Atomic unsigned sync_delay_us;
	_Atomic uint64_t n_pwrite, n_fdatasync, n_fsync;
	pthread_mutex_t gate_lock;
	pthread_cond_t gate_cv;
	bool gate_closed; /* fdatasync waits while set */
};

extern struct wal_faults fx;
extern struct io_ops test_io;

void gate_set(bool closed);
void fx_reset(void);

/* Directories: one per TCase (unchecked fixture), emptied per test. */
void pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void empty_dir(const char *dir);
void dir_create(void);
void dir_remove(void);
void setup(void);
void teardown(void);
void fresh_wal_dir(void);
void seg_path(char *out, uint64_t seq);
bool file_exists(const char *path);
int64_t file_size(const char *path);
unsigned char *read_file(const char *path, size_t *len); /* malloc'd, one spare byte */
void write_file(const char *path, const void *buf, size_t len);
int count_segments(void);
void sleep_ms(unsigned ms);

/* Deterministic payloads from seed: record id has rec_len(id, lo, hi) bytes. */
uint64_t mix(uint64_t x);
size_t rec_len(uint64_t id, size_t lo, size_t hi);
void rec_fill(uint64_t id, unsigned char *buf, size_t len);

/* Options every test starts from: commit mode through test_io. */
struct wal_options opts(void);

/* What replay handed out. */
struct got {
	size_t n, cap;
	struct got_rec {
		uint64_t pos;
		size_t len;
		unsigned char *data;
	} *v;
};

int collect(void *arg, const void *payload, size_t len, uint64_t pos);
void got_free(struct got *g);
int open_replay(const struct wal_options *o, uint64_t from, struct got *g,
		struct wal_replay_report *rep, struct wal **out);
struct wal *open_ok(const struct wal_options *o, struct got *g);

/* One record's done(), waited for. */
struct waiter {
	pthread_mutex_t m;
	pthread_cond_t c;
	bool fired;
	int status;
	uint64_t syncs_at_done;
};

void waiter_done(void *arg, int status);
void waiter_init(struct waiter *wt);
int waiter_wait(struct waiter *wt);
int append_wait(struct wal *w, const void *p, size_t len);
void append_id(struct wal *w, uint64_t id, size_t len);
void check_rec(const struct got *g, size_t i, uint64_t id, size_t len);
void write_ids(struct wal *w, uint64_t first, uint64_t n, size_t lo, size_t hi);
void check_ids(const struct got *g, size_t at, uint64_t first, uint64_t n, size_t lo, size_t hi);

/* An encoder of the v1 format written from wal_format.h alone. */
size_t fx_header(unsigned char *p, uint64_t seq, uint64_t salt);
uint32_t fx_crc(const unsigned char *payload, size_t len, uint32_t word, uint64_t seq,
		uint64_t salt);
size_t fx_record(unsigned char *p, const void *payload, size_t len, uint32_t flags,
		 uint64_t seq, uint64_t salt);

/* A done() that counts its calls and keeps a failure. */
struct rec_ctx {
	_Atomic int calls;
	_Atomic int status;
};
void ctx_done(void *arg, int status);

/* A TCase with the directory fixtures and a timeout, added to s. */
TCase *tcase(Suite *s, const char *name, int timeout);

/* check_wal_recover.c: the recovery TCases. */
void wal_recover_tcases(Suite *s);

#endif
