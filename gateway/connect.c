/*
 * connect.c - `swiftgate check-config --connect`: does this configuration
 * reach its Swift?
 *
 * One auth request, through the very code serve uses (gw_swift_login():
 * swift.c on an origin of its own, with the configured TLS and timeouts),
 * then one HEAD of the container with the token it gave.  Each step prints
 * what it did and how it went on stdout; the first that fails prints its
 * reason on stderr and ends the check (exit status 1).  Nothing is
 * retried: this is the answer an operator gets at once, not what the
 * gateway would get in a minute.  Each request is bounded by [swift]
 * connect_timeout and first_byte_timeout, and the loop is closed empty at
 * the end.
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

struct connect_run {
    uv_loop_t loop;
    int done;               /* the HEAD is over */
    int err;                /* its outcome: 0 or a GW_E* code */
    long status;            /* Swift's status */
    char objects[32];       /* X-Container-Object-Count */
    char error[256];        /* what curl saw, when it failed */
};

/* Step 1: a token (none asked for with static credentials).  0 or 1. */
static int authenticate(const struct gw_conf *conf, struct gw_swift_creds *creds)
{
    if (conf->auth_version == GW_AUTH_STATIC)
        printf("# connect: static credentials: no auth request\n");
    else
        printf("# connect: auth %s at %s as %s\n", conf->auth_version == GW_AUTH_V1
               ? "TempAuth v1.0" : "Keystone v3", conf->auth_url, conf->user);
    char why[GW_SWIFT_REASON_MAX];
    if (gw_swift_login_why(conf, &creds->storage_url, &creds->token, why, sizeof(why)) != 0) {
        fprintf(stderr, "swiftgate check-config: --connect: %s\n", why);
        return 1;
    }
    if (conf->auth_version != GW_AUTH_STATIC) printf("# connect: auth ok: a token\n");
    return 0;
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
                run->error[0] ? run->error : gw_strerror(run->err));
}

/* Step 2: HEAD the container with the token, on a loop of its own.  0 or 1. */
static int head_container(const struct gw_conf *conf, const struct gw_swift_creds *creds)
{
    struct connect_run run = {.done = 0};
    gw_assert(uv_loop_init(&run.loop) == 0);
    struct gw_origin *o = gw_origin_new(&run.loop, conf);
    char *url = gw_swift_container_url(creds->storage_url, conf->container);
    printf("# connect: HEAD %s\n", url);
    struct gw_fetch *f = gw_swift_fetch_url(o, creds, url, "HEAD", &head_cbs, &run);
    gw_fetch_ungated(f);
    int rc = 1;
    if (gw_fetch_start(f) != 0) {
        gw_fetch_cancel(f);
        fprintf(stderr, "swiftgate check-config: --connect: cannot start a request\n");
    } else {
        while (!run.done) uv_run(&run.loop, UV_RUN_ONCE);
        if (run.err == 0 && run.status >= 200 && run.status < 300) {
            printf("# connect: container %s: %ld %s, %s objects\n", conf->container,
                   run.status, gw_http_status_text((int)run.status), run.objects);
            rc = 0;
        } else {
            head_failure(&run, url, conf->container);
        }
    }
    free(url);
    gw_origin_close(o);
    uv_run(&run.loop, UV_RUN_DEFAULT); /* the close callbacks */
    gw_assert(uv_loop_close(&run.loop) == 0);
    return rc;
}

int gw_connect_check(const struct gw_conf *conf)
{
    struct gw_swift_creds creds = {0};
    int rc = authenticate(conf, &creds);
    if (rc == 0) rc = head_container(conf, &creds);
    gw_swift_creds_free(&creds);
    return rc;
}
