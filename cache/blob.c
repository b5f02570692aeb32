/*
 * blob.c - the cache's blob files: temp files, blob names and ids,
 * publishing a filled temp file as a blob, and walking tmp/ and blobs/ for
 * the sweep and fsck (evict.c decides what to do with what the walks find).
 *
 * Invariants:
 *  - A blob is published in this order: fsync(fd), rename(tmp, blob),
 *    fsync(blob's directory).  Only then may the index name it, so after a
 *    crash an index entry never points at a blob that is missing or short.
 *  - A blob's name, "<64 hex key>-<16 hex blob id>" in blobs/<first 2 hex
 *    of key>/, is never reused: ids only grow (see gwc_blob_id_next), so
 *    the file a reader opened is never replaced under it, only unlinked.
 *  - Nothing here touches the index.
 *  - The walks open tmp/, blobs/ and its fan-out directories with
 *    O_NOFOLLOW and hand out descriptors for unlinkat(): a link planted in
 *    place of one of them is refused, never followed.
 */
#include "cache_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkdir that accepts a directory already there (and never a link to one). */
static int mkdir_ok(const char *path)
{
    struct stat st;
    if (mkdir(path, 0700) == 0) return 0;
    if (errno != EEXIST) return -errno;
    if (lstat(path, &st) != 0) return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int gwc_blob_path(const struct gw_cache *c, const uint8_t key[GW_CACHE_KEY_LEN], uint64_t id,
                  char *out, size_t len)
{
    char hex[2 * GW_CACHE_KEY_LEN + 1];
    gwc_hex(key, GW_CACHE_KEY_LEN, hex);
    int n = snprintf(out, len, "%s/blobs/%.2s/%s-%016llx", c->dir, hex, hex,
                     (unsigned long long)id);
    if (n < 0 || (size_t)n >= len) return -ENAMETOOLONG;
    return 0;
}

int gw_cache_blob_path(const struct gw_cache *c, const struct gw_cache_entry *e, char *out,
                       size_t len)
{
    GWC_CHECK(c);
    if (e->blob_id == 0 || !gwc_has_blob(e->kind)) return -EINVAL;
    return gwc_blob_path(c, e->key, e->blob_id, out, len);
}

uint64_t gwc_blob_id_next(struct gw_cache *c)
{
    /* Started at open from the clock in ns (see open.c, cache_load_totals): never 0. */
    return atomic_fetch_add(&c->next_blob_id, 1);
}

int gw_cache_tmp_open(struct gw_cache *c, char *path_out, size_t len)
{
    GWC_CHECK(c);
    int n = snprintf(path_out, len, "%s/tmp/fill-XXXXXX", c->dir);
    if (n < 0 || (size_t)n >= len) return -ENAMETOOLONG;
    int fd = mkostemp(path_out, O_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int gwc_blob_publish(struct gw_cache *c, const uint8_t key[GW_CACHE_KEY_LEN], uint64_t id,
                     const char *tmp_path, int fd, char *out, size_t len)
{
    char dir[GWC_PATH_MAX];
    int rc;

    rc = gwc_blob_path(c, key, id, out, len);
    if (rc != 0) goto fail_tmp;
    if (fsync(fd) != 0) {
        rc = -errno;
        goto fail_tmp;
    }
    /* The directory of the blob: the path up to its last slash. */
    size_t dlen = (size_t)(strrchr(out, '/') - out);
    memcpy(dir, out, dlen);
    dir[dlen] = '\0';
    if (rename(tmp_path, out) != 0) {
        rc = -errno;
        /* Someone removed the fan-out directory: make it and try again. */
        if (rc != -ENOENT || access(tmp_path, F_OK) != 0 || mkdir_ok(dir) != 0) goto fail_tmp;
        snprintf(dir + dlen, sizeof(dir) - dlen, "/..");
        (void)fsync_dir(dir);
        dir[dlen] = '\0';
        if (rename(tmp_path, out) != 0) {
            rc = -errno;
            goto fail_tmp;
        }
    }
    rc = fsync_dir(dir);
    if (rc != 0) {
        unlink(out);
        return rc;
    }
    return 0;
fail_tmp:
    unlink(tmp_path);
    return rc;
}

void gwc_blob_unlink(const struct gw_cache *c, const uint8_t key[GW_CACHE_KEY_LEN], uint64_t id)
{
    char path[GWC_PATH_MAX];
    /* No fsync: if the unlink is lost in a crash, the sweep finds an orphan. */
    if (gwc_blob_path(c, key, id, path, sizeof(path)) == 0) unlink(path);
}

static int unhex(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;          /* we only ever write lowercase */
}

int gwc_blob_parse(const char *sub, const char *name, uint8_t key[GW_CACHE_KEY_LEN],
                   uint64_t *id)
{
    uint64_t v = 0;

    if (strlen(name) != GWC_BLOB_NAME_LEN || name[2 * GW_CACHE_KEY_LEN] != '-') return -EINVAL;
    for (int i = 0; i < GW_CACHE_KEY_LEN; i++) {
        int hi = unhex(name[2 * i]), lo = unhex(name[2 * i + 1]);
        if (hi < 0 || lo < 0) return -EINVAL;
        key[i] = (uint8_t)(hi << 4 | lo);
    }
    for (int i = 2 * GW_CACHE_KEY_LEN + 1; i < GWC_BLOB_NAME_LEN; i++) {
        int d = unhex(name[i]);
        if (d < 0) return -EINVAL;
        v = v << 4 | (uint64_t)d;
    }
    /* A blob must sit in the fan-out directory of its key. */
    if (v == 0 || strlen(sub) != 2 || sub[0] != name[0] || sub[1] != name[1]) return -EINVAL;
    *id = v;
    return 0;
}

/* Is the entry d of the directory dfd a directory? */
static int is_dir(int dfd, const struct dirent *d)
{
    struct stat st;
    if (d->d_type != DT_UNKNOWN) return d->d_type == DT_DIR;
    return fstatat(dfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static int is_dot(const char *name)
{
    return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/*
 * Call fn for every file of the directory fd (consumed), which is rel in
 * the cache (not its subdirectories).  Names are parsed as blobs of the
 * fan-out directory sub, unless sub is NULL (tmp/) or not a fan-out name
 * ("" for blobs/).  The unlinks fn makes are relative to fd, so they stay
 * inside this directory whatever links may appear in paths meanwhile.
 */
static int walk_files(int fd, const char *rel, const char *sub, gwc_walk_fn fn, void *ud)
{
    char frel[GWC_PATH_MAX];
    uint8_t key[GW_CACHE_KEY_LEN];
    struct dirent *d;
    uint64_t id;
    int rc = 0;

    DIR *dir = fdopendir(fd);
    if (dir == NULL) {
        rc = -errno;
        close(fd);
        return rc;
    }
    int dfd = dirfd(dir);
    while ((errno = 0, d = readdir(dir)) != NULL) {
        if (is_dot(d->d_name) || is_dir(dfd, d)) continue;
        snprintf(frel, sizeof(frel), "%s/%s", rel, d->d_name);
        int parsed = sub != NULL && gwc_blob_parse(sub, d->d_name, key, &id) == 0;
        rc = fn(ud, dfd, frel, d->d_name, parsed ? key : NULL, parsed ? id : 0);
        if (rc != 0) break;
    }
    if (d == NULL && errno != 0) rc = -errno;
    closedir(dir);
    return rc;
}

int gwc_tmp_walk(struct gw_cache *c, gwc_walk_fn fn, void *ud)
{
    int fd = gwc_subdir_open(c, "tmp");
    if (fd < 0) return fd == -ENOENT ? 0 : fd;
    return walk_files(fd, "tmp", NULL, fn, ud);
}

/* The fan-out directories of blobs/ (the directory fd): their files to fn. */
static int walk_fanout(int fd, gwc_walk_fn fn, void *ud)
{
    char rel[16];
    struct dirent *d;
    int rc = 0;

    DIR *dir = fdopendir(fd);
    if (dir == NULL) {
        rc = -errno;
        close(fd);
        return rc;
    }
    rewinddir(dir);     /* fd is a dup: it shares the offset walk_files() left at the end */
    while ((errno = 0, d = readdir(dir)) != NULL) {
        /* Directories that are not ours (lost+found, ...) are left alone;
         * a link is never a directory here (is_dir does not follow it). */
        if (is_dot(d->d_name) || strlen(d->d_name) != 2 || unhex(d->d_name[0]) < 0 ||
            unhex(d->d_name[1]) < 0 || !is_dir(dirfd(dir), d))
            continue;
        int sub = openat(dirfd(dir), d->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) {
            rc = errno == ELOOP || errno == ENOTDIR ? GW_CACHE_EUNSAFE : -errno;
            break;
        }
        snprintf(rel, sizeof(rel), "blobs/%s", d->d_name);
        rc = walk_files(sub, rel, d->d_name, fn, ud);
        if (rc != 0) break;
    }
    if (rc == 0 && d == NULL && errno != 0) rc = -errno;
    closedir(dir);
    return rc;
}

int gwc_blob_walk(struct gw_cache *c, gwc_walk_fn fn, void *ud)
{
    int fd = gwc_subdir_open(c, "blobs");
    if (fd < 0) return fd == -ENOENT ? 0 : fd;
    int fd2 = dup(fd);
    if (fd2 < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    /* Files lying directly in blobs/ are never blobs. */
    int rc = walk_files(fd, "blobs", "", fn, ud);
    if (rc != 0) {
        close(fd2);
        return rc;
    }
    return walk_fanout(fd2, fn, ud);
}
