/*
 * test_layout.c - unit tests of cache/layout.c and of the walks in
 * cache/blob.c: modes 0700/0600 at open (wider ones tightened), symbolic
 * links in place of tmp/, blobs/, a fan-out directory, an LMDB file or the
 * lock refused with GW_CACHE_EUNSAFE and nothing behind them touched,
 * another owner refused, and (as root) a cache handed over to a user.
 *
 * Each test runs in its own process (CK_FORK) in its own directory under
 * one temporary directory that main() creates and removes.  "Outside"
 * files (the canaries) live beside the cache directory, never in it.
 */
#include "cache.h"
#include "cache_int.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "unit.h"

static char topdir[256];

/* A fresh directory for one test in base; the cache is "<base>/c". */
static void new_base(char *base, size_t len)
{
    snprintf(base, len, "%s/t-XXXXXX", topdir);
    ck_assert_ptr_nonnull(mkdtemp(base));
}

static int try_open(const char *dir, int sweep, const struct gw_cache_options *more,
                    char *err, size_t errlen)
{
    struct gw_cache_options o = {.dir = dir, .index_size = 1 << 20};
    struct gw_cache *c = NULL;
    if (more != NULL) {
        o.hand_over = more->hand_over;
        o.uid = more->uid;
        o.gid = more->gid;
    }
    int rc = sweep ? gw_cache_open(&c, &o, err, errlen)
                   : gw_cache_open_nosweep(&c, &o, err, errlen);
    if (rc == 0) {
        ck_assert_ptr_nonnull(c);
        gw_cache_close(c);
    } else {
        ck_assert_ptr_null(c);
    }
    return rc;
}

static mode_t mode_of(const char *base, const char *rel)
{
    char path[600];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", base, rel);
    ck_assert_msg(lstat(path, &st) == 0, "%s: %s", path, strerror(errno));
    return st.st_mode & 07777;
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void assert_file_is(const char *path, const char *text)
{
    char buf[256] = "";
    int fd = open(path, O_RDONLY);
    ck_assert_msg(fd >= 0, "%s is gone: %s", path, strerror(errno));
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    ck_assert_int_eq(n, (ssize_t)strlen(text));
    ck_assert_str_eq(buf, text);
}

/* A cache made and closed in "<base>/c"; its path in dir. */
static void made_cache(char *base, size_t blen, char *dir, size_t dlen)
{
    char err[512] = "";
    new_base(base, blen);
    snprintf(dir, dlen, "%s/c", base);
    ck_assert_msg(try_open(dir, 1, NULL, err, sizeof(err)) == 0, "%s", err);
}

/* "<base>/outside" with a canary file in it; its path in canary. */
static void outside_with_canary(const char *base, char *outside, size_t olen, char *canary,
                                size_t clen)
{
    snprintf(outside, olen, "%s/outside", base);
    ck_assert_int_eq(mkdir(outside, 0755), 0);
    snprintf(canary, clen, "%s/canary", outside);
    write_file(canary, "keep me");
}

/* ------------------------------------------------------------------------ */

START_TEST(test_modes_made_and_tightened)
{
    static const char *const dirs[] = {"", "index", "tmp", "blobs", "blobs/00", "blobs/ff"};
    static const char *const files[] = {"lock", "index/data.mdb", "index/lock.mdb"};
    char base[300], dir[320], path[600], err[512] = "";

    umask(022);     /* the modes must not depend on the caller's umask */
    made_cache(base, sizeof(base), dir, sizeof(dir));
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        ck_assert_msg(mode_of(dir, dirs[i]) == 0700, "%s: %o", dirs[i], mode_of(dir, dirs[i]));
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        ck_assert_msg(mode_of(dir, files[i]) == 0600, "%s: %o", files[i], mode_of(dir, files[i]));

    /* What an older version left: 0755 and 0644.  The next open tightens it. */
    ck_assert_int_eq(chmod(dir, 0755), 0);
    snprintf(path, sizeof(path), "%s/blobs/7f", dir);
    ck_assert_int_eq(chmod(path, 0777), 0);
    snprintf(path, sizeof(path), "%s/index/data.mdb", dir);
    ck_assert_int_eq(chmod(path, 0644), 0);
    ck_assert_msg(try_open(dir, 0, NULL, err, sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(mode_of(dir, ""), 0700);
    ck_assert_uint_eq(mode_of(dir, "blobs/7f"), 0700);
    ck_assert_uint_eq(mode_of(dir, "index/data.mdb"), 0600);
}
END_TEST

/* Each of these replaced by a link to a directory outside: refused, canary kept. */
static const char *const linked_dirs[] = {"tmp", "blobs", "index", "blobs/ab"};

START_TEST(test_linked_directory_refused)
{
    char base[300], dir[320], outside[400], canary[450], path[600], err[512] = "";
    const char *rel = linked_dirs[_i];

    made_cache(base, sizeof(base), dir, sizeof(dir));
    outside_with_canary(base, outside, sizeof(outside), canary, sizeof(canary));
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    char gone[640];
    snprintf(gone, sizeof(gone), "%s.old", path);
    ck_assert_int_eq(rename(path, gone), 0);
    ck_assert_int_eq(symlink(outside, path), 0);
    for (int sweep = 1; sweep >= 0; sweep--) {
        err[0] = '\0';
        ck_assert_int_eq(try_open(dir, sweep, NULL, err, sizeof(err)), GW_CACHE_EUNSAFE);
        char want[700];
        snprintf(want, sizeof(want), "%s: is a symbolic link, not a directory", path);
        ck_assert_str_eq(err, want);
        assert_file_is(canary, "keep me");
    }
}
END_TEST

/* Each of these replaced by a link to a file outside: refused, the file unchanged. */
static const char *const linked_files[] = {"lock", "index/data.mdb", "index/lock.mdb"};

START_TEST(test_linked_file_refused)
{
    char base[300], dir[320], outside[400], canary[450], path[600], err[512] = "";

    made_cache(base, sizeof(base), dir, sizeof(dir));
    outside_with_canary(base, outside, sizeof(outside), canary, sizeof(canary));
    snprintf(path, sizeof(path), "%s/%s", dir, linked_files[_i]);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(symlink(canary, path), 0);
    ck_assert_int_eq(try_open(dir, 1, NULL, err, sizeof(err)), GW_CACHE_EUNSAFE);
    ck_assert_msg(strstr(err, "is a symbolic link, not a file") != NULL, "%s", err);
    assert_file_is(canary, "keep me");
    ck_assert_uint_eq(mode_of(outside, "canary"), 0644);
}
END_TEST

START_TEST(test_wrong_type_refused)
{
    char base[300], dir[320], path[600], err[512] = "";

    made_cache(base, sizeof(base), dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/tmp", dir);
    ck_assert_int_eq(rmdir(path), 0);
    write_file(path, "not a directory");
    ck_assert_int_eq(try_open(dir, 1, NULL, err, sizeof(err)), GW_CACHE_EUNSAFE);
    ck_assert_msg(strstr(err, "tmp: is a file, not a directory") != NULL, "%s", err);
    assert_file_is(path, "not a directory");
}
END_TEST

/* A link appearing after the open: the walks refuse it and unlink nothing behind it. */
START_TEST(test_walks_never_follow)
{
    char base[300], dir[320], outside[400], canary[450], path[600], err[512] = "";
    struct gw_cache_options o = {.index_size = 1 << 20};
    struct gw_cache *c = NULL;

    made_cache(base, sizeof(base), dir, sizeof(dir));
    outside_with_canary(base, outside, sizeof(outside), canary, sizeof(canary));
    o.dir = dir;
    ck_assert_int_eq(gw_cache_open(&c, &o, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/tmp", dir);
    ck_assert_int_eq(rmdir(path), 0);
    ck_assert_int_eq(symlink(outside, path), 0);
    struct gw_cache_fsck_result res;
    ck_assert_int_eq(gw_cache_fsck(c, 1, NULL, NULL, &res), GW_CACHE_EUNSAFE);
    assert_file_is(canary, "keep me");
    gw_cache_close(c);
}
END_TEST

/* As root: another owner is refused; a root-owned cache is handed over. */
START_TEST(test_owners)
{
    char base[300], dir[320], path[600], err[512] = "";
    struct gw_cache_options to_nobody = {.hand_over = 1, .uid = 65534, .gid = 65534};
    struct stat st;

    made_cache(base, sizeof(base), dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/index", dir);
    ck_assert_int_eq(chown(path, 65534, 65534), 0);
    ck_assert_int_eq(try_open(dir, 1, NULL, err, sizeof(err)), GW_CACHE_EUNSAFE);
    ck_assert_msg(strstr(err, "index: owned by uid 65534, not by uid 0") != NULL, "%s", err);
    ck_assert_int_eq(chown(path, 0, 0), 0);

    /* A blob file left by a run as root goes over with its directory. */
    snprintf(path, sizeof(path), "%s/blobs/ab/stray", dir);
    write_file(path, "x");
    ck_assert_msg(try_open(dir, 0, &to_nobody, err, sizeof(err)) == 0, "%s", err);
    static const char *const all[] = {"", "index", "index/data.mdb", "index/lock.mdb", "tmp",
                                      "blobs", "blobs/00", "blobs/ab", "blobs/ab/stray", "lock"};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, all[i]);
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert_msg(st.st_uid == 65534 && st.st_gid == 65534, "%s: %u:%u", path,
                      (unsigned)st.st_uid, (unsigned)st.st_gid);
    }
    /* Now the cache is that user's: opening it as root's own is refused. */
    ck_assert_int_eq(try_open(dir, 0, NULL, err, sizeof(err)), GW_CACHE_EUNSAFE);
    ck_assert_msg(strstr(err, "owned by uid 65534") != NULL, "%s", err);
}
END_TEST

static Suite *layout_suite(void)
{
    Suite *s = suite_create("layout");
    TCase *tc = tcase_create("layout");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_modes_made_and_tightened);
    tcase_add_loop_test(tc, test_linked_directory_refused, 0,
                        (int)(sizeof(linked_dirs) / sizeof(linked_dirs[0])));
    tcase_add_loop_test(tc, test_linked_file_refused, 0,
                        (int)(sizeof(linked_files) / sizeof(linked_files[0])));
    tcase_add_test(tc, test_wrong_type_refused);
    tcase_add_test(tc, test_walks_never_follow);
    /* Changing owners needs root; as anyone else there is nothing to hand over. */
    if (geteuid() == 0) tcase_add_test(tc, test_owners);
    suite_add_tcase(s, tc);
    return s;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(topdir, sizeof(topdir), "%s/swiftgate-layout-XXXXXX", base ? base : "/tmp");
    if (mkdtemp(topdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    int failed = unit_run(layout_suite());
    nftw(topdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return failed == 0 ? 0 : 1;
}
