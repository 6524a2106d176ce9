/* fs_xattr — the status data of a p2pfs process: the values of the p2pfs
 * extended attributes of a mount, which the control channel (fs_ctl.h)
 * serves in the same text for a seed. Formatted by the daemon (fs.c,
 * fs_seed.c), parsed by `p2pfs status` and `p2pfs ls`. Pure functions, no
 * I/O, any thread; folder-private to fs/ and its unit test.
 *
 * On the mount root:
 *   user.p2pfs.stats    one "key value" pair a line (keys below; readers
 *                       skip keys they do not know, and the keys added
 *                       after the first twelve are optional, so more can
 *                       be added)
 *   user.p2pfs.peers    one line a peer: "ADDR CLIENT DOWN UP FLAGS", rates
 *                       in bytes/s, FLAGS from fs_xattr_flags(), at most
 *                       FS_XATTR_MAX bytes (whole lines; the rest is left
 *                       out)
 *   user.p2pfs.sources  one record (see "records" below) a source of peers:
 *                       each tracker and each --peer with its state (see
 *                       fs_xattr_sources_format)
 *   user.p2pfs.reading  one record a file that is open: "file path=P
 *                       size=N have=N handles=N cursor=N"
 * On every file: user.p2pfs.progress, "37.5" (percent verified). */
#ifndef FS_XATTR_H
#define FS_XATTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bt_session.h"

#define FS_XATTR_MAX 65536 /* Linux's largest xattr value (XATTR_SIZE_MAX) */

struct fs_xattr_stats {
	uint64_t down_rate, up_rate; /* bytes/s */
	uint64_t downloaded, uploaded;
	uint32_t peers, seeds;
	uint32_t have, npieces;
	uint32_t hash_fails;
	uint64_t cache_used;  /* bytes the store holds (see cache_usage) */
	uint64_t cache_limit; /* 0 = none */
	uint64_t evictions;
	/* optional keys (0 when a reader meets an older daemon) */
	uint32_t reads_waiting;  /* reads parked for data now */
	uint64_t read_timeouts;  /* reads failed by the read timeout */
	uint64_t no_source_secs; /* seconds without a usable source, 0 = has
				  * one (see fs.c) */
};

/* Into OUT of LEN bytes, without a NUL. Returns the length, or -ERANGE when
 * it does not fit. */
int fs_xattr_stats_format(const struct fs_xattr_stats *st, char *out,
			  size_t len);
/* Parse the untrusted BUF of LEN bytes (no NUL needed). Every known key
 * must be present with a decimal value. Returns 0 or -EINVAL. */
int fs_xattr_stats_parse(const char *buf, size_t len,
			 struct fs_xattr_stats *st);

/* The client a BitTorrent peer id names: "Transmission/3000" for
 * "-TR3000-", "aria2/1.37.0" for "A2-1-37-0-", else its printable prefix;
 * never empty, no spaces. */
void fs_xattr_client(const uint8_t id[20], char *out, size_t len);
/* The flags of a peer, NUL-terminated into OUT (at least 8 bytes):
 *   D downloading from it (we are interested, it does not choke us)
 *   d we are interested but it chokes us
 *   U uploading to it (it is interested, we do not choke it)
 *   u it is interested but we choke it
 *   I it connected to us   S it is a seed   F fast extension
 *   E encrypted (MSE, RC4)   e MSE handshake, plaintext payload
 * "-" when none applies. */
void fs_xattr_flags(const struct bt_peer_info *p, char *out);
/* Where a peer's address came from (BT_SRC_ bits of bt_addrbook.h) as
 * words joined by '+', e.g. "tracker+dht", into OUT (at least 48 bytes):
 * manual, tracker, dht, pex, lsd, incoming; "-" for none. */
void fs_xattr_source(unsigned src, char *out, size_t len);
/* The lines of N peers into OUT of LEN bytes, whole lines only, no NUL:
 * "ADDR CLIENT DOWN UP FLAGS SOURCE" (an older daemon's lines end after
 * FLAGS). Returns the length. */
size_t fs_xattr_peers_format(const struct bt_peer_info *p, size_t n, char *out,
			     size_t len);

/* One line of user.p2pfs.peers, split. */
struct fs_xattr_peer {
	char addr[64];
	char client[32];
	uint64_t down_rate, up_rate;
	char flags[16];
	char source[48]; /* "" from an older daemon */
};
/* Parse the line LINE of LEN bytes. Returns 0 or -EINVAL. */
int fs_xattr_peer_parse(const char *line, size_t len, struct fs_xattr_peer *p);

/* ---- records ----
 *
 * The extensible lines of user.p2pfs.sources, user.p2pfs.reading and of the
 * control channel: a KIND word, then fields "key=value" separated by single
 * spaces, e.g.
 *   tracker url=http://t.example/announce state=error error=Connection%20refused
 * Kinds and keys are [a-z0-9_]+; a value is percent-encoded (every byte
 * below '!' or above '~', and '%' itself, as %XX), so it holds no space and
 * no newline. Readers skip kinds and keys they do not know: a new source
 * (the DHT: "dht nodes=N") or a new fact about one (an announcer's
 * "scrape=...") needs no new format. */
#define FS_REC_KEY_MAX 24     /* kind and key, with the NUL */
#define FS_REC_VAL_MAX 400    /* a decoded value, with the NUL (longer ones
			       * are cut when written, and when read) */
#define FS_REC_MAX_FIELDS 16  /* fields kept by the parser; more are
			       * checked and skipped */

struct fs_rec_out {
	char *buf;
	size_t cap;
	size_t len;     /* bytes of the whole lines written */
	size_t line;    /* bytes of the line being built, after LEN */
	bool overflow;  /* the line being built did not fit */
};
void fs_rec_out_init(struct fs_rec_out *o, char *buf, size_t cap);
void fs_rec_begin(struct fs_rec_out *o, const char *kind);
void fs_rec_str(struct fs_rec_out *o, const char *key, const char *val);
void fs_rec_u64(struct fs_rec_out *o, const char *key, uint64_t v);
void fs_rec_i64(struct fs_rec_out *o, const char *key, int64_t v);
/* End the line: kept when it fitted whole (true), else left out. */
bool fs_rec_end(struct fs_rec_out *o);

struct fs_rec {
	char kind[FS_REC_KEY_MAX];
	size_t n;
	struct {
		char key[FS_REC_KEY_MAX];
		char val[FS_REC_VAL_MAX];
	} f[FS_REC_MAX_FIELDS];
};
/* Parse the untrusted line LINE of LEN bytes (no newline in it). Returns 0
 * or -EINVAL (no kind, a field that is not key=value, a bad escape or
 * byte). */
int fs_rec_parse(const char *line, size_t len, struct fs_rec *r);
/* The value of KEY, or NULL. */
const char *fs_rec_get(const struct fs_rec *r, const char *key);
/* KEY as a strict decimal (a leading '-' for fs_rec_get_i64). Returns 0 or
 * -EINVAL (absent or not a number); *V is untouched then. */
int fs_rec_get_u64(const struct fs_rec *r, const char *key, uint64_t *v);
int fs_rec_get_i64(const struct fs_rec *r, const char *key, int64_t *v);

/* user.p2pfs.sources: the records of N sources into OUT of LEN bytes
 * (whole lines, no NUL); returns the length. A source is
 *   tracker url=URL state=STATE last=T next=T peers=N fails=N [error=TEXT]
 *   peer addr=IP:PORT state=STATE last=T next=T fails=N [error=TEXT]
 *   dht state=STATE nodes=GOOD table=N lookups=N peers=N
 * T is a Unix time in seconds (0: never, or nothing planned); STATE is
 * fs_xattr_source_state()'s. */
size_t fs_xattr_sources_format(const struct bt_source_info *s, size_t n,
			       char *out, size_t len);
/* "idle", "announcing", "ok", "error" for a tracker; "idle", "connecting",
 * "connected", "refused" (the connection was refused), "failed" for a
 * peer; "ok" (good nodes), "bootstrapping", "no-nodes" for the DHT. */
const char *fs_xattr_source_state(const struct bt_source_info *s);

/* ---- lines of `p2pfs status` (pure) ---- */

/* "45 s", "3 min 20 s", "2 h 05 min", "3 d 4 h" for SECS. */
void fs_xattr_duration(uint64_t secs, char *out, size_t len);
/* One source record R as a status line (no newline), NOW the Unix time:
 *   "tracker  http://t/announce  error: Connection refused, next in 25 s"
 *   "peer     127.0.0.2:7001  refused: Connection refused, next in 5 s"
 *   "dht      12 good nodes (14 in the table), 3 lookups, 2 peers  ok"
 * a kind it does not know as "KIND  key=value ...". */
void fs_xattr_source_line(const struct fs_rec *r, int64_t now, char *out,
			  size_t len);
/* The ETA of MISSING bytes at RATE bytes/s: "done" for none left, "-"
 * without a rate, else fs_xattr_duration(). */
void fs_xattr_eta(uint64_t missing, double rate, char *out, size_t len);

/* A progress bar of WIDTH cells for PCT (0..100): "#" done, "." not, NUL
 * terminated; OUT has WIDTH + 1 bytes. */
void fs_xattr_bar(double pct, char *out, size_t width);

#endif
