/* registry.h: the in-memory tag registry: name -> (id, type) and id -> (name, type), loaded from the catalog at open.
 * Owns copies of every tag name. Lookups take one shard's read lock; no global lock, no SQLite. */
#ifndef HS_REGISTRY_H
#define HS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/sample.h"

struct registry;

int registry_new(struct registry **out) __attribute__((warn_unused_result));
void registry_free(struct registry *reg);

/* Add (id, name, type). Adding a name that is present is a no-op that
 * returns 0 when id and type agree and -EEXIST otherwise. Returns -ENOMEM
 * on allocation failure. Thread-safe. */
int registry_add(struct registry *reg, uint32_t id, const char *name, size_t name_len,
		 enum value_type type) __attribute__((warn_unused_result));

/* Find a name. Returns true and fills id and type when present. Thread-safe. */
bool registry_find(struct registry *reg, const char *name, size_t name_len, uint32_t *id,
		   enum value_type *type);

/* Type of tag id; 0 when the id is unknown. Thread-safe, lock-free. */
enum value_type registry_type(const struct registry *reg, uint32_t id);

/* Name of tag id (NUL-terminated) or NULL. The pointer stays valid until
 * registry_free(). Thread-safe, lock-free. */
const char *registry_name(const struct registry *reg, uint32_t id);

/* Number of tags, and one more than the largest id. */
size_t registry_count(const struct registry *reg);
uint32_t registry_id_limit(const struct registry *reg);

#endif
