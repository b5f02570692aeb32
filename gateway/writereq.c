/*
 * writereq.c - what PUT and DELETE share (writereq.h).
 */
#include "writereq.h"

#include <stdio.h>

#include "conf.h"
#include "respond.h"
#include "services.h"
#include "sink.h"
#include "util.h"

#define WRITEREQ_MAGIC 0x57524954u

static struct gw_writereq *writereq_of(void *ud)
{
    struct gw_writereq *w = ud;
    GW_CHECK_MAGIC(w, WRITEREQ_MAGIC);
    return w;
}

static void writereq_free(struct gw_writereq *w)
{
    gw_swift_req_cancel(&w->q);
    w->magic = 0;
    w->free(w);
}

static void on_release(void *ud)
{
    struct gw_writereq *w = writereq_of(ud);
    w->released = 1;
    gw_swift_req_cancel(&w->q);
    if (!w->busy) writereq_free(w);
    else if (w->on_release != NULL) w->on_release(w);
}

static void on_drain(void *ud)
{
    (void)ud; /* the answers are small: nothing waits for room */
}

static const struct gw_sink_owner owner = {.on_drain = on_drain, .release = on_release};

void gw_writereq_init(struct gw_writereq *w, struct gw_sink *s, const struct gw_services *svc,
                      const char *name, void (*free_fn)(struct gw_writereq *w))
{
    w->magic = WRITEREQ_MAGIC;
    w->s = s;
    w->svc = svc;
    w->free = free_fn;
    snprintf(w->name, sizeof(w->name), "%s", name);
    gw_cache_key(svc->conf->container, name, w->key);
    gw_sink_attach(s, &owner, w);
}

void gw_writereq_answer(struct gw_writereq *w, int status, const char *reason,
                        const char *extra)
{
    if (w->answered || w->released) return;
    w->answered = 1;
    gw_respond_simple(w->s, status, reason, extra);
}

int gw_writereq_job_done(struct gw_writereq *w)
{
    GW_CHECK_MAGIC(w, WRITEREQ_MAGIC);
    w->busy = 0;
    if (!w->released) return 0;
    writereq_free(w);
    return 1;
}

int gw_writereq_swift(struct gw_writereq *w, const char *method, const char *query,
                      void (*prepare)(void *ud, struct gw_fetch *f),
                      const struct gw_fetch_cbs *cbs, void *ud)
{
    struct gw_swift_target t = {
        .kind = "object", .method = method, .container = w->svc->conf->container,
        .object = w->name, .query = query, .prepare = prepare, .once = 1,
    };
    gw_swift_req_cancel(&w->q);
    gw_swift_req_init(&w->q, w->svc, &t, cbs, ud);
    return gw_swift_req_start(&w->q);
}
