/*
 * swift.c - Swift auth and URLs.
 *
 * The process-wide struct gw_swift holds the storage URL and token under a
 * mutex; readers copy them out, so a refresh never pulls a string from under
 * a running request.  Every new token bumps `generation`: a 401 seen with an
 * older token does not throw away a newer one.
 *
 * One auth request at a time for the whole process: the worker that needs a
 * token first sends it; the others queue their waiters and are woken through
 * their uv_async when it is over.  A token is used until Swift says it
 * expires (a second before, for Keystone's exact expires_at).  In its last
 * tenth of life (at most a minute), the
 * first request that reads it also starts a refresh in the background, so
 * that with Keystone, which hands out a new token at each request, no
 * request ever waits for one.  TempAuth hands back the same token while it
 * is valid: then no further refresh is tried for it, and at its expiry the
 * requests that need a token wait for the new one (or see a 401 and retry
 * once, through gw_swift_invalidate()).
 *
 * Three kinds of auth: TempAuth v1.0 (X-Auth-User/X-Auth-Key), Keystone v3
 * password with a project scope (the token from X-Subject-Token, the
 * storage URL from the catalog's object-store endpoint of the configured
 * interface and region, the expiry from expires_at), and static.
 * Neither the key nor a token ever goes into a log line.
 */
#include "swift.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "conf.h"
#include "http.h"
#include "origin.h"
#include "stats.h"
#include "util.h"

#define CLIENT_MAGIC 0x5357434cu
#define MAX_AUTH_BODY (1024 * 1024)

struct gw_swift {
    const struct gw_conf *conf;
    pthread_mutex_t lock;
    char *storage_url;
    char *token;
    uint64_t valid_until_ms;  /* gw_now_ms() clock; 0 = no usable token */
    uint64_t refresh_at_ms;   /* start a background refresh from here on */
    int refresh_tried;        /* for this token */
    uint64_t generation;
    int inflight;             /* an auth request is running somewhere */
    struct gw_swift_client *clients;
};

struct gw_swift_client {
    uint32_t magic;
    struct gw_swift *s;
    struct gw_origin *o;
    uv_async_t async;         /* another worker finished an auth request */
    struct gw_fetch *fetch;
    struct gw_swift_wait *waiters;
    struct gw_swift_client *next;
    char *body;               /* Keystone's answer */
    size_t body_len;
    char *subject_token;
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
        s->valid_until_ms = UINT64_MAX;
        s->refresh_at_ms = UINT64_MAX;
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

static void start_auth(struct gw_swift_client *cl);

int gw_swift_creds(struct gw_swift *s, struct gw_swift_creds *out)
{
    return gw_swift_creds_refresh(s, NULL, out);
}

int gw_swift_creds_refresh(struct gw_swift *s, struct gw_swift_client *cl,
                           struct gw_swift_creds *out)
{
    int rc = GW_EAUTH, refresh = 0;
    uint64_t now = gw_now_ms();
    pthread_mutex_lock(&s->lock);
    if (s->token && now < s->valid_until_ms) {
        out->storage_url = gw_strdup(s->storage_url);
        out->token = gw_strdup(s->token);
        out->generation = s->generation;
        rc = 0;
        if (cl && now >= s->refresh_at_ms && !s->refresh_tried && !s->inflight) {
            s->refresh_tried = 1;
            s->inflight = 1;
            refresh = 1;
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (refresh) start_auth(cl);
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
    if (s->generation == generation) s->valid_until_ms = 0;
    pthread_mutex_unlock(&s->lock);
}

/* ---- waking waiters ---- */

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

/* An auth request is over (lock not held): every worker looks again. */
static void auth_over(struct gw_swift_client *cl, int err)
{
    struct gw_swift *s = cl->s;
    pthread_mutex_lock(&s->lock);
    s->inflight = 0;
    for (struct gw_swift_client *o = s->clients; o; o = o->next)
        if (o != cl) uv_async_send(&o->async);
    pthread_mutex_unlock(&s->lock);
    wake_all(cl, err);
}

static void on_async(uv_async_t *a)
{
    struct gw_swift_client *cl = a->data;
    GW_CHECK_MAGIC(cl, CLIENT_MAGIC);
    if (cl->waiters == NULL) return;
    struct gw_swift_creds c = {0};
    if (gw_swift_creds(cl->s, &c) == 0) {
        gw_swift_creds_free(&c);
        wake_all(cl, 0);
        return;
    }
    /* The other worker's request failed or its token is already gone. */
    pthread_mutex_lock(&cl->s->lock);
    int mine = !cl->s->inflight;
    if (mine) cl->s->inflight = 1;
    pthread_mutex_unlock(&cl->s->lock);
    if (mine) start_auth(cl);
}

/* ---- storing a new token ---- */

/*
 * valid_ms: how long the token may be used from now.  The refresh window
 * is its last tenth, at most a minute.
 */
static void store_token(struct gw_swift *s, const char *url, const char *token, uint64_t valid_ms)
{
    uint64_t now = gw_now_ms();
    uint64_t margin = valid_ms / 10;
    if (margin > 60000) margin = 60000;
    uint64_t life_ms = valid_ms;
    pthread_mutex_lock(&s->lock);
    int same = s->token && strcmp(s->token, token) == 0;
    free(s->storage_url);
    free(s->token);
    s->storage_url = strip_slash(url);
    s->token = gw_strdup(token);
    s->valid_until_ms = now + valid_ms;
    s->refresh_at_ms = now + valid_ms - margin;
    /* The same token again (TempAuth): refreshing early gains nothing. */
    s->refresh_tried = same;
    if (!same) s->generation++;
    pthread_mutex_unlock(&s->lock);
    gw_info("swift", "authenticated as %s; token valid for %llu s%s", s->conf->user,
            (unsigned long long)(life_ms / 1000), same ? " (unchanged)" : "");
}

/* ---- TempAuth v1.0 ---- */

static int auth_status_check(void *ud, struct gw_fetch *f, long status)
{
    (void)ud;
    gw_stats_origin("auth", (int)status, gw_fetch_ttfb_ms(f));
    /* Anything but 2xx is a refusal; its body is of no interest. */
    return (status >= 200 && status < 300) ? 0 : GW_EAUTH;
}

static void log_auth_failure(struct gw_swift *s, struct gw_fetch *f, int err)
{
    if (err == GW_EAUTH)
        gw_warn("swift", "auth request to %s refused for user %s", s->conf->auth_url,
                s->conf->user);
    else  /* GW_EBADHEADER too: a token or URL with a CR must never be sent on */
        gw_warn("swift", "auth request to %s failed: %s", s->conf->auth_url,
                f ? gw_fetch_error_text(f) : gw_strerror(err));
}

/* An auth request is over: let go of its fetch. */
static struct gw_swift *auth_answered(struct gw_swift_client *cl)
{
    GW_CHECK_MAGIC(cl, CLIENT_MAGIC);
    cl->fetch = NULL;
    return cl->s;
}

/*
 * Count how an auth request ended, err its final error: GW_EAUTH is an
 * answer without a usable token, anything else no answer at all.
 */
static void auth_count(int err)
{
    gw_stats_auth(err == 0 ? GW_AUTH_OK : err == GW_EAUTH ? GW_AUTH_REFUSED : GW_AUTH_FAILED);
}

static void v1_done(void *ud, struct gw_fetch *f, int err)
{
    struct gw_swift_client *cl = ud;
    struct gw_swift *s = auth_answered(cl);

    const char *token = gw_fetch_header(f, "X-Auth-Token");
    const char *url = gw_fetch_header(f, "X-Storage-Url");
    const char *life = gw_fetch_header(f, "X-Auth-Token-Expires");
    if (err == 0 && !(token && url && token[0] && url[0])) err = GW_EAUTH;
    auth_count(err);
    if (err != 0) {
        log_auth_failure(s, f, err);
        auth_over(cl, GW_EAUTH);
        return;
    }
    uint64_t life_s = 86400;
    if (life) gw_parse_u64(life, &life_s);
    /*
     * X-Auth-Token-Expires is whole seconds, rounded down: the token lives
     * up to a second longer.  Use it that long; a request that meets its
     * real end gets a 401 and is retried once with a new one.
     */
    store_token(s, url, token, life_s * 1000 + 900);
    auth_over(cl, 0);
}

static const struct gw_fetch_cbs v1_cbs = {
    .on_headers = auth_status_check,
    .on_data = NULL,
    .on_done = v1_done,
};

/* ---- Keystone v3 ---- */

static int v3_headers(void *ud, struct gw_fetch *f, long status)
{
    struct gw_swift_client *cl = ud;
    GW_CHECK_MAGIC(cl, CLIENT_MAGIC);
    int rc = auth_status_check(ud, f, status);
    if (rc == 0) {
        const char *t = gw_fetch_header(f, "X-Subject-Token");
        free(cl->subject_token);
        cl->subject_token = t ? gw_strdup(t) : NULL;
    }
    return rc;
}

static int v3_data(void *ud, const char *buf, size_t len)
{
    struct gw_swift_client *cl = ud;
    GW_CHECK_MAGIC(cl, CLIENT_MAGIC);
    if (cl->body_len + len > MAX_AUTH_BODY) return GW_ELIMIT;
    cl->body = gw_realloc(cl->body, cl->body_len + len + 1);
    memcpy(cl->body + cl->body_len, buf, len);
    cl->body_len += len;
    cl->body[cl->body_len] = '\0';
    return 0;
}

/* Seconds since the epoch of "2026-11-24T18:00:00.000000Z"; -1 if unreadable. */
static int64_t parse_iso8601(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL) return -1;
    return (int64_t)timegm(&tm);
}

/*
 * From Keystone's token: the object-store endpoint of the configured
 * interface (and region, when one is configured), and the expiry.
 * Returns 0, or GW_EAUTH with *why set.
 */
int gw_swift_v3_parse(const char *body, size_t len, const char *interface, const char *region,
                      char **url_out, int64_t *expires_out, const char **why)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    int rc = GW_EAUTH;
    *url_out = NULL;
    *why = "answer is not JSON";
    if (root == NULL) return rc;
    json_t *token = json_object_get(root, "token");
    json_t *expires = json_object_get(token, "expires_at");
    json_t *catalog = json_object_get(token, "catalog");
    *why = "no token.expires_at";
    if (!json_is_string(expires)) goto leave;
    *expires_out = parse_iso8601(json_string_value(expires));
    *why = "unreadable token.expires_at";
    if (*expires_out < 0) goto leave;
    *why = "no object-store endpoint in the catalog for this interface and region";
    if (!json_is_array(catalog)) goto leave;
    size_t i, j;
    json_t *svc, *ep;
    json_array_foreach(catalog, i, svc) {
        json_t *type = json_object_get(svc, "type");
        if (!json_is_string(type) || strcmp(json_string_value(type), "object-store") != 0)
            continue;
        json_array_foreach(json_object_get(svc, "endpoints"), j, ep) {
            json_t *ifc = json_object_get(ep, "interface");
            json_t *reg = json_object_get(ep, "region");
            json_t *regid = json_object_get(ep, "region_id");
            json_t *url = json_object_get(ep, "url");
            if (!json_is_string(ifc) || !json_is_string(url)) continue;
            if (strcmp(json_string_value(ifc), interface) != 0) continue;
            if (region && region[0]) {
                int match = (json_is_string(reg) && strcmp(json_string_value(reg), region) == 0) ||
                            (json_is_string(regid) &&
                             strcmp(json_string_value(regid), region) == 0);
                if (!match) continue;
            }
            *url_out = gw_strdup(json_string_value(url));
            rc = 0;
            goto leave;
        }
    }
leave:
    json_decref(root);
    return rc;
}

static void v3_done(void *ud, struct gw_fetch *f, int err)
{
    struct gw_swift_client *cl = ud;
    struct gw_swift *s = auth_answered(cl);

    char *url = NULL;
    int64_t expires = 0;
    const char *why = "no X-Subject-Token";
    if (err == 0 && cl->subject_token && cl->subject_token[0])
        err = gw_swift_v3_parse(cl->body ? cl->body : "", cl->body_len, s->conf->interface,
                                s->conf->region, &url, &expires, &why);
    else if (err == 0)
        err = GW_EAUTH;
    auth_count(err);
    if (err != 0) {
        if (err == GW_EAUTH && f && gw_fetch_error_text(f)[0] == '\0')
            gw_warn("swift", "Keystone auth at %s for user %s failed: %s", s->conf->auth_url,
                    s->conf->user, why);
        else
            log_auth_failure(s, f, err);
        auth_over(cl, GW_EAUTH);
    } else {
        /* A second of slack for the clocks and the way to Swift. */
        int64_t life_ms = (expires - (int64_t)time(NULL)) * 1000 - 1000;
        store_token(s, url, cl->subject_token, life_ms > 1000 ? (uint64_t)life_ms : 1000);
        auth_over(cl, 0);
    }
    free(url);
    free(cl->body);
    cl->body = NULL;
    cl->body_len = 0;
    free(cl->subject_token);
    cl->subject_token = NULL;
}

static const struct gw_fetch_cbs v3_cbs = {
    .on_headers = v3_headers,
    .on_data = v3_data,
    .on_done = v3_done,
};

static char *v3_tokens_url(const char *auth_url)
{
    char *base = strip_slash(auth_url);
    size_t n = strlen(base);
    char *url;
    if (n >= 12 && strcmp(base + n - 12, "/auth/tokens") == 0)
        url = gw_strdup(base);
    else if (n >= 3 && strcmp(base + n - 3, "/v3") == 0)
        url = gw_asprintf("%s/auth/tokens", base);
    else
        url = gw_asprintf("%s/v3/auth/tokens", base);
    free(base);
    return url;
}

/* ---- starting an auth request (the caller set s->inflight) ---- */

static void start_auth(struct gw_swift_client *cl)
{
    const struct gw_conf *c = cl->s->conf;
    struct gw_fetch *f;
    if (c->auth_version == GW_AUTH_V1) {
        f = gw_fetch_new(cl->o, "GET", c->auth_url, &v1_cbs, cl);
        char *h = gw_asprintf("X-Auth-User: %s", c->user);
        gw_fetch_add_header(f, h);
        free(h);
        h = gw_asprintf("X-Auth-Key: %s", c->key);
        gw_fetch_add_header(f, h);
        free(h);
    } else {
        char *url = v3_tokens_url(c->auth_url);
        f = gw_fetch_new(cl->o, "POST", url, &v3_cbs, cl);
        free(url);
        json_t *body = json_pack(
            "{s:{s:{s:[s], s:{s:{s:s, s:{s:s}, s:s}}}, s:{s:{s:s, s:{s:s}}}}}", "auth",
            "identity", "methods", "password", "password", "user", "name", c->user, "domain",
            "name", c->user_domain, "password", c->key, "scope", "project", "name", c->project,
            "domain", "name", c->project_domain);
        gw_assert(body != NULL);
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        gw_assert(text != NULL);
        gw_fetch_add_header(f, "Content-Type: application/json");
        gw_fetch_set_body(f, text, strlen(text));
        free(text);
    }
    /* Every fetch may be waiting for its token: auth never waits behind them. */
    gw_fetch_ungated(f);
    if (gw_fetch_start(f) != 0) {
        gw_fetch_cancel(f);
        gw_warn("swift", "cannot start an auth request");
        auth_over(cl, GW_EAUTH);
        return;
    }
    cl->fetch = f;
}

/* ---- clients ---- */

struct gw_swift_client *gw_swift_client_new(struct gw_swift *s, struct gw_origin *o,
                                            uv_loop_t *loop)
{
    struct gw_swift_client *cl = gw_calloc(1, sizeof(*cl));
    cl->magic = CLIENT_MAGIC;
    cl->s = s;
    cl->o = o;
    uv_async_init(loop, &cl->async, on_async);
    cl->async.data = cl;
    pthread_mutex_lock(&s->lock);
    cl->next = s->clients;
    s->clients = cl;
    pthread_mutex_unlock(&s->lock);
    return cl;
}

static void on_client_closed(uv_handle_t *h)
{
    struct gw_swift_client *cl = h->data;
    GW_CHECK_MAGIC(cl, CLIENT_MAGIC);
    free(cl->body);
    free(cl->subject_token);
    cl->magic = 0;
    free(cl);
}

void gw_swift_client_free(struct gw_swift_client *cl)
{
    if (cl == NULL) return;
    GW_CHECK_MAGIC(cl, CLIENT_MAGIC);
    struct gw_swift *s = cl->s;
    pthread_mutex_lock(&s->lock);
    for (struct gw_swift_client **p = &s->clients; *p; p = &(*p)->next) {
        if (*p == cl) {
            *p = cl->next;
            break;
        }
    }
    if (cl->fetch) s->inflight = 0;
    /* Whoever waits elsewhere must not wait for this worker's request. */
    for (struct gw_swift_client *o = s->clients; o; o = o->next) uv_async_send(&o->async);
    pthread_mutex_unlock(&s->lock);
    if (cl->fetch) gw_fetch_cancel(cl->fetch);
    cl->fetch = NULL;
    uv_close((uv_handle_t *)&cl->async, on_client_closed);
}

void gw_swift_wait(struct gw_swift_client *cl, struct gw_swift_wait *w)
{
    GW_CHECK_MAGIC(cl, CLIENT_MAGIC);
    gw_assert(!w->queued);
    w->queued = 1;
    w->next = cl->waiters;
    cl->waiters = w;
    if (cl->fetch) return;

    struct gw_swift *s = cl->s;
    if (s->conf->auth_version == GW_AUTH_STATIC) {
        /* Static credentials cannot be renewed: a 401 is final. */
        gw_warn("swift", "the static token was refused and cannot be renewed");
        wake_all(cl, GW_EAUTH);
        return;
    }
    pthread_mutex_lock(&s->lock);
    int mine = !s->inflight;
    if (mine) s->inflight = 1;
    pthread_mutex_unlock(&s->lock);
    /* Someone else's request is running: its end wakes this worker. */
    if (mine) start_auth(cl);
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

/*
 * Percent-encode s, '/' included: Swift decodes the path before it splits
 * it, and a name like "a/../b" must reach it as it is, not squashed.
 */
static void encode(char **p, const char *s)
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
    encode(&p, container);
    *p++ = '/';
    encode(&p, name);
    *p = '\0';
    return url;
}

char *gw_swift_listing_url(const char *storage_url, const char *container, const char *prefix,
                           const char *marker)
{
    size_t n = strlen(storage_url) + 3 * (strlen(container) + strlen(prefix) + strlen(marker)) +
               40;
    char *url = gw_malloc(n);
    char *p = url;
    p += sprintf(p, "%s/", storage_url);
    encode(&p, container);
    p += sprintf(p, "?format=json&prefix=");
    encode(&p, prefix);
    if (marker[0]) {
        p += sprintf(p, "&marker=");
        encode(&p, marker);
    }
    *p = '\0';
    return url;
}

struct gw_fetch *gw_swift_fetch_url(struct gw_origin *o, const struct gw_swift_creds *cr,
                                    const char *url, const char *method,
                                    const struct gw_fetch_cbs *cbs, void *ud)
{
    struct gw_fetch *f = gw_fetch_new(o, method, url, cbs, ud);
    if (cr->token[0]) {
        char *h = gw_asprintf("X-Auth-Token: %s", cr->token);
        gw_fetch_add_header(f, h);
        free(h);
    }
    return f;
}

struct gw_fetch *gw_swift_object_fetch(struct gw_origin *o, const struct gw_swift_creds *cr,
                                       const char *container, const char *name,
                                       const char *query, const char *method,
                                       const struct gw_fetch_cbs *cbs, void *ud)
{
    char *url = gw_swift_object_url(cr->storage_url, container, name);
    if (query) {
        char *q = gw_asprintf("%s?%s", url, query);
        free(url);
        url = q;
    }
    struct gw_fetch *f = gw_swift_fetch_url(o, cr, url, method, cbs, ud);
    free(url);
    return f;
}

void gw_swift_trans_extra(struct gw_fetch *f, const char *id)
{
    if (id == NULL || id[0] == '\0') return;
    char h[32 + GW_REQUEST_ID_MAX];
    snprintf(h, sizeof(h), "X-Trans-Id-Extra: %s", id);
    gw_fetch_add_header(f, h);
}
