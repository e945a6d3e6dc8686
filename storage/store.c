/* store.c: the storage engine's front: open and close, tag resolution, appends, WAL replay into the head.
 * Appends are serialised by append_lock so that the WAL and the head see samples in one order; tag lookups go to
 * the registry's shards and never to SQLite once a tag is known. Sealing and scans live in store_seal.c and
 * store_scan.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/clock.h"
#include "lib/hs_error.h"
#include "lib/log.h"
#include "lib/utf8.h"
#include "storage/store_int.h"
#include "storage/walrec.h"

#define TAG_NAME_MAX 1024

void store_options_init(struct store_options *opts)
{
	*opts = (struct store_options){
		.wal_sync = STORE_WAL_SYNC_COMMIT,
		.wal_sync_interval_ms = 1000,
		.seal_interval_ns = 3600LL * 1000000000,
		.partition_ns = 7LL * 86400 * 1000000000,
		.head_memory_bytes = 256u << 20,
	};
}

static int load_tag(void *arg, uint32_t id, const char *name, size_t name_len,
		    enum value_type type)
{
	return registry_add(arg, id, name, name_len, type);
}

static int replay_samples(void *arg, const struct head_input *in, size_t count)
{
	struct store *st = arg;

	for (size_t i = 0; i < count; i++) {
		enum value_type t = registry_type(st->reg, in[i].tag_id);
		if (t != in[i].type) {
			log_error("storage", "WAL record names tag %u as type %d, the catalog says %d",
				  in[i].tag_id, (int)in[i].type, (int)t);
			return HS_ECORRUPT;
		}
	}
	return head_append(st->head, in, count);
}

static int replay_record(void *arg, const void *payload, size_t len, uint64_t pos)
{
	(void)pos;
	return walrec_decode(payload, len, replay_samples, arg);
}

static int open_wal(struct store *st, uint64_t checkpoint, char *err)
{
	static const enum wal_sync_mode modes[] = {WAL_SYNC_COMMIT, WAL_SYNC_INTERVAL, WAL_SYNC_OFF};
	struct wal_replay_report report;
	char dir[4096];
	uint64_t t0 = clock_mono_ns();
	int rc;

	snprintf(dir, sizeof dir, "%s/wal", st->data_dir);
	struct wal_options wo = {.dir = dir, .sync = modes[st->opts.wal_sync],
				 .sync_interval_ms = st->opts.wal_sync_interval_ms,
				 .segment_bytes = st->opts.wal_segment_bytes, .salvage = st->opts.salvage,
				 .io = st->opts.io, .probe_interval_ms = st->opts.wal_probe_interval_ms};
	rc = wal_open(&wo, &st->wal, err);
	if (rc != 0)
		return rc;
	rc = wal_replay(st->wal, checkpoint, replay_record, st, &report);
	if (rc != 0) {
		snprintf(err, STORE_ERROR_MAX, "WAL replay failed: %s%s%s", hs_strerror(rc),
			 report.error[0] ? ": " : "", report.error);
		return rc;
	}
	if (report.torn_bytes)
		log_warn("storage", "WAL: cut a torn tail of %llu bytes",
			 (unsigned long long)report.torn_bytes);
	if (report.skipped_ranges)
		log_warn("storage", "WAL salvage: skipped %llu bytes in %llu ranges (%llu whole segments)",
			 (unsigned long long)report.skipped_bytes,
			 (unsigned long long)report.skipped_ranges,
			 (unsigned long long)report.skipped_files);
	log_info("storage", "WAL replayed: %llu records, %zu samples in %.3f s",
		 (unsigned long long)report.records, head_samples(st->head),
		 (double)(clock_mono_ns() - t0) / 1e9);
	return 0;
}

static int open_catalog(struct store *st, uint64_t *checkpoint, char *err)
{
	char path[4096];
	bool found;
	int rc;

	snprintf(path, sizeof path, "%s/catalog.db", st->data_dir);
	rc = catalog_open(path, &st->cat, err);
	if (rc != 0)
		return rc;
	rc = catalog_tags_load(st->cat, load_tag, st->reg);
	if (rc == 0)
		rc = catalog_state_get(st->cat, STORE_CHECKPOINT_KEY, checkpoint, &found);
	if (rc == 0 && !found)
		*checkpoint = 0;
	if (rc == 0)
		rc = catalog_state_get(st->cat, STORE_SEAL_SEQ_KEY, &st->seal_seq, &found);
	if (rc == 0 && !found)
		st->seal_seq = 0;
	if (rc != 0)
		snprintf(err, STORE_ERROR_MAX, "%.512s: %s", path, catalog_errmsg());
	return rc;
}

static int start_compactor(struct store *st)
{
	pthread_condattr_t attr;
	int rc;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&st->wake, &attr);
	pthread_cond_destroy(&st->sealed);
	pthread_cond_init(&st->sealed, &attr);
	pthread_condattr_destroy(&attr);
	rc = pthread_create(&st->compactor, NULL, store__compactor_main, st);
	if (rc != 0)
		return -rc;
	st->compactor_running = true;
	return 0;
}

static int copy_retention(struct store *st, const struct store_options *opts)
{
	struct store_retention *rules;

	if (opts->nretention == 0)
		return 0;
	rules = calloc(opts->nretention, sizeof *rules);
	if (!rules)
		return -ENOMEM;
	st->opts.retention = rules;
	st->opts.nretention = opts->nretention;
	for (size_t i = 0; i < opts->nretention; i++) {
		rules[i].keep_ns = opts->retention[i].keep_ns;
		rules[i].pattern = strdup(opts->retention[i].pattern);
		if (!rules[i].pattern)
			return -ENOMEM;
	}
	return 0;
}

int store_open(const struct store_options *opts, struct store **out, char *err)
{
	struct store *st = calloc(1, sizeof *st);
	uint64_t checkpoint = 0;
	int rc;

	*out = NULL;
	err[0] = '\0';
	if (!st)
		return -ENOMEM;
	st->opts = *opts;
	st->opts.retention = NULL;
	st->opts.nretention = 0;
	pthread_mutex_init(&st->append_lock, NULL);
	pthread_rwlock_init(&st->heads_lock, NULL);
	pthread_mutex_init(&st->seal_lock, NULL);
	pthread_mutex_init(&st->wake_lock, NULL);
	pthread_mutex_init(&st->tag_cache_lock, NULL);
	pthread_cond_init(&st->sealed, NULL);
	st->last_seal_mono_ns = clock_mono_ns();
	st->data_dir = strdup(opts->data_dir);
	if (copy_retention(st, opts) != 0 || !st->data_dir || (rc = registry_new(&st->reg)) != 0 || (rc = head_new(&st->head)) != 0) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = open_catalog(st, &checkpoint, err)) != 0)
		goto fail;
	if ((rc = chunkfiles_open(st->data_dir, st->cat, st->opts.io, &st->files, err)) != 0)
		goto fail;
	if ((rc = open_wal(st, checkpoint, err)) != 0)
		goto fail;
	if ((rc = start_compactor(st)) != 0) {
		snprintf(err, STORE_ERROR_MAX, "cannot start the compactor thread: %s", hs_strerror(rc));
		goto fail;
	}
	log_info("storage", "store open: %zu tags, %zu samples in the head",
		 registry_count(st->reg), head_samples(st->head));
	*out = st;
	return 0;
fail:
	if (!err[0])
		snprintf(err, STORE_ERROR_MAX, "cannot open the store in %s: %s", opts->data_dir,
			 hs_strerror(rc));
	store_close(st);
	return rc;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->compactor_running) {
		pthread_mutex_lock(&st->wake_lock);
		st->stopping = true;
		pthread_cond_signal(&st->wake);
		pthread_cond_broadcast(&st->sealed);
		pthread_mutex_unlock(&st->wake_lock);
		pthread_join(st->compactor, NULL);
		pthread_cond_destroy(&st->wake);
	}
	wal_close(st->wal);
	chunkfiles_close(st->files);
	catalog_close(st->cat);
	head_release(st->frozen);
	head_release(st->head);
	registry_free(st->reg);
	for (size_t i = 0; i < st->opts.nretention; i++)
		free((char *)st->opts.retention[i].pattern);
	free((void *)st->opts.retention);
	pthread_mutex_destroy(&st->append_lock);
	pthread_rwlock_destroy(&st->heads_lock);
	pthread_mutex_destroy(&st->seal_lock);
	pthread_mutex_destroy(&st->wake_lock);
	pthread_mutex_destroy(&st->tag_cache_lock);
	free(st->tag_cache);
	pthread_cond_destroy(&st->sealed);
	free(st->data_dir);
	free(st);
}

/* --- tags ------------------------------------------------------------ */

static bool valid_name(const char *name, size_t len, size_t nlabels)
{
	return len > 0 && len <= TAG_NAME_MAX && !memchr(name, '\0', len) &&
	       utf8_valid(name, len) && nlabels <= CATALOG_LABELS_MAX;
}

int store_tag_find(struct store *st, const char *name, size_t name_len, uint32_t *id,
		   enum value_type *type)
{
	return registry_find(st->reg, name, name_len, id, type) ? 0 : -ENOENT;
}

int store_tag_resolve(struct store *st, const char *name, size_t name_len, enum value_type type,
		      const struct store_label *labels, size_t nlabels, uint32_t *id,
		      enum value_type *existing_type)
{
	struct catalog_label cl[CATALOG_LABELS_MAX];
	enum value_type found_type;
	int rc;

	if (registry_find(st->reg, name, name_len, id, &found_type))
		goto check;
	if (!valid_name(name, name_len, nlabels))
		return -EINVAL;
	for (size_t i = 0; i < nlabels; i++)
		cl[i] = (struct catalog_label){labels[i].key, labels[i].value};
	/* Two threads may race here: the catalog gives both the same id. */
	rc = catalog_tag_create(st->cat, name, name_len, type, cl, nlabels, id, &found_type);
	if (rc != 0) {
		log_warn("storage", "cannot create tag: %s", catalog_errmsg());
		return rc;
	}
	rc = registry_add(st->reg, *id, name, name_len, found_type);
	if (rc != 0)
		return rc;
check:
	if (existing_type)
		*existing_type = found_type;
	return found_type == type ? 0 : HS_ETYPE;
}

/* Create the tags specs[todo[0..n)] in one transaction. */
static int create_batch(struct store *st, const struct store_tag_spec *specs, const size_t *todo,
			size_t n, uint32_t *ids, int *status)
{
	struct catalog_tag_spec *cs = calloc(n ? n : 1, sizeof *cs);
	struct catalog_label *labels = NULL;
	uint32_t *new_ids = calloc(n ? n : 1, sizeof *new_ids);
	enum value_type *types = calloc(n ? n : 1, sizeof *types);
	size_t nl = 0, at = 0;
	int rc = -ENOMEM;

	for (size_t i = 0; i < n; i++)
		nl += specs[todo[i]].nlabels;
	labels = calloc(nl ? nl : 1, sizeof *labels);
	if (!cs || !new_ids || !types || !labels)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct store_tag_spec *sp = &specs[todo[i]];
		cs[i] = (struct catalog_tag_spec){sp->name, sp->name_len, sp->type, labels + at,
						  sp->nlabels};
		for (size_t k = 0; k < sp->nlabels; k++, at++)
			labels[at] = (struct catalog_label){sp->labels[k].key, sp->labels[k].value};
	}
	rc = catalog_tags_create(st->cat, cs, n, new_ids, types);
	if (rc != 0) {
		log_warn("storage", "cannot create %zu tags: %s", n, catalog_errmsg());
		goto out;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t k = todo[i];
		rc = registry_add(st->reg, new_ids[i], specs[k].name, specs[k].name_len, types[i]);
		ids[k] = new_ids[i];
		status[k] = types[i] == specs[k].type ? 0 : HS_ETYPE;
	}
out:
	free(cs);
	free(labels);
	free(new_ids);
	free(types);
	return rc;
}

int store_tags_resolve(struct store *st, const struct store_tag_spec *specs, size_t n,
		       uint32_t *ids, int *status)
{
	size_t *todo = malloc((n ? n : 1) * sizeof *todo), ntodo = 0;
	int rc = 0;

	if (!todo)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		enum value_type t;
		if (registry_find(st->reg, specs[i].name, specs[i].name_len, &ids[i], &t)) {
			status[i] = t == specs[i].type ? 0 : HS_ETYPE;
		} else if (!valid_name(specs[i].name, specs[i].name_len, specs[i].nlabels)) {
			status[i] = -EINVAL;
		} else {
			todo[ntodo++] = i;
		}
	}
	/* A name twice in specs is one tag: the catalog gives both one id. */
	for (size_t at = 0; at < ntodo && rc == 0; at += 10000)
		rc = create_batch(st, specs, todo + at, ntodo - at < 10000 ? ntodo - at : 10000, ids,
				  status);
	free(todo);
	return rc;
}

/* --- appends ---------------------------------------------------------- */

/* Check ids and types and turn samples into head inputs. */
static int prepare(struct store *st, const struct store_sample *s, size_t count,
		   struct head_input *in)
{
	for (size_t i = 0; i < count; i++) {
		enum value_type t = registry_type(st->reg, s[i].tag_id);
		if (t == 0)
			return -ENOENT;
		in[i] = (struct head_input){.tag_id = s[i].tag_id, .type = t, .quality = s[i].quality,
					    .ts_ns = s[i].ts_ns};
		switch (t) {
		case VALUE_FLOAT64: in[i].v.f64 = s[i].v.f64; break;
		case VALUE_INT64: in[i].v.i64 = s[i].v.i64; break;
		case VALUE_BOOL: in[i].v.i64 = s[i].v.b ? 1 : 0; break;
		case VALUE_STRING:
			in[i].str = s[i].v.s.ptr;
			in[i].str_len = s[i].v.s.len;
			break;
		}
	}
	return 0;
}

static size_t head_bytes_now(struct store *st)
{
	size_t bytes;

	pthread_rwlock_rdlock(&st->heads_lock);
	bytes = head_bytes(st->head);
	pthread_rwlock_unlock(&st->heads_lock);
	return bytes;
}

/* Wake the compactor to seal; if the head is already twice its bound
 * (a seal is slower than ingest), wait for that seal to end. */
static void ask_for_seal(struct store *st)
{
	pthread_mutex_lock(&st->wake_lock);
	st->seal_requested = true;
	pthread_cond_signal(&st->wake);
	while (!st->stopping && head_bytes_now(st) > 2 * st->opts.head_memory_bytes) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += 1; /* re-check: the seal that frees memory may have just ended */
		pthread_cond_timedwait(&st->sealed, &st->wake_lock, &until);
	}
	pthread_mutex_unlock(&st->wake_lock);
}

int store_append(struct store *st, const struct store_sample *samples, size_t count,
		 store_durable_fn done, void *arg)
{
	struct strbuf rec = STRBUF_INIT;
	struct head_input *in;
	bool head_full;
	int rc;

	if (count == 0)
		return -EINVAL;
	in = malloc(count * sizeof *in);
	if (!in)
		return -ENOMEM;
	rc = prepare(st, samples, count, in);
	if (rc == 0)
		rc = walrec_encode(in, count, &rec);
	if (rc != 0)
		goto out;
	pthread_mutex_lock(&st->append_lock);
	rc = wal_append(st->wal, rec.data, rec.len, done, arg);
	head_full = false;
	if (rc == 0) {
		pthread_rwlock_rdlock(&st->heads_lock);
		rc = head_append(st->head, in, count);
		pthread_rwlock_unlock(&st->heads_lock);
		if (rc != 0)
			log_error("storage", "head append failed after the WAL took the batch: %s",
				  hs_strerror(rc));
		rc = 0; /* the WAL has it; it will be durable and replayed */
		head_full = head_bytes(st->head) > st->opts.head_memory_bytes;
	}
	pthread_mutex_unlock(&st->append_lock);
	if (rc == 0) {
		atomic_fetch_add_explicit(&st->samples_appended, count, memory_order_relaxed);
		if (head_full)
			ask_for_seal(st);
	}
out:
	strbuf_free(&rec);
	free(in);
	return rc;
}

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int status;
};

static void wake_waiter(void *arg, int status)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->lock);
	w->done = true;
	w->status = status;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int store_append_wait(struct store *st, const struct store_sample *samples, size_t count)
{
	struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0};
	int rc = store_append(st, samples, count, wake_waiter, &w);

	if (rc != 0)
		return rc;
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	return w.status;
}

int store_seal_now(struct store *st)
{
	return store__seal(st);
}

int store_retention_now(struct store *st, int64_t now_ns)
{
	size_t rewritten;
	return store__retention(st, now_ns, &rewritten);
}

int store_compact_now(struct store *st, size_t *partitions)
{
	int rc = store__seal(st);

	*partitions = 0;
	if (rc == 0)
		rc = store__compact(st, true, partitions);
	/* The final layout: the catalog with full pages and without its
	 * SQLite WAL. A vacuum that fails (no room for its temporary copy)
	 * leaves the catalog as it was: worth a warning, not a failure. */
	if (rc == 0 && catalog_vacuum(st->cat) != 0)
		log_warn("storage", "catalog vacuum failed, catalog.db keeps its free space: %s",
			 catalog_errmsg());
	if (rc == 0)
		rc = catalog_checkpoint(st->cat);
	return rc;
}

void store_stats(struct store *st, struct store_stats *out)
{
	struct wal_stats ws;

	wal_stats(st->wal, &ws);
	pthread_rwlock_rdlock(&st->heads_lock);
	out->head_samples = head_samples(st->head) + (st->frozen ? head_samples(st->frozen) : 0);
	out->head_bytes = head_bytes(st->head) + (st->frozen ? head_bytes(st->frozen) : 0);
	pthread_rwlock_unlock(&st->heads_lock);
	out->tags = registry_count(st->reg);
	out->samples_appended = atomic_load(&st->samples_appended);
	out->seals = atomic_load(&st->seals);
	out->seal_failures = atomic_load(&st->seal_failures);
	out->chunks_written = atomic_load(&st->chunks_written);
	out->compactions = atomic_load(&st->compactions);
	out->max_seal_pause_ns = atomic_load(&st->max_seal_pause_ns);
	out->compaction_failures = atomic_load(&st->compaction_failures);
	out->chunk_file_bytes = chunkfiles_bytes(st->files);
	out->wal_records = ws.records;
	out->wal_commits = ws.commits;
	out->wal_fsyncs = ws.fsyncs;
	out->wal_bytes = ws.write_bytes;
	out->wal_state = (int)ws.state;
}
