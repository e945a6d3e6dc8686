/* io.c: the default system-call table and the looping helpers behind io.h.
 * Stateless; any thread. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "storage/io.h"

static int sys_open(const char *path, int flags, mode_t mode)
{
	int fd = open(path, flags | O_CLOEXEC, mode);
	return fd < 0 ? -errno : fd;
}

static int sys_close(int fd)
{
	return close(fd) != 0 ? -errno : 0;
}

static ssize_t sys_pread(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n = pread(fd, buf, len, off);
	return n < 0 ? -errno : n;
}

static ssize_t sys_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n = pwrite(fd, buf, len, off);
	return n < 0 ? -errno : n;
}

static int sys_fdatasync(int fd)
{
	return fdatasync(fd) != 0 ? -errno : 0;
}

static int sys_fsync(int fd)
{
	return fsync(fd) != 0 ? -errno : 0;
}

static int sys_ftruncate(int fd, off_t len)
{
	return ftruncate(fd, len) != 0 ? -errno : 0;
}

static int sys_rename(const char *from, const char *to)
{
	return rename(from, to) != 0 ? -errno : 0;
}

static int sys_unlink(const char *path)
{
	return unlink(path) != 0 ? -errno : 0;
}

const struct io_ops io_default = {
	.open = sys_open,
	.close = sys_close,
	.pread = sys_pread,
	.pwrite = sys_pwrite,
	.fdatasync = sys_fdatasync,
	.fsync = sys_fsync,
	.ftruncate = sys_ftruncate,
	.rename = sys_rename,
	.unlink = sys_unlink,
};

int io_pwrite_all(const struct io_ops *io, int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	if (!io)
		io = &io_default;
	while (len > 0) {
		ssize_t n = io->pwrite(fd, p, len, off);
		if (n == -EINTR)
			continue;
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO;
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t io_pread_all(const struct io_ops *io, int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;
	size_t got = 0;

	if (!io)
		io = &io_default;
	while (got < len) {
		ssize_t n = io->pread(fd, p + got, len - got, off + (off_t)got);
		if (n == -EINTR)
			continue;
		if (n < 0)
			return n;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int io_fsync_dir(const struct io_ops *io, const char *path)
{
	int fd, rc;

	if (!io)
		io = &io_default;
	fd = io->open(path, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	rc = io->fsync(fd);
	io->close(fd);
	return rc;
}
