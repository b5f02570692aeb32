/*
 * swift_req.c - one request to Swift, with its credentials (swift.h).
 *
 * Every request the gateway sends to Swift goes through here: objects
 * passed through, fills, segments, manifests and listings.  So getting a
 * token, waiting for one and the single retry after a 401 are written once.
 *
 * The fetch's callbacks come to the trampolines below, which count the
 * answer, hide a first 401 from the caller and pass everything else on.
 * A request that saw a 401 drops that answer's body; when it is over, the
 * token it used is invalidated (unless a newer one replaced it already)
 * and the request starts again, from the loop, with whatever token is then
 * at hand or after waiting for one.  A second 401 goes to the caller.
 */
#include "swift.h"

#include <stddef.h>
#include <stdlib.h>

#include "origin.h"
#include "services.h"
#include "stats.h"
#include "util.h"

#define SREQ_MAGIC 0x53524551u

static int tr_headers(void *ud, struct gw_fetch *f, long status)
{
    struct gw_swift_req *q = ud;
    GW_CHECK_MAGIC(q, SREQ_MAGIC);
    gw_stats_origin(q->t.kind, (int)status, gw_fetch_ttfb_ms(f));
    q->status = (int)status;
    if (status == 401 && !q->retried && !q->t.once) {
        q->renewing = 1;
        return 0;
    }
    return q->cbs->on_headers(q->ud, f, status);
}

static int tr_data(void *ud, const char *buf, size_t len)
{
    struct gw_swift_req *q = ud;
    GW_CHECK_MAGIC(q, SREQ_MAGIC);
    if (q->renewing) return 0;
    return q->cbs->on_data(q->ud, buf, len);
}

static int send_fetch(struct gw_swift_req *q);

static void tr_done(void *ud, struct gw_fetch *f, int err)
{
    struct gw_swift_req *q = ud;
    GW_CHECK_MAGIC(q, SREQ_MAGIC);
    q->fetch = NULL;
    if (err != 0 && err != GW_EBUSY && q->status == 0) gw_stats_origin(q->t.kind, 0, 0);
    if (q->renewing && err == 0) {
        /* The token lapsed under us: renew it (once) and ask again.  A
         * newer token may be there already (another request renewed it). */
        gw_swift_invalidate(q->svc->swift, q->creds.generation);
        gw_swift_creds_free(&q->creds);
        q->renewing = 0;
        q->retried = 1;
        if (gw_swift_req_start(q) != 0) q->cbs->on_done(q->ud, NULL, GW_EORIGIN);
        return;
    }
    q->renewing = 0;
    q->cbs->on_done(q->ud, f, err);
}

static int tr_wanted(void *ud)
{
    struct gw_swift_req *q = ud;
    GW_CHECK_MAGIC(q, SREQ_MAGIC);
    return q->cbs->wanted == NULL || q->cbs->wanted(q->ud);
}

static size_t tr_read(void *ud, char *buf, size_t len)
{
    struct gw_swift_req *q = ud;
    GW_CHECK_MAGIC(q, SREQ_MAGIC);
    return q->cbs->on_read(q->ud, buf, len);
}

static const struct gw_fetch_cbs trampolines = {
    .on_headers = tr_headers,
    .on_data = tr_data,
    .on_done = tr_done,
    .wanted = tr_wanted,
    .on_read = tr_read,
};

static char *target_url(const struct gw_swift_req *q)
{
    const struct gw_swift_target *t = &q->t;
    const char *surl = q->creds.storage_url;
    if (t->object == NULL)
        return gw_swift_listing_url(surl, t->container, t->prefix ? t->prefix : "",
                                    t->marker ? t->marker : "");
    char *url = gw_swift_object_url(surl, t->container, t->object);
    if (t->query == NULL) return url;
    char *with = gw_asprintf("%s?%s", url, t->query);
    free(url);
    return with;
}

/* Credentials are at hand: build the fetch and start it. */
static int send_fetch(struct gw_swift_req *q)
{
    char *url = target_url(q);
    struct gw_fetch *f = gw_swift_fetch_url(q->svc->origin, &q->creds, url, q->t.method,
                                            &trampolines, q);
    free(url);
    if (q->t.prepare) q->t.prepare(q->ud, f);
    if (q->cbs->on_read) gw_fetch_upload(f);
    q->status = 0;
    if (gw_fetch_start(f) != 0) {
        gw_fetch_cancel(f);
        return GW_EORIGIN;
    }
    q->fetch = f;
    return 0;
}

static void on_token(struct gw_swift_wait *w, int err)
{
    struct gw_swift_req *q = (struct gw_swift_req *)((char *)w - offsetof(struct gw_swift_req, wait));
    GW_CHECK_MAGIC(q, SREQ_MAGIC);
    if (err != 0 || gw_swift_creds(q->svc->swift, &q->creds) != 0) {
        gw_stats_error(GW_ERR_AUTH);
        q->cbs->on_done(q->ud, NULL, GW_EAUTH);
        return;
    }
    if (send_fetch(q) != 0) q->cbs->on_done(q->ud, NULL, GW_EORIGIN);
}

void gw_swift_req_init(struct gw_swift_req *q, const struct gw_services *svc,
                       const struct gw_swift_target *t, const struct gw_fetch_cbs *cbs,
                       void *ud)
{
    *q = (struct gw_swift_req){.magic = SREQ_MAGIC, .t = *t, .cbs = cbs, .ud = ud, .svc = svc};
    q->wait.cb = on_token;
}

int gw_swift_req_start(struct gw_swift_req *q)
{
    GW_CHECK_MAGIC(q, SREQ_MAGIC);
    gw_assert(q->fetch == NULL && !q->wait.queued);
    if (q->creds.storage_url == NULL &&
        gw_swift_creds_refresh(q->svc->swift, q->svc->swift_client, &q->creds) != 0) {
        gw_swift_wait(q->svc->swift_client, &q->wait);
        return 0;
    }
    return send_fetch(q);
}

void gw_swift_req_resume(struct gw_swift_req *q)
{
    GW_CHECK_MAGIC(q, SREQ_MAGIC);
    if (q->fetch) gw_fetch_resume(q->fetch);
}

void gw_swift_req_cancel(struct gw_swift_req *q)
{
    if (q->magic != SREQ_MAGIC) return; /* never initialised */
    if (q->fetch) gw_fetch_cancel(q->fetch);
    q->fetch = NULL;
    if (q->wait.queued) gw_swift_wait_cancel(q->svc->swift_client, &q->wait);
    gw_swift_creds_free(&q->creds);
    q->renewing = 0;
}

int gw_swift_req_busy(const struct gw_swift_req *q)
{
    return q->magic == SREQ_MAGIC && (q->fetch != NULL || q->wait.queued);
}

void gw_swift_req_take(struct gw_swift_req *to, struct gw_swift_req *from)
{
    GW_CHECK_MAGIC(to, SREQ_MAGIC);
    GW_CHECK_MAGIC(from, SREQ_MAGIC);
    gw_assert(from->fetch != NULL && to->fetch == NULL);
    to->fetch = from->fetch;
    to->creds = from->creds;
    to->status = from->status;
    to->retried = from->retried;
    from->fetch = NULL;
    from->creds = (struct gw_swift_creds){0};
    gw_fetch_retarget(to->fetch, &trampolines, to);
}
