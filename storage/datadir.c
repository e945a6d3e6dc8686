/* datadir.c: data directory creation and the single-daemon LOCK behind datadir.h.
 * The lock is flock(2) on DATA_DIR/LOCK: the kernel drops it when the process dies, so kill -9 never leaves a stale lock. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/hs_error.h"
#include "storage/datadir.h"

struct datadir {
	char *path;
	int lock_fd;
};

/* mkdir -p with mode 0750 for every directory it creates. */
static int make_dirs(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0)
		return -ENOENT;
	if (len >= sizeof buf)
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char saved = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0750) != 0 && errno != EEXIST)
			return -errno;
		buf[i] = saved;
	}
	struct stat st;
	if (stat(path, &st) != 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static long read_holder_pid(int fd)
{
	char text[32];
	ssize_t got = pread(fd, text, sizeof text - 1, 0);
	char *end;
	long pid;

	if (got <= 0)
		return -1;
	text[got] = '\0';
	pid = strtol(text, &end, 10);
	return (end != text && pid > 0) ? pid : -1;
}

static int write_pid(int fd)
{
	char text[32];
	int len = snprintf(text, sizeof text, "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) != 0)
		return -errno;
	if (pwrite(fd, text, (size_t)len, 0) != len)
		return errno ? -errno : -EIO;
	return 0;
}

int datadir_open(const char *path, struct datadir **out, char *err)
{
	struct datadir *dir = NULL;
	char lock_path[PATH_MAX];
	int rc;

	*out = NULL;
	rc = make_dirs(path);
	if (rc != 0) {
		snprintf(err, DATADIR_ERROR_MAX, "data directory %s: cannot create: %s", path,
			 hs_strerror(rc));
		return rc;
	}
	dir = calloc(1, sizeof *dir);
	if (!dir)
		return -ENOMEM;
	dir->lock_fd = -1;
	dir->path = realpath(path, NULL);
	if (!dir->path) {
		rc = -errno;
		snprintf(err, DATADIR_ERROR_MAX, "data directory %s: %s", path, hs_strerror(rc));
		goto fail;
	}
	if (snprintf(lock_path, sizeof lock_path, "%s/LOCK", dir->path) >= (int)sizeof lock_path) {
		rc = -ENAMETOOLONG;
		snprintf(err, DATADIR_ERROR_MAX, "data directory %s: path too long", dir->path);
		goto fail;
	}
	dir->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (dir->lock_fd < 0) {
		rc = -errno;
		snprintf(err, DATADIR_ERROR_MAX, "%s: cannot open: %s", lock_path, hs_strerror(rc));
		goto fail;
	}
	if (flock(dir->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		rc = -errno;
		if (rc == -EWOULDBLOCK) {
			long pid = read_holder_pid(dir->lock_fd);
			if (pid > 0)
				snprintf(err, DATADIR_ERROR_MAX,
					 "data directory %s is in use by another historiand (pid %ld)",
					 dir->path, pid);
			else
				snprintf(err, DATADIR_ERROR_MAX,
					 "data directory %s is in use by another historiand (pid unknown)",
					 dir->path);
			rc = HS_ELOCKED;
		} else {
			snprintf(err, DATADIR_ERROR_MAX, "%s: cannot lock: %s", lock_path,
				 hs_strerror(rc));
		}
		goto fail;
	}
	rc = write_pid(dir->lock_fd);
	if (rc != 0) {
		snprintf(err, DATADIR_ERROR_MAX, "%s: cannot write pid: %s", lock_path, hs_strerror(rc));
		goto fail;
	}
	*out = dir;
	return 0;

fail:
	datadir_close(dir);
	return rc;
}

const char *datadir_path(const struct datadir *dir)
{
	return dir->path;
}

void datadir_close(struct datadir *dir)
{
	if (!dir)
		return;
	if (dir->lock_fd >= 0)
		close(dir->lock_fd);
	free(dir->path);
	free(dir);
}
