/*
 * connect.c - `swiftgate check-config --connect`: does this configuration
 * reach its Swift?
 *
 * One auth request, through the very code serve uses (swift.c on an origin
 * of its own, with the configured TLS and timeouts), then one HEAD of the
 * container with the token it gave.  Each step prints what it did and how
 * it went on stdout; the first that fails prints its reason on stderr and
 * ends the check (exit status 1).  Nothing is retried: this is the answer
 * an operator gets at once, not what the gateway would get in a minute.
 * The whole check is bounded by CONNECT_LIMIT_MS besides the configured
 * connect and first-byte timeouts, and the loop is closed empty at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "conf.h"
#include "connect.h"
#include "http.h"
#include "origin.h"
#include "swift.h"
#include "util.h"

#define CONNECT_LIMIT_MS 60000

struct connect_run {
    uv_loop_t loop;
    uv_timer_t limit;
    struct gw_swift_wait wait;
    int done;               /* the step running now is over */
    int err;                /* its outcome: 0 or a GW_E* code */
    long status;            /* HEAD: Swift's status */
    char objects[32];       /* HEAD: X-Container-Object-Count */
    char error[256];        /* HEAD: what curl saw, when it failed */
};

static void on_limit(uv_timer_t *t)
{
    struct connect_run *run = t->data;
    run->done = 1;
    run->err = GW_ETIMEOUT;
}

/* Run the loop until the step is over or the time limit is up. */
static void run_step(struct connect_run *run)
{
    run->done = 0;
    run->err = 0;
    while (!run->done) uv_run(&run->loop, UV_RUN_ONCE);
}

static void on_token(struct gw_swift_wait *w, int err)
{
    struct connect_run *run = (struct connect_run *)((char *)w -
                                                     offsetof(struct connect_run, wait));
    run->done = 1;
    run->err = err;
}

/* Step 1: a token (nothing to do with static credentials).  0 or 1. */
static int authenticate(struct connect_run *run, const struct gw_conf *conf,
                        struct gw_swift *sw, struct gw_swift_client *cl)
{
    if (conf->auth_version == GW_AUTH_STATIC) {
        printf("# connect: static credentials: no auth request\n");
        return 0;
    }
    printf("# connect: auth %s at %s as %s\n", conf->auth_version == GW_AUTH_V1
           ? "TempAuth v1.0" : "Keystone v3", conf->auth_url, conf->user);
    run->wait.cb = on_token;
    gw_swift_wait(cl, &run->wait);
    run_step(run);
    char why[GW_SWIFT_REASON_MAX] = "swift auth: no token";
    unsigned after;
    int ready = gw_swift_ready(sw, why, sizeof(why), &after);
    if (run->err == 0 && ready) {
        printf("# connect: auth ok: a token\n");
        return 0;
    }
    if (run->err == GW_ETIMEOUT) {
        gw_swift_wait_cancel(cl, &run->wait);
        snprintf(why, sizeof(why), "swift auth: %s: no answer within %d s", conf->auth_url,
                 CONNECT_LIMIT_MS / 1000);
    }
    fprintf(stderr, "swiftgate check-config: --connect: %s\n", why);
    return 1;
}

static int head_headers(void *ud, struct gw_fetch *f, long status)
{
    struct connect_run *run = ud;
    const char *n = gw_fetch_header(f, "X-Container-Object-Count");
    run->status = status;
    snprintf(run->objects, sizeof(run->objects), "%s", n ? n : "?");
    return 0;
}

static void head_done(void *ud, struct gw_fetch *f, int err)
{
    struct connect_run *run = ud;
    run->done = 1;
    run->err = err;
    /* The fetch is freed when this returns: keep its words. */
    if (err != 0)
        snprintf(run->error, sizeof(run->error), "%s",
                 gw_fetch_error_text(f)[0] ? gw_fetch_error_text(f) : gw_strerror(err));
}

static const struct gw_fetch_cbs head_cbs = {
    .on_headers = head_headers,
    .on_data = NULL,
    .on_done = head_done,
};

/* What a HEAD of the container answered, as one line for stderr. */
static void head_failure(const struct connect_run *run, const char *url, const char *container)
{
    if (run->status == 404)
        fprintf(stderr, "swiftgate check-config: --connect: container %s does not exist "
                "(404 from %s)\n", container, url);
    else if (run->status == 401 || run->status == 403)
        fprintf(stderr, "swiftgate check-config: --connect: %ld %s from %s: the token does "
                "not open the container\n", run->status,
                gw_http_status_text((int)run->status), url);
    else if (run->status != 0)
        fprintf(stderr, "swiftgate check-config: --connect: %ld %s from %s\n", run->status,
                gw_http_status_text((int)run->status), url);
    else
        fprintf(stderr, "swiftgate check-config: --connect: HEAD %s: %s\n", url,
                run->error[0] ? run->error : "no answer within the time limit");
}

/* Step 2: HEAD the container with the token.  0 or 1. */
static int head_container(struct connect_run *run, const struct gw_conf *conf,
                          struct gw_swift *sw, struct gw_origin *o)
{
    struct gw_swift_creds creds = {0};
    if (gw_swift_creds(sw, &creds) != 0) {
        fprintf(stderr, "swiftgate check-config: --connect: the token expired at once\n");
        return 1;
    }
    char *url = gw_swift_container_url(creds.storage_url, conf->container);
    printf("# connect: HEAD %s\n", url);
    struct gw_fetch *f = gw_swift_fetch_url(o, &creds, url, "HEAD", &head_cbs, run);
    gw_swift_creds_free(&creds);
    gw_fetch_ungated(f);
    int rc = 1;
    if (gw_fetch_start(f) != 0) {
        gw_fetch_cancel(f);
        fprintf(stderr, "swiftgate check-config: --connect: cannot start a request\n");
        goto leave;
    }
    run_step(run);
    if (run->err == GW_ETIMEOUT) gw_fetch_cancel(f);
    if (run->err == 0 && run->status >= 200 && run->status < 300) {
        printf("# connect: container %s: %ld %s, %s objects\n", conf->container, run->status,
               gw_http_status_text((int)run->status), run->objects);
        rc = 0;
    } else {
        head_failure(run, url, conf->container);
    }
leave:
    free(url);
    return rc;
}

int gw_connect_check(const struct gw_conf *conf)
{
    static struct connect_run run;
    memset(&run, 0, sizeof(run));
    if (uv_loop_init(&run.loop) != 0) {
        fprintf(stderr, "swiftgate check-config: --connect: uv_loop_init failed\n");
        return 1;
    }
    uv_timer_init(&run.loop, &run.limit);
    run.limit.data = &run;
    uv_timer_start(&run.limit, on_limit, CONNECT_LIMIT_MS, 0);
    struct gw_origin *o = gw_origin_new(&run.loop, conf);
    struct gw_swift *sw = gw_swift_new(conf);
    struct gw_swift_client *cl = gw_swift_client_new(sw, o, &run.loop);

    int rc = authenticate(&run, conf, sw, cl);
    if (rc == 0) rc = head_container(&run, conf, sw, o);

    gw_swift_client_free(cl);
    gw_origin_close(o);
    uv_close((uv_handle_t *)&run.limit, NULL);
    uv_run(&run.loop, UV_RUN_DEFAULT);
    int closed = uv_loop_close(&run.loop);
    gw_assert(closed == 0);
    gw_swift_free(sw);
    return rc;
}
