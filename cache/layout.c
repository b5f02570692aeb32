/*
 * layout.c - the cache directory's layout, owners and modes, checked and
 * made at open: dir/, dir/lock, dir/index/ (data.mdb, lock.mdb),
 * dir/tmp/, dir/blobs/ and its 256 fan-out directories dir/blobs/00..ff/.
 *
 * Invariants, once gwc_layout_open() has returned 0:
 *  - Every one of those is what it should be and not a symbolic link: the
 *    directories are plain directories, the files plain files, each opened
 *    relative to its parent's descriptor with O_NOFOLLOW.  Only the cache
 *    directory itself may be reached through a symbolic link: its path is
 *    the operator's choice.
 *  - Each is owned by the expected user (o->uid when o->hand_over is set,
 *    else the process's effective uid) and has mode 0700 (directories) or
 *    0600 (files); wider modes were tightened.  Something owned by another
 *    user stops the open with GW_CACHE_EUNSAFE and a message naming it.
 *  - With o->hand_over, what root owned was given to o->uid:o->gid, and a
 *    directory given over had its root-owned plain files given over too
 *    (a cache left by a run as root).  Files in directories the user
 *    already owned are not checked one by one: only that user, or root,
 *    can have put them there.
 *  - Nothing is ever unlinked here.
 */
#include "cache_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_MODE 0700
#define FILE_MODE 0600

struct layout {
    const char *dir;            /* the cache directory, for messages */
    uid_t uid;                  /* the owner everything must have */
    gid_t gid;
    int hand_over;              /* root-owned things become uid:gid */
    char *err;
    size_t errlen;
};

static int fail(struct layout *l, int rc, const char *rel, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Put "<dir>/<rel>: <why>" ("<dir>: <why>" for rel "") in l->err; return rc. */
static int fail(struct layout *l, int rc, const char *rel, const char *fmt, ...)
{
    va_list ap;
    if (l->err == NULL || l->errlen == 0) return rc;
    int n = snprintf(l->err, l->errlen, "%s%s%s: ", l->dir, rel[0] ? "/" : "", rel);
    if (n < 0 || (size_t)n >= l->errlen) return rc;
    va_start(ap, fmt);
    vsnprintf(l->err + n, l->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return rc;
}

static const char *kind_name(mode_t m)
{
    switch (m & S_IFMT) {
    case S_IFLNK: return "a symbolic link";
    case S_IFDIR: return "a directory";
    case S_IFREG: return "a file";
    default: return "a special file";
    }
}

/*
 * fd is rel (a path inside the cache dir, "" for the dir itself): check its
 * type, owner and mode; hand it over or tighten it.  *handed is set when
 * it was given over.  0, GW_CACHE_EUNSAFE or -errno.
 */
static int vet(struct layout *l, int fd, const char *rel, mode_t type, int *handed)
{
    mode_t mode = type == S_IFDIR ? DIR_MODE : FILE_MODE;
    struct stat st;

    if (fstat(fd, &st) != 0) return fail(l, -errno, rel, "%s", strerror(errno));
    if ((st.st_mode & S_IFMT) != type)
        return fail(l, GW_CACHE_EUNSAFE, rel, "is %s, not %s", kind_name(st.st_mode),
                    kind_name(type));
    if (st.st_uid != l->uid) {
        if (!l->hand_over || st.st_uid != 0)
            return fail(l, GW_CACHE_EUNSAFE, rel,
                        "owned by uid %u, not by uid %u (the user swiftgate runs as)",
                        (unsigned)st.st_uid, (unsigned)l->uid);
        if (fchown(fd, l->uid, l->gid) != 0)
            return fail(l, -errno, rel, "chown: %s", strerror(errno));
        if (handed != NULL) *handed = 1;
    }
    if ((st.st_mode & 07777) != mode && fchmod(fd, mode) != 0)
        return fail(l, -errno, rel, "chmod: %s", strerror(errno));
    return 0;
}

/* openat() failed on name with ELOOP or ENOTDIR: say what is there instead. */
static int not_plain(struct layout *l, int at, const char *name, const char *rel, mode_t want)
{
    struct stat st;
    if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return fail(l, -errno, rel, "%s", strerror(errno));
    return fail(l, GW_CACHE_EUNSAFE, rel, "is %s, not %s", kind_name(st.st_mode),
                kind_name(want));
}

/* Root-owned plain files of the directory fd, given over (see the invariants). */
static int hand_over_files(struct layout *l, int fd, const char *rel)
{
    int dfd = dup(fd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    struct dirent *e;
    struct stat st;
    int rc = 0;

    if (d == NULL) {
        rc = -errno;
        if (dfd >= 0) close(dfd);
        return fail(l, rc, rel, "%s", strerror(-rc));
    }
    while ((errno = 0, e = readdir(d)) != NULL) {
        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            st.st_uid != 0)
            continue;
        if (fchownat(fd, e->d_name, l->uid, l->gid, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = fail(l, -errno, rel, "%s: chown: %s", e->d_name, strerror(errno));
            break;
        }
    }
    if (rc == 0 && e == NULL && errno != 0) rc = fail(l, -errno, rel, "%s", strerror(errno));
    closedir(d);
    return rc;
}

/*
 * The directory name in the directory at (rel: its path in the cache),
 * made if missing, opened without following a link, vetted.  The fd (>= 0)
 * or an error.
 */
static int open_dir(struct layout *l, int at, const char *name, const char *rel)
{
    int handed = 0, rc;

    if (mkdirat(at, name, DIR_MODE) != 0 && errno != EEXIST)
        return fail(l, -errno, rel, "%s", strerror(errno));
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP || errno == ENOTDIR) return not_plain(l, at, name, rel, S_IFDIR);
        return fail(l, -errno, rel, "%s", strerror(errno));
    }
    rc = vet(l, fd, rel, S_IFDIR, &handed);
    if (rc == 0 && handed) rc = hand_over_files(l, fd, rel);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

/* The file name in the directory at, made if missing (mode 0600), vetted: the fd or an error. */
static int open_file(struct layout *l, int at, const char *name, const char *rel)
{
    int fd = openat(at, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, FILE_MODE);
    if (fd < 0) {
        if (errno == ELOOP) return not_plain(l, at, name, rel, S_IFREG);
        return fail(l, -errno, rel, "%s", strerror(errno));
    }
    int rc = vet(l, fd, rel, S_IFREG, NULL);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

/* index/ with its two LMDB files made and vetted before LMDB opens them. */
static int layout_index(struct layout *l, int top)
{
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    char rel[32];
    int fd = open_dir(l, top, "index", "index");
    if (fd < 0) return fd;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(rel, sizeof(rel), "index/%s", files[i]);
        int f = open_file(l, fd, files[i], rel);
        if (f < 0) {
            close(fd);
            return f;
        }
        close(f);
    }
    close(fd);
    return 0;
}

/* blobs/ and all 256 fan-out directories, so a commit never has to make one. */
static int layout_blobs(struct layout *l, int top)
{
    char name[4], rel[16];
    int fd = open_dir(l, top, "blobs", "blobs");
    if (fd < 0) return fd;
    for (int i = 0; i < 256; i++) {
        snprintf(name, sizeof(name), "%02x", i);
        snprintf(rel, sizeof(rel), "blobs/%s", name);
        int sub = open_dir(l, fd, name, rel);
        if (sub < 0) {
            close(fd);
            return sub;
        }
        close(sub);
    }
    close(fd);
    return 0;
}

int gwc_layout_open(struct gw_cache *c, const struct gw_cache_options *o, char *err,
                    size_t errlen)
{
    struct layout l = {
        .dir = c->dir,
        .uid = o->hand_over ? o->uid : geteuid(),
        .gid = o->hand_over ? o->gid : getegid(),
        .hand_over = o->hand_over && geteuid() == 0,
        .err = err,
        .errlen = errlen,
    };
    int top = -1, fd, rc;

    /* The cache directory itself: its path may pass through links. */
    if (mkdir(c->dir, DIR_MODE) != 0 && errno != EEXIST) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", c->dir, strerror(-rc));
        return rc;
    }
    top = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (top < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", c->dir, strerror(-rc));
        return rc;
    }
    rc = vet(&l, top, "", S_IFDIR, NULL);
    if (rc == 0 && (fd = open_dir(&l, top, "tmp", "tmp")) >= 0) close(fd);
    else if (rc == 0) rc = fd;
    if (rc == 0) rc = layout_index(&l, top);
    if (rc == 0) rc = layout_blobs(&l, top);
    if (rc == 0) {
        fd = open_file(&l, top, "lock", "lock");
        if (fd >= 0) c->lock_fd = fd;
        else rc = fd;
    }
    close(top);
    return rc;
}

int gwc_subdir_open(const struct gw_cache *c, const char *name)
{
    int top = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (top < 0) return -errno;
    int fd = openat(top, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int rc = fd >= 0 ? fd : errno == ELOOP || errno == ENOTDIR ? GW_CACHE_EUNSAFE : -errno;
    close(top);
    return rc;
}
