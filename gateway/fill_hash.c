/*
 * fill_hash.c - the MD5 of a fill's body, taken from its temp file in the
 * thread pool while the loop goes on receiving and sending.
 *
 * MD5 runs at about 750 MB/s, so hashing a 16 MiB body on the loop takes
 * some 22 ms of the owner's thread, in line with the transfer: the loop
 * was the slowest stage between Swift and the clients.  A body of
 * FILL_HASH_BEHIND_MIN bytes or more is hashed behind instead, from the
 * bytes already written (they are in the page cache), by at most one job
 * at a time per fill, each of at most HASH_JOB_MAX bytes, so a job never
 * holds a pool thread long from the cache's opens and commits.  Smaller
 * bodies are hashed on the loop as they arrive, where a trip through the
 * pool would cost more than the hashing.
 *
 * Invariants:
 *  - The MD5 context and `hashed` belong to the running job while
 *    `running` is set, else to the owner's loop; the hand-over is
 *    uv_queue_work's own.
 *  - A running job holds a reference on its fill (and so its fd).
 *  - The digest is final only when `hashed` equals the body's length and
 *    the fetch is over; fill_fetch.c verifies only then.
 */
#include "fill_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "stats.h"

/* Bytes one job hashes at most (about 1.4 ms of a pool thread). */
#define HASH_JOB_MAX (1u << 20)
/* What one pread takes into the job's buffer. */
#define HASH_READ (128u << 10)

void fill_hash_begin(struct gw_fill *f, uint64_t length)
{
    struct fill_hash *h = &f->hash;
    h->ctx = EVP_MD_CTX_new();
    gw_assert(h->ctx != NULL);
    EVP_DigestInit_ex(h->ctx, EVP_md5(), NULL);
    h->behind = length >= FILL_HASH_BEHIND_MIN;
}

void fill_hash_free(struct fill_hash *h)
{
    gw_assert(!h->running);
    if (h->ctx) EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

void fill_hash_inline(struct gw_fill *f, const char *buf, size_t len)
{
    struct fill_hash *h = &f->hash;
    if (h->behind) return;
    EVP_DigestUpdate(h->ctx, buf, len);
    h->hashed += len;
}

static void hash_work(uv_work_t *w)
{
    struct gw_fill *f = w->data;
    struct fill_hash *h = &f->hash;
    static _Thread_local unsigned char buf[HASH_READ];
    uint64_t from = h->hashed;
    while (h->hashed < h->upto && h->err == 0) {
        uint64_t want = h->upto - h->hashed;
        if (want > sizeof(buf)) want = sizeof(buf);
        ssize_t n = pread(f->fd, buf, want, (off_t)h->hashed);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            h->err = n < 0 ? -errno : -EIO;
            break;
        }
        EVP_DigestUpdate(h->ctx, buf, (size_t)n);
        h->hashed += (uint64_t)n;
    }
    /* Start writing these pages out now, so that the commit's fsync finds
     * little left to wait for. */
    if (h->hashed > from)
        (void)sync_file_range(f->fd, (off_t)from, (off_t)(h->hashed - from),
                              SYNC_FILE_RANGE_WRITE);
}

static void hash_done(uv_work_t *w, int status);

/* Start a job over what is written and not hashed, if none runs. */
static void hash_kick(struct gw_fill *f)
{
    struct fill_hash *h = &f->hash;
    if (h->running || h->err || h->hashed >= f->written) return;
    uint64_t n = f->written - h->hashed;
    h->upto = h->hashed + (n > HASH_JOB_MAX ? HASH_JOB_MAX : n);
    h->running = 1;
    h->work.data = f;
    fill_hold(f);
    int rc = uv_queue_work(f->owner->loop, &h->work, hash_work, hash_done);
    gw_assert(rc == 0); /* it fails only for a missing callback */
}

static void hash_done(uv_work_t *w, int status)
{
    struct gw_fill *f = w->data;
    GW_CHECK_MAGIC(f, FILL_MAGIC);
    struct fill_hash *h = &f->hash;
    h->running = 0;
    if (status != 0 && h->err == 0) h->err = -ECANCELED;
    if (h->err && f->owner_ref) {
        gw_warn("fill", "%s: reading the temp blob back for its MD5: %s", f->name,
                strerror(-h->err));
        gw_stats_error_for(GW_ERR_CACHE_WRITE, h->err);
    }
    if (f->owner_ref) {
        if (h->wait_verify && (h->err || h->hashed >= f->written)) {
            h->wait_verify = 0;
            fill_body_verify(f);
        } else {
            hash_kick(f);
        }
    }
    fill_drop(f); /* f may be gone now */
}

void fill_hash_more(struct gw_fill *f)
{
    if (f->hash.behind) hash_kick(f);
}

int fill_hash_final(struct gw_fill *f, char hex[33])
{
    struct fill_hash *h = &f->hash;
    if (h->running || (!h->err && h->hashed < f->written)) {
        h->wait_verify = 1;
        hash_kick(f);
        return 0;
    }
    if (h->err) return h->err;
    unsigned char digest[16];
    EVP_DigestFinal_ex(h->ctx, digest, NULL);
    gw_hex(digest, 16, hex);
    return 1;
}
