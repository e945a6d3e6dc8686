/* catalog_format.h: the on-disk format of DATA_DIR/catalog.db, the SQLite database beside the chunk files.
 * Only the format: schema version, application id, tables, columns, units, invariants and on-disk codes. */
#ifndef HS_CATALOG_FORMAT_H
#define HS_CATALOG_FORMAT_H

/*
 * catalog.db is an SQLite 3 database in WAL journal mode (the -wal and -shm
 * files beside it are part of it: never copy catalog.db alone while the
 * daemon runs). Byte order and page layout are SQLite's; this file fixes what
 * historian keeps inside.
 *
 * IDENTITY AND VERSION
 *
 *   PRAGMA application_id = 0x48534354 ("HSCT": HiStorian CaTalog)
 *   PRAGMA user_version   = CATALOG_SCHEMA_VERSION (3)
 *
 *   A file is a historian catalog iff it is an SQLite database whose
 *   application_id is CATALOG_APPLICATION_ID and whose user_version is
 *   1..CATALOG_SCHEMA_VERSION. An empty file (no tables, user_version 0) is
 *   initialised. A larger user_version was written by a newer historian and
 *   is refused without being touched; anything else is refused as corrupt.
 *   Every change to a table below bumps the version and adds a migration
 *   step from the previous one (catalog.c, catalog__migrate).
 *
 * UNITS
 *
 *   *_ns    int64 nanoseconds since 1970-01-01T00:00:00Z (times) or
 *           nanoseconds (durations).
 *   bytes, file_offset, length: bytes.
 *   integral: value x seconds.
 *   SQLite INTEGER is a signed 64-bit integer; unsigned 64-bit values
 *   (state.value) are stored as their two's-complement bit pattern. seq is
 *   kept below 2^63 so it sorts as a number.
 *   REAL NULL means NaN (SQLite turns a bound NaN into NULL).
 *
 * TABLES (schema version 2; what version 2 added is marked [v2])
 *
 *   tags: one row per tag, never deleted.
 *     COLUMN       TYPE     DESCRIPTION
 *     id           INTEGER  PRIMARY KEY AUTOINCREMENT: 1..2^32-1, never
 *                           reused (sqlite_sequence remembers the largest)
 *     name         TEXT     UNIQUE; UTF-8, 1..1024 bytes, no NUL
 *     type         INTEGER  CATALOG_DB_TYPE_*; fixed at creation
 *     max_span_ns  INTEGER  max(t_max - t_min) over every chunk ever
 *                           committed for the tag; never decreases. Range
 *                           queries bound their index scan with it.
 *
 *   tag_labels: key=value pairs of a tag (WITHOUT ROWID).
 *     tag_id  INTEGER  REFERENCES tags(id)    PRIMARY KEY (tag_id, key)
 *     key     TEXT     UTF-8, 1..1024 bytes
 *     value   TEXT     UTF-8, 1..1024 bytes
 *     index tag_labels_by_pair (key, value, tag_id): label search.
 *
 *   tag_meta: optional metadata; no row means every field has its default.
 *     tag_id            INTEGER  PRIMARY KEY REFERENCES tags(id)
 *     unit              TEXT     UTF-8, 0..63 bytes
 *     description       TEXT     UTF-8, 0..511 bytes
 *     eng_low, eng_high REAL     engineering range; NULL = unset;
 *                                eng_low < eng_high when both are set
 *     interpolation     INTEGER  CATALOG_DB_INTERP_*; NULL = the type's
 *                                default (linear for float64, else step)
 *     display_digits    INTEGER  0..17; NULL = unset
 *     stale_timeout_ns  INTEGER  >= 0; 0 = never stale
 *
 *   partitions: time partitions of the chunk files; disjoint intervals.
 *     start_ns  INTEGER  PRIMARY KEY
 *     end_ns    INTEGER  > start_ns; the partition is [start_ns, end_ns)
 *
 *   files: chunk files, paths relative to DATA_DIR.
 *     id                  INTEGER  PRIMARY KEY AUTOINCREMENT, never reused
 *     partition_start_ns  INTEGER  REFERENCES partitions(start_ns)
 *     relpath             TEXT     UNIQUE, e.g. "chunks/2024-W05/000017.chk"
 *     bytes               INTEGER  at least the end (file_offset + length)
 *                                  of every chunk committed into the file
 *     compacted           INTEGER  [v3] 1 once a compaction wrote the file
 *                                  (its chunks are at the compaction's zstd
 *                                  level), else 0: a cold partition holding
 *                                  one file with 0 is still worth a rewrite
 *     index files_by_partition (partition_start_ns).
 *
 *   chunks: the chunk index, one row per sealed chunk (WITHOUT ROWID,
 *   clustered by (tag_id, t_min, seq, id) so a tag's chunks in time order
 *   are adjacent on disk and a range scan reads no second b-tree).
 *     tag_id        INTEGER  REFERENCES tags(id)
 *     t_min, t_max  INTEGER  times of the first and last sample, t_min <= t_max
 *     seq           INTEGER  seal sequence, 0..2^63-1: among overlapping
 *                            chunks the larger seq is newer (last write wins)
 *     id            INTEGER  UNIQUE (index chunks_by_id), assigned from
 *                            counters.next_chunk_id, never reused
 *     file_id       INTEGER  REFERENCES files(id)
 *     file_offset   INTEGER  where the chunk block starts in the file
 *     length        INTEGER  > 0, bytes of the chunk block
 *                            UNIQUE (file_id, file_offset): index chunks_by_file
 *     crc           INTEGER  CRC-32C of the block as the chunk format defines
 *     sample_count  INTEGER  > 0
 *     flags         INTEGER  chunk flags (the chunk format's business)
 *     v_min, v_max, v_sum   REAL  over the samples' values (float and int
 *                                  tags; 0 for bool and string)
 *     first_ts, last_ts     INTEGER  time of the first and last sample
 *     first_v, last_v       REAL     their values
 *     integral              REAL     time-weighted integral, value-seconds
 *                                    (linear between samples)
 *     good_count            INTEGER  samples of good quality, <= sample_count
 *   [v2] the columns below are NULL in rows committed by a version 1
 *   catalog (readers then decode the chunk instead); in rows written since,
 *   all are set:
 *     min_ts, max_ts        INTEGER  time of the first sample holding v_min
 *                                    and of the first holding v_max
 *     first_q, last_q       INTEGER  quality (OPC UA upper 16 bits) of the
 *                                    first and last sample
 *     v_m2                  REAL     sum of squared deviations from the
 *                                    chunk's mean (stddev without decoding)
 *     integral_step         REAL     integral with each value held until the
 *                                    next sample (step), value-seconds
 *     max_gap_ns            INTEGER  longest time between two consecutive
 *                                    samples, 0 for one sample
 *
 *   state: small key/value store of the storage engine (e.g. the WAL
 *   checkpoint). key TEXT PRIMARY KEY (1..255 bytes), value INTEGER (uint64
 *   bit pattern). WITHOUT ROWID.
 *
 *   retention: retention policies. pattern TEXT PRIMARY KEY (a glob over tag
 *   names, 1..1024 bytes), keep_ns INTEGER > 0. WITHOUT ROWID.
 *
 *   counters: catalog bookkeeping, one row per name, kept in step with the
 *   tables inside every write transaction: 'tags', 'files', 'chunks' (row
 *   counts, so /metrics never counts 10^7 rows) and 'next_chunk_id'.
 *
 * INVARIANTS
 *
 *   - A chunk file is fsync'd before the transaction that commits its chunk
 *     rows; the storage engine trims its own WAL only after that commit. So
 *     every chunk row points at durable bytes; a crash may leave chunk bytes
 *     (or whole files) that no row names, never the reverse.
 *   - Chunk rows and the state row that records the WAL checkpoint commit in
 *     one transaction (catalog_commit_seal).
 *   - Rows are deleted before the files they name (catalog_partition_drop
 *     returns the paths after its commit); a crash in between leaves an
 *     orphan file to sweep, never a row without a file.
 *   - The writer runs with synchronous=FULL: a committed transaction
 *     survives power loss. foreign_keys=ON enforces the REFERENCES above.
 *
 * RECOVERY
 *
 * MIGRATION
 *
 *   1 -> 2: CATALOG_SCHEMA_V2_SQL adds the [v2] columns (NULL in existing
 *   rows) in one transaction with the user_version bump.
 *   2 -> 3: CATALOG_SCHEMA_V3_SQL adds files.compacted, 0 in existing rows
 *   (their partitions are compacted once more), the same way.
 *
 *   SQLite recovers its own WAL at open. A file SQLite reports as corrupt
 *   or not a database, or with a foreign application_id, is refused with
 *   HS_ECORRUPT: restore catalog.db from backup.
 */

#define CATALOG_APPLICATION_ID 0x48534354 /* "HSCT" */
#define CATALOG_SCHEMA_VERSION 3

/* value types as stored in tags.type; never reuse a number */
#define CATALOG_DB_TYPE_FLOAT64 1
#define CATALOG_DB_TYPE_INT64 2
#define CATALOG_DB_TYPE_BOOL 3
#define CATALOG_DB_TYPE_STRING 4

/* tag_meta.interpolation */
#define CATALOG_DB_INTERP_STEP 1
#define CATALOG_DB_INTERP_LINEAR 2

/* counters.name */
#define CATALOG_DB_COUNTER_TAGS "tags"
#define CATALOG_DB_COUNTER_FILES "files"
#define CATALOG_DB_COUNTER_CHUNKS "chunks"
#define CATALOG_DB_COUNTER_NEXT_CHUNK_ID "next_chunk_id"

/* Version 1, as one script run inside the creating transaction. Lengths are
 * checked on the bytes (CAST AS BLOB): SQL length() counts characters. */
#define CATALOG_SCHEMA_V1_SQL \
	"CREATE TABLE tags (" \
	" id INTEGER PRIMARY KEY AUTOINCREMENT," \
	" name TEXT NOT NULL UNIQUE CHECK (length(CAST(name AS BLOB)) BETWEEN 1 AND 1024)," \
	" type INTEGER NOT NULL CHECK (type BETWEEN 1 AND 4)," \
	" max_span_ns INTEGER NOT NULL DEFAULT 0 CHECK (max_span_ns >= 0));" \
	"CREATE TABLE tag_labels (" \
	" tag_id INTEGER NOT NULL REFERENCES tags(id)," \
	" key TEXT NOT NULL CHECK (length(CAST(key AS BLOB)) BETWEEN 1 AND 1024)," \
	" value TEXT NOT NULL CHECK (length(CAST(value AS BLOB)) BETWEEN 1 AND 1024)," \
	" PRIMARY KEY (tag_id, key)) WITHOUT ROWID;" \
	"CREATE INDEX tag_labels_by_pair ON tag_labels (key, value, tag_id);" \
	"CREATE TABLE tag_meta (" \
	" tag_id INTEGER PRIMARY KEY REFERENCES tags(id)," \
	" unit TEXT NOT NULL CHECK (length(CAST(unit AS BLOB)) < 64)," \
	" description TEXT NOT NULL CHECK (length(CAST(description AS BLOB)) < 512)," \
	" eng_low REAL, eng_high REAL," \
	" interpolation INTEGER CHECK (interpolation IN (1, 2))," \
	" display_digits INTEGER CHECK (display_digits BETWEEN 0 AND 17)," \
	" stale_timeout_ns INTEGER NOT NULL CHECK (stale_timeout_ns >= 0));" \
	"CREATE TABLE partitions (" \
	" start_ns INTEGER PRIMARY KEY," \
	" end_ns INTEGER NOT NULL, CHECK (end_ns > start_ns));" \
	"CREATE TABLE files (" \
	" id INTEGER PRIMARY KEY AUTOINCREMENT," \
	" partition_start_ns INTEGER NOT NULL REFERENCES partitions(start_ns)," \
	" relpath TEXT NOT NULL UNIQUE CHECK (length(CAST(relpath AS BLOB)) BETWEEN 1 AND 1024)," \
	" bytes INTEGER NOT NULL DEFAULT 0 CHECK (bytes >= 0));" \
	"CREATE INDEX files_by_partition ON files (partition_start_ns);" \
	"CREATE TABLE chunks (" \
	" tag_id INTEGER NOT NULL REFERENCES tags(id)," \
	" t_min INTEGER NOT NULL," \
	" seq INTEGER NOT NULL CHECK (seq >= 0)," \
	" id INTEGER NOT NULL CHECK (id > 0)," \
	" t_max INTEGER NOT NULL," \
	" file_id INTEGER NOT NULL REFERENCES files(id)," \
	" file_offset INTEGER NOT NULL CHECK (file_offset >= 0)," \
	" length INTEGER NOT NULL CHECK (length > 0)," \
	" crc INTEGER NOT NULL," \
	" sample_count INTEGER NOT NULL CHECK (sample_count > 0)," \
	" flags INTEGER NOT NULL," \
	" v_min REAL, v_max REAL, v_sum REAL," \
	" first_ts INTEGER NOT NULL, last_ts INTEGER NOT NULL," \
	" first_v REAL, last_v REAL, integral REAL," \
	" good_count INTEGER NOT NULL," \
	" PRIMARY KEY (tag_id, t_min, seq, id)," \
	" CHECK (t_max >= t_min), CHECK (good_count BETWEEN 0 AND sample_count)) WITHOUT ROWID;" \
	"CREATE UNIQUE INDEX chunks_by_id ON chunks (id);" \
	"CREATE UNIQUE INDEX chunks_by_file ON chunks (file_id, file_offset);" \
	"CREATE TABLE state (" \
	" key TEXT PRIMARY KEY CHECK (length(CAST(key AS BLOB)) BETWEEN 1 AND 255)," \
	" value INTEGER NOT NULL) WITHOUT ROWID;" \
	"CREATE TABLE retention (" \
	" pattern TEXT PRIMARY KEY CHECK (length(CAST(pattern AS BLOB)) BETWEEN 1 AND 1024)," \
	" keep_ns INTEGER NOT NULL CHECK (keep_ns > 0)) WITHOUT ROWID;" \
	"CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;" \
	"INSERT INTO counters (name, value) VALUES" \
	" ('tags', 0), ('files', 0), ('chunks', 0), ('next_chunk_id', 1);"

/* Version 1 -> 2: the chunk statistics queries need to skip decoding. A new
 * catalog runs V1 then V2. */
#define CATALOG_SCHEMA_V2_SQL \
	"ALTER TABLE chunks ADD COLUMN min_ts INTEGER;" \
	"ALTER TABLE chunks ADD COLUMN max_ts INTEGER;" \
	"ALTER TABLE chunks ADD COLUMN first_q INTEGER CHECK (first_q BETWEEN 0 AND 65535);" \
	"ALTER TABLE chunks ADD COLUMN last_q INTEGER CHECK (last_q BETWEEN 0 AND 65535);" \
	"ALTER TABLE chunks ADD COLUMN v_m2 REAL;" \
	"ALTER TABLE chunks ADD COLUMN integral_step REAL;" \
	"ALTER TABLE chunks ADD COLUMN max_gap_ns INTEGER CHECK (max_gap_ns >= 0);"

/* Version 2 -> 3: compaction must know a partition written by one seal
 * (zstd level of a seal) from one it already rewrote. A new catalog runs
 * V1, V2 then V3. */
#define CATALOG_SCHEMA_V3_SQL \
	"ALTER TABLE files ADD COLUMN compacted INTEGER NOT NULL DEFAULT 0 CHECK (compacted IN (0, 1));"

#endif
