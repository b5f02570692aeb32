/*
 * delete.c - DELETE /fractal/<uuid> through the gateway (upload.h).
 *
 * Two requests to Swift: a HEAD of the object as stored (with
 * ?multipart-manifest=get, so an SLO shows itself by
 * X-Static-Large-Object instead of being read through), then its DELETE:
 * plain, or ?multipart-manifest=delete for an SLO, which removes its
 * segments and then the manifest and answers with a JSON report (Swift
 * answers 200 even when a segment could not go; the report says so).
 * Then the cache entry goes, in the thread pool, and the answer is 204,
 * or 404 when Swift had nothing (its 404 is remembered as any other).
 * Neither request is retried after a 401: a DELETE is answered 503 then.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <uv.h>

#include "cache.h"
#include "conf.h"
#include "http.h"
#include "neg.h"
#include "origin.h"
#include "respond.h"
#include "services.h"
#include "sink.h"
#include "stats.h"
#include "swift.h"
#include "upload.h"
#include "util.h"
#include "writereq.h"

#define DELETE_MAGIC 0x44454c45u
/* The largest SLO delete report read (a line per failed segment). */
#define REPORT_MAX (1u << 20)

struct gw_delete {
    struct gw_writereq w;       /* first: the sink's owner */
    uint32_t magic;
    int deleting;               /* the HEAD is over: the DELETE runs */
    int slo;                    /* X-Static-Large-Object: True */
    long status;
    char *report;               /* an SLO delete's JSON report */
    size_t report_len;
    uv_work_t work;
};

static struct gw_delete *del_of(void *ud)
{
    struct gw_delete *d = ud;
    GW_CHECK_MAGIC(d, DELETE_MAGIC);
    return d;
}

static void del_free(struct gw_writereq *w)
{
    struct gw_delete *d = (struct gw_delete *)w;
    free(d->report);
    d->magic = 0;
    free(d);
}

static void del_answer(struct gw_delete *d, int status, const char *reason)
{
    if (status >= 500) gw_info("delete", "%s: %d %s", d->w.name, status, reason);
    gw_writereq_answer(&d->w, status, reason, NULL);
}

static void purge_work(uv_work_t *w)
{
    struct gw_delete *d = w->data;
    gw_cache_remove(d->w.svc->cache, d->w.key); /* GW_CACHE_ENOTFOUND: nothing cached */
}

static void purge_done(uv_work_t *w, int status)
{
    struct gw_delete *d = del_of(w->data);
    (void)status;
    if (gw_writereq_job_done(&d->w)) return;
    del_answer(d, 204, "deleted");
}

/* Swift has it no more: out of the cache too. */
static void del_purge(struct gw_delete *d)
{
    if (d->w.svc->cache == NULL) {
        del_answer(d, 204, "deleted");
        return;
    }
    d->w.busy = 1;
    d->work.data = d;
    if (uv_queue_work(d->w.svc->loop, &d->work, purge_work, purge_done) != 0) purge_done(&d->work, 0);
}

/* An SLO delete's report: 0 when every segment and the manifest went. */
static int report_ok(const struct gw_delete *d, int *not_found)
{
    json_t *j = json_loadb(d->report ? d->report : "", d->report_len, 0, NULL);
    const char *st = json_string_value(json_object_get(j, "Response Status"));
    json_t *errors = json_object_get(j, "Errors");
    int ok = st != NULL && strncmp(st, "200", 3) == 0 &&
             (errors == NULL || json_array_size(errors) == 0);
    *not_found = (int)json_integer_value(json_object_get(j, "Number Deleted")) == 0;
    json_decref(j);
    return ok ? 0 : -1;
}

static int del_on_headers(void *ud, struct gw_fetch *f, long status)
{
    struct gw_delete *d = del_of(ud);
    d->status = status;
    if (!d->deleting) {
        const char *slo = gw_fetch_header(f, "X-Static-Large-Object");
        d->slo = slo != NULL && strcasecmp(slo, "true") == 0;
    }
    return 0;
}

static int del_on_data(void *ud, const char *buf, size_t len)
{
    struct gw_delete *d = del_of(ud);
    if (!d->deleting || !d->slo) return 0;
    if (d->report_len + len > REPORT_MAX) return GW_ELIMIT;
    d->report = gw_realloc(d->report, d->report_len + len + 1);
    memcpy(d->report + d->report_len, buf, len);
    d->report_len += len;
    return 0;
}

static void del_start(struct gw_delete *d);

static void del_on_done(void *ud, struct gw_fetch *f, int err)
{
    struct gw_delete *d = del_of(ud);
    (void)f;
    int not_found = 0;
    if (err != 0)
        del_answer(d, gw_fetch_err_status(err), err == GW_EBUSY ? GW_FETCH_BUSY_REASON
                                                 : "Swift did not answer");
    else if (d->status == 401)
        del_answer(d, 503, "Swift refused the gateway's token");
    else if (d->status == 404)
        del_answer(d, 404, "not found");
    else if (!d->deleting && d->status == 200)
        del_start(d);
    else if (d->deleting && !d->slo && d->status == 204)
        del_purge(d);
    else if (d->deleting && d->slo && d->status == 200 && report_ok(d, &not_found) == 0)
        not_found ? del_answer(d, 404, "not found") : del_purge(d);
    else
        del_answer(d, 502, "Swift did not delete the object");
}

static void del_prepare(void *ud, struct gw_fetch *f)
{
    struct gw_delete *d = del_of(ud);
    if (d->deleting && d->slo) gw_fetch_add_header(f, "Accept: application/json");
    gw_swift_trans_extra(f, gw_sink_request(d->w.s)->request_id);
}

static const struct gw_fetch_cbs del_cbs = {
    .on_headers = del_on_headers, .on_data = del_on_data, .on_done = del_on_done,
};

/* The HEAD first, then (deleting) the DELETE. */
static void del_request(struct gw_delete *d, const char *method, const char *query)
{
    d->status = 0;
    if (gw_writereq_swift(&d->w, method, query, del_prepare, &del_cbs, d) != 0)
        del_answer(d, 502, "cannot reach Swift");
}

static void del_start(struct gw_delete *d)
{
    d->deleting = 1;
    del_request(d, "DELETE", d->slo ? "multipart-manifest=delete" : NULL);
}

void gw_delete(struct gw_sink *s, const struct gw_services *svc, const char *name)
{
    struct gw_delete *d = gw_calloc(1, sizeof(*d));
    d->magic = DELETE_MAGIC;
    gw_writereq_init(&d->w, s, svc, name, del_free);
    del_request(d, "HEAD", "multipart-manifest=get");
}
