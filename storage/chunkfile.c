/* chunkfile.c: chunk files behind chunkfile.h: naming, header, appends, sync, reads, removal, tidy-up at open.
 * Concurrency: the file table is guarded by a mutex; a reader pins a file (refs) while it preads, and removal waits
 * for pins to drop before closing, so a descriptor number is never reused under a reader. One appender at a time. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/crc32c.h"
#include "lib/endian.h"
#include "lib/hs_error.h"
#include "lib/log.h"
#include "lib/vec.h"
#include "storage/chunkfile.h"
#include "storage/chunkfile_format.h"

struct cfile {
	uint64_t id;
	int64_t part_start, part_end;
	uint64_t seq;     /* the seal that created it; appends go only to this seal's files */
	char *relpath;
	int fd;
	uint64_t size;    /* bytes written, header included */
	_Atomic int pins;
	bool dirty;       /* appended to since the last sync */
	bool removed;     /* out of the table; deleted by the last unpin */
};

struct chunkfiles {
	char *data_dir;
	struct catalog *cat;
	const struct io_ops *io;
	pthread_mutex_t lock;
	struct cfile **files;
	size_t count, cap;
	bool dir_dirty;   /* a file was created since the last sync */
	_Atomic uint64_t bytes;
	/* Removed files still pinned by readers; guarded by lock. */
	struct cfile **doomed;
	size_t ndoomed, cap_doomed;
};

static void delete_file(struct chunkfiles *cf, struct cfile *f);

static int path_of(const struct chunkfiles *cf, const char *relpath, char *buf, size_t len)
{
	return snprintf(buf, len, "%s/%s", cf->data_dir, relpath) >= (int)len ? -ENAMETOOLONG : 0;
}

static int table_add(struct chunkfiles *cf, struct cfile *f)
{
	pthread_mutex_lock(&cf->lock);
	if (vec_grow(&cf->files, &cf->cap, cf->count, sizeof *cf->files) != 0) {
		pthread_mutex_unlock(&cf->lock);
		return -ENOMEM;
	}
	cf->files[cf->count++] = f;
	pthread_mutex_unlock(&cf->lock);
	atomic_fetch_add(&cf->bytes, f->size);
	return 0;
}

static void cfile_free(struct chunkfiles *cf, struct cfile *f)
{
	if (!f)
		return;
	if (f->fd >= 0)
		cf->io->close(f->fd);
	free(f->relpath);
	free(f);
}

static void encode_header(unsigned char *h, int64_t start, int64_t end, uint64_t seq)
{
	memset(h, 0, CHUNKFILE_HEADER_LEN);
	memcpy(h, CHUNKFILE_MAGIC, 8);
	put_le32(h + 8, CHUNKFILE_VERSION);
	put_le32(h + 12, CHUNKFILE_HEADER_LEN);
	put_le64(h + 16, (uint64_t)start);
	put_le64(h + 24, (uint64_t)end);
	put_le64(h + 32, seq);
	put_le32(h + 60, crc32c(0, h, 60));
}

static int check_header(const unsigned char *h)
{
	if (memcmp(h, CHUNKFILE_MAGIC, 8) != 0 || get_le32(h + 8) != CHUNKFILE_VERSION ||
	    get_le32(h + 12) != CHUNKFILE_HEADER_LEN || get_le32(h + 60) != crc32c(0, h, 60))
		return HS_ECORRUPT;
	return 0;
}

/* --- open: reconcile the directory with the catalog ------------------- */

struct listed {
	struct cfile **files;
	size_t count, cap;
	int64_t part_start, part_end;
};

static int collect_file(void *arg, const struct catalog_file *file)
{
	struct listed *l = arg;
	struct cfile *f;

	if (vec_grow(&l->files, &l->cap, l->count, sizeof *l->files) != 0)
		return -ENOMEM;
	f = calloc(1, sizeof *f);
	if (!f || !(f->relpath = strdup(file->relpath))) {
		free(f);
		return -ENOMEM;
	}
	f->id = file->id;
	f->part_start = file->partition_start_ns;
	f->part_end = l->part_end;
	f->size = file->bytes;
	f->fd = -1;
	l->files[l->count++] = f;
	return 0;
}

struct part_list {
	struct catalog_partition *parts;
	size_t count, cap;
};

static int collect_partition(void *arg, const struct catalog_partition *part)
{
	struct part_list *pl = arg;
	if (vec_grow(&pl->parts, &pl->cap, pl->count, sizeof *pl->parts) != 0)
		return -ENOMEM;
	pl->parts[pl->count++] = *part;
	return 0;
}

/* Open one listed file, cut a torn append, check its header. Returns 1
 * when the file is absent and never held a chunk (its row goes). */
static int open_listed(struct chunkfiles *cf, struct cfile *f, char *err)
{
	unsigned char header[CHUNKFILE_HEADER_LEN];
	char path[4096];
	struct stat st;
	int rc;

	if ((rc = path_of(cf, f->relpath, path, sizeof path)) != 0)
		return rc;
	f->fd = cf->io->open(path, O_RDWR, 0);
	if (f->fd == -ENOENT && f->size <= CHUNKFILE_HEADER_LEN)
		return 1;
	if (f->fd < 0) {
		rc = f->fd;
		snprintf(err, CATALOG_ERROR_MAX, "%.900s: cannot open chunk file the catalog lists: %s", path,
			 hs_strerror(rc));
		return rc == -ENOENT ? HS_ECORRUPT : rc;
	}
	if (fstat(f->fd, &st) != 0)
		return -errno;
	if (f->size < CHUNKFILE_HEADER_LEN)
		f->size = CHUNKFILE_HEADER_LEN;
	if ((uint64_t)st.st_size < f->size ||
	    io_pread_all(cf->io, f->fd, header, sizeof header, 0) != (ssize_t)sizeof header ||
	    check_header(header) != 0) {
		snprintf(err, CATALOG_ERROR_MAX,
			 "%.900s: chunk file is shorter than the catalog says or has a bad header", path);
		return HS_ECORRUPT;
	}
	if ((uint64_t)st.st_size > f->size) {
		log_warn("storage", "%s: cutting %llu bytes of a torn append", path,
			 (unsigned long long)((uint64_t)st.st_size - f->size));
		if ((rc = cf->io->ftruncate(f->fd, (off_t)f->size)) != 0 ||
		    (rc = cf->io->fsync(f->fd)) != 0)
			return rc;
	}
	return 0;
}

static int count_chunk(void *arg, const struct catalog_chunk *c)
{
	(void)c;
	(*(size_t *)arg)++;
	return 0;
}

/* A file no chunk row points into is left by a crash (a compaction's new
 * file before its swap, or its old files after): delete it and its row. */
static int remove_empty(struct chunkfiles *cf)
{
	for (size_t i = 0; i < cf->count;) {
		struct cfile *f = cf->files[i];
		size_t chunks = 0;
		int rc = catalog_chunks_of_file(cf->cat, f->id, count_chunk, &chunks);
		if (rc != 0)
			return rc;
		if (chunks) {
			i++;
			continue;
		}
		log_warn("storage", "%s: removing a chunk file that holds no chunk (left by a crash)",
			 f->relpath);
		if ((rc = catalog_file_remove(cf->cat, f->id)) != 0)
			return rc;
		cf->files[i] = cf->files[--cf->count];
		atomic_fetch_sub(&cf->bytes, f->size);
		delete_file(cf, f);
		cf->dir_dirty = true;
	}
	return 0;
}

/* Delete files in chunks/ that no catalog row names. */
static int remove_orphans(struct chunkfiles *cf)
{
	char dir_path[4096], path[4096 + 256];
	struct dirent *ent;
	DIR *dir;

	snprintf(dir_path, sizeof dir_path, "%s/chunks", cf->data_dir);
	dir = opendir(dir_path);
	if (!dir)
		return -errno;
	while ((ent = readdir(dir))) {
		bool known = false;
		if (ent->d_name[0] == '.')
			continue;
		for (size_t i = 0; i < cf->count && !known; i++)
			known = strcmp(cf->files[i]->relpath + strlen("chunks/"), ent->d_name) == 0;
		if (known)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir_path, ent->d_name);
		log_warn("storage", "%s: removing a chunk file no catalog row names (left by a crash)",
			 path);
		if (cf->io->unlink(path) == 0)
			cf->dir_dirty = true;
	}
	closedir(dir);
	return 0;
}

static int load_partition(struct chunkfiles *cf, const struct catalog_partition *part, char *err)
{
	struct listed l = {.part_start = part->start_ns, .part_end = part->end_ns};
	int rc = catalog_files_list(cf->cat, part->start_ns, collect_file, &l);

	for (size_t i = 0; i < l.count; i++) {
		struct cfile *f = l.files[i];
		if (rc == 0)
			rc = open_listed(cf, f, err);
		if (rc == 1) {
			log_warn("storage", "%s: forgetting a chunk file that was never written", f->relpath);
			rc = catalog_file_remove(cf->cat, f->id);
			cfile_free(cf, f);
			continue;
		}
		if (rc == 0)
			rc = table_add(cf, f);
		if (rc != 0)
			cfile_free(cf, f);
	}
	free(l.files);
	return rc;
}

int chunkfiles_open(const char *data_dir, struct catalog *cat, const struct io_ops *io,
		    struct chunkfiles **out, char *err)
{
	struct chunkfiles *cf = calloc(1, sizeof *cf);
	struct part_list pl = {0};
	char dir_path[4096];
	int rc;

	*out = NULL;
	if (!cf)
		return -ENOMEM;
	cf->cat = cat;
	cf->io = io ? io : &io_default;
	pthread_mutex_init(&cf->lock, NULL);
	cf->data_dir = strdup(data_dir);
	if (!cf->data_dir) {
		rc = -ENOMEM;
		goto fail;
	}
	snprintf(dir_path, sizeof dir_path, "%s/chunks", data_dir);
	if (mkdir(dir_path, 0750) != 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, CATALOG_ERROR_MAX, "%.900s: cannot create: %s", dir_path, hs_strerror(rc));
		goto fail;
	}
	rc = catalog_partitions_list(cat, collect_partition, &pl);
	for (size_t i = 0; rc == 0 && i < pl.count; i++)
		rc = load_partition(cf, &pl.parts[i], err);
	if (rc == 0)
		rc = remove_empty(cf);
	if (rc == 0)
		rc = remove_orphans(cf);
	if (rc == 0 && cf->dir_dirty)
		rc = io_fsync_dir(cf->io, dir_path);
	cf->dir_dirty = false;
	free(pl.parts);
	if (rc != 0) {
		if (!err[0])
			snprintf(err, CATALOG_ERROR_MAX, "chunk files: %s", hs_strerror(rc));
		goto fail;
	}
	*out = cf;
	return 0;
fail:
	chunkfiles_close(cf);
	return rc;
}

void chunkfiles_close(struct chunkfiles *cf)
{
	if (!cf)
		return;
	for (size_t i = 0; i < cf->count; i++)
		cfile_free(cf, cf->files[i]);
	for (size_t i = 0; i < cf->ndoomed; i++)
		delete_file(cf, cf->doomed[i]);
	free(cf->files);
	free(cf->doomed);
	free(cf->data_dir);
	pthread_mutex_destroy(&cf->lock);
	free(cf);
}

/* --- appending ---------------------------------------------------------- */

static struct cfile *find_active(struct chunkfiles *cf, int64_t part_start, uint64_t seq)
{
	for (size_t i = 0; i < cf->count; i++)
		if (cf->files[i]->part_start == part_start && cf->files[i]->seq == seq)
			return cf->files[i];
	return NULL;
}

static int create_file(struct chunkfiles *cf, int64_t start, int64_t end, uint64_t seq,
		       struct cfile **out)
{
	unsigned char header[CHUNKFILE_HEADER_LEN];
	char relpath[128], path[4096 + 128], stamp[32];
	time_t secs = (time_t)(start / 1000000000);
	struct tm tm;
	struct cfile *f;
	int rc;

	gmtime_r(&secs, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(relpath, sizeof relpath, "chunks/p%s-%llu.hsc", stamp, (unsigned long long)seq);
	f = calloc(1, sizeof *f);
	if (!f || !(f->relpath = strdup(relpath))) {
		free(f);
		return -ENOMEM;
	}
	*f = (struct cfile){.part_start = start, .part_end = end, .seq = seq, .relpath = f->relpath,
			    .fd = -1, .size = CHUNKFILE_HEADER_LEN};
	/* The row first: a crash before the file exists leaves a row that
	 * chunkfiles_open() drops; a file without a row would be an orphan. */
	rc = catalog_file_add(cf->cat, start, end, relpath, &f->id);
	if (rc != 0)
		goto fail;
	snprintf(path, sizeof path, "%s/%s", cf->data_dir, relpath);
	f->fd = cf->io->open(path, O_RDWR | O_CREAT | O_TRUNC, 0640);
	if (f->fd < 0) {
		rc = f->fd;
		goto fail;
	}
	encode_header(header, start, end, seq);
	rc = io_pwrite_all(cf->io, f->fd, header, sizeof header, 0);
	if (rc == 0)
		rc = table_add(cf, f);
	if (rc != 0)
		goto fail;
	f->dirty = true;
	cf->dir_dirty = true;
	*out = f;
	return 0;
fail:
	log_error("storage", "%s: cannot create chunk file: %s", relpath, hs_strerror(rc));
	cfile_free(cf, f);
	return rc;
}

int chunkfiles_append(struct chunkfiles *cf, int64_t part_start, int64_t part_end, uint64_t seq,
		      const void *bytes, size_t len, uint64_t *file_id, uint64_t *offset)
{
	struct cfile *f = find_active(cf, part_start, seq);
	int rc;

	if (!f && (rc = create_file(cf, part_start, part_end, seq, &f)) != 0)
		return rc;
	rc = io_pwrite_all(cf->io, f->fd, bytes, len, (off_t)f->size);
	if (rc != 0)
		return rc;
	*file_id = f->id;
	*offset = f->size;
	f->size += len;
	f->dirty = true;
	atomic_fetch_add(&cf->bytes, len);
	return 0;
}

int chunkfiles_sync(struct chunkfiles *cf)
{
	char dir_path[4096];
	int rc;

	for (size_t i = 0; i < cf->count; i++) {
		struct cfile *f = cf->files[i];
		if (!f->dirty)
			continue;
		if ((rc = cf->io->fdatasync(f->fd)) != 0) {
			log_error("storage", "%s: fdatasync failed: %s", f->relpath, hs_strerror(rc));
			return rc;
		}
		f->dirty = false;
	}
	if (cf->dir_dirty) {
		snprintf(dir_path, sizeof dir_path, "%s/chunks", cf->data_dir);
		if ((rc = io_fsync_dir(cf->io, dir_path)) != 0)
			return rc;
		cf->dir_dirty = false;
	}
	return 0;
}

void chunkfiles_abandon(struct chunkfiles *cf)
{
	for (size_t i = 0; i < cf->count; i++)
		cf->files[i]->dirty = false;
}

/* --- reading and removal ------------------------------------------------- */

static struct cfile *pin_locked(struct chunkfiles *cf, uint64_t file_id)
{
	for (size_t i = 0; i < cf->count; i++) {
		if (cf->files[i]->id == file_id) {
			atomic_fetch_add(&cf->files[i]->pins, 1);
			return cf->files[i];
		}
	}
	return NULL;
}

static struct cfile *pin(struct chunkfiles *cf, uint64_t file_id)
{
	struct cfile *found;

	pthread_mutex_lock(&cf->lock);
	found = pin_locked(cf, file_id);
	pthread_mutex_unlock(&cf->lock);
	return found;
}

static void delete_file(struct chunkfiles *cf, struct cfile *f)
{
	char path[4096];

	if (path_of(cf, f->relpath, path, sizeof path) == 0 && cf->io->unlink(path) != 0)
		log_warn("storage", "%s: cannot delete a compacted chunk file", path);
	cfile_free(cf, f);
}

/* Drop a pin; the last pin of a removed file deletes it. */
static void unpin(struct chunkfiles *cf, struct cfile *f)
{
	bool last_of_removed = false;

	pthread_mutex_lock(&cf->lock);
	if (atomic_fetch_sub(&f->pins, 1) == 1 && f->removed) {
		for (size_t i = 0; i < cf->ndoomed; i++) {
			if (cf->doomed[i] == f) {
				cf->doomed[i] = cf->doomed[--cf->ndoomed];
				last_of_removed = true;
				break;
			}
		}
	}
	pthread_mutex_unlock(&cf->lock);
	if (last_of_removed)
		delete_file(cf, f);
}

int chunkfiles_pin(struct chunkfiles *cf, uint64_t file_id)
{
	return pin(cf, file_id) ? 0 : -ENOENT;
}

void chunkfiles_unpin(struct chunkfiles *cf, uint64_t file_id)
{
	struct cfile *f = NULL;

	/* The pin holder keeps f alive, in the table or among the doomed. */
	pthread_mutex_lock(&cf->lock);
	for (size_t i = 0; i < cf->count && !f; i++)
		if (cf->files[i]->id == file_id)
			f = cf->files[i];
	for (size_t i = 0; i < cf->ndoomed && !f; i++)
		if (cf->doomed[i]->id == file_id)
			f = cf->doomed[i];
	pthread_mutex_unlock(&cf->lock);
	if (f)
		unpin(cf, f);
}

int chunkfiles_read(struct chunkfiles *cf, uint64_t file_id, uint64_t offset, void *buf,
		    size_t len)
{
	struct cfile *f = pin(cf, file_id);
	ssize_t got;

	if (!f) {
		/* A scan pinned it before it was removed: look among the doomed. */
		pthread_mutex_lock(&cf->lock);
		for (size_t i = 0; i < cf->ndoomed && !f; i++)
			if (cf->doomed[i]->id == file_id && atomic_load(&cf->doomed[i]->pins) > 0) {
				f = cf->doomed[i];
				atomic_fetch_add(&f->pins, 1);
			}
		pthread_mutex_unlock(&cf->lock);
		if (!f)
			return -ENOENT;
	}
	got = io_pread_all(cf->io, f->fd, buf, len, (off_t)offset);
	unpin(cf, f);
	if (got < 0)
		return (int)got;
	return (size_t)got == len ? 0 : HS_ECORRUPT;
}

int chunkfiles_remove(struct chunkfiles *cf, uint64_t file_id)
{
	struct cfile *f = NULL;
	bool now = false;
	int rc = 0;

	pthread_mutex_lock(&cf->lock);
	for (size_t i = 0; i < cf->count; i++) {
		if (cf->files[i]->id == file_id) {
			f = cf->files[i];
			cf->files[i] = cf->files[--cf->count];
			break;
		}
	}
	if (f) {
		f->removed = true;
		now = atomic_load(&f->pins) == 0;
		if (!now) {
			if (vec_grow(&cf->doomed, &cf->cap_doomed, cf->ndoomed, sizeof *cf->doomed) == 0)
				cf->doomed[cf->ndoomed++] = f;
			else
				rc = -ENOMEM; /* keep it open forever rather than pull it from a reader */
		}
	}
	pthread_mutex_unlock(&cf->lock);
	if (!f)
		return -ENOENT;
	atomic_fetch_sub(&cf->bytes, f->size);
	if (now)
		delete_file(cf, f);
	return rc;
}

size_t chunkfiles_count(struct chunkfiles *cf)
{
	size_t n;

	pthread_mutex_lock(&cf->lock);
	n = cf->count;
	pthread_mutex_unlock(&cf->lock);
	return n;
}

uint64_t chunkfiles_bytes(const struct chunkfiles *cf)
{
	return atomic_load(&((struct chunkfiles *)cf)->bytes);
}
