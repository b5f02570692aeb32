/*
 * swift.c - Swift auth and URLs.
 *
 * The process-wide struct gw_swift holds the storage URL and token under a
 * mutex; readers copy them out, so a refresh never pulls a string from under
 * a running request.  Every new token bumps `generation`: a 401 seen with an
 * older token does not throw away a newer one.  A token counts as expired a
 * little before Swift says it does (a tenth of its life, at most a minute),
 * so no request is sent with a token that lapses on the way.
 *
 * Auth requests run on the worker's own loop through origin.c; one request
 * at a time per worker, however many requests wait for it.  Neither the key
 * nor the token ever goes into a log line.
 */
#include "swift.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "origin.h"
#include "stats.h"
#include "util.h"

#define CLIENT_MAGIC 0x5357434cu

struct gw_swift {
    const struct gw_conf *conf;
    pthread_mutex_t lock;
    char *storage_url;
    char *token;
    uint64_t expires_ms;      /* gw_now_ms() clock; 0 = no token */
    uint64_t generation;
    uint64_t auth_count;
};

struct gw_swift_client {
    uint32_t magic;
    struct gw_swift *s;
    struct gw_origin *o;
    struct gw_fetch *fetch;
    struct gw_swift_wait *waiters;
};

static char *strip_slash(const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/') n--;
    return gw_strndup(s, n);
}

struct gw_swift *gw_swift_new(const struct gw_conf *conf)
{
    struct gw_swift *s = gw_calloc(1, sizeof(*s));
    s->conf = conf;
    pthread_mutex_init(&s->lock, NULL);
    if (conf->auth_version == GW_AUTH_STATIC) {
        s->storage_url = strip_slash(conf->storage_url);
        s->token = gw_strdup(conf->token);
        s->expires_ms = UINT64_MAX;
        s->generation = 1;
    }
    return s;
}

void gw_swift_free(struct gw_swift *s)
{
    if (s == NULL) return;
    pthread_mutex_destroy(&s->lock);
    free(s->storage_url);
    free(s->token);
    free(s);
}

int gw_swift_creds(struct gw_swift *s, struct gw_swift_creds *out)
{
    int rc = GW_EAUTH;
    uint64_t now = gw_now_ms();
    pthread_mutex_lock(&s->lock);
    if (s->token && now < s->expires_ms) {
        out->storage_url = gw_strdup(s->storage_url);
        out->token = gw_strdup(s->token);
        out->generation = s->generation;
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void gw_swift_creds_free(struct gw_swift_creds *c)
{
    free(c->storage_url);
    free(c->token);
    c->storage_url = c->token = NULL;
}

void gw_swift_invalidate(struct gw_swift *s, uint64_t generation)
{
    if (s->conf->auth_version == GW_AUTH_STATIC) return;
    pthread_mutex_lock(&s->lock);
    if (s->generation == generation) s->expires_ms = 0;
    pthread_mutex_unlock(&s->lock);
}

uint64_t gw_swift_auth_count(struct gw_swift *s)
{
    pthread_mutex_lock(&s->lock);
    uint64_t n = s->auth_count;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* ---- the auth request (TempAuth v1.0) ---- */

static void wake_all(struct gw_swift_client *cl, int err)
{
    /* A callback may queue its request again: take the list first. */
    struct gw_swift_wait *w = cl->waiters;
    cl->waiters = NULL;
    while (w) {
        struct gw_swift_wait *next = w->next;
        w->queued = 0;
        w->next = NULL;
        w->cb(w, err);
        w = next;
    }
}

static void auth_done(void *ud, struct gw_fetch *f, int err)
{
    struct gw_swift_client *cl = ud;
    GW_CHECK_MAGIC(cl, CLIENT_MAGIC);
    struct gw_swift *s = cl->s;
    cl->fetch = NULL;

    const char *token = gw_fetch_header(f, "X-Auth-Token");
    const char *url = gw_fetch_header(f, "X-Storage-Url");
    const char *life = gw_fetch_header(f, "X-Auth-Token-Expires");
    if (err == 0 && !(token && url && token[0] && url[0])) err = GW_EAUTH;
    if (err != 0) {
        if (err == GW_EAUTH)
            gw_warn("swift", "auth request to %s refused for user %s", s->conf->auth_url,
                    s->conf->user);
        else
            gw_warn("swift", "auth request to %s failed: %s", s->conf->auth_url,
                    gw_fetch_error_text(f));
        wake_all(cl, GW_EAUTH);
        return;
    }

    uint64_t life_ms = 3600 * 1000;
    if (life) {
        char *end;
        unsigned long long v = strtoull(life, &end, 10);
        if (end != life) life_ms = (uint64_t)v * 1000;
    }
    uint64_t margin = life_ms / 10;
    if (margin > 60000) margin = 60000;
    uint64_t now = gw_now_ms();

    pthread_mutex_lock(&s->lock);
    free(s->storage_url);
    free(s->token);
    s->storage_url = strip_slash(url);
    s->token = gw_strdup(token);
    s->expires_ms = now + life_ms - margin;
    s->generation++;
    s->auth_count++;
    pthread_mutex_unlock(&s->lock);
    gw_info("swift", "authenticated as %s; token valid for %llu s", s->conf->user,
            (unsigned long long)(life_ms / 1000));
    wake_all(cl, 0);
}

static int auth_status_check(void *ud, struct gw_fetch *f, long status)
{
    (void)ud;
    gw_stats_origin("auth", (int)status, gw_fetch_ttfb_ms(f));
    /* Anything but 2xx is a refusal; its body is of no interest. */
    return (status >= 200 && status < 300) ? 0 : GW_EAUTH;
}

static const struct gw_fetch_cbs auth_cbs = {
    .on_headers = auth_status_check,
    .on_data = NULL,
    .on_done = auth_done,
};

struct gw_swift_client *gw_swift_client_new(struct gw_swift *s, struct gw_origin *o)
{
    struct gw_swift_client *cl = gw_calloc(1, sizeof(*cl));
    cl->magic = CLIENT_MAGIC;
    cl->s = s;
    cl->o = o;
    return cl;
}

void gw_swift_client_free(struct gw_swift_client *cl)
{
    if (cl == NULL) return;
    GW_CHECK_MAGIC(cl, CLIENT_MAGIC);
    if (cl->fetch) gw_fetch_cancel(cl->fetch);
    cl->magic = 0;
    free(cl);
}

void gw_swift_wait(struct gw_swift_client *cl, struct gw_swift_wait *w)
{
    GW_CHECK_MAGIC(cl, CLIENT_MAGIC);
    gw_assert(!w->queued);
    w->queued = 1;
    w->next = cl->waiters;
    cl->waiters = w;
    if (cl->fetch) return;

    const struct gw_conf *c = cl->s->conf;
    if (c->auth_version != GW_AUTH_V1) {
        /* Static credentials cannot be renewed: a 401 is final. */
        gw_warn("swift", "the static token was refused and cannot be renewed");
        wake_all(cl, GW_EAUTH);
        return;
    }
    struct gw_fetch *f = gw_fetch_new(cl->o, "GET", c->auth_url, &auth_cbs, cl);
    char *h = gw_asprintf("X-Auth-User: %s", c->user);
    gw_fetch_add_header(f, h);
    free(h);
    h = gw_asprintf("X-Auth-Key: %s", c->key);
    gw_fetch_add_header(f, h);
    free(h);
    if (gw_fetch_start(f) != 0) {
        gw_fetch_cancel(f);
        gw_warn("swift", "cannot start an auth request");
        wake_all(cl, GW_EAUTH);
        return;
    }
    cl->fetch = f;
}

void gw_swift_wait_cancel(struct gw_swift_client *cl, struct gw_swift_wait *w)
{
    GW_CHECK_MAGIC(cl, CLIENT_MAGIC);
    if (!w->queued) return;
    for (struct gw_swift_wait **p = &cl->waiters; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    w->queued = 0;
    w->next = NULL;
}

/* ---- URLs ---- */

static void encode_segment(char **p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            *(*p)++ = (char)ch;
        } else {
            *(*p)++ = '%';
            *(*p)++ = hex[ch >> 4];
            *(*p)++ = hex[ch & 15];
        }
    }
}

char *gw_swift_object_url(const char *storage_url, const char *container, const char *name)
{
    size_t n = strlen(storage_url) + 3 * (strlen(container) + strlen(name)) + 3;
    char *url = gw_malloc(n);
    char *p = url;
    size_t sl = strlen(storage_url);
    memcpy(p, storage_url, sl);
    p += sl;
    *p++ = '/';
    encode_segment(&p, container);
    *p++ = '/';
    encode_segment(&p, name);
    *p = '\0';
    return url;
}
