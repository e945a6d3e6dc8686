/* memtrim.h: giving freed heap memory back to the kernel after the daemon drops a large working set (a sealed head,
 * a compaction). Owns no state; any thread. */
#ifndef HS_MEMTRIM_H
#define HS_MEMTRIM_H

#include <stddef.h>

/* Return the free pages of every malloc arena to the kernel and report how
 * many bytes of resident memory that released (0 where the C library has
 * no such call, or nothing was free).
 *
 * Why it is needed: glibc keeps memory freed by one thread in that thread's
 * arena, and trims an arena only from its top. The head's column arrays are
 * grown by the HTTP and MQTT threads and freed by the seal thread, so after
 * a seal hundreds of MiB stay resident in the request threads' arenas
 * although nothing uses them (measured: 329 MiB resident after ingesting
 * and compacting the plant data set, 25 MiB after a trim). A trim walks
 * every arena under its lock: a few milliseconds, so call it after a seal
 * or compaction, never per request. */
size_t mem_give_back(void);

#endif
