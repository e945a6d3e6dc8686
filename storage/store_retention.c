/* store_retention.c: retention: drop samples older than each tag's keep time, by tag-name pattern.
 * A partition whose every tag has expired goes as a whole (files deleted, rows dropped in one transaction); one
 * where only some tags expired loses their chunk rows and is rewritten by compaction. Runs on the compactor thread
 * under seal_lock, after seals; crash-safe because the catalog transaction decides and files follow. */
#define _GNU_SOURCE
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/hs_error.h"
#include "lib/log.h"
#include "lib/vec.h"
#include "storage/store_int.h"

/* Keep time of a tag: the first rule whose glob matches its name, else
 * forever (INT64_MAX). */
static int64_t keep_of(const struct store *st, uint32_t tag_id)
{
	const char *name = registry_name(st->reg, tag_id);

	for (size_t i = 0; name && i < st->opts.nretention; i++)
		if (fnmatch(st->opts.retention[i].pattern, name, 0) == 0)
			return st->opts.retention[i].keep_ns;
	return INT64_MAX;
}

struct tag_set {
	uint32_t *ids;
	size_t count, cap;
};

static int add_tag(void *arg, const struct catalog_chunk *c)
{
	struct tag_set *t = arg;
	if (t->count && t->ids[t->count - 1] == c->tag_id)
		return 0;
	if (vec_grow(&t->ids, &t->cap, t->count, sizeof *t->ids) != 0)
		return -ENOMEM;
	t->ids[t->count++] = c->tag_id;
	return 0;
}

struct file_ids {
	uint64_t *v;
	size_t count, cap;
};

static int add_file(void *arg, const struct catalog_file *f)
{
	struct file_ids *l = arg;
	if (vec_grow(&l->v, &l->cap, l->count, sizeof *l->v) != 0)
		return -ENOMEM;
	l->v[l->count++] = f->id;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The tags that have chunks in the partition starting at start. */
static int partition_tags(struct store *st, int64_t start, struct tag_set *tags,
			  struct file_ids *files)
{
	int rc = catalog_files_list(st->cat, start, add_file, files);

	for (size_t i = 0; rc == 0 && i < files->count; i++)
		rc = catalog_chunks_of_file(st->cat, files->v[i], add_tag, tags);
	if (rc == 0 && tags->count) {
		size_t n = 1;
		qsort(tags->ids, tags->count, sizeof *tags->ids, cmp_u32);
		for (size_t i = 1; i < tags->count; i++)
			if (tags->ids[i] != tags->ids[n - 1])
				tags->ids[n++] = tags->ids[i];
		tags->count = n;
	}
	return rc;
}

static int forget_file(void *arg, const struct catalog_file *f)
{
	struct store *st = arg;
	if (chunkfiles_remove(st->files, f->id) != 0)
		log_warn("storage", "retention: %s was already gone", f->relpath);
	return 0;
}

/* Apply retention to one partition [start, end). *rewrite is set when
 * some chunk rows were dropped and the files should be compacted. */
static int retain_partition(struct store *st, int64_t start, int64_t end, int64_t now,
			    bool *rewrite)
{
	struct tag_set tags = {0};
	struct file_ids files = {0};
	size_t expired = 0;
	uint64_t rows = 0;
	int rc = partition_tags(st, start, &tags, &files);

	for (size_t i = 0; rc == 0 && i < tags.count; i++) {
		int64_t keep = keep_of(st, tags.ids[i]);
		expired += keep != INT64_MAX && end <= now - keep;
	}
	if (rc == 0 && expired && expired == tags.count) {
		rc = catalog_partition_drop(st->cat, start, forget_file, st, &rows);
		if (rc == 0)
			log_info("storage", "retention: dropped partition %lld (%zu tags, %llu chunks)",
				 (long long)(start / 1000000000), tags.count, (unsigned long long)rows);
	} else if (rc == 0 && expired) {
		for (size_t i = 0; rc == 0 && i < tags.count; i++) {
			int64_t keep = keep_of(st, tags.ids[i]);
			uint64_t n = 0;
			if (keep == INT64_MAX || end > now - keep)
				continue;
			rc = catalog_chunks_expire(st->cat, tags.ids[i], now - keep, &n);
			rows += n;
		}
		*rewrite = rows > 0;
		if (rc == 0 && rows)
			log_info("storage", "retention: dropped %llu chunks of %zu expired tags in partition %lld",
				 (unsigned long long)rows, expired, (long long)(start / 1000000000));
	}
	if (rows)
		store__tag_cache_forget(st);
	free(tags.ids);
	free(files.v);
	return rc;
}

int store__retention(struct store *st, int64_t now, size_t *rewritten)
{
	struct store_partitions parts = {0};
	int64_t min_keep = INT64_MAX;
	int rc;

	*rewritten = 0;
	for (size_t i = 0; i < st->opts.nretention; i++)
		if (st->opts.retention[i].keep_ns < min_keep)
			min_keep = st->opts.retention[i].keep_ns;
	if (min_keep == INT64_MAX)
		return 0; /* keep everything forever: the default */
	pthread_mutex_lock(&st->seal_lock);
	rc = store__partitions(st, &parts);
	for (size_t i = 0; rc == 0 && i < parts.count; i++) {
		const struct catalog_partition *p = &parts.v[i];
		bool rewrite = false;
		if (p->end_ns > now - min_keep)
			break; /* oldest first: nothing later can have expired */
		rc = retain_partition(st, p->start_ns, p->end_ns, now, &rewrite);
		if (rc == 0 && rewrite) {
			rc = store__compact_partition(st, p);
			(*rewritten)++;
		}
	}
	pthread_mutex_unlock(&st->seal_lock);
	free(parts.v);
	return rc;
}
