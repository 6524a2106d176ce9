/* fs_magnet — a magnet link to a metainfo: the copy in the cache folder,
 * or the swarm's ut_metadata; and the .torrent of it. See fs_magnet.h. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bt_engine.h"
#include "bt_torrent.h"
#include "cache_store.h"
#include "fs_magnet.h"
#include "pfs_log.h"

int fs_magnet_torrent(const uint8_t *info, size_t len,
		      const char *const *trackers, size_t ntrackers,
		      struct bt_benc *b)
{
	bt_benc_dict_begin(b);
	if (ntrackers) {
		bt_benc_cstr(b, "announce");
		bt_benc_cstr(b, trackers[0]);
		bt_benc_cstr(b, "announce-list");
		bt_benc_list_begin(b);
		for (size_t i = 0; i < ntrackers; i++) {
			bt_benc_list_begin(b);
			bt_benc_cstr(b, trackers[i]);
			bt_benc_end(b);
		}
		bt_benc_end(b);
	}
	bt_benc_cstr(b, "info");
	bt_benc_raw(b, info, len);
	bt_benc_end(b);
	return b->err;
}

/* ---- fetching ---- */

struct fetch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	struct bt_metainfo *mi; /* taken from the engine */
};

/* Engine thread: the dict verified. Only the metadata is wanted: the
 * torrent stays in its METADATA phase until the engine stops. */
static int got_metadata(void *arg, struct bt_torrent *t,
			const struct bt_metainfo *mi, struct cache **cache)
{
	struct fetch *f = arg;
	(void)t;
	(void)cache;
	pthread_mutex_lock(&f->lock);
	if (!f->mi)
		f->mi = (struct bt_metainfo *)mi;
	else
		bt_metainfo_free((struct bt_metainfo *)mi);
	f->done = true;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return -ECANCELED;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *label_of(const struct bt_magnet *m)
{
	return m->name ? m->name : m->info_hash_hex;
}

/* The info dict of M from the swarm: *INFO (malloc'd), *LEN. */
static int fetch(const struct bt_magnet *m, const struct bt_session_opts *so,
		 unsigned timeout_s, bool progress, const bool *cancel,
		 uint8_t **info, size_t *len, char *err, size_t errlen)
{
	struct fetch f = {.done = false};
	struct bt_engine *e = NULL;
	struct bt_torrent *t;
	struct bt_stats st = {0};
	int rc;
	pthread_mutex_init(&f.lock, NULL);
	pthread_cond_init(&f.cond, NULL);
	struct bt_engine_opts eo = {
		.bind_ip = so->bind_ip,
		.port = so->port,
		.max_up = so->max_up,
		.max_down = so->max_down,
		.lsd = so->lsd, /* a LAN peer may have the metadata */
		/* and the DHT: a bare magnet link has no other source */
		.dht = so->dht,
		.dht_bootstrap = so->dht_bootstrap,
		.ndht_bootstrap = so->ndht_bootstrap,
		.dht_state_dir = so->dht_state_dir,
	};
	if (!(e = bt_engine_new(&eo, &rc))) {
		snprintf(err, errlen, "cannot start the engine: %s",
			 strerror(-rc));
		goto out;
	}
	struct bt_torrent_opts to = {
		.peers = so->peers,
		.npeers = so->npeers,
		.trackers = (const char *const *)m->trackers,
		.ntrackers = m->ntrackers,
		.no_trackers = so->no_trackers,
		.max_peers = so->max_peers,
		.name = m->name,
	};
	if (!(t = bt_torrent_new(e, m->info_hash, &to, &rc))) {
		snprintf(err, errlen, "%s", rc == -EINVAL ? "a bad peer address"
							  : strerror(-rc));
		goto out;
	}
	bt_torrent_on_metadata(t, got_metadata, &f);
	if ((rc = bt_engine_start(e)) < 0) {
		snprintf(err, errlen, "cannot start the engine: %s",
			 strerror(-rc));
		goto out;
	}
	pfs_log(PFS_LOG_INFO, "magnet", "fetching the metadata of '%s' "
		"(at most %u s)", label_of(m), timeout_s);
	uint64_t t0 = mono_ms(), end = t0 + (uint64_t)timeout_s * 1000;
	bool shown = false;
	pthread_mutex_lock(&f.lock);
	while (!f.done) {
		uint64_t now = mono_ms();
		if (now >= end ||
		    (cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE)))
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&f.cond, &f.lock, &ts);
		if (f.done)
			break;
		pthread_mutex_unlock(&f.lock);
		bt_torrent_stats(t, &st);
		if (progress) {
			fprintf(stderr, "\rp2pfs: resolving '%.60s': %u peer%s, "
				"metadata %u/%u pieces, %u s  ", label_of(m),
				st.npeers, st.npeers == 1 ? "" : "s",
				st.meta_have, st.meta_total,
				(unsigned)((mono_ms() - t0) / 1000));
			shown = true;
		}
		pthread_mutex_lock(&f.lock);
	}
	struct bt_metainfo *mi = f.mi;
	f.mi = NULL;
	pthread_mutex_unlock(&f.lock);
	if (shown)
		fprintf(stderr, "\r%-78s\r", "");
	if (!mi && cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE)) {
		snprintf(err, errlen, "stopped before the metadata came");
		rc = -ECANCELED;
		goto out;
	}
	if (!mi) {
		bt_torrent_stats(t, &st);
		snprintf(err, errlen, "no metadata after %u s (%u peer%s "
			 "connected%s): check the link's tr= and x.pe=, give "
			 "--peer or --dht-bootstrap, or wait longer with "
			 "--metadata-timeout",
			 timeout_s, st.npeers, st.npeers == 1 ? "" : "s",
			 st.npeers ? ", none gave it" : "");
		rc = -ETIMEDOUT;
		goto out;
	}
	pfs_log(PFS_LOG_INFO, "magnet", "metadata of '%s': %zu bytes after "
		"%llu ms", mi->name, mi->info_len,
		(unsigned long long)(mono_ms() - t0));
	*info = malloc(mi->info_len);
	if (!*info) {
		bt_metainfo_free(mi);
		rc = -ENOMEM;
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		goto out;
	}
	memcpy(*info, mi->info_raw, mi->info_len);
	*len = mi->info_len;
	bt_metainfo_free(mi);
	rc = 0;
out:
	bt_engine_free(e); /* stops it first; frees the torrent */
	bt_metainfo_free(f.mi);
	pthread_cond_destroy(&f.cond);
	pthread_mutex_destroy(&f.lock);
	return rc < 0 ? rc : 0;
}

/* The kept copy ROOT/<hex>/torrent, when it is M's. */
static struct bt_metainfo *kept_copy(const struct bt_magnet *m,
				     const char *root)
{
	char path[PATH_MAX], why[256];
	struct bt_metainfo *mi = NULL;
	if (!root || snprintf(path, sizeof(path), "%s/%s/%s", root,
			      m->info_hash_hex, CACHE_STORE_TORRENT) >=
			     (int)sizeof(path))
		return NULL;
	if (access(path, R_OK) < 0)
		return NULL;
	if (bt_metainfo_load(path, &mi, why, sizeof(why)) < 0)
		return NULL;
	if (memcmp(mi->info_hash, m->info_hash, 20)) {
		bt_metainfo_free(mi);
		return NULL;
	}
	return mi;
}

int fs_magnet_metainfo(const struct bt_magnet *m, const char *root,
		       const struct bt_session_opts *so, unsigned timeout_s,
		       bool progress, struct bt_metainfo **mi,
		       uint8_t **torrent, size_t *tlen, bool *from_cache,
		       char *err, size_t errlen)
{
	return fs_magnet_metainfo_cancel(m, root, so, timeout_s, progress,
					 NULL, mi, torrent, tlen, from_cache,
					 err, errlen);
}

int fs_magnet_metainfo_cancel(const struct bt_magnet *m, const char *root,
			      const struct bt_session_opts *so,
			      unsigned timeout_s, bool progress,
			      const bool *cancel, struct bt_metainfo **mi,
			      uint8_t **torrent, size_t *tlen,
			      bool *from_cache, char *err, size_t errlen)
{
	struct bt_metainfo *kept = kept_copy(m, root);
	uint8_t *info = NULL;
	size_t len = 0;
	const char **trk = NULL;
	size_t ntrk = 0;
	struct bt_benc b;
	int rc;
	*mi = NULL;
	*torrent = NULL;
	*tlen = 0;
	*from_cache = kept != NULL;
	bt_benc_init(&b);
	if (kept) {
		pfs_log(PFS_LOG_INFO, "magnet", "metadata of '%s' from the "
			"cache", kept->name);
		info = kept->info_raw;
		len = kept->info_len;
	} else if ((rc = fetch(m, so, timeout_s, progress, cancel, &info, &len,
			       err, errlen)) < 0) {
		goto out;
	}
	/* the link's trackers first, then those of the kept copy */
	size_t cap = m->ntrackers + (kept ? kept->ntrackers : 0);
	if (cap && !(trk = calloc(cap, sizeof(*trk)))) {
		rc = -ENOMEM;
		goto nomem;
	}
	for (size_t i = 0; i < m->ntrackers; i++)
		trk[ntrk++] = m->trackers[i];
	for (size_t i = 0; kept && i < kept->ntrackers; i++) {
		bool dup = false;
		for (size_t j = 0; j < ntrk && !dup; j++)
			dup = !strcmp(trk[j], kept->trackers[i]);
		if (!dup)
			trk[ntrk++] = kept->trackers[i];
	}
	if ((rc = fs_magnet_torrent(info, len, trk, ntrk, &b)) < 0)
		goto nomem;
	if ((rc = bt_metainfo_parse(b.buf, b.len, mi, err, errlen)) < 0)
		goto out;
	*torrent = b.buf;
	*tlen = b.len;
	b.buf = NULL;
	rc = 0;
	goto out;
nomem:
	snprintf(err, errlen, "%s", strerror(ENOMEM));
out:
	if (!kept)
		free(info);
	bt_metainfo_free(kept);
	free(trk);
	bt_benc_release(&b);
	return rc;
}

int fs_magnet_add_peers(const struct bt_magnet *m, const char ***peers,
			size_t *npeers, char ***owned, size_t *nowned)
{
	if (!m->npeers)
		return 0;
	const char **np = realloc(*peers, (*npeers + m->npeers) * sizeof(*np));
	if (!np)
		return -ENOMEM;
	*peers = np;
	char **no = realloc(*owned, (*nowned + m->npeers) * sizeof(*no));
	if (!no)
		return -ENOMEM;
	*owned = no;
	for (size_t i = 0; i < m->npeers; i++) {
		const struct bt_magnet_peer *p = &m->peers[i];
		char buf[BT_MAGNET_MAX_HOST + 16];
		if (p->host) {
			snprintf(buf, sizeof(buf), "%s:%u", p->host, p->port);
		} else {
			struct bt_addr a = p->addr;
			a.port = p->port;
			bt_addr_str(&a, buf, sizeof(buf));
		}
		char *s = strdup(buf);
		if (!s)
			return -ENOMEM;
		no[(*nowned)++] = s;
		np[(*npeers)++] = s;
	}
	return 0;
}
