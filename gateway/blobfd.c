/*
 * blobfd.c - one shared, read-only descriptor per cached blob.
 *
 * Hits are sent from these descriptors with sendfile (gw_sink_write_file),
 * so a body is neither copied into the process nor mapped into it: the
 * process's RSS does not grow with the objects it serves.  Every request of
 * every worker that sends the same blob shares one descriptor, so a hot
 * object costs no open() or close() per request.
 *
 * A descriptor is named by (key, blob id); blobs are immutable, so one
 * never goes stale, it only outlives its blob (evicted, replaced, purged).
 * Descriptors no request holds stay for reuse in an LRU of at most
 * IDLE_MAX (each is one open file, counted in RLIMIT_NOFILE's room);
 * gw_blobfd_sweep() closes the idle ones whose blob the index no longer
 * names, so an unlinked blob's disk space is freed soon after.  One mutex
 * guards the table: it is held for pointer work only, never for I/O.
 */
#include "blobfd.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define NBUCKETS 1024
/* A working set of a thousand hot objects opens nothing per hit; each idle
 * descriptor is one open file (main.c leaves room for them). */
#define IDLE_MAX 1024
#define BLOB_MAGIC 0x42464430u

struct open_blob {
    struct gw_blobfd pub;           /* first: the public view */
    uint32_t magic;
    uint8_t key[GW_CACHE_KEY_LEN];
    uint64_t blob_id;
    int refs;
    struct open_blob *hnext;        /* bucket chain */
    struct open_blob *inext, *iprev;/* idle LRU, most recent first */
    int idle;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct open_blob *table[NBUCKETS];
static struct open_blob *idle_head, *idle_tail;
static int nidle;

static unsigned bucket_of(const uint8_t *key)
{
    return ((unsigned)key[0] << 8 | key[1]) % NBUCKETS;
}

static void idle_unlink(struct open_blob *m)
{
    if (!m->idle) return;
    if (m->iprev) m->iprev->inext = m->inext; else idle_head = m->inext;
    if (m->inext) m->inext->iprev = m->iprev; else idle_tail = m->iprev;
    m->inext = m->iprev = NULL;
    m->idle = 0;
    nidle--;
}

static void table_unlink(struct open_blob *m)
{
    for (struct open_blob **p = &table[bucket_of(m->key)]; *p; p = &(*p)->hnext) {
        if (*p == m) {
            *p = m->hnext;
            return;
        }
    }
}

static void blob_destroy(struct open_blob *m)
{
    close(m->pub.fd);
    free(atomic_load(&m->pub.head));
    m->magic = 0;
    free(m);
}

struct gw_blobfd *gw_blobfd_get(const uint8_t key[GW_CACHE_KEY_LEN], uint64_t blob_id)
{
    struct open_blob *m;
    pthread_mutex_lock(&lock);
    for (m = table[bucket_of(key)]; m; m = m->hnext)
        if (m->blob_id == blob_id && memcmp(m->key, key, GW_CACHE_KEY_LEN) == 0) break;
    if (m) {
        idle_unlink(m);
        m->refs++;
    }
    pthread_mutex_unlock(&lock);
    return m ? &m->pub : NULL;
}

int gw_blobfd_open(struct gw_cache *c, const struct gw_cache_entry *e, struct gw_blobfd **out)
{
    struct gw_blobfd *have = gw_blobfd_get(e->key, e->blob_id);
    if (have) {
        *out = have;
        return 0;
    }
    char path[1024];
    int rc = gw_cache_blob_path(c, e, path, sizeof(path));
    if (rc != 0) return rc;
    /* A link in place of a blob is never followed (ELOOP: treated as gone). */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno == ELOOP ? -ENOENT : -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != e->size) {
        close(fd);
        return -ENOENT; /* not the blob the entry names: treat as gone */
    }
    /* A cold blob: start reading it in while still off the loop. */
    if (e->size > 0) posix_fadvise(fd, 0, (off_t)e->size, POSIX_FADV_WILLNEED);
    struct open_blob *m = gw_calloc(1, sizeof(*m));
    m->magic = BLOB_MAGIC;
    m->pub.fd = fd;
    m->pub.len = e->size;
    memcpy(m->key, e->key, GW_CACHE_KEY_LEN);
    m->blob_id = e->blob_id;
    m->refs = 1;

    /* Another thread may have opened it meanwhile: keep one. */
    pthread_mutex_lock(&lock);
    struct open_blob *o;
    for (o = table[bucket_of(m->key)]; o; o = o->hnext)
        if (o->blob_id == m->blob_id && memcmp(o->key, m->key, GW_CACHE_KEY_LEN) == 0) break;
    if (o) {
        idle_unlink(o);
        o->refs++;
    } else {
        m->hnext = table[bucket_of(m->key)];
        table[bucket_of(m->key)] = m;
    }
    pthread_mutex_unlock(&lock);
    if (o) {
        blob_destroy(m);
        m = o;
    }
    *out = &m->pub;
    return 0;
}

/* ---- opening off the loop ---- */

struct gw_blob_open {
    uv_work_t work;
    struct gw_cache *cache;
    struct gw_cache_entry entry;
    struct gw_blobfd *blob;
    int rc;
    void (*cb)(void *ud, int rc, struct gw_blobfd *b);
    void *ud;                   /* NULL once cancelled */
};

static void open_work(uv_work_t *w)
{
    struct gw_blob_open *op = w->data;
    op->rc = gw_blobfd_open(op->cache, &op->entry, &op->blob);
}

static void open_done(uv_work_t *w, int status)
{
    struct gw_blob_open *op = w->data;
    if (status != 0 && op->rc == 0) {
        if (op->blob) gw_blobfd_release(op->blob);
        op->rc = status;
    }
    if (op->rc != 0) op->blob = NULL;
    if (op->ud == NULL) {
        if (op->blob) gw_blobfd_release(op->blob);
    } else {
        op->cb(op->ud, op->rc, op->blob);
    }
    free(op);
}

struct gw_blob_open *gw_blobfd_open_async(uv_loop_t *loop, struct gw_cache *c,
                                           const struct gw_cache_entry *e,
                                           void (*cb)(void *ud, int rc, struct gw_blobfd *b),
                                           void *ud)
{
    gw_assert(ud != NULL);
    struct gw_blob_open *op = gw_calloc(1, sizeof(*op));
    op->work.data = op;
    op->cache = c;
    op->entry = *e;
    op->cb = cb;
    op->ud = ud;
    if (uv_queue_work(loop, &op->work, open_work, open_done) != 0) {
        free(op);
        return NULL;
    }
    return op;
}

void gw_blobfd_open_cancel(struct gw_blob_open *op)
{
    if (op) op->ud = NULL;
}

void gw_blobfd_ref(struct gw_blobfd *pub)
{
    struct open_blob *m = (struct open_blob *)pub;
    GW_CHECK_MAGIC(m, BLOB_MAGIC);
    pthread_mutex_lock(&lock);
    m->refs++;
    pthread_mutex_unlock(&lock);
}

void gw_blobfd_release(struct gw_blobfd *pub)
{
    struct open_blob *m = (struct open_blob *)pub;
    GW_CHECK_MAGIC(m, BLOB_MAGIC);
    struct open_blob *drop = NULL;
    pthread_mutex_lock(&lock);
    gw_assert(m->refs > 0);
    if (--m->refs == 0) {
        m->idle = 1;
        m->iprev = NULL;
        m->inext = idle_head;
        if (idle_head) idle_head->iprev = m; else idle_tail = m;
        idle_head = m;
        nidle++;
        if (nidle > IDLE_MAX) {
            drop = idle_tail;
            idle_unlink(drop);
            table_unlink(drop);
        }
    }
    pthread_mutex_unlock(&lock);
    if (drop) blob_destroy(drop);
}

void gw_blobfd_release_cb(void *b)
{
    gw_blobfd_release(b);
}

void gw_blobfd_sweep(struct gw_cache *c)
{
    /* Collect the idle blobs first: the index is read without the lock. */
    struct candidate {
        uint8_t key[GW_CACHE_KEY_LEN];
        uint64_t blob_id;
    } *cand = NULL;
    int n = 0;
    pthread_mutex_lock(&lock);
    if (nidle > 0) {
        cand = gw_malloc((size_t)nidle * sizeof(*cand));
        for (struct open_blob *m = idle_head; m; m = m->inext) {
            memcpy(cand[n].key, m->key, GW_CACHE_KEY_LEN);
            cand[n].blob_id = m->blob_id;
            n++;
        }
    }
    pthread_mutex_unlock(&lock);
    struct gw_cache_entry *e = gw_malloc(sizeof(*e));
    for (int i = 0; i < n; i++) {
        if (gw_cache_get(c, cand[i].key, e) == 0 && e->blob_id == cand[i].blob_id) continue;
        /* Its blob is gone: close it if still idle. */
        struct open_blob *drop = NULL;
        pthread_mutex_lock(&lock);
        for (struct open_blob *m = table[bucket_of(cand[i].key)]; m; m = m->hnext) {
            if (m->blob_id == cand[i].blob_id &&
                memcmp(m->key, cand[i].key, GW_CACHE_KEY_LEN) == 0) {
                if (m->idle) {
                    idle_unlink(m);
                    table_unlink(m);
                    drop = m;
                }
                break;
            }
        }
        pthread_mutex_unlock(&lock);
        if (drop) blob_destroy(drop);
    }
    free(e);
    free(cand);
}

void gw_blobfd_shutdown(void)
{
    pthread_mutex_lock(&lock);
    while (idle_head) {
        struct open_blob *m = idle_head;
        idle_unlink(m);
        table_unlink(m);
        blob_destroy(m);
    }
    pthread_mutex_unlock(&lock);
}
