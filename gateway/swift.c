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
 * Readiness.  A gateway is ready (gw_swift_ready(), /healthz 200) when it
 * can answer a miss: static auth always; otherwise while it holds a token
 * that has not expired, or when its token ran out or was refused and no
 * auth request has failed since (the next request gets a new one).  It is
 * not ready before its first token (and, after a reload changed the
 * credentials, before the first they give), and from a failed auth request until
 * one succeeds, unless it still holds a valid token: a refresh that fails
 * while the old token lives takes nothing away.  The keeper (one client,
 * gw_swift_client_keep()) asks for the first token as soon as its loop
 * runs (and at once after such a reload), so start-up never waits for
 * Swift, and after each failure asks
 * again after a delay that doubles from 1 s up to 30 s, so a gateway that
 * a balancer took out for failing auth comes back without any request.
 *
 * Three kinds of auth: TempAuth v1.0 (X-Auth-User/X-Auth-Key), Keystone v3
 * password with a project scope (the token from X-Subject-Token, the
 * storage URL from the catalog's object-store endpoint of the configured
 * interface and region, the expiry from expires_at, both read by
 * swift_v3.c), and static.
 * Neither the key nor a token ever goes into a log line.
 *
 * A reload hands over a new configuration (gw_swift_reconfigure()); the
 * conf pointer is read anew at every use and nothing is kept from it past
 * a callback.  When the credentials changed, the token is dropped (the
 * next request asks for one with the new credentials) and `creds_epoch`
 * moves on: an auth request that was sent with the old ones is asked
 * again when its answer comes, and that answer is not stored.
 */
#include "swift.h"

#include <pthread.h>
#include <stdatomic.h>
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
#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS 30000

struct gw_swift {
    _Atomic(const struct gw_conf *) conf; /* replaced by a reload, under lock */
    pthread_mutex_t lock;
    char *storage_url;
    char *token;
    uint64_t valid_until_ms;  /* gw_now_ms() clock; 0 = no usable token */
    uint64_t refresh_at_ms;   /* start a background refresh from here on */
    int refresh_tried;        /* for this token */
    uint64_t generation;
    int inflight;             /* an auth request is running somewhere */
    uint64_t creds_epoch;     /* a reload changed the credentials this often */
    struct gw_swift_client *clients;
    /* Readiness (see the top of this file). */
    int had_token;            /* a token was stored once */
    char failure[GW_SWIFT_REASON_MAX]; /* why the last auth request failed; "" */
    uint64_t retry_delay_ms;  /* the keeper's next wait after a failure */
    uint64_t retry_at_ms;     /* when the keeper asks again; 0 = not planned */
    struct gw_swift_client *keeper;
};

struct gw_swift_client {
    uint32_t magic;
    struct gw_swift *s;
    struct gw_origin *o;
    uv_async_t async;         /* another worker finished an auth request */
    uv_timer_t retry;         /* the keeper's: the first token, then retries */
    int handles_open;         /* closed when both close callbacks ran */
    long status;              /* of the running auth request; 0 before its head */
    struct gw_fetch *fetch;
    uint64_t fetch_epoch;     /* the creds_epoch its request was sent with */
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

static const struct gw_conf *conf_of(struct gw_swift *s)
{
    return atomic_load_explicit(&s->conf, memory_order_acquire);
}

/* The token from conf (lock held, or s not shared yet): static mode only. */
static void set_static(struct gw_swift *s, const struct gw_conf *conf)
{
    if (conf->auth_version != GW_AUTH_STATIC) return;
    s->storage_url = strip_slash(conf->storage_url);
    s->token = gw_strdup(conf->token);
    s->valid_until_ms = UINT64_MAX;
    s->refresh_at_ms = UINT64_MAX;
}

struct gw_swift *gw_swift_new(const struct gw_conf *conf)
{
    struct gw_swift *s = gw_calloc(1, sizeof(*s));
    atomic_init(&s->conf, conf);
    s->retry_delay_ms = RETRY_FIRST_MS;
    pthread_mutex_init(&s->lock, NULL);
    set_static(s, conf);
    if (conf->auth_version == GW_AUTH_STATIC) s->generation = 1;
    s->had_token = conf->auth_version == GW_AUTH_STATIC;
    return s;
}

static int same_str(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

/* Whether a and b authenticate the same way, as the same user. */
static int same_creds(const struct gw_conf *a, const struct gw_conf *b)
{
    return a->auth_version == b->auth_version && same_str(a->auth_url, b->auth_url) &&
           same_str(a->user, b->user) && same_str(a->key, b->key) &&
           same_str(a->user_domain, b->user_domain) && same_str(a->project, b->project) &&
           same_str(a->project_domain, b->project_domain) && same_str(a->region, b->region) &&
           same_str(a->interface, b->interface) && same_str(a->storage_url, b->storage_url) &&
           same_str(a->token, b->token);
}

int gw_swift_reconfigure(struct gw_swift *s, const struct gw_conf *conf)
{
    pthread_mutex_lock(&s->lock);
    int changed = !same_creds(conf_of(s), conf);
    atomic_store_explicit(&s->conf, conf, memory_order_release);
    if (changed) {
        free(s->storage_url);
        free(s->token);
        s->storage_url = s->token = NULL;
        s->valid_until_ms = s->refresh_at_ms = 0;
        s->refresh_tried = 0;
        s->generation++; /* a 401 to the old token must not drop the new one */
        s->creds_epoch++;
        set_static(s, conf);
        /* Not ready until the new credentials gave a token: ask now. */
        s->had_token = conf->auth_version == GW_AUTH_STATIC;
        s->failure[0] = '\0';
        s->retry_delay_ms = RETRY_FIRST_MS;
        if (s->keeper) uv_async_send(&s->keeper->async);
    }
    pthread_mutex_unlock(&s->lock);
    return changed;
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
    if (conf_of(s)->auth_version == GW_AUTH_STATIC) return;
    pthread_mutex_lock(&s->lock);
    if (s->generation == generation) s->valid_until_ms = 0;
    pthread_mutex_unlock(&s->lock);
}

int gw_swift_ready(struct gw_swift *s, char *why, size_t len, unsigned *retry_after_s)
{
    uint64_t now = gw_now_ms();
    int ready = 1;
    pthread_mutex_lock(&s->lock);
    if (s->token && now < s->valid_until_ms) {
        ready = 1;
    } else if (s->failure[0]) {
        ready = 0;
        snprintf(why, len, "%s", s->failure);
    } else if (!s->had_token) {
        ready = 0;
        snprintf(why, len, "swift auth: waiting for the first token from %s",
                 conf_of(s)->auth_url);
    }
    uint64_t at = s->retry_at_ms;
    pthread_mutex_unlock(&s->lock);
    *retry_after_s = at > now ? (unsigned)((at - now + 999) / 1000) : 1;
    return ready;
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

/* ---- the keeper: the first token, and retries while auth fails ---- */

static void on_retry(uv_timer_t *t)
{
    struct gw_swift_client *cl = t->data;
    GW_CHECK_MAGIC(cl, CLIENT_MAGIC);
    struct gw_swift *s = cl->s;
    pthread_mutex_lock(&s->lock);
    s->retry_at_ms = 0;
    /* Whoever runs an auth request now will tell the keeper how it went. */
    int go = !s->inflight && (s->failure[0] || !s->had_token);
    if (go) s->inflight = 1;
    pthread_mutex_unlock(&s->lock);
    if (go) start_auth(cl);
}

/*
 * On the keeper's loop: after a failed auth request, plan the next one;
 * without a token for the credentials in force (a reload changed them),
 * ask at once.
 */
static void plan_retry(struct gw_swift_client *cl)
{
    struct gw_swift *s = cl->s;
    uint64_t delay = 0;
    pthread_mutex_lock(&s->lock);
    int want = s->keeper == cl && (s->failure[0] || !s->had_token) && !s->inflight &&
               s->retry_at_ms == 0;
    if (want && s->failure[0]) {
        delay = s->retry_delay_ms;
        s->retry_delay_ms = delay * 2 < RETRY_MAX_MS ? delay * 2 : RETRY_MAX_MS;
    }
    if (want) s->retry_at_ms = gw_now_ms() + delay;
    pthread_mutex_unlock(&s->lock);
    if (want) uv_timer_start(&cl->retry, on_retry, delay, 0);
}

void gw_swift_client_keep(struct gw_swift_client *cl)
{
    GW_CHECK_MAGIC(cl, CLIENT_MAGIC);
    struct gw_swift *s = cl->s;
    pthread_mutex_lock(&s->lock);
    s->keeper = cl;
    int first = conf_of(s)->auth_version != GW_AUTH_STATIC;
    if (first) s->retry_at_ms = gw_now_ms();
    pthread_mutex_unlock(&s->lock);
    if (first) uv_timer_start(&cl->retry, on_retry, 0, 0);
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
    plan_retry(cl);
    wake_all(cl, err);
}

/*
 * Why an auth request failed, in the words /healthz and check-config
 * --connect show: Swift's status, else what the answer lacked (`why`),
 * else what curl saw.  Never the key or a token.
 */
static void failure_reason(struct gw_swift_client *cl, struct gw_fetch *f, int err,
                           const char *why, char *out, size_t len)
{
    const char *url = conf_of(cl->s)->auth_url;
    if (cl->status != 0 && (cl->status < 200 || cl->status >= 300))
        snprintf(out, len, "swift auth: %ld %s from %s", cl->status,
                 gw_http_status_text((int)cl->status), url);
    else if (why)
        snprintf(out, len, "swift auth: %s from %s", why, url);
    else
        snprintf(out, len, "swift auth: %s: %s", url,
                 f && gw_fetch_error_text(f)[0] ? gw_fetch_error_text(f) : gw_strerror(err));
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
}

/* An auth request failed (and was logged): keep why, wake the waiters. */
static void auth_failed(struct gw_swift_client *cl, struct gw_fetch *f, int err,
                        const char *why)
{
    struct gw_swift *s = cl->s;
    char reason[GW_SWIFT_REASON_MAX];
    failure_reason(cl, f, err, why, reason, sizeof(reason));
    pthread_mutex_lock(&s->lock);
    memcpy(s->failure, reason, sizeof(reason));
    pthread_mutex_unlock(&s->lock);
    auth_over(cl, GW_EAUTH);
}

static void on_async(uv_async_t *a)
{
    struct gw_swift_client *cl = a->data;
    GW_CHECK_MAGIC(cl, CLIENT_MAGIC);
    plan_retry(cl);
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
    s->had_token = 1;
    s->failure[0] = '\0';
    s->retry_delay_ms = RETRY_FIRST_MS;
    pthread_mutex_unlock(&s->lock);
    gw_info("swift", "authenticated as %s; token valid for %llu s%s", conf_of(s)->user,
            (unsigned long long)(life_ms / 1000), same ? " (unchanged)" : "");
}

/* ---- TempAuth v1.0 ---- */

static int auth_status_check(void *ud, struct gw_fetch *f, long status)
{
    struct gw_swift_client *cl = ud;
    GW_CHECK_MAGIC(cl, CLIENT_MAGIC);
    cl->status = status;
    gw_stats_origin("auth", (int)status, gw_fetch_ttfb_ms(f));
    /* Anything but 2xx is a refusal; its body is of no interest. */
    return (status >= 200 && status < 300) ? 0 : GW_EAUTH;
}

static void log_auth_failure(struct gw_swift *s, struct gw_fetch *f, int err)
{
    if (err == GW_EAUTH)
        gw_warn("swift", "auth request to %s refused for user %s", conf_of(s)->auth_url,
                conf_of(s)->user);
    else  /* GW_EBADHEADER too: a token or URL with a CR must never be sent on */
        gw_warn("swift", "auth request to %s failed: %s", conf_of(s)->auth_url,
                f ? gw_fetch_error_text(f) : gw_strerror(err));
}

/* An auth request is over: let go of its fetch.  *stale: it was sent with
 * credentials a reload has replaced since. */
static struct gw_swift *auth_answered(struct gw_swift_client *cl, int *stale)
{
    GW_CHECK_MAGIC(cl, CLIENT_MAGIC);
    struct gw_swift *s = cl->s;
    cl->fetch = NULL;
    pthread_mutex_lock(&s->lock);
    *stale = cl->fetch_epoch != s->creds_epoch;
    pthread_mutex_unlock(&s->lock);
    if (*stale) gw_info("swift", "credentials changed by a reload: asking for a token again");
    return s;
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
    int stale;
    struct gw_swift *s = auth_answered(cl, &stale);
    if (stale) {
        auth_count(err); /* its answer is not used, but it was asked */
        start_auth(cl); /* still in flight: the waiters wait on */
        return;
    }

    const char *token = gw_fetch_header(f, "X-Auth-Token");
    const char *url = gw_fetch_header(f, "X-Storage-Url");
    const char *life = gw_fetch_header(f, "X-Auth-Token-Expires");
    const char *why = NULL;
    if (err == 0 && !(token && url && token[0] && url[0])) {
        err = GW_EAUTH;
        why = "no X-Auth-Token or X-Storage-Url in the answer";
    }
    auth_count(err);
    if (err != 0) {
        log_auth_failure(s, f, err);
        auth_failed(cl, f, err, why);
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

/* Keystone's answer has been read: let it go. */
static void v3_forget(struct gw_swift_client *cl)
{
    free(cl->body);
    cl->body = NULL;
    cl->body_len = 0;
    free(cl->subject_token);
    cl->subject_token = NULL;
}

static void v3_done(void *ud, struct gw_fetch *f, int err)
{
    struct gw_swift_client *cl = ud;
    int stale;
    struct gw_swift *s = auth_answered(cl, &stale);
    if (stale) {
        auth_count(err); /* its answer is not used, but it was asked */
        v3_forget(cl);
        start_auth(cl); /* still in flight: the waiters wait on */
        return;
    }

    char *url = NULL;
    int64_t expires = 0;
    const char *why = "no X-Subject-Token";
    if (err == 0 && cl->subject_token && cl->subject_token[0])
        err = gw_swift_v3_parse(cl->body ? cl->body : "", cl->body_len, conf_of(s)->interface,
                                conf_of(s)->region, &url, &expires, &why);
    else if (err == 0)
        err = GW_EAUTH;
    auth_count(err);
    if (err != 0) {
        int answered = err == GW_EAUTH && f && gw_fetch_error_text(f)[0] == '\0';
        if (answered)
            gw_warn("swift", "Keystone auth at %s for user %s failed: %s", conf_of(s)->auth_url,
                    conf_of(s)->user, why);
        else
            log_auth_failure(s, f, err);
        auth_failed(cl, f, err, answered ? why : NULL);
    } else {
        /* A second of slack for the clocks and the way to Swift. */
        int64_t life_ms = (expires - (int64_t)time(NULL)) * 1000 - 1000;
        store_token(s, url, cl->subject_token, life_ms > 1000 ? (uint64_t)life_ms : 1000);
        auth_over(cl, 0);
    }
    free(url);
    v3_forget(cl);
}

static const struct gw_fetch_cbs v3_cbs = {
    .on_headers = v3_headers,
    .on_data = v3_data,
    .on_done = v3_done,
};

/* ---- starting an auth request (the caller set s->inflight) ---- */

static void start_auth(struct gw_swift_client *cl)
{
    pthread_mutex_lock(&cl->s->lock);
    const struct gw_conf *c = conf_of(cl->s);
    uint64_t epoch = cl->s->creds_epoch;
    pthread_mutex_unlock(&cl->s->lock);
    struct gw_fetch *f;
    cl->status = 0;
    if (c->auth_version == GW_AUTH_V1) {
        f = gw_fetch_new(cl->o, "GET", c->auth_url, &v1_cbs, cl);
        char *h = gw_asprintf("X-Auth-User: %s", c->user);
        gw_fetch_add_header(f, h);
        free(h);
        h = gw_asprintf("X-Auth-Key: %s", c->key);
        gw_fetch_add_header(f, h);
        free(h);
    } else {
        char *url = gw_swift_v3_tokens_url(c->auth_url);
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
        auth_failed(cl, NULL, GW_EORIGIN, "cannot start a request");
        return;
    }
    cl->fetch = f;
    cl->fetch_epoch = epoch;
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
    uv_timer_init(loop, &cl->retry);
    cl->retry.data = cl;
    cl->handles_open = 2;
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
    if (--cl->handles_open > 0) return;
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
    if (s->keeper == cl) s->keeper = NULL;
    /* Whoever waits elsewhere must not wait for this worker's request. */
    for (struct gw_swift_client *o = s->clients; o; o = o->next) uv_async_send(&o->async);
    pthread_mutex_unlock(&s->lock);
    if (cl->fetch) gw_fetch_cancel(cl->fetch);
    cl->fetch = NULL;
    uv_close((uv_handle_t *)&cl->async, on_client_closed);
    uv_close((uv_handle_t *)&cl->retry, on_client_closed);
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
    if (conf_of(s)->auth_version == GW_AUTH_STATIC) {
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
