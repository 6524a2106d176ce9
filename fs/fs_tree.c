/* fs_tree — the inode table of a mounted torrent, and the byte-range and
 * read-ahead arithmetic of fs.c; see fs_tree.h.
 *
 * Built in one pass: the file paths are sorted component-wise (a '/' sorts
 * before every other byte, so each folder's paths form one run and its
 * entries come out in name order), then folders are expanded breadth-first
 * straight into the node array, which makes every folder's children one
 * consecutive block of inodes. */
#include "fs_tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pfs_log.h"

struct fs_tree {
	struct fs_node *nodes; /* nodes[ino - 1] */
	uint64_t n;
	char *names;           /* every node's name, NUL-terminated */
};

/* A file to place, during the build. */
struct ent {
	const char *path;
	size_t file_index;
};

/* Paths of one folder still to expand: ents[lo, hi) all start with the same
 * POS bytes (the folder's path and a '/'). */
struct span {
	size_t lo, hi, pos;
};

/* Component-wise order: '/' sorts below every byte but NUL. */
static int path_cmp(const void *a, const void *b)
{
	const unsigned char *x = (const unsigned char *)((const struct ent *)a)->path;
	const unsigned char *y = (const unsigned char *)((const struct ent *)b)->path;
	for (;; x++, y++) {
		unsigned cx = *x == '/' ? 1 : *x ? *x + 1u : 0;
		unsigned cy = *y == '/' ? 1 : *y ? *y + 1u : 0;
		if (cx != cy)
			return cx < cy ? -1 : 1;
		if (!cx)
			return 0;
	}
}

/* A clean relative path: non-empty components, no leading or trailing '/'. */
static bool path_ok(const char *p)
{
	if (!p || !*p || *p == '/')
		return false;
	for (; *p; p++)
		if (*p == '/' && (p[1] == '/' || p[1] == '\0'))
			return false;
	return true;
}

static size_t count_components(const char *p)
{
	size_t n = 1;
	for (; *p; p++)
		n += *p == '/';
	return n;
}

static const char *pool_add(char **pool, const char *s, size_t len)
{
	char *out = *pool;
	memcpy(out, s, len);
	out[len] = '\0';
	*pool += len + 1;
	return out;
}

struct fs_tree *fs_tree_new(const struct bt_metainfo *mi, int *err)
{
	int e = -ENOMEM;
	struct fs_tree *t = calloc(1, sizeof(*t));
	struct ent *ents = NULL;
	struct span *spans = NULL;
	size_t nents = 0, cap = 2, pool_len = 2;
	if (!t)
		goto out;

	/* The entry under the root: the folder `name`, or the single file
	 * (the one real file: a sealed share's view pads around it). */
	size_t one = 0;
	while (!mi->multi_file && one + 1 < mi->nfiles && mi->files[one].pad)
		one++;
	const char *top = mi->multi_file ? mi->name
					  : (mi->nfiles ? mi->files[one].path : NULL);
	if (!top || !*top || strchr(top, '/')) {
		e = -EINVAL;
		goto out;
	}
	pool_len += strlen(top) + 1;

	if (mi->multi_file) {
		ents = calloc(mi->nfiles ? mi->nfiles : 1, sizeof(*ents));
		if (!ents)
			goto out;
		for (size_t i = 0; i < mi->nfiles; i++) {
			const struct bt_file *f = &mi->files[i];
			if (f->pad)
				continue;
			if (!path_ok(f->path)) {
				pfs_log(PFS_LOG_WARN, "fs", "leaving out file %zu: bad path '%s'",
					i, f->path ? f->path : "(null)");
				continue;
			}
			ents[nents].path = f->path;
			ents[nents].file_index = i;
			nents++;
			cap += count_components(f->path);
			pool_len += strlen(f->path) + 1;
		}
		qsort(ents, nents, sizeof(*ents), path_cmp);
	}

	t->nodes = calloc(cap, sizeof(*t->nodes));
	spans = calloc(cap, sizeof(*spans));
	t->names = malloc(pool_len);
	if (!t->nodes || !spans || !t->names)
		goto out;
	char *pool = t->names;

	struct fs_node *root = &t->nodes[0];
	root->name = pool_add(&pool, "", 0);
	root->parent = FS_ROOT_INO;
	root->dir = true;
	root->first = 2;
	root->nchildren = 1;
	root->nsubdirs = mi->multi_file;

	struct fs_node *tn = &t->nodes[1];
	tn->name = pool_add(&pool, top, strlen(top));
	tn->parent = FS_ROOT_INO;
	if (mi->multi_file) {
		tn->dir = true;
		spans[1] = (struct span){0, nents, 0};
	} else {
		tn->size = mi->files[one].length;
		tn->offset = mi->files[one].offset;
		tn->file_index = one;
	}
	size_t n = 2;

	/* Breadth-first: nodes[n..] grows while we walk it. */
	for (size_t i = 1; i < n; i++) {
		struct fs_node *d = &t->nodes[i];
		if (!d->dir)
			continue;
		struct span sp = spans[i];
		d->first = n + 1;
		for (size_t j = sp.lo; j < sp.hi;) {
			const char *p = ents[j].path + sp.pos;
			size_t cl = strcspn(p, "/");
			PFS_ASSERT(n < cap);
			struct fs_node *c = &t->nodes[n];
			c->name = pool_add(&pool, p, cl);
			c->parent = i + 1;
			if (p[cl] == '\0') {
				const struct bt_file *f = &mi->files[ents[j].file_index];
				c->size = f->length;
				c->offset = f->offset;
				c->file_index = ents[j].file_index;
				j++;
			} else {
				size_t k = j + 1;
				while (k < sp.hi &&
				       !strncmp(ents[k].path + sp.pos, p, cl) &&
				       ents[k].path[sp.pos + cl] == '/')
					k++;
				c->dir = true;
				spans[n] = (struct span){j, k, sp.pos + cl + 1};
				d->nsubdirs++;
				j = k;
			}
			d->nchildren++;
			n++;
		}
	}
	t->n = n;
	struct fs_node *shrunk = realloc(t->nodes, n * sizeof(*t->nodes));
	if (shrunk)
		t->nodes = shrunk;
	e = 0;
out:
	free(ents);
	free(spans);
	if (e < 0) {
		fs_tree_free(t);
		t = NULL;
		if (err)
			*err = e;
	}
	return t;
}

void fs_tree_free(struct fs_tree *t)
{
	if (!t)
		return;
	free(t->nodes);
	free(t->names);
	free(t);
}

uint64_t fs_tree_count(const struct fs_tree *t)
{
	return t->n;
}

const struct fs_node *fs_tree_get(const struct fs_tree *t, uint64_t ino)
{
	if (ino < 1 || ino > t->n)
		return NULL;
	return &t->nodes[ino - 1];
}

uint64_t fs_tree_ino(const struct fs_tree *t, const struct fs_node *node)
{
	return (uint64_t)(node - t->nodes) + 1;
}

const struct fs_node *fs_tree_lookup(const struct fs_tree *t, uint64_t parent,
				     const char *name)
{
	const struct fs_node *d = fs_tree_get(t, parent);
	if (!d || !d->dir || !d->nchildren)
		return NULL;
	const struct fs_node *base = &t->nodes[d->first - 1];
	size_t lo = 0, hi = d->nchildren;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, base[mid].name);
		if (!c)
			return &base[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct fs_node *fs_tree_resolve(const struct fs_tree *t,
				      const char *path)
{
	const struct fs_node *node = &t->nodes[0];
	char comp[256];
	while (*path) {
		size_t cl = strcspn(path, "/");
		if (cl >= sizeof(comp))
			return NULL;
		if (cl) {
			memcpy(comp, path, cl);
			comp[cl] = '\0';
			node = fs_tree_lookup(t, fs_tree_ino(t, node), comp);
			if (!node)
				return NULL;
		}
		path += cl;
		if (*path == '/')
			path++;
	}
	return node;
}

int fs_tree_path(const struct fs_tree *t, const struct fs_node *node,
		 char *out, size_t len)
{
	if (!len)
		return -ENAMETOOLONG;
	size_t depth = 0;
	for (const struct fs_node *p = node; p != t->nodes;
	     p = &t->nodes[p->parent - 1])
		depth++;
	/* Outermost first; depths are small, so re-walking is fine. */
	size_t pos = 0;
	out[0] = '\0';
	for (size_t k = depth; k-- > 0;) {
		const struct fs_node *p = node;
		for (size_t s = 0; s < k; s++)
			p = &t->nodes[p->parent - 1];
		const char *parts[2] = {"/", p->name};
		for (int i = pos ? 0 : 1; i < 2; i++) {
			size_t nl = strlen(parts[i]);
			if (pos + nl >= len) {
				memcpy(out + pos, parts[i], len - 1 - pos);
				out[len - 1] = '\0';
				return -ENAMETOOLONG;
			}
			memcpy(out + pos, parts[i], nl);
			pos += nl;
			out[pos] = '\0';
		}
	}
	return 0;
}

/* ---- byte ranges ---- */

uint64_t fs_read_clip(uint64_t file_size, uint64_t off, uint64_t size)
{
	if (off >= file_size)
		return 0;
	uint64_t left = file_size - off;
	return size < left ? size : left;
}

void fs_range_pieces(uint32_t piece_length, uint64_t off, uint64_t len,
		     uint32_t *first, uint32_t *last)
{
	*first = (uint32_t)(off / piece_length);
	*last = (uint32_t)((off + len - 1) / piece_length);
}

/* ---- read-ahead ---- */

void fs_ra_init(struct fs_ra *ra, uint32_t piece_length)
{
	memset(ra, 0, sizeof(*ra));
	uint64_t by_pieces = (uint64_t)FS_RA_MIN_PIECES * piece_length;
	ra->start = by_pieces > FS_RA_MIN_BYTES ? by_pieces : FS_RA_MIN_BYTES;
	ra->max = ra->start > FS_RA_MAX_BYTES ? ra->start : FS_RA_MAX_BYTES;
	ra->window = ra->start;
}

bool fs_ra_release(struct fs_ra *ra, uint32_t *first, uint32_t *last)
{
	if (!ra->asked)
		return false;
	*first = ra->held;
	*last = ra->until;
	ra->asked = false;
	return true;
}

void fs_ra_update(struct fs_ra *ra, uint32_t piece_length, uint64_t file_off,
		  uint64_t file_size, uint64_t off, uint64_t len,
		  struct fs_ra_step *st)
{
	memset(st, 0, sizeof(*st));
	if (!len || off >= file_size)
		return;
	uint64_t end = off + len;
	bool seq = ra->started && off <= ra->cursor + FS_RA_SLACK &&
		   off + FS_RA_SLACK >= ra->cursor;
	if (seq) {
		if (end > ra->cursor)
			ra->cursor = end;
		ra->window += 2 * len;
		if (ra->window > ra->max)
			ra->window = ra->max;
	} else {
		/* a seek (or the first read): no read-ahead until the next
		 * read shows the reader goes on from here, so random reads
		 * fetch nothing but what they read */
		ra->cursor = end;
		ra->window = ra->start;
		ra->started = true;
		st->drop = fs_ra_release(ra, &st->drop_first, &st->drop_last);
		return;
	}
	if (ra->cursor >= file_size)
		return;
	uint64_t ra_end = ra->cursor + ra->window;
	if (ra_end > file_size)
		ra_end = file_size;
	uint32_t cur = (uint32_t)((file_off + ra->cursor - 1) / piece_length);
	uint32_t f = cur + 1;
	uint32_t l = (uint32_t)((file_off + ra_end - 1) / piece_length);
	if (ra->asked && ra->until >= f)
		f = ra->until + 1;
	if (f > l)
		return;
	if (!ra->asked)
		ra->held = f;
	ra->until = l;
	ra->asked = true;
	st->fetch = true;
	st->first = f;
	st->last = l;
	st->dist = f - cur;
}

void fs_ra_limit(struct fs_ra *ra, uint32_t piece_length, uint64_t max_bytes)
{
	struct fs_ra d;
	fs_ra_init(&d, piece_length);
	ra->start = max_bytes && d.start > max_bytes ? max_bytes : d.start;
	ra->max = max_bytes && d.max > max_bytes ? max_bytes : d.max;
	if (ra->window > ra->max)
		ra->window = ra->max;
}

bool fs_ra_pin_window(const struct fs_ra *ra, uint32_t piece_length,
		      uint64_t file_off, uint64_t file_size, uint64_t budget,
		      uint32_t *first, uint32_t *last)
{
	if (!ra->started || !ra->cursor || !file_size)
		return false;
	uint64_t cur = ra->cursor < file_size ? ra->cursor : file_size;
	uint64_t w = budget && ra->window > budget ? budget : ra->window;
	uint64_t end = w < file_size - cur ? cur + w : file_size;
	*first = (uint32_t)((file_off + cur - 1) / piece_length);
	*last = (uint32_t)((file_off + end - 1) / piece_length);
	return true;
}

/* ---- "no usable source" ---- */

uint64_t fs_nosource_after(uint64_t read_timeout_ms)
{
	return read_timeout_ms && read_timeout_ms < FS_NOSOURCE_MS
		       ? read_timeout_ms : FS_NOSOURCE_MS;
}

enum fs_nosource_event fs_nosource_step(struct fs_nosource *ns, uint64_t now,
					bool usable, bool complete,
					uint64_t after)
{
	if (usable || complete) {
		bool back = ns->warned && usable;
		ns->since = 0;
		ns->warned = false;
		return back ? FS_NOSOURCE_BACK : FS_NOSOURCE_QUIET;
	}
	if (!ns->since)
		ns->since = now;
	if (!ns->warned && now - ns->since >= after) {
		ns->warned = true;
		return FS_NOSOURCE_WARN;
	}
	return FS_NOSOURCE_QUIET;
}
