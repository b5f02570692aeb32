/*
 * swift_login.c - a token for a command that is not the gateway
 * (gw_swift_login() in swift.h).  It runs the gateway's own auth code
 * (swift.c: TempAuth, Keystone v3, static) on a private libuv loop with a
 * private origin, and returns once the one auth request is answered, so a
 * command gets exactly the token and storage URL a gateway with the same
 * configuration would; and, when it gets none, why (gw_swift_ready()'s
 * words).
 *
 * Invariants: everything made here is gone when it returns (the loop
 * closes with uv_loop_close() == 0); the token is never logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "conf.h"
#include "origin.h"
#include "swift.h"
#include "util.h"

struct login {
    struct gw_swift_wait wait;  /* first: reached from its callback */
    int over;
    int err;
};

static void on_token(struct gw_swift_wait *w, int err)
{
    struct login *l = (struct login *)(void *)w;
    l->over = 1;
    l->err = err;
}

int gw_swift_login(const struct gw_conf *conf, char **storage_url, char **token)
{
    char why[GW_SWIFT_REASON_MAX];
    return gw_swift_login_why(conf, storage_url, token, why, sizeof(why));
}

int gw_swift_login_why(const struct gw_conf *conf, char **storage_url, char **token, char *why,
                       size_t whylen)
{
    *storage_url = *token = NULL;
    why[0] = '\0';
    struct gw_swift *s = gw_swift_new(conf);
    struct gw_swift_creds c = {0};
    int rc = gw_swift_creds(s, &c);     /* static: at hand already */
    if (rc != 0) {
        uv_loop_t loop;
        gw_assert(uv_loop_init(&loop) == 0);
        struct gw_origin *o = gw_origin_new(&loop, conf);
        gw_assert(o != NULL);
        struct gw_swift_client *cl = gw_swift_client_new(s, o, &loop);
        struct login l = {.wait = {.cb = on_token}};
        gw_swift_wait(cl, &l.wait);
        while (!l.over && uv_run(&loop, UV_RUN_ONCE) != 0) {
        }
        rc = l.over && l.err == 0 ? gw_swift_creds(s, &c) : GW_EAUTH;
        unsigned after;
        if (rc != 0 && gw_swift_ready(s, why, whylen, &after))
            snprintf(why, whylen, "swift auth: no token");
        gw_swift_client_free(cl);
        gw_origin_close(o);
        uv_run(&loop, UV_RUN_DEFAULT); /* the close callbacks */
        gw_assert(uv_loop_close(&loop) == 0);
    }
    if (rc == 0) {
        *storage_url = c.storage_url;
        *token = c.token;
    } else {
        gw_swift_creds_free(&c);
    }
    gw_swift_free(s);
    return rc;
}
