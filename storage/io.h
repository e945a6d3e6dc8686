/* io.h: the system calls storage/ makes on its files, behind a table tests can replace to inject faults.
 * Owns nothing; every storage module that touches a file takes a `const struct io_ops *` (NULL means io_default). */
#ifndef HS_IO_H
#define HS_IO_H

#include <stddef.h>
#include <sys/types.h>

/* Each entry behaves like the system call of the same name but returns
 * -errno instead of setting errno (so injected faults need no errno
 * juggling). Tests copy io_default and replace entries to make writes
 * short, fail with EIO or ENOSPC, or make fdatasync fail. */
struct io_ops {
	int (*open)(const char *path, int flags, mode_t mode);     /* fd or -errno */
	int (*close)(int fd);
	ssize_t (*pread)(int fd, void *buf, size_t len, off_t off); /* bytes or -errno */
	ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t off);
	int (*fdatasync)(int fd);
	int (*fsync)(int fd);
	int (*ftruncate)(int fd, off_t len);
	int (*rename)(const char *from, const char *to);
	int (*unlink)(const char *path);
};

extern const struct io_ops io_default;

/* Write all len bytes at off, looping on short writes and EINTR.
 * Returns 0 or -errno (a short write that makes no progress is -EIO). */
int io_pwrite_all(const struct io_ops *io, int fd, const void *buf, size_t len, off_t off)
	__attribute__((warn_unused_result));

/* Read up to len bytes at off, looping until len or end of file. Returns
 * the bytes read or -errno. */
ssize_t io_pread_all(const struct io_ops *io, int fd, void *buf, size_t len, off_t off)
	__attribute__((warn_unused_result));

/* fsync the directory at path, so a file created, renamed or removed in it
 * survives a power loss. Returns 0 or -errno. */
int io_fsync_dir(const struct io_ops *io, const char *path) __attribute__((warn_unused_result));

#endif
