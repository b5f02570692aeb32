/*
 * test_cache.c - unit tests of cache/: layout, keys, commit/get/replace/
 * refresh/remove, NEGATIVE entries, eviction by size and by count, the
 * touch queue, the sweep at open, fsck, corrupt records, a full index map,
 * threads, and SIGKILL in the middle of commits.
 *
 * Each test runs in its own process (CK_FORK) and its own directory made
 * with mkdtemp() under one temporary directory that main() creates and
 * removes.  The tests include cache_int.h to reach the LMDB handle (to
 * plant corrupt records) and to rescan the totals, and the gateway's
 * util.h to check that gw_strerror() has a text for every cache error.
 */
#include "cache.h"
#include "cache_int.h"
#include "util.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "unit.h"

#include <openssl/evp.h>

/* Set by main() before any test runs; read-only afterwards. */
static char topdir[256];

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

/* A fresh directory for one test; the cache goes in "<it>/c" (not yet made). */
static void new_cache_dir(char *out, size_t len)
{
    char tmpl[300];
    snprintf(tmpl, sizeof(tmpl), "%s/t-XXXXXX", topdir);
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    snprintf(out, len, "%s/c", tmpl);
}

static struct gw_cache *open_cache(const char *dir, uint64_t max_size, uint64_t max_entries,
                                   uint64_t index_size, int sweep)
{
    struct gw_cache_options o = {.dir = dir, .max_size = max_size, .max_entries = max_entries,
                                 .index_size = index_size};
    struct gw_cache *c = NULL;
    char err[512] = "unset";
    int rc = sweep ? gw_cache_open(&c, &o, err, sizeof(err))
                   : gw_cache_open_nosweep(&c, &o, err, sizeof(err));
    ck_assert_msg(rc == 0, "open %s: %d %s", dir, rc, err);
    ck_assert_str_eq(err, "");
    ck_assert_ptr_nonnull(c);
    return c;
}

static void md5_hex(const void *p, size_t n, char out[33])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ck_assert_int_eq(EVP_Digest(p, n, md, &len, EVP_md5(), NULL), 1);
    gwc_hex(md, 16, out);
}

/* Bytes that differ by seed, so a blob mixed up with another shows. */
static void pattern(uint8_t *buf, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
}

static void key_of(const char *object, uint8_t key[GW_CACHE_KEY_LEN])
{
    gw_cache_key("c", object, key);
}

/*
 * An OBJECT entry "c/<object>" of len pattern bytes in *e, its bytes in a
 * new temp file (path, returned fd), not committed.  The fd or -errno.
 * No ck_assert: threads call it.
 */
static int prep_object(struct gw_cache *c, const char *object, size_t len, unsigned seed,
                       int64_t last_access, struct gw_cache_entry *e, char *path, size_t plen)
{
    uint8_t *buf = malloc(len + 1);

    pattern(buf, len, seed);
    memset(e, 0, sizeof(*e));
    key_of(object, e->key);
    e->kind = GW_CACHE_KIND_OBJECT;
    e->size = len;
    e->stored_at = 1000;
    e->last_access = last_access;
    md5_hex(buf, len, e->md5);
    snprintf(e->etag, sizeof(e->etag), "%s", e->md5);
    snprintf(e->last_modified, sizeof(e->last_modified), "Tue, 24 Nov 2026 17:00:00 GMT");
    snprintf(e->content_type, sizeof(e->content_type), "image/png");
    snprintf(e->name, sizeof(e->name), "c/%s", object);
    snprintf(e->meta, sizeof(e->meta), "X-Object-Meta-Seed: %u\r\n", seed);

    int fd = gw_cache_tmp_open(c, path, plen);
    if (fd >= 0 && write(fd, buf, len) != (ssize_t)len) {
        close(fd);
        unlink(path);
        fd = -EIO;
    }
    free(buf);
    return fd;
}

/*
 * Commit "c/<object>" as an OBJECT of len pattern bytes; returns what
 * gw_cache_commit() returned, the entry in *out.  No ck_assert: threads
 * call it.
 */
static int put_object(struct gw_cache *c, const char *object, size_t len, unsigned seed,
                      int64_t last_access, struct gw_cache_entry *out)
{
    struct gw_cache_entry e;
    char path[GWC_PATH_MAX];
    int fd = prep_object(c, object, len, seed, last_access, &e, path, sizeof(path));
    if (fd < 0) return fd;
    int rc = gw_cache_commit(c, &e, path, fd);
    close(fd);
    if (out != NULL) *out = e;
    return rc;
}

static int put_negative(struct gw_cache *c, const char *object, int64_t last_access)
{
    struct gw_cache_entry e;
    memset(&e, 0, sizeof(e));
    key_of(object, e.key);
    e.kind = GW_CACHE_KIND_NEGATIVE;
    e.stored_at = 1000;
    e.last_access = last_access;
    snprintf(e.name, sizeof(e.name), "c/%s", object);
    return gw_cache_commit(c, &e, NULL, -1);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int entry_exists(struct gw_cache *c, const char *object)
{
    struct gw_cache_entry e;
    uint8_t key[GW_CACHE_KEY_LEN];
    key_of(object, key);
    int rc = gw_cache_get(c, key, &e);
    ck_assert_msg(rc == 0 || rc == GW_CACHE_ENOTFOUND, "get %s: %d", object, rc);
    return rc == 0;
}

/* gw_cache_stats() counts n evictions, all for reason why. */
static void assert_evicted_for(struct gw_cache *c, enum gw_cache_evict_reason why, uint64_t n)
{
    struct gw_cache_stats cs;
    gw_cache_stats(c, &cs);
    for (int r = 0; r < GW_CACHE_EVICT_NREASONS; r++)
        ck_assert_msg(cs.evictions[r] == (r == (int)why ? n : 0), "evictions for %s: %llu",
                      gw_cache_evict_reason_name((enum gw_cache_evict_reason)r),
                      (unsigned long long)cs.evictions[r]);
    ck_assert_uint_eq(cs.entries, atomic_load(&c->entries));
    ck_assert_uint_eq(cs.max_size, c->max_size);
    ck_assert_uint_eq(cs.max_entries, c->max_entries);
}

static char *blob_path_of(struct gw_cache *c, const struct gw_cache_entry *e)
{
    static char path[GWC_PATH_MAX];
    ck_assert_int_eq(gw_cache_blob_path(c, e, path, sizeof(path)), 0);
    return path;
}

static int count_in;
static int count_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)path;
    (void)st;
    (void)ftw;
    if (type == FTW_F) count_in++;
    return 0;
}

/* Regular files under "<dir>/<sub>". */
static int count_files(const char *dir, const char *sub)
{
    char path[GWC_PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    count_in = 0;
    ck_assert_int_eq(nftw(path, count_entry, 16, FTW_PHYS), 0);
    return count_in;
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void assert_consistent(struct gw_cache *c)
{
    uint64_t n, b, rn, rb;
    gw_cache_usage(c, &n, &b);
    ck_assert_int_eq(gwc_scan_totals(c, &rn, &rb, NULL), 0);
    ck_assert_uint_eq(n, rn);
    ck_assert_uint_eq(b, rb);
}

/* ------------------------------------------------------------------------ */
/* Layout, keys                                                              */

START_TEST(test_open_creates_layout)
{
    char dir[512], path[600];
    uint64_t n = 1, b = 1, t = 1, o = 1, d = 1;

    new_cache_dir(dir, sizeof(dir));
    ck_assert(!exists(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    static const char *const subs[] = {"index/data.mdb", "index/lock.mdb", "tmp", "blobs",
                                       "blobs/00", "blobs/9a", "blobs/ff", "lock"};
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
        ck_assert_msg(exists(path), "%s missing", path);
    }
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(b, 0);
    ck_assert_uint_eq(gw_cache_evictions(c), 0);
    gw_cache_last_sweep(c, &t, &o, &d);
    ck_assert_uint_eq(t + o + d, 0);
    gw_cache_close(c);

    /* Opening again (trailing slash and all) finds the same empty cache. */
    snprintf(path, sizeof(path), "%s//", dir);
    c = open_cache(path, 0, 0, 1 << 20, 1);
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 0);
    gw_cache_close(c);
    gw_cache_close(NULL);
}
END_TEST

START_TEST(test_open_twice_is_busy)
{
    char dir[512], err[512] = "";
    struct gw_cache *c2 = (struct gw_cache *)1;

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    struct gw_cache_options o = {.dir = dir, .index_size = 1 << 20};
    ck_assert_int_eq(gw_cache_open(&c2, &o, err, sizeof(err)), -EBUSY);
    ck_assert_ptr_null(c2);
    ck_assert_msg(strstr(err, "in use") != NULL, "%s", err);
    ck_assert_int_eq(gw_cache_open_nosweep(&c2, &o, err, sizeof(err)), -EBUSY);
    gw_cache_close(c);
    /* Closed: the lock is gone. */
    c = open_cache(dir, 0, 0, 1 << 20, 1);
    gw_cache_close(c);
}
END_TEST

START_TEST(test_open_errors)
{
    char dir[512], file[600], err[512] = "";
    struct gw_cache *c = NULL;
    struct gw_cache_options o = {.dir = NULL};

    ck_assert_int_eq(gw_cache_open(&c, &o, err, sizeof(err)), -EINVAL);
    ck_assert_str_ne(err, "");
    new_cache_dir(dir, sizeof(dir));
    snprintf(file, sizeof(file), "%s.file", dir);
    write_file(file, "x", 1);
    o.dir = file;   /* a regular file where the directory should be */
    ck_assert_int_eq(gw_cache_open(&c, &o, err, sizeof(err)), -ENOTDIR);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err, file) != NULL, "%s", err);
}
END_TEST

START_TEST(test_key_is_sha256)
{
    uint8_t key[GW_CACHE_KEY_LEN];
    char hex[65];

    /* printf %s c/o | sha256sum */
    gw_cache_key("c", "o", key);
    gwc_hex(key, sizeof(key), hex);
    ck_assert_str_eq(hex, "6e9dccd27b7e7c76f18d55e623f09eadd4e1260a3ea4a26d6458854a4265c83f");
    /* printf %s fractals/abc | sha256sum */
    gw_cache_key("fractals", "abc", key);
    gwc_hex(key, sizeof(key), hex);
    ck_assert_str_eq(hex, "5c9945c5ad10df224cdb29d219d97c596d0800180e652e0b71578883bf6f7693");
}
END_TEST

/* SHA-256 of "container/object" in one call, as the key is defined. */
static int oneshot_key(const char *container, const char *object, uint8_t key[GW_CACHE_KEY_LEN])
{
    size_t cl = strlen(container), ol = strlen(object);
    char *name = malloc(cl + ol + 2);
    unsigned int n = 0;
    int ok;

    memcpy(name, container, cl);
    name[cl] = '/';
    memcpy(name + cl + 1, object, ol + 1);
    ok = EVP_Digest(name, cl + 1 + ol, key, &n, EVP_sha256(), NULL) == 1 && n == GW_CACHE_KEY_LEN;
    free(name);
    return ok;
}

/* Names of every length class, the empty ones and bytes above 0x7f. */
static void key_case(unsigned i, char *container, char *object, size_t len)
{
    size_t olen = (size_t)(i * 37) % (len - 1);
    snprintf(container, 64, "%s", i % 5 == 0 ? "" : i % 2 ? "fractals" : "c\xc3\xa9");
    for (size_t j = 0; j < olen; j++) object[j] = (char)('a' + (i + j) % 26);
    object[olen] = '\0';
    if (i % 7 == 0 && olen > 0) object[0] = (char)0xe2;
}

/* Keys reuse a context per thread: each must still be the digest of its own name. */
START_TEST(test_key_matches_oneshot)
{
    char container[64], object[4200];
    uint8_t a[GW_CACHE_KEY_LEN], b[GW_CACHE_KEY_LEN];

    for (unsigned i = 0; i < 300; i++) {
        key_case(i, container, object, sizeof(object));
        gw_cache_key(container, object, a);
        ck_assert(oneshot_key(container, object, b));
        ck_assert_msg(memcmp(a, b, sizeof(a)) == 0, "case %u", i);
    }
}
END_TEST

static void *key_thread(void *arg)
{
    char container[64], object[4200];
    uint8_t a[GW_CACHE_KEY_LEN], b[GW_CACHE_KEY_LEN];
    uintptr_t bad = 0;

    for (unsigned i = 0; i < 2000; i++) {
        key_case(i + (unsigned)(uintptr_t)arg * 1000, container, object, sizeof(object));
        gw_cache_key(container, object, a);
        if (!oneshot_key(container, object, b) || memcmp(a, b, sizeof(a)) != 0) bad++;
    }
    return (void *)bad;
}

/* Threads hashing at once share nothing; their contexts are freed when they exit. */
START_TEST(test_key_threads)
{
    pthread_t th[8];
    void *bad;

    for (uintptr_t i = 0; i < 8; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, key_thread, (void *)i), 0);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(pthread_join(th[i], &bad), 0);
        ck_assert_msg(bad == NULL, "thread %d: %lu wrong keys", i, (unsigned long)(uintptr_t)bad);
    }
}
END_TEST

/* The gateway prints the cache's errors with gw_strerror(): one table for both. */
START_TEST(test_error_texts)
{
    ck_assert_str_eq(gw_strerror(GW_CACHE_ECORRUPT), "cache index record unreadable");
    ck_assert_str_eq(gw_strerror(GW_CACHE_ENOTFOUND), "not found");
    ck_assert_str_eq(gw_strerror(GW_CACHE_ELIMIT), "limit reached");
    ck_assert_str_eq(gw_strerror(GW_CACHE_EUNSAFE), "unsafe file or directory in the cache");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Commit, get, replace, refresh, remove                                     */

START_TEST(test_commit_get_roundtrip)
{
    char dir[512], path[GWC_PATH_MAX], tmp[GWC_PATH_MAX], hex[65];
    struct gw_cache_entry e, g;
    uint8_t body[5000], back[5001];
    uint64_t n, b;

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);

    memset(&e, 0, sizeof(e));
    pattern(body, sizeof(body), 7);
    gw_cache_key("fractals", "x", e.key);
    e.kind = GW_CACHE_KIND_SEGMENT;
    e.size = sizeof(body);
    e.stored_at = 1764000000123;
    e.last_access = 1764000000456;
    md5_hex(body, sizeof(body), e.md5);
    memset(e.etag, 'e', sizeof(e.etag) - 1);
    memset(e.last_modified, 'l', sizeof(e.last_modified) - 1);
    memset(e.content_type, 't', sizeof(e.content_type) - 1);
    /* The longest name and meta that fit. */
    memset(e.name, 'n', sizeof(e.name) - 1);
    memcpy(e.name, "fractals/", 9);
    for (size_t i = 0; i + 1 < sizeof(e.meta); i++) e.meta[i] = "Name: value\r\n"[i % 13];

    int fd = gw_cache_tmp_open(c, tmp, sizeof(tmp));
    ck_assert_int_ge(fd, 0);
    snprintf(path, sizeof(path), "%s/tmp/", dir);
    ck_assert(strncmp(tmp, path, strlen(path)) == 0);
    ck_assert(exists(tmp));
    ck_assert_int_eq(write(fd, body, sizeof(body)), (ssize_t)sizeof(body));
    e.blob_id = 0;
    ck_assert_int_eq(gw_cache_commit(c, &e, tmp, fd), 0);
    close(fd);
    ck_assert_uint_ne(e.blob_id, 0);
    ck_assert(!exists(tmp));

    ck_assert_int_eq(gw_cache_get(c, e.key, &g), 0);
    ck_assert_int_eq(memcmp(&e, &g, sizeof(e)), 0);     /* every field, every byte */

    /* blobs/<2 hex>/<64 hex key>-<16 hex id>, holding the bytes. */
    gwc_hex(e.key, sizeof(e.key), hex);
    snprintf(path, sizeof(path), "%s/blobs/%.2s/%s-%016llx", dir, hex, hex,
             (unsigned long long)e.blob_id);
    ck_assert_str_eq(blob_path_of(c, &g), path);
    fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(read(fd, back, sizeof(back)), (ssize_t)sizeof(body));
    ck_assert_int_eq(memcmp(back, body, sizeof(body)), 0);
    close(fd);

    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(b, sizeof(body));
    ck_assert_int_eq(count_files(dir, "tmp"), 0);

    /* It survives close and reopen unchanged. */
    gw_cache_close(c);
    c = open_cache(dir, 0, 0, 1 << 20, 1);
    memset(&g, 0, sizeof(g));
    ck_assert_int_eq(gw_cache_get(c, e.key, &g), 0);
    ck_assert_int_eq(memcmp(&e, &g, sizeof(e)), 0);
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(b, sizeof(body));
    gw_cache_close(c);
}
END_TEST

START_TEST(test_get_missing)
{
    char dir[512];
    struct gw_cache_entry g;
    uint8_t key[GW_CACHE_KEY_LEN];

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    key_of("nothing", key);
    ck_assert_int_eq(gw_cache_get(c, key, &g), GW_CACHE_ENOTFOUND);
    ck_assert_int_eq(put_object(c, "something", 10, 1, 1, NULL), 0);
    ck_assert_int_eq(gw_cache_get(c, key, &g), GW_CACHE_ENOTFOUND);
    gw_cache_close(c);
}
END_TEST

START_TEST(test_commit_replaces)
{
    char dir[512], oldpath[GWC_PATH_MAX];
    struct gw_cache_entry e1, e2, g;
    uint8_t want[3000], got[3001];
    uint64_t n, b;

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    ck_assert_int_eq(put_object(c, "o", sizeof(want), 1, 1, &e1), 0);
    snprintf(oldpath, sizeof(oldpath), "%s", blob_path_of(c, &e1));
    int fd = open(oldpath, O_RDONLY);       /* a reader in the middle of a send */
    ck_assert_int_ge(fd, 0);

    ck_assert_int_eq(put_object(c, "o", 1234, 2, 2, &e2), 0);
    ck_assert_uint_ne(e2.blob_id, e1.blob_id);
    ck_assert(!exists(oldpath));
    ck_assert(exists(blob_path_of(c, &e2)));
    ck_assert_int_eq(gw_cache_get(c, e2.key, &g), 0);
    ck_assert_uint_eq(g.blob_id, e2.blob_id);
    ck_assert_uint_eq(g.size, 1234);
    ck_assert_str_eq(g.md5, e2.md5);

    /* The reader still gets every old byte. */
    pattern(want, sizeof(want), 1);
    ck_assert_int_eq(read(fd, got, sizeof(got)), (ssize_t)sizeof(want));
    ck_assert_int_eq(memcmp(got, want, sizeof(want)), 0);
    close(fd);

    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(b, 1234);
    ck_assert_int_eq(count_files(dir, "blobs"), 1);
    assert_consistent(c);
    gw_cache_close(c);
}
END_TEST

/* A new cache in dir holding one object of 100 bytes, *e. */
static struct gw_cache *cache_of_one(char *dir, size_t len, struct gw_cache_entry *e)
{
    new_cache_dir(dir, len);
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    ck_assert_int_eq(put_object(c, "o", 100, 1, 77, e), 0);
    return c;
}

START_TEST(test_refresh)
{
    char dir[512];
    struct gw_cache_entry e, g;
    uint8_t key[GW_CACHE_KEY_LEN];

    struct gw_cache *c = cache_of_one(dir, sizeof(dir), &e);
    ck_assert_int_eq(gw_cache_refresh(c, e.key, 1764000999000), 0);
    ck_assert_int_eq(gw_cache_get(c, e.key, &g), 0);
    ck_assert_int_eq(g.stored_at, 1764000999000);
    /* Nothing else changes. */
    g.stored_at = e.stored_at;
    ck_assert_int_eq(memcmp(&e, &g, sizeof(e)), 0);
    key_of("gone", key);
    ck_assert_int_eq(gw_cache_refresh(c, key, 5), GW_CACHE_ENOTFOUND);
    ck_assert_int_eq(gw_cache_get(c, key, &g), GW_CACHE_ENOTFOUND);
    gw_cache_close(c);
}
END_TEST

/* A soft purge: stored_at only ever moves back, and nothing else changes. */
START_TEST(test_expire)
{
    char dir[512];
    struct gw_cache_entry e, g;
    uint8_t key[GW_CACHE_KEY_LEN];

    struct gw_cache *c = cache_of_one(dir, sizeof(dir), &e);
    ck_assert_int_eq(gw_cache_expire(c, e.key, e.stored_at - 5000), 0);
    ck_assert_int_eq(gw_cache_get(c, e.key, &g), 0);
    ck_assert_int_eq(g.stored_at, e.stored_at - 5000);
    /* A later time leaves an older entry as old as it was. */
    ck_assert_int_eq(gw_cache_expire(c, e.key, e.stored_at), 0);
    ck_assert_int_eq(gw_cache_get(c, e.key, &g), 0);
    ck_assert_int_eq(g.stored_at, e.stored_at - 5000);
    g.stored_at = e.stored_at;
    ck_assert_int_eq(memcmp(&e, &g, sizeof(e)), 0);
    /* The blob stays. */
    uint64_t n, b;
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(b, 100);
    key_of("gone", key);
    ck_assert_int_eq(gw_cache_expire(c, key, 5), GW_CACHE_ENOTFOUND);
    assert_consistent(c);
    gw_cache_close(c);
}
END_TEST

START_TEST(test_remove)
{
    char dir[512], path[GWC_PATH_MAX];
    struct gw_cache_entry e, g;
    uint64_t n, b;

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    ck_assert_int_eq(put_object(c, "a", 100, 1, 1, &e), 0);
    ck_assert_int_eq(put_object(c, "b", 50, 2, 1, NULL), 0);
    snprintf(path, sizeof(path), "%s", blob_path_of(c, &e));
    ck_assert(exists(path));
    ck_assert_int_eq(gw_cache_remove(c, e.key), 0);
    ck_assert(!exists(path));
    ck_assert_int_eq(gw_cache_get(c, e.key, &g), GW_CACHE_ENOTFOUND);
    ck_assert_int_eq(gw_cache_remove(c, e.key), GW_CACHE_ENOTFOUND);
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(b, 50);
    ck_assert(entry_exists(c, "b"));
    assert_consistent(c);
    gw_cache_close(c);
}
END_TEST

START_TEST(test_negative)
{
    char dir[512], path[GWC_PATH_MAX], oldpath[GWC_PATH_MAX];
    struct gw_cache_entry e, g;
    uint64_t n, b;

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    ck_assert_int_eq(put_negative(c, "404", 5), 0);
    key_of("404", e.key);
    ck_assert_int_eq(gw_cache_get(c, e.key, &g), 0);
    ck_assert_int_eq(g.kind, GW_CACHE_KIND_NEGATIVE);
    ck_assert_uint_eq(g.blob_id, 0);
    ck_assert_uint_eq(g.size, 0);
    ck_assert_str_eq(g.name, "c/404");
    ck_assert_int_eq(gw_cache_blob_path(c, &g, path, sizeof(path)), -EINVAL);
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 1);    /* a NEGATIVE entry counts, with 0 bytes */
    ck_assert_uint_eq(b, 0);
    ck_assert_int_eq(count_files(dir, "blobs"), 0);

    /* The object appears, then is deleted from Swift again. */
    ck_assert_int_eq(put_object(c, "404", 300, 1, 6, &e), 0);
    snprintf(oldpath, sizeof(oldpath), "%s", blob_path_of(c, &e));
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(b, 300);
    ck_assert_int_eq(put_negative(c, "404", 7), 0);
    ck_assert(!exists(oldpath));
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(b, 0);
    ck_assert_int_eq(gw_cache_remove(c, e.key), 0);
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 0);
    assert_consistent(c);
    gw_cache_close(c);
}
END_TEST

/* NEGATIVE records of an earlier version go, in chunks; nothing else does. */
START_TEST(test_drop_negative)
{
    char dir[512], obj[32];
    uint64_t n, b, removed = 99;

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    ck_assert_int_eq(gw_cache_drop_negative(c, &removed), 0);    /* an empty index */
    ck_assert_uint_eq(removed, 0);
    /* More than one chunk of them, objects in between. */
    for (int i = 0; i < 3 * GWC_EVICT_CHUNK + 5; i++) {
        snprintf(obj, sizeof(obj), "neg%d", i);
        ck_assert_int_eq(put_negative(c, obj, i), 0);
        if (i % 20 == 0) {
            snprintf(obj, sizeof(obj), "obj%d", i);
            ck_assert_int_eq(put_object(c, obj, 50, (unsigned)i, i, NULL), 0);
        }
    }
    uint64_t writes = gw_cache_index_writes(c);
    ck_assert_int_eq(gw_cache_drop_negative(c, &removed), 0);
    ck_assert_uint_eq(removed, 3 * GWC_EVICT_CHUNK + 5);
    /* One write transaction per chunk, not one per record. */
    ck_assert_uint_le(gw_cache_index_writes(c) - writes, 4);
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 10);
    ck_assert_uint_eq(b, 500);
    for (int i = 0; i < 3 * GWC_EVICT_CHUNK + 5; i++) {
        snprintf(obj, sizeof(obj), "neg%d", i);
        ck_assert(!entry_exists(c, obj));
        snprintf(obj, sizeof(obj), "obj%d", i);
        ck_assert_int_eq(entry_exists(c, obj), i % 20 == 0);
    }
    assert_consistent(c);
    ck_assert_int_eq(gw_cache_drop_negative(c, NULL), 0);
    gw_cache_close(c);
}
END_TEST

START_TEST(test_commit_rejects)
{
    char dir[512], tmp[GWC_PATH_MAX];
    struct gw_cache_entry e;
    uint64_t n, b;

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    memset(&e, 0, sizeof(e));
    key_of("o", e.key);
    e.kind = GW_CACHE_KIND_OBJECT;

    /* A size that is not the file's. */
    int fd = gw_cache_tmp_open(c, tmp, sizeof(tmp));
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "abc", 3), 3);
    e.size = 4;
    ck_assert_int_eq(gw_cache_commit(c, &e, tmp, fd), -EINVAL);
    ck_assert(!exists(tmp));    /* unlinked on error */
    close(fd);

    /* A name that does not end inside its array. */
    fd = gw_cache_tmp_open(c, tmp, sizeof(tmp));
    e.size = 0;
    memset(e.name, 'x', sizeof(e.name));
    ck_assert_int_eq(gw_cache_commit(c, &e, tmp, fd), -EINVAL);
    ck_assert(!exists(tmp));
    close(fd);
    e.name[0] = '\0';

    /* An unknown kind; a NEGATIVE with a file. */
    e.kind = 9;
    ck_assert_int_eq(gw_cache_commit(c, &e, NULL, -1), -EINVAL);
    fd = gw_cache_tmp_open(c, tmp, sizeof(tmp));
    e.kind = GW_CACHE_KIND_NEGATIVE;
    ck_assert_int_eq(gw_cache_commit(c, &e, tmp, fd), -EINVAL);
    ck_assert(!exists(tmp));
    close(fd);

    /* A blob kind without its file. */
    e.kind = GW_CACHE_KIND_MANIFEST;
    ck_assert_int_eq(gw_cache_commit(c, &e, NULL, -1), -EINVAL);

    ck_assert_int_eq(gw_cache_get(c, e.key, &e), GW_CACHE_ENOTFOUND);
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n + b, 0);
    ck_assert_int_eq(count_files(dir, "tmp") + count_files(dir, "blobs"), 0);

    /* An empty blob is fine. */
    ck_assert_int_eq(put_object(c, "empty", 0, 1, 1, &e), 0);
    ck_assert(exists(blob_path_of(c, &e)));
    gw_cache_close(c);
}
END_TEST

START_TEST(test_blob_ids_grow_across_restarts)
{
    char dir[512];
    struct gw_cache_entry e;
    uint64_t prev = 0;

    new_cache_dir(dir, sizeof(dir));
    for (int round = 0; round < 3; round++) {
        struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
        for (int i = 0; i < 3; i++) {
            ck_assert_int_eq(put_object(c, "o", 10, (unsigned)i, 1, &e), 0);
            ck_assert_uint_gt(e.blob_id, prev);
            prev = e.blob_id;
        }
        gw_cache_close(c);
    }
    /* Only the last blob is left. */
    ck_assert_int_eq(count_files(dir, "blobs"), 1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Touches and eviction                                                      */

START_TEST(test_touch_and_flush)
{
    char dir[512];
    struct gw_cache_entry e, g;
    uint8_t other[GW_CACHE_KEY_LEN];

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    ck_assert_int_eq(put_object(c, "a", 10, 1, 1, &e), 0);
    ck_assert_int_eq(gw_cache_flush_touches(c), 0);     /* nothing queued */

    int64_t before = gwc_now_ms();
    gw_cache_touch(c, e.key);
    gw_cache_touch(c, e.key);
    key_of("never-committed", other);
    gw_cache_touch(c, other);
    ck_assert_int_eq(gw_cache_get(c, e.key, &g), 0);
    ck_assert_int_eq(g.last_access, 1);                 /* queued, not written */
    ck_assert_int_eq(gw_cache_flush_touches(c), 0);
    ck_assert_int_eq(gw_cache_get(c, e.key, &g), 0);
    ck_assert_int_ge(g.last_access, before);
    ck_assert_int_le(g.last_access, gwc_now_ms());
    ck_assert_int_eq(gw_cache_get(c, other, &g), GW_CACHE_ENOTFOUND);

    /* A full queue drops its oldest keys: the touch of a is lost. */
    ck_assert_int_eq(put_object(c, "b", 10, 1, 1, &e), 0);
    gw_cache_touch(c, e.key);
    for (uint32_t i = 0; i < GWC_TOUCH_QUEUE; i++) {
        memset(other, 0, sizeof(other));
        memcpy(other, &i, sizeof(i));
        gw_cache_touch(c, other);
    }
    ck_assert_int_eq(gw_cache_flush_touches(c), 0);
    ck_assert_int_eq(gw_cache_get(c, e.key, &g), 0);
    ck_assert_int_eq(g.last_access, 1);

    /* Close writes what is queued. */
    gw_cache_touch(c, e.key);
    gw_cache_close(c);
    c = open_cache(dir, 0, 0, 1 << 20, 1);
    ck_assert_int_eq(gw_cache_get(c, e.key, &g), 0);
    ck_assert_int_ge(g.last_access, before);
    gw_cache_close(c);
}
END_TEST

START_TEST(test_evict_by_size)
{
    char dir[512], obj[32], p2[GWC_PATH_MAX];
    struct gw_cache_entry e;
    uint8_t key[GW_CACHE_KEY_LEN];
    uint64_t n, b;

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 10000, 0, 1 << 20, 1);
    for (int i = 0; i < 10; i++) {
        snprintf(obj, sizeof(obj), "k%d", i);
        ck_assert_int_eq(put_object(c, obj, 1000, (unsigned)i, 1000 + i, &e), 0);
        if (i == 2) snprintf(p2, sizeof(p2), "%s", blob_path_of(c, &e));
    }
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(b, 10000);        /* at the cap is not over it */
    ck_assert_uint_eq(gw_cache_evictions(c), 0);
    ck_assert_int_eq(gw_cache_evict(c), 0);
    ck_assert_uint_eq(gw_cache_evictions(c), 0);

    /* k0 and k1 were used just now: the oldest are k2 and k3. */
    key_of("k0", key);
    gw_cache_touch(c, key);
    key_of("k1", key);
    gw_cache_touch(c, key);
    ck_assert_int_eq(gw_cache_flush_touches(c), 0);
    ck_assert_int_eq(put_object(c, "k10", 1000, 10, 2000, NULL), 0);
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(b, 9000);         /* down to 90% */
    ck_assert_uint_eq(n, 9);
    ck_assert_uint_eq(gw_cache_evictions(c), 2);
    assert_evicted_for(c, GW_CACHE_EVICT_SIZE, 2);
    ck_assert(!entry_exists(c, "k2"));
    ck_assert(!entry_exists(c, "k3"));
    ck_assert(!exists(p2));
    ck_assert(entry_exists(c, "k0"));
    ck_assert(entry_exists(c, "k1"));
    ck_assert(entry_exists(c, "k4"));

    for (int i = 11; i < 60; i++) {
        snprintf(obj, sizeof(obj), "k%d", i);
        ck_assert_int_eq(put_object(c, obj, 700 + 37 * (size_t)(i % 9), (unsigned)i, 2000 + i, NULL), 0);
        gw_cache_usage(c, &n, &b);
        ck_assert_uint_le(b, 10000);
        ck_assert(entry_exists(c, obj));    /* the newest is never evicted */
    }
    ck_assert(entry_exists(c, "k0"));
    ck_assert(entry_exists(c, "k1"));
    ck_assert(!entry_exists(c, "k10"));
    ck_assert_uint_eq(gw_cache_evictions(c), 60 - n);
    ck_assert_int_eq(count_files(dir, "blobs"), (int)n);
    assert_consistent(c);

    /* A single blob bigger than the cap stays; everything else goes. */
    ck_assert_int_eq(put_object(c, "huge", 20000, 1, 3000, NULL), 0);
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(b, 20000);
    ck_assert(entry_exists(c, "huge"));
    gw_cache_close(c);
}
END_TEST

/* Many commits in one transaction: each its own result, the later of one key wins. */
START_TEST(test_commit_many)
{
    char dir[512], paths[5][GWC_PATH_MAX];
    struct gw_cache_entry e[5], g;
    struct gw_cache_commit v[5];
    int fds[5];

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    fds[0] = prep_object(c, "a", 100, 1, 1, &e[0], paths[0], sizeof(paths[0]));
    fds[1] = prep_object(c, "b", 200, 2, 2, &e[1], paths[1], sizeof(paths[1]));
    fds[2] = prep_object(c, "bad", 300, 3, 3, &e[2], paths[2], sizeof(paths[2]));
    e[2].size = 301;                    /* the index may not promise a byte more */
    fds[4] = prep_object(c, "a", 400, 4, 4, &e[4], paths[4], sizeof(paths[4]));
    memset(&e[3], 0, sizeof(e[3]));
    key_of("gone", e[3].key);
    e[3].kind = GW_CACHE_KIND_NEGATIVE;
    snprintf(e[3].name, sizeof(e[3].name), "c/gone");
    fds[3] = -1;
    for (int i = 0; i < 5; i++) {
        if (i != 3) ck_assert_int_ge(fds[i], 0);
        v[i] = (struct gw_cache_commit){.e = &e[i], .tmp_path = i == 3 ? NULL : paths[i],
                                        .fd = fds[i], .rc = 12345};
    }
    gw_cache_commit_many(c, v, 5);
    ck_assert_int_eq(v[0].rc, 0);
    ck_assert_int_eq(v[1].rc, 0);
    ck_assert_int_eq(v[2].rc, -EINVAL);
    ck_assert_int_eq(v[3].rc, 0);
    ck_assert_int_eq(v[4].rc, 0);
    for (int i = 0; i < 5; i++) {
        if (fds[i] >= 0) close(fds[i]);
        ck_assert(!exists(paths[i]) || i == 3);     /* renamed or removed, never left */
    }
    /* "a" is the later one's; the earlier one's blob is gone. */
    ck_assert_int_eq(gw_cache_get(c, e[4].key, &g), 0);
    ck_assert_uint_eq(g.size, 400);
    ck_assert_uint_eq(g.blob_id, e[4].blob_id);
    ck_assert_str_eq(g.md5, e[4].md5);
    ck_assert_int_eq(gw_cache_get(c, e[1].key, &g), 0);
    ck_assert_int_eq(gw_cache_get(c, e[3].key, &g), 0);
    ck_assert_int_eq(g.kind, GW_CACHE_KIND_NEGATIVE);
    ck_assert(!entry_exists(c, "bad"));
    ck_assert_int_eq(count_files(dir, "blobs"), 2);
    ck_assert_int_eq(count_files(dir, "tmp"), 0);
    uint64_t n, b;
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(b, 600);
    assert_consistent(c);
    gw_cache_commit_many(c, v, 0);      /* nothing to do is not an error */
    gw_cache_close(c);
}
END_TEST

static int keep_calls;

/* Keeps a held record of 100 bytes: stands for "the index holds a newer one". */
static int keep_hundred(const struct gw_cache_entry *held, const struct gw_cache_entry *e)
{
    keep_calls++;
    ck_assert_mem_eq(held->key, e->key, GW_CACHE_KEY_LEN);
    return held->size == 100;
}

START_TEST(test_commit_keep_old)
{
    char dir[512], paths[3][GWC_PATH_MAX];
    struct gw_cache_entry held, e[3], g;
    struct gw_cache_commit v[2];
    int fds[3];

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    ck_assert_int_eq(put_object(c, "a", 100, 1, 1, &held), 0);
    fds[0] = prep_object(c, "a", 200, 2, 2, &e[0], paths[0], sizeof(paths[0]));
    fds[1] = prep_object(c, "b", 300, 3, 3, &e[1], paths[1], sizeof(paths[1]));
    for (int i = 0; i < 2; i++) {
        ck_assert_int_ge(fds[i], 0);
        v[i] = (struct gw_cache_commit){.e = &e[i], .tmp_path = paths[i], .fd = fds[i],
                                        .keep_old = keep_hundred, .rc = 12345, .kept_old = 7};
    }
    keep_calls = 0;
    gw_cache_commit_many(c, v, 2);
    ck_assert_int_eq(keep_calls, 1);    /* asked only where a record is held */
    ck_assert_int_eq(v[0].rc, 0);
    ck_assert_int_eq(v[0].kept_old, 1);
    ck_assert_int_eq(v[1].rc, 0);
    ck_assert_int_eq(v[1].kept_old, 0);
    ck_assert_int_eq(gw_cache_get(c, held.key, &g), 0);
    ck_assert_uint_eq(g.size, 100);
    ck_assert_uint_eq(g.blob_id, held.blob_id);
    ck_assert_int_eq(gw_cache_get(c, e[1].key, &g), 0);
    ck_assert_uint_eq(g.size, 300);
    /* The dropped entry's blob was published, then unlinked: no orphan. */
    ck_assert_int_eq(count_files(dir, "blobs"), 2);
    ck_assert_int_eq(count_files(dir, "tmp"), 0);
    uint64_t n, b;
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(b, 400);
    /* A test that says no lets the entry replace the held one. */
    fds[2] = prep_object(c, "b", 500, 5, 5, &e[2], paths[2], sizeof(paths[2]));
    ck_assert_int_ge(fds[2], 0);
    v[0] = (struct gw_cache_commit){.e = &e[2], .tmp_path = paths[2], .fd = fds[2],
                                    .keep_old = keep_hundred};
    gw_cache_commit_many(c, v, 1);
    ck_assert_int_eq(v[0].rc, 0);
    ck_assert_int_eq(v[0].kept_old, 0);
    ck_assert_int_eq(gw_cache_get(c, e[2].key, &g), 0);
    ck_assert_uint_eq(g.size, 500);
    ck_assert_int_eq(count_files(dir, "blobs"), 2);
    for (int i = 0; i < 3; i++) close(fds[i]);
    assert_consistent(c);
    gw_cache_close(c);
}
END_TEST

START_TEST(test_evict_by_entries)
{
    char dir[512], obj[32];
    uint64_t n, b;

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 20, 1 << 20, 1);
    for (int i = 0; i < 100; i++) {
        snprintf(obj, sizeof(obj), "n%d", i);
        if (i % 3 == 0) ck_assert_int_eq(put_object(c, obj, 10, (unsigned)i, i, NULL), 0);
        else ck_assert_int_eq(put_negative(c, obj, i), 0);
        gw_cache_usage(c, &n, &b);
        ck_assert_uint_le(n, 20);
    }
    ck_assert_uint_ge(n, 18);
    for (int i = 0; i < 100; i++) {
        snprintf(obj, sizeof(obj), "n%d", i);
        ck_assert_int_eq(entry_exists(c, obj), i >= 100 - (int)n);
    }
    ck_assert_uint_eq(gw_cache_evictions(c), 100 - n);
    assert_evicted_for(c, GW_CACHE_EVICT_ENTRIES, 100 - n);
    assert_consistent(c);
    gw_cache_close(c);

    /* Lower caps at the next open: gw_cache_evict() applies them. */
    c = open_cache(dir, 0, 10, 1 << 20, 1);
    ck_assert_int_eq(gw_cache_evict(c), 0);
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 9);
    ck_assert(entry_exists(c, "n99"));
    ck_assert(!entry_exists(c, "n90"));
    gw_cache_close(c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Sweep and fsck                                                            */

START_TEST(test_sweep_at_open)
{
    char dir[512], path[GWC_PATH_MAX], orphan[GWC_PATH_MAX], junk[GWC_PATH_MAX],
        junk2[GWC_PATH_MAX], tmp[GWC_PATH_MAX], pa[GWC_PATH_MAX], pb[GWC_PATH_MAX],
        pc[GWC_PATH_MAX], pd[GWC_PATH_MAX];
    struct gw_cache_entry a, bb, cc, d;
    uint64_t t, o, dr, n, b;

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    ck_assert_int_eq(put_object(c, "a", 100, 1, 1, &a), 0);
    ck_assert_int_eq(put_object(c, "b", 200, 2, 1, &bb), 0);
    ck_assert_int_eq(put_object(c, "c", 300, 3, 1, &cc), 0);
    ck_assert_int_eq(put_object(c, "d", 400, 4, 1, &d), 0);
    ck_assert_int_eq(put_negative(c, "n", 1), 0);
    snprintf(pb, sizeof(pb), "%s", blob_path_of(c, &bb));
    snprintf(pd, sizeof(pd), "%s", blob_path_of(c, &d));
    snprintf(pa, sizeof(pa), "%s", blob_path_of(c, &a));
    snprintf(pc, sizeof(pc), "%s", blob_path_of(c, &cc));
    /* A fill in progress when the process dies. */
    int fd = gw_cache_tmp_open(c, tmp, sizeof(tmp));
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "partial", 7), 7);
    close(fd);
    gw_cache_close(c);

    ck_assert_int_eq(unlink(pa), 0);                     /* a: blob missing */
    ck_assert_int_eq(truncate(pb, 150), 0);              /* b: blob short */
    ck_assert_int_eq(truncate(pd, 401), 0);              /* d: blob long */
    snprintf(orphan, sizeof(orphan), "%s/blobs/ab/ab%062d-%016x", dir, 0, 42);
    write_file(orphan, "o", 1);
    snprintf(junk, sizeof(junk), "%s/blobs/ab/junk", dir);
    write_file(junk, "j", 1);
    snprintf(junk2, sizeof(junk2), "%s/blobs/junk2", dir);
    write_file(junk2, "j", 1);
    /* A blob of c's key but an id the index does not name. */
    snprintf(path, sizeof(path), "%s", pc);
    snprintf(strrchr(path, '-'), 18, "-%016llx", (unsigned long long)cc.blob_id + 1);
    write_file(path, "x", 1);

    c = open_cache(dir, 0, 0, 1 << 20, 1);
    gw_cache_last_sweep(c, &t, &o, &dr);
    ck_assert_uint_eq(t, 1);
    ck_assert_uint_eq(o, 4);
    ck_assert_uint_eq(dr, 3);
    ck_assert(!exists(tmp));
    ck_assert(!exists(orphan));
    ck_assert(!exists(junk));
    ck_assert(!exists(junk2));
    ck_assert(!exists(path));
    ck_assert(!exists(pb));
    ck_assert(!exists(pd));
    ck_assert(!entry_exists(c, "a"));
    ck_assert(!entry_exists(c, "b"));
    ck_assert(!entry_exists(c, "d"));
    ck_assert(entry_exists(c, "c"));
    ck_assert(entry_exists(c, "n"));
    ck_assert(exists(blob_path_of(c, &cc)));
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(b, 300);
    ck_assert_int_eq(count_files(dir, "blobs"), 1);
    gw_cache_close(c);

    /* Clean now: the next sweep finds nothing. */
    c = open_cache(dir, 0, 0, 1 << 20, 1);
    gw_cache_last_sweep(c, &t, &o, &dr);
    ck_assert_uint_eq(t + o + dr, 0);
    gw_cache_close(c);
}
END_TEST

struct lines {
    char v[32][600];
    int n;
};

static void collect(void *ud, const char *line)
{
    struct lines *l = ud;
    ck_assert_int_lt(l->n, 32);
    snprintf(l->v[l->n++], sizeof(l->v[0]), "%s", line);
}

static int has_line(const struct lines *l, const char *want)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->v[i], want) == 0) return 1;
    return 0;
}

START_TEST(test_fsck)
{
    char dir[512], pb[GWC_PATH_MAX], orphan[GWC_PATH_MAX], tmp[GWC_PATH_MAX], want[700],
        rel[200], md5[33];
    struct gw_cache_entry a, b, cc, d;
    struct gw_cache_fsck_result r;
    struct lines l = {.n = 0};
    uint8_t buf[500];
    uint64_t n, bytes, t, o, dr;

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    ck_assert_int_eq(put_object(c, "a", 500, 1, 1, &a), 0);
    ck_assert_int_eq(put_object(c, "b", 500, 2, 1, &b), 0);
    ck_assert_int_eq(put_object(c, "c", 200, 3, 1, &cc), 0);
    ck_assert_int_eq(put_object(c, "d", 300, 4, 1, &d), 0);
    ck_assert_int_eq(put_negative(c, "n", 1), 0);
    snprintf(pb, sizeof(pb), "%s", blob_path_of(c, &b));
    ck_assert_int_eq(truncate(blob_path_of(c, &cc), 100), 0);
    ck_assert_int_eq(unlink(blob_path_of(c, &d)), 0);
    int fd = gw_cache_tmp_open(c, tmp, sizeof(tmp));
    close(fd);
    gw_cache_close(c);

    /* b: one byte flipped, same size. */
    pattern(buf, sizeof(buf), 2);
    buf[123] ^= 0x20;
    md5_hex(buf, sizeof(buf), md5);
    write_file(pb, buf, sizeof(buf));
    snprintf(orphan, sizeof(orphan), "%s/blobs/cd/cd%062d-%016x", dir, 0, 7);
    write_file(orphan, "o", 1);

    c = open_cache(dir, 0, 0, 1 << 20, 0);
    ck_assert_int_eq(gw_cache_fsck(c, 0, collect, &l, &r), 0);
    ck_assert_uint_eq(r.entries, 5);
    ck_assert_uint_eq(r.bad, 3);
    ck_assert_uint_eq(r.orphans, 2);
    ck_assert_uint_eq(r.repaired, 0);
    ck_assert_int_eq(l.n, 5);
    snprintf(want, sizeof(want), "bad: c/b: md5 %s != %s", md5, b.md5);
    ck_assert_msg(has_line(&l, want), "no line %s", want);
    ck_assert(has_line(&l, "bad: c/c: blob size 100 != 200"));
    ck_assert(has_line(&l, "missing: c/d: blob not found"));
    snprintf(want, sizeof(want), "orphan: blobs/cd/cd%062d-%016x: no index entry", 0, 7);
    ck_assert_msg(has_line(&l, want), "no line %s", want);
    snprintf(rel, sizeof(rel), "%s", tmp + strlen(dir) + 1);
    snprintf(want, sizeof(want), "orphan: %s: temp file", rel);
    ck_assert_msg(has_line(&l, want), "no line %s", want);
    /* Without repair nothing changed. */
    ck_assert(exists(orphan));
    ck_assert(entry_exists(c, "b"));

    l.n = 0;
    ck_assert_int_eq(gw_cache_fsck(c, 1, collect, &l, &r), 0);
    ck_assert_uint_eq(r.bad, 3);
    ck_assert_uint_eq(r.orphans, 2);
    ck_assert_uint_eq(r.repaired, 5);
    ck_assert(!exists(orphan));
    ck_assert(!exists(tmp));
    ck_assert(!exists(pb));
    ck_assert(!entry_exists(c, "b"));
    ck_assert(!entry_exists(c, "c"));
    ck_assert(!entry_exists(c, "d"));
    ck_assert(entry_exists(c, "a"));
    ck_assert(entry_exists(c, "n"));
    gw_cache_usage(c, &n, &bytes);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(bytes, 500);
    assert_consistent(c);

    l.n = 0;
    ck_assert_int_eq(gw_cache_fsck(c, 0, collect, &l, &r), 0);
    ck_assert_uint_eq(r.entries, 2);
    ck_assert_uint_eq(r.bad + r.orphans + r.repaired, 0);
    ck_assert_int_eq(l.n, 0);
    ck_assert_int_eq(gw_cache_fsck(c, 0, NULL, NULL, NULL), 0);
    gw_cache_close(c);

    c = open_cache(dir, 0, 0, 1 << 20, 1);
    gw_cache_last_sweep(c, &t, &o, &dr);
    ck_assert_uint_eq(t + o + dr, 0);
    gw_cache_close(c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Corrupt records                                                           */

/* Puts value under key straight into the index of the closed cache in dir. */
static void plant(const char *dir, const uint8_t *key, size_t klen, const void *val, size_t vlen)
{
    char path[600];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {klen, (void *)(uintptr_t)key}, v = {vlen, (void *)(uintptr_t)val};

    snprintf(path, sizeof(path), "%s/index", dir);
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 4), 0);
    ck_assert_int_eq(mdb_env_open(env, path, MDB_NOTLS, 0644), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, GWC_DB_NAME, 0, &dbi), 0);
    ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

START_TEST(test_record_decoder_never_overreads)
{
    struct gw_cache_entry e, g;
    uint8_t rec[GWC_REC_MAX];
    MDB_val v;

    memset(&e, 0, sizeof(e));
    e.kind = GW_CACHE_KIND_OBJECT;
    e.size = 10;
    e.blob_id = 99;
    snprintf(e.md5, sizeof(e.md5), "0123456789abcdef0123456789abcdef");
    snprintf(e.name, sizeof(e.name), "c/o");
    snprintf(e.meta, sizeof(e.meta), "A: b\r\n");
    size_t len = gwc_rec_encode(&e, rec);
    v.mv_size = len;
    v.mv_data = rec;
    ck_assert_int_eq(gwc_rec_decode(&v, &g), 0);
    ck_assert_int_eq(memcmp(&e, &g, sizeof(e)), 0);

    /* Every strict prefix and every one-byte extension is corrupt. */
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n != 0 ? n : 1); /* exact size: ASan sees an overread */
        memcpy(copy, rec, n);
        v.mv_size = n;
        v.mv_data = copy;
        ck_assert_int_eq(gwc_rec_decode(&v, &g), GW_CACHE_ECORRUPT);
        free(copy);
    }
    v.mv_size = len + 1;
    v.mv_data = rec;
    ck_assert_int_eq(gwc_rec_decode(&v, &g), GW_CACHE_ECORRUPT);

    /* Every flipped byte decodes or is corrupt; never more. */
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            uint8_t *copy = malloc(len);
            memcpy(copy, rec, len);
            copy[i] ^= (uint8_t)(1 << bit);
            v.mv_size = len;
            v.mv_data = copy;
            int rc = gwc_rec_decode(&v, &g);
            ck_assert(rc == 0 || rc == GW_CACHE_ECORRUPT);
            if (rc == 0) {
                ck_assert(strlen(g.name) < sizeof(g.name) && strlen(g.meta) < sizeof(g.meta));
            }
            free(copy);
        }
    }
    /* The version byte is checked. */
    rec[0] = 2;
    v.mv_size = len;
    v.mv_data = rec;
    ck_assert_int_eq(gwc_rec_decode(&v, &g), GW_CACHE_ECORRUPT);
}
END_TEST

START_TEST(test_corrupt_records)
{
    char dir[512];
    struct gw_cache_entry e, g;
    struct gw_cache_fsck_result r;
    struct lines l = {.n = 0};
    uint8_t rec[GWC_REC_MAX], bad[GWC_REC_MAX], keys[6][GW_CACHE_KEY_LEN], klong[40];
    uint64_t n, b, t, o, dr;

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    ck_assert_int_eq(put_object(c, "good", 100, 1, 1, &e), 0);
    gw_cache_close(c);

    size_t len = gwc_rec_encode(&e, rec);
    for (int i = 0; i < 6; i++) {
        char obj[16];
        snprintf(obj, sizeof(obj), "bad%d", i);
        key_of(obj, keys[i]);
    }
    plant(dir, keys[0], GW_CACHE_KEY_LEN, "garbage!", 8);
    plant(dir, keys[1], GW_CACHE_KEY_LEN, "", 0);
    memcpy(bad, rec, len);
    bad[0] = 200;                                   /* unknown version */
    plant(dir, keys[2], GW_CACHE_KEY_LEN, bad, len);
    plant(dir, keys[3], GW_CACHE_KEY_LEN, rec, len - 1);   /* truncated */
    memcpy(bad, rec, len);
    bad[34] = 0xff;                                 /* md5 length 65535 */
    bad[35] = 0xff;
    plant(dir, keys[4], GW_CACHE_KEY_LEN, bad, len);
    memcpy(bad, rec, len);
    bad[1] = GW_CACHE_KIND_NEGATIVE;                /* NEGATIVE with a blob */
    plant(dir, keys[5], GW_CACHE_KEY_LEN, bad, len);
    memset(klong, 'k', sizeof(klong));              /* a key of the wrong length */
    plant(dir, klong, sizeof(klong), rec, len);

    /* Without the sweep the records are there to be found. */
    c = open_cache(dir, 0, 0, 1 << 20, 0);
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 8);
    ck_assert_uint_eq(b, 100);      /* corrupt records count 0 bytes */
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(gw_cache_get(c, keys[i], &g), GW_CACHE_ECORRUPT);
        ck_assert_int_eq(gw_cache_refresh(c, keys[i], 5), GW_CACHE_ECORRUPT);
        gw_cache_touch(c, keys[i]);
    }
    ck_assert_int_eq(gw_cache_flush_touches(c), 0);
    ck_assert_int_eq(gw_cache_get(c, e.key, &g), 0);
    ck_assert_int_eq(gw_cache_fsck(c, 0, collect, &l, &r), 0);
    ck_assert_uint_eq(r.entries, 8);
    ck_assert_uint_eq(r.bad, 7);
    ck_assert_int_eq(l.n, 7);
    char want[200] = "bad: key ";
    gwc_hex(keys[0], GW_CACHE_KEY_LEN, want + strlen(want));
    strcat(want, ": corrupt index record");
    ck_assert_msg(has_line(&l, want), "no line %s", want);
    ck_assert(has_line(&l, "bad: a key of 40 bytes: corrupt index record"));

    /* remove works on a corrupt record; a commit replaces one. */
    ck_assert_int_eq(gw_cache_remove(c, keys[0]), 0);
    ck_assert_int_eq(gw_cache_get(c, keys[0], &g), GW_CACHE_ENOTFOUND);
    g = e;
    memcpy(g.key, keys[1], GW_CACHE_KEY_LEN);
    g.kind = GW_CACHE_KIND_NEGATIVE;
    ck_assert_int_eq(gw_cache_commit(c, &g, NULL, -1), 0);
    ck_assert_int_eq(gw_cache_get(c, keys[1], &g), 0);
    assert_consistent(c);
    gw_cache_close(c);

    /* The sweep drops the rest: 4 bad records and the odd key. */
    c = open_cache(dir, 0, 0, 1 << 20, 1);
    gw_cache_last_sweep(c, &t, &o, &dr);
    ck_assert_uint_eq(dr, 5);
    ck_assert_uint_eq(o, 0);
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(b, 100);
    ck_assert_int_eq(gw_cache_get(c, keys[2], &g), GW_CACHE_ENOTFOUND);
    ck_assert_int_eq(gw_cache_get(c, e.key, &g), 0);
    gw_cache_close(c);
}
END_TEST

/* A live cache with a corrupt record under eviction. */
START_TEST(test_corrupt_record_is_evicted_first)
{
    char dir[512];
    struct gw_cache_entry g;
    uint8_t key[GW_CACHE_KEY_LEN];
    uint64_t n, b;

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    gw_cache_close(c);
    key_of("junk", key);
    plant(dir, key, GW_CACHE_KEY_LEN, "xx", 2);
    c = open_cache(dir, 0, 3, 1 << 20, 0);
    ck_assert_int_eq(put_negative(c, "a", 1), 0);
    ck_assert_int_eq(put_negative(c, "b", 2), 0);
    ck_assert_int_eq(put_negative(c, "c", 3), 0);    /* 4 > 3: down to 2 (90% of 3) */
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(gw_cache_get(c, key, &g), GW_CACHE_ENOTFOUND);
    ck_assert(!entry_exists(c, "a"));
    ck_assert(entry_exists(c, "b"));
    ck_assert(entry_exists(c, "c"));
    gw_cache_close(c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* A full index                                                              */

/*
 * Commits 400 entries of ~2 KiB records into a cache whose index map is
 * index_size; every commit succeeds or says GW_CACHE_ELIMIT.  Checks that
 * what is left is consistent and reopens clean; returns the successes.
 */
static int fill_small_index(uint64_t index_size, uint64_t *evictions)
{
    char dir[512], obj[32], last[32] = "";
    struct gw_cache_entry e;
    uint64_t t, o, dr, n, b;
    int ok = 0;

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, index_size, 1);
    for (int i = 0; i < 400; i++) {
        int rc;
        snprintf(obj, sizeof(obj), "m%d", i);
        if (i % 2 == 0) {
            memset(&e, 0, sizeof(e));
            key_of(obj, e.key);
            e.last_access = i;
            e.kind = GW_CACHE_KIND_NEGATIVE;
            memset(e.meta, 'm', 1900);
            rc = gw_cache_commit(c, &e, NULL, -1);
        } else {
            rc = put_object(c, obj, 64, (unsigned)i, i, NULL);
        }
        ck_assert_msg(rc == 0 || rc == GW_CACHE_ELIMIT, "commit %d: %d", i, rc);
        if (rc == 0) {
            ok++;
            snprintf(last, sizeof(last), "%s", obj);
        }
    }
    ck_assert_int_gt(ok, 0);
    ck_assert(entry_exists(c, last));
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_lt(n, 400);
    assert_consistent(c);
    /* Failed commits left nothing behind. */
    ck_assert_int_eq(count_files(dir, "tmp"), 0);
    *evictions = gw_cache_evictions(c);
    /* No cap on entries or bytes: every eviction was for the map. */
    assert_evicted_for(c, GW_CACHE_EVICT_INDEX, *evictions);
    struct gw_cache_stats cs;
    gw_cache_stats(c, &cs);
    ck_assert_uint_eq(cs.index_size, index_size);
    ck_assert_uint_gt(cs.index_used, 0);
    ck_assert_uint_le(cs.index_used, cs.index_size);
    gw_cache_close(c);

    c = open_cache(dir, 0, 0, index_size, 1);
    gw_cache_last_sweep(c, &t, &o, &dr);
    ck_assert_uint_eq(t + o + dr, 0);
    ck_assert(entry_exists(c, last));
    gw_cache_close(c);
    return ok;
}

START_TEST(test_index_map_full)
{
    uint64_t evictions;

    /* 16 pages: LMDB soon has no page left even to delete; commits fail. */
    int ok = fill_small_index(64 * 1024, &evictions);
    ck_assert_int_lt(ok, 400);
    /* 64 pages: eviction keeps a fifth of the map free, so commits go on. */
    ok = fill_small_index(256 * 1024, &evictions);
    ck_assert_int_gt(ok, 350);
    ck_assert_uint_gt(evictions, 100);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Threads                                                                   */

struct worker {
    struct gw_cache *c;
    int id;
    int64_t until_ms;
    int errors;                 /* results no contract allows */
    int ops, hits;
    char first_error[200];
};

static void worker_error(struct worker *w, const char *what, int rc)
{
    if (w->errors++ == 0) snprintf(w->first_error, sizeof(w->first_error), "%s: %d", what, rc);
}

/* A hit must read back exactly the bytes its entry describes. */
static void check_hit(struct worker *w, const struct gw_cache_entry *e)
{
    char path[GWC_PATH_MAX], md5[33];
    struct stat st;

    if (e->kind == GW_CACHE_KIND_NEGATIVE) return;
    if (gw_cache_blob_path(w->c, e, path, sizeof(path)) != 0) {
        worker_error(w, "blob_path", -1);
        return;
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        if (errno != ENOENT) worker_error(w, "open blob", -errno);
        return;   /* replaced, removed or evicted since the get: a miss */
    }
    uint8_t *buf = malloc(e->size + 1);
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != e->size ||
        read(fd, buf, e->size + 1) != (ssize_t)e->size) {
        worker_error(w, "blob size", (int)st.st_size);
    } else {
        md5_hex(buf, e->size, md5);
        if (strcmp(md5, e->md5) != 0) worker_error(w, "blob md5", 0);
        w->hits++;
    }
    free(buf);
    close(fd);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    unsigned seed = (unsigned)w->id * 7919u + 1;
    struct gw_cache_entry e;
    uint8_t key[GW_CACHE_KEY_LEN];
    char obj[32];
    int rc;

    while (gwc_now_ms() < w->until_ms) {
        int r = rand_r(&seed);
        /* Half the keys are shared by all threads, half are this thread's. */
        if (r & 1) snprintf(obj, sizeof(obj), "shared%d", (r >> 1) % 8);
        else snprintf(obj, sizeof(obj), "own%d-%d", w->id, (r >> 1) % 8);
        key_of(obj, key);
        switch ((r >> 5) % 10) {
        case 0: case 1: case 2:
            rc = put_object(w->c, obj, (size_t)((r >> 9) % 4096), (unsigned)r, gwc_now_ms(), NULL);
            if (rc != 0) worker_error(w, "commit", rc);
            break;
        case 3:
            rc = put_negative(w->c, obj, gwc_now_ms());
            if (rc != 0) worker_error(w, "commit negative", rc);
            break;
        case 4: case 5: case 6:
            rc = gw_cache_get(w->c, key, &e);
            if (rc == 0) check_hit(w, &e);
            else if (rc != GW_CACHE_ENOTFOUND) worker_error(w, "get", rc);
            gw_cache_touch(w->c, key);
            break;
        case 7:
            rc = gw_cache_remove(w->c, key);
            if (rc != 0 && rc != GW_CACHE_ENOTFOUND) worker_error(w, "remove", rc);
            break;
        case 8:
            rc = gw_cache_refresh(w->c, key, gwc_now_ms());
            if (rc != 0 && rc != GW_CACHE_ENOTFOUND) worker_error(w, "refresh", rc);
            break;
        default:
            rc = gw_cache_flush_touches(w->c);
            if (rc == 0) rc = gw_cache_evict(w->c);
            if (rc != 0) worker_error(w, "flush/evict", rc);
            break;
        }
        w->ops++;
    }
    return NULL;
}

START_TEST(test_threads)
{
    char dir[512];
    struct worker w[4];
    pthread_t th[4];
    uint64_t n, b, n2, b2, t, o, dr;
    int ops = 0, hits = 0;

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 24 * 1024, 20, 1 << 20, 1);
    int64_t until = gwc_now_ms() + 1000;
    for (int i = 0; i < 4; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].c = c;
        w[i].id = i;
        w[i].until_ms = until;
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        ck_assert_msg(w[i].errors == 0, "thread %d: %d errors, first %s", i, w[i].errors,
                      w[i].first_error);
        ops += w[i].ops;
        hits += w[i].hits;
    }
    ck_assert_int_gt(ops, 40);
    ck_assert_int_gt(hits, 0);
    gw_cache_usage(c, &n, &b);
    ck_assert_uint_le(n, 20);
    ck_assert_uint_le(b, 24 * 1024);
    assert_consistent(c);
    ck_assert_int_eq(count_files(dir, "tmp"), 0);
    gw_cache_close(c);

    /* Nothing leaked: the sweep finds nothing and counts the same. */
    c = open_cache(dir, 24 * 1024, 20, 1 << 20, 1);
    gw_cache_last_sweep(c, &t, &o, &dr);
    ck_assert_uint_eq(t, 0);
    ck_assert_uint_eq(o, 0);
    ck_assert_uint_eq(dr, 0);
    gw_cache_usage(c, &n2, &b2);
    ck_assert_uint_eq(n2, n);
    ck_assert_uint_eq(b2, b);
    gw_cache_close(c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Read transactions kept per thread                                         */

struct readers {
    int slots;                  /* reader slots in use */
    int pinning;                /* of those, slots holding a snapshot */
};

static int reader_line(const char *msg, void *ctx)
{
    struct readers *r = ctx;
    size_t n = strlen(msg);

    if (strstr(msg, "pid") != NULL || strstr(msg, "no active readers") != NULL) return 0;
    r->slots++;
    /* A reset transaction's slot is listed with "-" for its snapshot. */
    if (!(n >= 2 && msg[n - 2] == '-' && msg[n - 1] == '\n')) r->pinning++;
    return 0;
}

static struct readers reader_slots(struct gw_cache *c)
{
    struct readers r = {0, 0};
    ck_assert_int_ge(mdb_reader_list(c->env, reader_line, &r), 0);
    return r;
}

/* A get sees what was committed after the thread's previous get. */
START_TEST(test_get_sees_later_commits)
{
    char dir[512];
    struct gw_cache_entry e, g;
    uint8_t key[GW_CACHE_KEY_LEN];

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    key_of("o", key);
    ck_assert_int_eq(gw_cache_get(c, key, &g), GW_CACHE_ENOTFOUND);
    for (unsigned i = 1; i <= 5; i++) {
        ck_assert_int_eq(put_object(c, "o", 100 * i, i, i, &e), 0);
        ck_assert_int_eq(gw_cache_get(c, key, &g), 0);
        ck_assert_uint_eq(g.size, 100 * i);
        ck_assert_uint_eq(g.blob_id, e.blob_id);
        ck_assert_str_eq(g.md5, e.md5);
    }
    ck_assert_int_eq(gw_cache_refresh(c, key, 4242), 0);
    ck_assert_int_eq(gw_cache_get(c, key, &g), 0);
    ck_assert_int_eq(g.stored_at, 4242);
    ck_assert_int_eq(gw_cache_remove(c, key), 0);
    ck_assert_int_eq(gw_cache_get(c, key, &g), GW_CACHE_ENOTFOUND);
    ck_assert_int_eq(put_negative(c, "o", 7), 0);
    ck_assert_int_eq(gw_cache_get(c, key, &g), 0);
    ck_assert_uint_eq(g.kind, GW_CACHE_KIND_NEGATIVE);

    /* Between gets the thread's transaction holds its slot, not a snapshot. */
    struct readers r = reader_slots(c);
    ck_assert_int_eq(r.slots, 1);
    ck_assert_int_eq(r.pinning, 0);
    gw_cache_close(c);
}
END_TEST

struct getter {
    struct gw_cache *c;
    pthread_barrier_t *gate;    /* crossed after the gets, and again before exiting */
    int id;
    int gets, hits, errors;
    int64_t last_seen;          /* the largest stored_at of "shared" seen */
};

static void *getter_main(void *arg)
{
    struct getter *g = arg;
    struct gw_cache_entry *e = malloc(sizeof(*e));
    uint8_t key[GW_CACHE_KEY_LEN];
    char obj[32];

    for (int i = 0; i < 3000; i++) {
        snprintf(obj, sizeof(obj), i % 3 == 0 ? "shared" : "o%d", (i * 7 + g->id) % 40);
        key_of(obj, key);
        int rc = gw_cache_get(g->c, key, e);
        g->gets++;
        if (rc == 0) {
            g->hits++;
            if (i % 3 == 0) {
                /* Snapshots only move forward, whichever thread wrote last. */
                if (e->stored_at < g->last_seen) g->errors++;
                g->last_seen = e->stored_at;
            }
        } else if (rc != GW_CACHE_ENOTFOUND) {
            g->errors++;
        }
    }
    free(e);
    pthread_barrier_wait(g->gate);
    pthread_barrier_wait(g->gate);
    return NULL;
}

/*
 * Eight threads get while the main thread commits: each keeps one reader
 * slot, reset between gets, and gives it back when it exits.
 */
START_TEST(test_get_threads_reader_slots)
{
    char dir[512];
    struct getter g[8];
    pthread_t th[8];
    pthread_barrier_t gate;
    MDB_envinfo info;
    uint8_t key[GW_CACHE_KEY_LEN];

    new_cache_dir(dir, sizeof(dir));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    for (int i = 0; i < 40; i += 2) {
        char obj[16];
        snprintf(obj, sizeof(obj), "o%d", i);
        ck_assert_int_eq(put_object(c, obj, 64, (unsigned)i, 1, NULL), 0);
    }
    ck_assert_int_eq(put_object(c, "shared", 32, 1, 1, NULL), 0);   /* stored_at 1000 */
    ck_assert_int_eq(pthread_barrier_init(&gate, NULL, 9), 0);
    for (int i = 0; i < 8; i++) {
        memset(&g[i], 0, sizeof(g[i]));
        g[i].c = c;
        g[i].gate = &gate;
        g[i].id = i;
        ck_assert_int_eq(pthread_create(&th[i], NULL, getter_main, &g[i]), 0);
    }
    /* Meanwhile: new entries, and "shared" confirmed at growing times. */
    key_of("shared", key);
    for (int64_t i = 1; i <= 60; i++) {
        char obj[16];
        snprintf(obj, sizeof(obj), "o%d", (int)(2 * i + 1) % 40);
        ck_assert_int_eq(put_object(c, obj, 64, (unsigned)i, 1, NULL), 0);
        ck_assert_int_eq(gw_cache_refresh(c, key, 1000 + i), 0);
    }
    pthread_barrier_wait(&gate);

    /* All got; all are alive: one slot each, none pinning a snapshot. */
    struct readers r = reader_slots(c);
    ck_assert_int_eq(r.slots, 8);
    ck_assert_int_eq(r.pinning, 0);
    ck_assert_int_eq(mdb_env_info(c->env, &info), 0);
    ck_assert_uint_le(info.me_numreaders, 10);
    for (int i = 0; i < 8; i++) {
        ck_assert_msg(g[i].errors == 0, "thread %d: %d errors", i, g[i].errors);
        ck_assert_int_eq(g[i].gets, 3000);
        ck_assert_int_gt(g[i].hits, 0);
    }
    /* With every reader reset, rewriting one entry reuses freed pages. */
    size_t last = info.me_last_pgno;
    for (int64_t i = 0; i < 500; i++) ck_assert_int_eq(gw_cache_refresh(c, key, 2000 + i), 0);
    ck_assert_int_eq(mdb_env_info(c->env, &info), 0);
    ck_assert_msg(info.me_last_pgno <= last + 8, "map grew from page %zu to %zu", last,
                  (size_t)info.me_last_pgno);

    pthread_barrier_wait(&gate);
    for (int i = 0; i < 8; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&gate);
    /* Their exits gave the slots back. */
    r = reader_slots(c);
    ck_assert_int_eq(r.slots, 0);
    gw_cache_close(c);
}
END_TEST

/*
 * The cache closes while threads that used it still live (as the thread
 * pool's do): close ends their transactions; their later exits, and their
 * gets on a cache opened afterwards (perhaps at the same address), work.
 */
static void *two_lives_main(void *arg)
{
    struct getter *g = arg;
    struct gw_cache_entry *e = malloc(sizeof(*e));
    uint8_t key[GW_CACHE_KEY_LEN];

    key_of("o0", key);
    for (int life = 0; life < 2; life++) {
        for (int i = 0; i < 200; i++) {
            int rc = gw_cache_get(g->c, key, e);
            g->gets++;
            if (rc == 0) g->hits++;
            else g->errors++;
        }
        pthread_barrier_wait(g->gate);  /* done with this cache */
        pthread_barrier_wait(g->gate);  /* g->c is the next one */
    }
    free(e);
    return NULL;
}

START_TEST(test_close_with_live_readers)
{
    char dir[512], dir2[512];
    struct getter g[4];
    pthread_t th[4];
    pthread_barrier_t gate;

    new_cache_dir(dir, sizeof(dir));
    new_cache_dir(dir2, sizeof(dir2));
    struct gw_cache *c = open_cache(dir, 0, 0, 1 << 20, 1);
    ck_assert_int_eq(put_object(c, "o0", 10, 1, 1, NULL), 0);
    ck_assert_int_eq(pthread_barrier_init(&gate, NULL, 5), 0);
    for (int i = 0; i < 4; i++) {
        memset(&g[i], 0, sizeof(g[i]));
        g[i].c = c;
        g[i].gate = &gate;
        g[i].id = i;
        ck_assert_int_eq(pthread_create(&th[i], NULL, two_lives_main, &g[i]), 0);
    }
    pthread_barrier_wait(&gate);
    ck_assert_int_eq(reader_slots(c).slots, 4);
    gw_cache_close(c);

    /* Another cache open beside this one; each has its own readers. */
    struct gw_cache *other = open_cache(dir2, 0, 0, 1 << 20, 1);
    ck_assert_int_eq(put_object(other, "o0", 20, 2, 1, NULL), 0);
    c = open_cache(dir, 0, 0, 1 << 20, 1);
    ck_assert_int_eq(reader_slots(c).slots, 0);
    for (int i = 0; i < 4; i++) g[i].c = i % 2 ? c : other;
    pthread_barrier_wait(&gate);
    pthread_barrier_wait(&gate);
    ck_assert_int_eq(reader_slots(c).slots, 2);
    ck_assert_int_eq(reader_slots(other).slots, 2);
    gw_cache_close(other);
    pthread_barrier_wait(&gate);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        ck_assert_msg(g[i].errors == 0, "thread %d: %d errors", i, g[i].errors);
        ck_assert_int_eq(g[i].hits, 400);
    }
    pthread_barrier_destroy(&gate);
    ck_assert_int_eq(reader_slots(c).slots, 0);
    gw_cache_close(c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* SIGKILL                                                                   */

/* The child: commit, replace, remove as fast as it can until killed. */
_Noreturn static void fill_until_killed(const char *dir)
{
    struct gw_cache_options o = {.dir = dir, .max_size = 64 * 1024, .index_size = 1 << 20};
    struct gw_cache *c;
    char err[256], obj[32];
    uint8_t key[GW_CACHE_KEY_LEN];

    if (gw_cache_open(&c, &o, err, sizeof(err)) != 0) _exit(3);
    for (unsigned i = 0;; i++) {
        snprintf(obj, sizeof(obj), "o%u", i % 40);
        if (i % 7 == 3) {
            key_of(obj, key);
            gw_cache_remove(c, key);
        } else if (put_object(c, obj, 1000 + i % 3000, i, i, NULL) != 0) {
            _exit(4);
        }
        /* A fill left half-written, as a crash mid-fetch leaves it. */
        if (i % 5 == 0) {
            char tmp[GWC_PATH_MAX];
            int fd = gw_cache_tmp_open(c, tmp, sizeof(tmp));
            if (fd >= 0 && write(fd, "half", 4) != 4) _exit(5);
        }
    }
}

START_TEST(test_sigkill_mid_fill)
{
    char dir[512];
    struct gw_cache_fsck_result r;
    uint64_t t, o, dr, entries = 0, orphans = 0;

    new_cache_dir(dir, sizeof(dir));
    for (int round = 0; round < 6; round++) {
        int status;
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) fill_until_killed(dir);
        struct timespec ts = {0, (40 + 37 * round) * 1000000L};
        nanosleep(&ts, NULL);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "child exited by itself: %d", status);

        /* fsck of the cache as the crash left it: no entry is bad. */
        struct gw_cache *c = open_cache(dir, 64 * 1024, 0, 1 << 20, 0);
        ck_assert_int_eq(gw_cache_fsck(c, 0, NULL, NULL, &r), 0);
        ck_assert_uint_eq(r.bad, 0);
        entries += r.entries;
        orphans += r.orphans;
        gw_cache_close(c);

        /* The sweep cleans up; then fsck finds nothing at all. */
        c = open_cache(dir, 64 * 1024, 0, 1 << 20, 1);
        gw_cache_last_sweep(c, &t, &o, &dr);
        ck_assert_uint_eq(dr, 0);
        ck_assert_int_eq(gw_cache_fsck(c, 0, NULL, NULL, &r), 0);
        ck_assert_uint_eq(r.bad + r.orphans, 0);
        assert_consistent(c);
        gw_cache_close(c);
    }
    /* The children did get somewhere before they were killed. */
    ck_assert_uint_gt(entries, 0);
    ck_assert_uint_gt(orphans, 0);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *cache_suite(void)
{
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("basics");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_open_creates_layout);
    tcase_add_test(tc, test_open_twice_is_busy);
    tcase_add_test(tc, test_open_errors);
    tcase_add_test(tc, test_key_is_sha256);
    tcase_add_test(tc, test_key_matches_oneshot);
    tcase_add_test(tc, test_key_threads);
    tcase_add_test(tc, test_error_texts);
    tcase_add_test(tc, test_commit_get_roundtrip);
    tcase_add_test(tc, test_get_missing);
    tcase_add_test(tc, test_commit_replaces);
    tcase_add_test(tc, test_refresh);
    tcase_add_test(tc, test_expire);
    tcase_add_test(tc, test_remove);
    tcase_add_test(tc, test_negative);
    tcase_add_test(tc, test_drop_negative);
    tcase_add_test(tc, test_commit_rejects);
    tcase_add_test(tc, test_blob_ids_grow_across_restarts);
    suite_add_tcase(s, tc);

    tc = tcase_create("eviction");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_touch_and_flush);
    tcase_add_test(tc, test_evict_by_size);
    tcase_add_test(tc, test_evict_by_entries);
    tcase_add_test(tc, test_commit_many);
    tcase_add_test(tc, test_commit_keep_old);
    suite_add_tcase(s, tc);

    tc = tcase_create("repair");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sweep_at_open);
    tcase_add_test(tc, test_fsck);
    tcase_add_test(tc, test_record_decoder_never_overreads);
    tcase_add_test(tc, test_corrupt_records);
    tcase_add_test(tc, test_corrupt_record_is_evicted_first);
    tcase_add_test(tc, test_index_map_full);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_get_sees_later_commits);
    tcase_add_test(tc, test_get_threads_reader_slots);
    tcase_add_test(tc, test_close_with_live_readers);
    tcase_add_test(tc, test_sigkill_mid_fill);
    suite_add_tcase(s, tc);
    return s;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

int main(void)
{
    const char *base = getenv("TMPDIR");

    snprintf(topdir, sizeof(topdir), "%s/test_cache-XXXXXX", base != NULL ? base : "/tmp");
    if (mkdtemp(topdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    int failed = unit_run(cache_suite());
    nftw(topdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return failed == 0 ? 0 : 1;
}
