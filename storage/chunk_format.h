/* chunk_format.h: the on-disk format of a chunk, version 2: the samples of one tag over one time range, in three encoded columns.
 * Only the format lives here (constants and the specification below); storage/chunk.h is the API, storage/chunk.c and codec_*.c the code. */
#ifndef HS_CHUNK_FORMAT_H
#define HS_CHUNK_FORMAT_H

/*
 * CHUNK FORMAT, VERSION 2 (version 1 is version 2 without the int stream
 * mode CHUNK_INT_DELTA_PLANES; writers mark a chunk version 2 only when one
 * of its columns uses that mode, so other chunks stay readable by version 1
 * readers)
 *
 * All fixed-width integers are little-endian (lib/endian.h put_le*() /
 * get_le*()). The CRC is CRC-32C (lib/crc32c.h). "varint" is unsigned
 * LEB128: 7 bits a byte, low group first, bit 7 set on every byte but the
 * last, at most 10 bytes, value < 2^64. "zz(x)" is the zigzag map of a
 * 64-bit two's complement x, (x << 1) ^ (x >> 63), so small magnitudes of
 * either sign are small varints. Differences of 64-bit values are taken
 * modulo 2^64 (they never overflow) and sums wrap the same way.
 *
 * A chunk holds count samples of ONE tag, sorted by time with no two equal
 * times, as three columns: time, value, quality. Each column is encoded in
 * one of the encodings below (the writer picks the smallest) and the
 * encoded bytes are then stored either as they are or, when that is
 * smaller, as one zstd frame. A chunk is self-describing and self-checking:
 * nothing outside it is needed to decode it. Chunks are immutable; a chunk
 * file is a sequence of chunks placed end to end, located through catalog
 * rows (storage/catalog_format.h), and the file is fsync'd before the
 * transaction that commits their rows.
 *
 * CHUNK HEADER (30 bytes, at the start of the chunk)
 *
 *   OFFSET SIZE DESCRIPTION
 *        0    2 Magic: 48 43 ("HC")
 *        2    1 Format version: 1 or 2
 *        3    1 Value type: CHUNK_TYPE_*
 *        4    2 Reserved: 0
 *        6    4 Chunk length in bytes, header and CRC included
 *       10    4 Sample count: 1 .. CHUNK_MAX_COUNT
 *       14    8 t_min: time of the first sample, int64 ns since the epoch
 *       22    8 t_max: time of the last sample; t_min < t_max, or equal
 *               when count is 1
 *
 * COLUMN DIRECTORY (3 entries, at offset 30: time, then value, then quality)
 *
 *   SIZE DESCRIPTION
 *      1 Encoding: bits 0..6 a CHUNK_ENC_* id valid for the column (and
 *        for the value column, for the value type); bit 7 (CHUNK_COL_ZSTD)
 *        set if the column is stored as a zstd frame
 *      v varint raw length: bytes of the encoded column, 0 .. CHUNK_MAX_RAW
 *      v varint stored length, present only if bit 7 is set:
 *        1 .. raw length - 1. Without bit 7 the stored length is the raw
 *        length.
 *
 * Then the three stored columns, in directory order, with no padding, and
 * finally
 *
 *   SIZE DESCRIPTION
 *      4 CRC-32C of every byte of the chunk before these 4
 *
 * A zstd-stored column is exactly one zstd frame (RFC 8878) that
 * decompresses to exactly raw length bytes. Column bodies below are
 * described as they are after decompression.
 *
 * CHUNK_MIN_LEN (40: header, three 2-byte directory entries, CRC) bounds
 * every chunk from below; a real one also has value and quality bytes. A
 * float chunk of 3,600 regular 1-s samples of one constant value with
 * good quality takes 56 bytes: 30 header, 6 directory, 7 time, 8 value,
 * 2 quality, 4 CRC.
 *
 * INT STREAM
 *
 * Several encodings store n 64-bit values (n known from context) as an int
 * stream. n = 0 takes no bytes at all. Otherwise it starts with a mode byte:
 *
 *   CHUNK_INT_CONST (0)       varint zz(v): all n values are v.
 *   CHUNK_INT_PFOR (1)        PFOR blocks holding the n values.
 *   CHUNK_INT_PFOR_DELTA (2)  varint zz(v[0]), then PFOR blocks holding the
 *                             n - 1 differences v[i] - v[i-1].
 *   CHUNK_INT_DELTA_PLANES (4) version 2 only: varint zz(v[0]); then, if
 *                             n > 1, 1 byte k (1..8) and k planes of n - 1
 *                             bytes each: byte i of plane j is bits
 *                             8j .. 8j+7 of d[i] = zz(v[i+1] - v[i]); the
 *                             bits of d[i] above plane k - 1 are 0.
 *                             Byte-aligned on purpose: PFOR packs noisy
 *                             differences as wide as a block's widest, while
 *                             planes in a zstd column get entropy-coded near
 *                             the spread the differences really have (low
 *                             bytes busy, high bytes mostly 0). Writers use
 *                             it only where the column's zstd frame comes
 *                             out smaller than with the other modes, and end
 *                             a zstd block at each plane so that each gets
 *                             its own literal table.
 *   CHUNK_INT_RLE (3)         varint runs (1 .. n), then for each run
 *                             varint zz(value - value of the run before;
 *                             the first run's is taken against 0) and
 *                             varint (run length - 1); lengths sum to n.
 *
 * PFOR blocks hold m values in ceil(m / 128) blocks of CHUNK_INT_BLOCK (128)
 * values; the last block holds the rest. Each block ("frame of reference,
 * patched"):
 *
 *   SIZE DESCRIPTION
 *      v varint zz(base - base of the block before; the first block's is
 *        taken against 0)
 *      1 bits 0..6: width w, 0..64; bit 7: the block has exceptions (then
 *        w < 64); bits 0..6 above 64 are invalid
 *     [1 exceptions - 1, present only if bit 7 is set: 1..c exceptions,
 *        c the values in the block]
 *      P ceil(c * w / 8) bytes: for each value, the low w bits of
 *        (value - base), packed LSB first: value j occupies bits
 *        j*w .. j*w+w-1 of the little-endian bit string; bits past the
 *        last value are 0
 *      E one byte per exception: the position in the block, strictly
 *        increasing, < c
 *      V one varint per exception: high = (value - base) >> w, non-zero
 *        and < 2^(64-w)
 *
 *   value = base + (low | high << w), high being 0 where no exception is.
 *
 * TIME COLUMN
 *
 *   CHUNK_ENC_TIME_DELTA (1): empty when count is 1 (the only encoding a
 *   1-sample chunk may use). Otherwise varint g
 *   (>= 1, a common divisor of every step, e.g. 10^9 for whole seconds),
 *   then an int stream of the count - 1 quotients q[i] = (t[i] - t[i-1]) / g,
 *   taken as unsigned. t[0] = t_min; t[i] = t[i-1] + q[i] * g. Every q[i] is
 *   >= 1, q[i] * g must not overflow 64 bits, the times increase strictly
 *   without wrapping and the last one equals t_max. Regular sampling is a
 *   CONST stream (a handful of bytes for any count), jitter a PFOR stream,
 *   runs of equal steps RLE and smooth drift PFOR_DELTA (delta of delta).
 *
 *   CHUNK_ENC_TIME_GRID (2): count >= 2. varint g (>= 1), varint s (>= 1),
 *   then an int stream of count - 1 offsets o[i], i = 1 .. count - 1:
 *   t[i] = t_min + (i * s + o[i]) * g, computed modulo 2^64. The times must
 *   increase strictly (as int64) and the last one equal t_max. Writers take
 *   s as the mean step, so polling on a grid with jitter (1 s +/- 5 ms in
 *   whole milliseconds) stores only the jitter.
 *
 * VALUE COLUMN, float64 (CHUNK_TYPE_F64)
 *
 * Every encoding is exact for every bit pattern (NaN payloads, signalling
 * NaN, infinities, -0.0, subnormals): a value no encoding can shorten costs
 * at most its 8 bytes plus a few bytes of overhead.
 *
 *   CHUNK_ENC_F64_RAW (16)    count x 8 bytes, the IEEE-754 bit patterns.
 *   CHUNK_ENC_F64_CONST (17)  8 bytes: the one bit pattern of all values.
 *   CHUNK_ENC_F64_XOR (18)    Gorilla (Pelkonen et al., VLDB 2015), as a
 *                             bit string written LSB first: value 0 in 64
 *                             bits; then for each next value x = bits XOR
 *                             previous bits:
 *                               x = 0:  '0'
 *                               else '1', then either '0' and the
 *                               (64 - L - T) bits x >> T when x has at least
 *                               L leading and T trailing zero bits, L and T
 *                               being those of the last '11' window, or
 *                               '1', 5 bits L' = min(clz(x), 31), 6 bits
 *                               M = 64 - L' - ctz(x) (64 written as 0), then
 *                               the M bits x >> (64 - L' - M), and the
 *                               window becomes L = L', T = 64 - L' - M.
 *                             A '10' before any '11' is invalid. The string
 *                             is zero-padded to a whole byte; the column (or
 *                             dictionary) ends there.
 *   CHUNK_ENC_F32_XOR (19)    Every value is a float32 widened to double:
 *                             the same Gorilla string over the 32-bit
 *                             patterns of (float)value, with value 0 in 32
 *                             bits, L' = min(clz32(x), 31) in 5 bits and
 *                             M (1..32, 32 written as 0) in 5 bits.
 *   CHUNK_ENC_F64_DEC (20)    Decimal scaling with residuals:
 *                               1 byte e, 0..18
 *                               1 byte flags: bit 0 CHUNK_DEC_F32, others 0
 *                               int stream of count digits d[i]
 *                               int stream of count residuals r[i]
 *                             value bits = bits(R(d[i])) + r[i] mod 2^64 with
 *                             R(d) = (double)d / 10^e: d taken as int64 and
 *                             converted to double, then one IEEE-754 division
 *                             in binary64, both rounding to nearest even; with
 *                             CHUNK_DEC_F32, R(d) = (double)(float)that
 *                             quotient. A value written with at most e decimals
 *                             has r = 0; an arithmetic result one ulp off
 *                             (51.846000000000004) has r = 1; a float32 that
 *                             went through a decimal string has a small r;
 *                             anything else (NaN, huge values) is a PFOR
 *                             exception in the residual stream.
 *   CHUNK_ENC_F64_DICT (21)   Dictionary:
 *                               varint k, 2 .. count: distinct values
 *                               1 byte: the dictionary's encoding, RAW, XOR,
 *                                 F32_XOR or DEC
 *                               the k dictionary values in that encoding
 *                               int stream of count indices, each < k
 *                             Writers sort the dictionary by value so the
 *                             indices of a slowly moving quantised signal
 *                             are small; readers rely on nothing but the
 *                             bounds.
 *
 * VALUE COLUMN, int64 (CHUNK_TYPE_I64)
 *
 *   CHUNK_ENC_I64 (32)        an int stream of the count values.
 *
 * VALUE COLUMN, bool (CHUNK_TYPE_BOOL)
 *
 *   CHUNK_ENC_BOOL_RLE (48)   1 byte first value (0 or 1), varint runs
 *                             (1 .. count), then per run varint (length - 1);
 *                             values alternate, lengths sum to count.
 *   CHUNK_ENC_BOOL_BITMAP (49) ceil(count / 8) bytes: value i is bit i % 8
 *                             of byte i / 8; the unused high bits are 0.
 *
 * VALUE COLUMN, string (CHUNK_TYPE_STRING)
 *
 *   CHUNK_ENC_STR_DICT (64)   varint k (1 .. count); k times varint length
 *                             and that many bytes (any bytes, NUL included);
 *                             then an int stream of count indices, each < k.
 *
 * QUALITY COLUMN
 *
 *   CHUNK_ENC_QUAL_CONST (80) 2 bytes: the one quality of all samples.
 *   CHUNK_ENC_QUAL_RLE (81)   varint runs (1 .. count), then per run varint
 *                             quality (<= 0xFFFF) and varint (length - 1);
 *                             lengths sum to count.
 *
 * VALID IFF
 *
 *   A chunk in a buffer of len bytes is valid iff: len >= 40; the magic
 *   matches; the version is 1 or 2 (and no int stream of a version 1 chunk
 *   uses CHUNK_INT_DELTA_PLANES); the reserved bytes are 0; the type is a
 *   CHUNK_TYPE_*; 40 <= chunk length <= len; 1 <= count <= CHUNK_MAX_COUNT;
 *   t_min <= t_max, equal iff count is 1; the CRC matches; each directory
 *   entry names an encoding allowed for its column and type, with lengths
 *   in the bounds above; the stored lengths exactly fill the space between
 *   the directory and the CRC; every zstd frame decompresses to exactly
 *   its raw length; and every column body decodes count items under the
 *   rules above using exactly its raw length.
 *
 *   Bytes after the chunk length are not part of the chunk.
 *
 * READING AN INVALID CHUNK
 *
 *   A reader checks the header bounds and the CRC before it decodes a
 *   byte of any column, and every decoder checks every length, count,
 *   index and width against the bytes it was given. An invalid chunk
 *   makes the reader return HS_ECORRUPT and hand out no samples; it never
 *   reads outside the buffer, and it never allocates more than the bounds
 *   above allow. There is no salvage inside a chunk: the caller reports
 *   the file and offset and the chunk's time range is unreadable until
 *   repaired from a backup (the catalog row still holds its pre-aggregates).
 *
 * VERSIONS
 *
 *   A new encoding id, a new flag or any change to a layout above bumps the
 *   version; readers refuse versions they do not know. Ids are never
 *   reused. tests/unit/check_chunk.c keeps a version 1 fixture.
 *   Version 2 (2026-11) added CHUNK_INT_DELTA_PLANES.
 */

#define CHUNK_MAGIC0 0x48 /* 'H' */
#define CHUNK_MAGIC1 0x43 /* 'C' */
#define CHUNK_VERSION 2u     /* the newest version written and read */
#define CHUNK_VERSION_MIN 1u /* the oldest read */

#define CHUNK_HDR_SIZE 30u
#define CHUNK_OFF_MAGIC 0
#define CHUNK_OFF_VERSION 2
#define CHUNK_OFF_TYPE 3
#define CHUNK_OFF_RESERVED 4
#define CHUNK_OFF_LENGTH 6
#define CHUNK_OFF_COUNT 10
#define CHUNK_OFF_T_MIN 14
#define CHUNK_OFF_T_MAX 22
#define CHUNK_OFF_DIR 30

#define CHUNK_COLUMNS 3 /* time, value, quality, in this order */
#define CHUNK_CRC_SIZE 4u
#define CHUNK_MIN_LEN (CHUNK_HDR_SIZE + 2u * CHUNK_COLUMNS + CHUNK_CRC_SIZE) /* 40 */

#define CHUNK_MAX_COUNT (1u << 20)  /* samples in one chunk */
#define CHUNK_MAX_RAW (1u << 30)    /* bytes of one encoded column */
#define CHUNK_MAX_LEN 0xFFFFFFFFu   /* the length field is 32 bits */

/* value types; not the in-memory enum value_type */
#define CHUNK_TYPE_F64 1
#define CHUNK_TYPE_I64 2
#define CHUNK_TYPE_BOOL 3
#define CHUNK_TYPE_STRING 4

/* directory: encoding byte */
#define CHUNK_COL_ZSTD 0x80u
#define CHUNK_COL_ENC_MASK 0x7Fu

/* encoding ids; never reuse a number */
#define CHUNK_ENC_TIME_DELTA 1
#define CHUNK_ENC_TIME_GRID 2
#define CHUNK_ENC_F64_RAW 16
#define CHUNK_ENC_F64_CONST 17
#define CHUNK_ENC_F64_XOR 18
#define CHUNK_ENC_F32_XOR 19
#define CHUNK_ENC_F64_DEC 20
#define CHUNK_ENC_F64_DICT 21
#define CHUNK_ENC_I64 32
#define CHUNK_ENC_BOOL_RLE 48
#define CHUNK_ENC_BOOL_BITMAP 49
#define CHUNK_ENC_STR_DICT 64
#define CHUNK_ENC_QUAL_CONST 80
#define CHUNK_ENC_QUAL_RLE 81

/* F64_DEC flags */
#define CHUNK_DEC_F32 0x01u
#define CHUNK_DEC_MAX_EXP 18

/* int stream modes and PFOR blocks */
#define CHUNK_INT_CONST 0
#define CHUNK_INT_PFOR 1
#define CHUNK_INT_PFOR_DELTA 2
#define CHUNK_INT_RLE 3
#define CHUNK_INT_DELTA_PLANES 4
#define CHUNK_INT_BLOCK 128
#define CHUNK_PFOR_WIDTH_MASK 0x7Fu
#define CHUNK_PFOR_EXC 0x80u

#endif
