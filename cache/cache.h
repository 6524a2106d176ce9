/* cache — the sparse on-disk piece store of one torrent, and its persistent
 * verified-piece map.
 *
 * Layout: DIR/<infohash-hex>/data is one sparse file laid out exactly as the
 * torrent's byte stream (piece i at i * piece_length), so a read of any
 * torrent file is one contiguous range of it (spliced by fs/ straight from
 * the fd). DIR/<infohash-hex>/verified is the verified-piece map: a header
 * (magic, piece count, piece length, total length), the bitmap and a
 * checksum; written into DIR/<infohash-hex>/verified.spare, fsync'd, renamed
 * over the old one, and only after the data file has been fdatasync'd, so
 * after a crash the map never claims a piece whose bytes are not on disk. A
 * damaged or mismatching map is ignored (the cache starts empty) rather than
 * trusted. The map's room on disk stays reserved: verified.spare always
 * holds the map's size in allocated blocks (the old map's become the next
 * spare), so a full disk that fails the data writes with ENOSPC cannot also
 * keep the map of the pieces that did verify from being written (on file
 * systems that overwrite in place). The spare (and verified.old.tmp, the
 * old map on its way to be the spare) is never read as a map.
 *
 * Blocks of a piece being fetched are written in place before verification;
 * that is safe because nothing is ever read from a piece that is not marked
 * verified, and a verified piece is never written again.
 *
 * One store is used by one struct cache at a time: cache_open takes an
 * exclusive flock(2) on the data file (it survives fork, so opening before
 * daemonising is fine) and fails with -EBUSY while another holder, in this
 * or another process, has it open.
 *
 * Thread-safety: one mutex guards the map; every function may be called from
 * any thread. cache_fd() may be used for pread/splice of verified ranges
 * without the lock. A cache_write racing a cache_verify of the same piece
 * never leaves the piece marked verified with bytes other than those hashed:
 * the verify then fails with -EBADMSG (or the write with -EINVAL). */
#ifndef CACHE_H
#define CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cache;

/* The default root: $XDG_CACHE_HOME/p2pfs when that is set and absolute,
 * else $HOME/.cache/p2pfs (the passwd entry's home when HOME is unset or not
 * absolute). Writes at most LEN bytes into OUT. Returns 0 or
 * -ENAMETOOLONG/-ENOENT. Does not create anything. */
int cache_default_root(char *out, size_t len);

/* Open (creating as needed) the store for one torrent under ROOT (created
 * with parents, mode 0700). INFO_HASH_HEX is 40 or 64 hex digits (the store
 * folder uses them in lowercase). The geometry must be consistent: npieces
 * >= 1, piece_length >= 1, (npieces - 1) * piece_length < total_length <=
 * npieces * piece_length. Returns NULL with *ERR = -errno on failure:
 * -EINVAL for bad arguments, -EBUSY when the store is already open. */
struct cache *cache_open(const char *root, const char *info_hash_hex,
			 uint32_t npieces, uint32_t piece_length,
			 uint64_t total_length, int *err);
/* Flush the map and close. NULL is a no-op. */
void cache_close(struct cache *c);

/* Data file descriptor, for pread/splice of verified ranges. */
int cache_fd(const struct cache *c);
/* Directory of this torrent's store. */
const char *cache_dir(const struct cache *c);

bool cache_has(struct cache *c, uint32_t piece);
/* True when every piece overlapping [OFF, OFF+LEN) is verified
 * (LEN == 0 is always true; a range reaching past the end is false). */
bool cache_has_range(struct cache *c, uint64_t off, uint64_t len);
uint32_t cache_count(struct cache *c);
uint64_t cache_bytes_verified(struct cache *c);
/* Copy the verified bitmap (BEP 3 bit order: piece 0 is the high bit of byte
 * 0) into OUT of (npieces + 7) / 8 bytes. */
void cache_bitfield(struct cache *c, uint8_t *out);

/* Write unverified bytes of PIECE at BEGIN. Returns 0, -EINVAL (out of
 * bounds, or the piece is already verified) or -errno (e.g. -ENOSPC). The
 * first write to a piece may evict others first (see cache_set_limit). */
int cache_write(struct cache *c, uint32_t piece, uint32_t begin,
		const void *data, size_t len);
/* Read bytes of a verified piece. Returns 0, -ENODATA if not verified,
 * -EINVAL out of bounds, or -errno. */
int cache_read(struct cache *c, uint32_t piece, uint32_t begin, void *buf,
	       size_t len);
/* Hash PIECE as it is on disk; if it equals EXPECTED, mark it verified and
 * return 0; otherwise return -EBADMSG. -errno on I/O errors. Runs on the
 * caller's thread (the hasher thread), without the lock held while hashing;
 * several threads may verify different pieces at once. A mismatch on a
 * piece already verified leaves it verified. */
int cache_verify(struct cache *c, uint32_t piece, const uint8_t expected[20]);
/* Write the map if it changed since the last flush (data fdatasync first).
 * Returns 0 or -errno. Concurrent calls are serialised. Once an fdatasync
 * of the data file has failed, bytes may have been lost without a trace, so
 * every later flush of this struct cache fails with -EIO and the map on disk
 * keeps its last good state. */
int cache_flush(struct cache *c);

/* ---- size limit and eviction ----
 *
 * With a limit set, the store keeps the bytes it holds on disk (every piece
 * verified or written to since, counted whole) under LIMIT: before the
 * first block of a new piece is written, least recently used verified
 * pieces that nobody has pinned are evicted until it fits, and a little
 * more (an eighth of the limit in whole pieces, at most 4) so that a steady
 * stream of new pieces evicts in batches. Eviction clears the piece from
 * the map, makes durable a map without it (the last map written minus the
 * victims: no data sync needed), and only then punches the piece's hole
 * (fallocate PUNCH_HOLE), so a crash never leaves a piece marked verified
 * over zeros. An evicted piece is simply not verified any
 * more: cache_has() is false, so it is not served to peers and a read of it
 * fetches it again. Pinned pieces, and pieces being written and not yet
 * verified, are never evicted; when they alone exceed the limit the store
 * stays over it until they are unpinned (or verified) and the next write
 * makes room. Use = pin, unpin and verify, on a logical clock. */

/* Set the limit in bytes (0 = none). With a limit, first punches every byte
 * outside verified pieces (leftovers of pieces never verified) and evicts
 * down to the limit. Call it before the engine starts writing. Returns 0 or
 * -errno (the limit is set in any case). */
int cache_set_limit(struct cache *c, uint64_t bytes);

struct cache_usage {
	uint64_t used;      /* bytes counted on disk (see above) */
	uint64_t limit;     /* 0 = none */
	uint64_t evictions; /* pieces evicted since cache_open */
	uint32_t verified;
	uint32_t npieces;
};
void cache_usage(struct cache *c, struct cache_usage *u);

/* Pin pieces FIRST..LAST (clipped to the torrent): a reader is about to be
 * answered from them (or is waiting for them), so they are not evicted until
 * unpinned. Pins count; every pin needs one unpin. Any thread, never
 * blocks on I/O. cache_read() pins what it reads by itself. */
void cache_pin(struct cache *c, uint32_t first, uint32_t last);
void cache_unpin(struct cache *c, uint32_t first, uint32_t last);
/* The same for the pieces overlapping [OFF, OFF+LEN) of the torrent. */
void cache_pin_range(struct cache *c, uint64_t off, uint64_t len);
void cache_unpin_range(struct cache *c, uint64_t off, uint64_t len);

/* The eviction policy, pure (no I/O, no lock, any thread). Candidates are
 * pieces set in HAVE and clear in NEEDED (BEP 3 bit order); they are taken
 * least recently used first (lowest STAMP; ties: lowest piece) until USED
 * minus their sizes is at most LIMIT. VICTIMS must have room for NPIECES
 * entries (it is also the sort buffer); the first N entries, in eviction
 * order, are the victims. Returns N: 0 when USED <= LIMIT or LIMIT is 0,
 * every candidate when they are not enough. */
struct cache_evict_in {
	uint32_t npieces;
	uint32_t piece_length;
	uint64_t total_length;
	const uint8_t *have;
	const uint8_t *needed;
	const uint64_t *stamp;
	uint64_t used;
	uint64_t limit;
};
size_t cache_evict_pick(const struct cache_evict_in *in, uint32_t *victims);

/* Invariant checker for tests: returns 0 when the in-memory state is
 * consistent (count matches the bitmap, spare bits clear, file size),
 * -EUCLEAN when not, or -errno if the data file cannot be examined. */
int cache_check(struct cache *c);

/* The verified map's file format, exposed for tests and the fuzzer. All
 * integers are big-endian:
 *   "P2PFSMAP" | u32 version (1) | u32 npieces | u32 piece_length |
 *   u64 total_length | bitmap, (npieces + 7) / 8 bytes, BEP 3 bit order,
 *   spare bits zero | SHA-256 of everything before it.
 * Pure functions, no I/O, any thread. */
#define CACHE_MAP_MAGIC "P2PFSMAP"
#define CACHE_MAP_VERSION 1u
#define CACHE_MAP_HEADER_LEN 28u

/* Encoded size of the map of a torrent of NPIECES pieces. */
size_t cache_map_size(uint32_t npieces);
/* Encode BITMAP into OUT of LEN >= cache_map_size(npieces) bytes. Returns 0,
 * -EINVAL (LEN too small, or spare bits set in BITMAP) or -EIO (hashing). */
int cache_map_encode(const uint8_t *bitmap, uint32_t npieces,
		     uint32_t piece_length, uint64_t total_length,
		     uint8_t *out, size_t len);
/* Parse the untrusted map BUF of LEN bytes, expected to describe the given
 * geometry. On success copies the bitmap into BITMAP_OUT ((npieces + 7) / 8
 * bytes) and returns 0; on any mismatch (size, magic, version, geometry,
 * checksum, spare bits) returns -EINVAL and leaves BITMAP_OUT untouched. */
int cache_map_decode(const uint8_t *buf, size_t len, uint32_t npieces,
		     uint32_t piece_length, uint64_t total_length,
		     uint8_t *bitmap_out);

/* ---- files mode: serve a torrent from its own files, read-only ----------
 *
 * cache_open_files() makes a struct cache over the files of a torrent as
 * they already are on disk (`p2pfs seed`): the torrent's byte stream is
 * mapped onto FILES under BASE in order, BEP 47 pad files read as zeros,
 * and nothing is ever written, created or locked there (files are opened
 * O_RDONLY, with O_NOATIME when allowed). The verified map lives in memory
 * only and starts empty; cache_files_verify() fills it by hashing. The
 * engine keeps calling cache_has/cache_read/cache_bitfield unchanged;
 * cache_write and cache_verify return -EROFS, cache_flush has nothing to do
 * (0), cache_fd() is -1 (no single data file: fs/ cannot splice from it)
 * and cache_dir() is BASE.
 *
 * Missing, unreadable or short files are not an error here: the pieces
 * over them simply never verify. A file that changes after it was verified
 * is served as it now is (peers reject such pieces by their hash). Up to
 * CACHE_FILES_MAX_OPEN files stay open; reads of the others open and close
 * the file each time, so a torrent of any number of files fits under the
 * descriptor limit. Thread-safety as for the rest of the module. */
#define CACHE_FILES_MAX_OPEN 256

struct cache_file {
	const char *path; /* relative to BASE; ignored for a pad file */
	uint64_t length;
	bool pad;         /* BEP 47 padding: zeros, never read from disk */
};

/* FILES (NFILES >= 1, in torrent order) must add up to TOTAL_LENGTH; the
 * geometry rules are those of cache_open(). BASE must be a folder. Paths
 * are copied. Returns NULL with *ERR = -EINVAL (bad arguments), -ENOTDIR,
 * -ENOENT/-EACCES (BASE) or -ENOMEM. */
struct cache *cache_open_files(const char *base, const struct cache_file *files,
			       size_t nfiles, uint32_t npieces,
			       uint32_t piece_length, uint64_t total_length,
			       int *err);

/* Files mode generalised to segments, for a sealed share seeded from its
 * plaintext (`p2pfs seed` with a key): the torrent's byte stream is the
 * segments in order, each a file under BASE, zeros, or bytes given here
 * (the sealed header); a segment marked ENCRYPT is xored with the AES-256-
 * CTR keystream of KEY and IV (pfs_cipher) at its stream offset, so the
 * store serves ciphertext made on the fly from the plaintext and nothing
 * is written anywhere. The layout (and KEY, which is copied and wiped on
 * close) comes from the caller: the cache knows no format. Everything else
 * is as for cache_open_files(); KEY may be NULL when no segment is
 * encrypted. */
enum cache_seg_kind {
	CACHE_SEG_FILE,  /* PATH under BASE, LENGTH bytes from its start */
	CACHE_SEG_ZERO,  /* LENGTH zeros */
	CACHE_SEG_BYTES, /* LENGTH bytes of BYTES (copied) */
};

struct cache_segment {
	enum cache_seg_kind kind;
	const char *path;     /* CACHE_SEG_FILE */
	const uint8_t *bytes; /* CACHE_SEG_BYTES */
	uint64_t length;
	bool encrypt;         /* xor the keystream at the stream offset */
};

struct cache *cache_open_segments(const char *base,
				  const struct cache_segment *segs,
				  size_t nsegs, uint32_t npieces,
				  uint32_t piece_length, uint64_t total_length,
				  const uint8_t *key, const uint8_t *iv,
				  int *err);
/* Files mode: LEN bytes of the stream at OFF, verified or not (what the
 * hasher of `p2pfs create --seal` reads). Returns 0, -EINVAL (not files
 * mode, out of bounds) or -errno of a missing or short file. */
int cache_files_pread(struct cache *c, uint64_t off, void *buf, size_t len);
/* True for a struct cache made by cache_open_files(). */
bool cache_is_files(const struct cache *c);

/* Progress of cache_files_verify: bytes hashed so far of TOTAL. */
typedef void (*cache_progress_fn)(void *arg, uint64_t done, uint64_t total);

/* Files mode: hash every piece that is not yet verified against HASHES
 * (20 * npieces bytes of SHA-1) on NTHREADS threads (0 = one per online
 * CPU, at most 8) and mark those that match. PROGRESS, if not NULL, is
 * called on the caller's thread about every INTERVAL_MS milliseconds and
 * once at the end. Pieces that cannot be read (missing or short file, I/O
 * error) stay unverified. Returns 0 (see cache_count() for the verdict),
 * -EINVAL when C is not in files mode, or -ENOMEM / -errno of thread
 * creation. */
int cache_files_verify(struct cache *c, const uint8_t *hashes,
		       unsigned nthreads, cache_progress_fn progress,
		       void *arg, unsigned interval_ms);

/* Files mode: mark the pieces set in BITMAP ((npieces + 7) / 8 bytes, BEP 3
 * bit order) verified without hashing them. For a map saved by an earlier
 * run, when the caller knows the files have not changed since. Returns 0,
 * or -EINVAL (not files mode, or spare bits set). */
int cache_files_trust(struct cache *c, const uint8_t *bitmap);

#endif
