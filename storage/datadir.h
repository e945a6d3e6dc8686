/* datadir.h: the data directory: created if missing, held by one daemon through flock on DATA_DIR/LOCK.
 * Owns the LOCK file descriptor for the life of the process that opened it. */
#ifndef HS_DATADIR_H
#define HS_DATADIR_H

#include <stddef.h>
#include <sys/types.h>

#define DATADIR_ERROR_MAX (4096 + 512) /* room for a PATH_MAX path */

struct datadir;

/* Create path (and missing parents, mode 0750) if needed, then take an
 * exclusive flock on path/LOCK and write our pid into it. When another
 * process holds the lock, returns HS_ELOCKED at once (no waiting) and err
 * names the directory and the holder's pid. Other failures return -errno
 * with err saying what failed. On success *out is owned by the caller. */
int datadir_open(const char *path, struct datadir **out, char *err)
	__attribute__((warn_unused_result));

/* Absolute path of the directory; valid until datadir_close(). */
const char *datadir_path(const struct datadir *dir);

/* Release the lock and free dir. The LOCK file stays (removing it would let
 * a second daemon lock a different inode while we still run). NULL is fine. */
void datadir_close(struct datadir *dir);

#endif
