/* cache_store — listing, inspecting, removing and tidying the stores of a
 * cache root; see cache_store.h. The layout names come from cache.h; the
 * verified map is read with cache_map_decode against the geometry in its
 * own header, so a damaged map counts as no map. */
#include "cache_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"

static bool store_name(const char *s)
{
	size_t n = strlen(s);
	if (n != 40 && n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool temp_name(const char *s)
{
	size_t n = strlen(s);
	return n > 4 && !strcmp(s + n - 4, ".tmp");
}

static int cmp_hex(const void *a, const void *b)
{
	return strcmp(a, b);
}

int cache_store_list(const char *root, char (**hexes)[CACHE_STORE_HEX_MAX],
		     size_t *n)
{
	char(*v)[CACHE_STORE_HEX_MAX] = NULL;
	size_t cnt = 0, cap = 0;
	int err = 0;
	*hexes = NULL;
	*n = 0;
	DIR *d = opendir(root);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d))) {
		if (!store_name(e->d_name))
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			void *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				err = -ENOMEM;
				goto out;
			}
			v = nv;
		}
		memcpy(v[cnt++], e->d_name, strlen(e->d_name) + 1); /* <= 64 */
		errno = 0;
	}
	if (errno)
		err = -errno;
out:
	closedir(d);
	if (err < 0) {
		free(v);
		return err;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_hex);
	*hexes = v;
	*n = cnt;
	return 0;
}

static int store_dir(const char *root, const char *hex, char *out, size_t len)
{
	if (!store_name(hex))
		return -EINVAL;
	int k = snprintf(out, len, "%s/%s", root, hex);
	return k < 0 || (size_t)k >= len ? -ENAMETOOLONG : 0;
}

/* Is the data file's flock held by someone? */
static bool locked(int dfd)
{
	int fd = openat(dfd, "data", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	bool busy = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd); /* drops our shared lock, if we got it */
	return busy;
}

static void read_map(int dfd, struct cache_store_info *info)
{
	uint8_t hdr[CACHE_MAP_HEADER_LEN];
	uint8_t *buf = NULL, *bm = NULL;
	int fd = openat(dfd, "verified", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		goto out;
	uint32_t np = (uint32_t)hdr[12] << 24 | (uint32_t)hdr[13] << 16 |
		      (uint32_t)hdr[14] << 8 | hdr[15];
	uint32_t pl = (uint32_t)hdr[16] << 24 | (uint32_t)hdr[17] << 16 |
		      (uint32_t)hdr[18] << 8 | hdr[19];
	uint64_t tl = 0;
	for (int i = 20; i < 28; i++)
		tl = tl << 8 | hdr[i];
	size_t len = cache_map_size(np);
	struct stat st;
	if (!np || fstat(fd, &st) < 0 || (uint64_t)st.st_size != len)
		goto out;
	if (!(buf = malloc(len)) || !(bm = malloc(np / 8 + 1)))
		goto out;
	if (pread(fd, buf, len, 0) != (ssize_t)len ||
	    cache_map_decode(buf, len, np, pl, tl, bm) < 0)
		goto out;
	uint32_t n = 0;
	for (size_t i = 0; i < (np + 7) / 8; i++)
		n += (uint32_t)__builtin_popcount(bm[i]);
	info->has_map = true;
	info->npieces = np;
	info->nverified = n;
	info->piece_length = pl;
	info->total_length = tl;
out:
	close(fd);
	free(buf);
	free(bm);
}

int cache_store_inspect(const char *root, const char *hex,
			struct cache_store_info *info)
{
	char path[PATH_MAX];
	int err = store_dir(root, hex, path, sizeof(path));
	memset(info, 0, sizeof(*info));
	if (err < 0)
		return err;
	snprintf(info->hex, sizeof(info->hex), "%s", hex);
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dup(dfd));
	if (!d) {
		err = -errno;
		close(dfd);
		return err;
	}
	struct dirent *e;
	struct stat st;
	while ((e = readdir(d))) {
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		info->disk_bytes += (uint64_t)st.st_blocks * 512;
		if ((int64_t)st.st_mtim.tv_sec > info->last_used)
			info->last_used = (int64_t)st.st_mtim.tv_sec;
		if (temp_name(e->d_name))
			info->has_temp = true;
	}
	closedir(d);
	read_map(dfd, info);
	info->in_use = locked(dfd);
	close(dfd);
	return 0;
}

/* Unlink every regular file of DFD (only temporary ones when TEMP_ONLY). */
static int unlink_files(int dfd, bool temp_only)
{
	int err = 0;
	DIR *d = fdopendir(dup(dfd));
	if (!d)
		return -errno;
	struct dirent *e;
	struct stat st;
	while ((e = readdir(d))) {
		if (temp_only && !temp_name(e->d_name))
			continue;
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    S_ISDIR(st.st_mode))
			continue;
		if (unlinkat(dfd, e->d_name, 0) < 0 && errno != ENOENT && !err)
			err = -errno;
	}
	closedir(d);
	return err;
}

/* Open store HEX and take its lock: *DFD and *LFD (-1 when it has no data
 * file). -EBUSY while a mount holds it. */
static int take(const char *root, const char *hex, char *path, size_t plen,
		int *dfd, int *lfd)
{
	int err = store_dir(root, hex, path, plen);
	*dfd = *lfd = -1;
	if (err < 0)
		return err;
	*dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (*dfd < 0)
		return -errno;
	*lfd = openat(*dfd, "data", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (*lfd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (flock(*lfd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	return 0;
}

static void release(int dfd, int lfd)
{
	if (lfd >= 0)
		close(lfd);
	if (dfd >= 0)
		close(dfd);
}

int cache_store_remove(const char *root, const char *hex)
{
	char path[PATH_MAX];
	int dfd, lfd;
	int err = take(root, hex, path, sizeof(path), &dfd, &lfd);
	if (err == 0)
		err = unlink_files(dfd, false);
	release(dfd, lfd); /* the lock goes with the last unlinked file */
	if (err == 0 && rmdir(path) < 0)
		err = errno == EEXIST ? -ENOTEMPTY : -errno;
	return err;
}

int cache_store_tidy(const char *root, const char *hex)
{
	char path[PATH_MAX];
	int dfd, lfd;
	int err = take(root, hex, path, sizeof(path), &dfd, &lfd);
	if (err == 0)
		err = unlink_files(dfd, true);
	release(dfd, lfd);
	return err;
}

int cache_store_save(const char *dir, const char *name, const void *buf,
		     size_t len)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int err = 0;
	int k = snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
	int l = snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	if (k < 0 || (size_t)k >= sizeof(tmp) || l < 0 ||
	    (size_t)l >= sizeof(dst))
		return -ENAMETOOLONG;
	int fd = open(
	    tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)n;
	}
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, dst) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}
